// `npm run bench -- compare BASE NEW [--html FILE] [--fail-on EXPR ...]` (bench/src/report/report-commands.ts).
import type { Command } from '../command';
import { COMPARE_HELP, compareCommand } from '../report/report-commands';

export const command: Command = {
  name: 'compare',
  summary: 'compare two runs stage by stage, with a noise-aware verdict (--fail-on exits 99)',
  help: () => COMPARE_HELP,
  run: (argv, io) => compareCommand(argv, io),
};
