// What an executor needs from the run to execute one stage. The run orchestration builds it; executors never
// print and never read the CLI: they record, tick, and return a StageResult (without `server`).
import type { RequestSpec, StageInfo, StageSnapshot } from '../types';

export interface StageContext {
  /** Base URL of the service, e.g. http://127.0.0.1:8080 (no trailing path). */
  target: string;
  request: RequestSpec;
  runId: string;
  stage: StageInfo;
  /** Abort = end the stage now; the executor stops sending, settles in-flight requests (bounded) and returns. */
  signal: AbortSignal;
  /** Called about once a second with cumulative figures since the stage started. Must not throw. */
  onTick(snapshot: StageSnapshot): void;
}
