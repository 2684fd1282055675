// `npm run bench -- k8s render|run ...`: a profile on N workers in a Kubernetes cluster (bench/k8s/).
import type { Command } from '../command';
import { k8sHelp, k8sMain } from '../../k8s/command';
import { parseRunArgs } from './run';

export const command: Command = {
  name: 'k8s',
  summary: 'render the Kubernetes objects of a distributed run (k8s render), or create and follow them (k8s run)',
  help: k8sHelp,
  run: (argv, io, signal) => k8sMain(argv, io, signal, parseRunArgs),
};
