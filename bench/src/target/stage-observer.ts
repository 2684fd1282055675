// Everything the bench reads beside the load for one stage: /metrics before, during (the server timeline and the
// peaks) and after it (settled), rows in `incoming` and MySQL's status with MYSQL_URL. Each observer fails on its
// own and only for this stage (a warning), and the next stage tries again: a database or a service that comes
// back is followed again.
import type { StageResult } from '../types';
import { correlate } from './correlate';
import type { RowCounter } from './mysql-rows';
import { mysqlStageStatus, type MysqlStageStatus, type MysqlStatus, type MysqlStatusReading } from './mysql-status';
import { diffSnapshots, scrapeMetrics, type ServerSnapshot, type SnapshotDelta } from './server-metrics';
import { settle } from './settle';
import { ServerTimeline, type ServerTimelineEntry, type StagePeaks } from './server-timeline';
import { serverTime, type ServerTime } from './server-time';

export interface StageObserverOptions {
  target: string;
  /** The bench's peak window on the service (server-timeline.ts benchWindow). */
  window: string;
  scrape: boolean;
  rows?: RowCounter;
  mysql?: MysqlStatus;
  /** How long to wait after a stage for the server's counters (and rows) to catch up with the client's. */
  settleMs: number;
  stage: string;
  warn: (obj: Record<string, unknown>, msg: string) => void;
  /** Scrape failures already warned about in this run (the same failure is said once, not once per stage). */
  warned: Set<string>;
}

export interface ObservedStage {
  server?: StageResult['server'];
  delta?: SnapshotDelta;
  server_timeline: ServerTimelineEntry[];
  server_time?: ServerTime;
  peaks?: StagePeaks;
  mysql?: MysqlStageStatus;
}

export class StageObserver {
  private before: ServerSnapshot | null = null;
  private mark: number | null = null;
  private mysqlBefore: MysqlStatusReading | null = null;
  private timeline: ServerTimeline | undefined;
  /** The target answered, but not with metrics (no /metrics at all): no point scraping it during the stage. */
  private noMetrics = false;

  constructor(private readonly o: StageObserverOptions) {}

  /** Right before the stage: a scrape (starts the bench's peak window), the row mark, MySQL's status. */
  async beforeStage(): Promise<void> {
    const { o } = this;
    if (o.scrape) {
      try {
        this.before = await scrapeMetrics(o.target, 3000, o.window);
      } catch (e) {
        const msg = (e as Error).message.replace(/\?window=[^ ]*/, '');
        this.noMetrics = / answered \d+$/.test(msg);
        if (!o.warned.has(msg)) {
          o.warned.add(msg);
          o.warn({ err: msg, stage: o.stage }, `server counts unavailable (the bench tries again at every stage): ${msg}`);
        }
      }
    }
    if (o.rows) {
      try {
        this.mark = await o.rows.mark();
      } catch (e) {
        o.warn({ err: (e as Error).message, stage: o.stage }, `row count before stage ${o.stage} failed: ${(e as Error).message}`);
      }
    }
    if (o.mysql) {
      try {
        this.mysqlBefore = await o.mysql.read();
      } catch (e) {
        o.warn({ err: (e as Error).message, stage: o.stage }, `MySQL status before stage ${o.stage} failed: ${(e as Error).message}`);
      }
    }
  }

  /** The stage starts (epoch ms): scrape about once a second until stopped. */
  startDuring(startedAt: number): void {
    if (!this.o.scrape || this.noMetrics) return;
    this.timeline = new ServerTimeline(this.o.target, this.o.window, startedAt, this.before);
    this.timeline.start();
  }

  async stopDuring(): Promise<void> {
    await this.timeline?.stop();
  }

  /** After the stage: settle, then correlate; the peaks include every scrape of the stage's window. */
  async afterStage(client: StageResult): Promise<ObservedStage> {
    const { o } = this;
    const out: ObservedStage = { server_timeline: this.timeline?.entries ?? [] };
    if (this.timeline && this.timeline.failures > 0 && this.before !== null) {
      o.warn({ stage: o.stage, failures: this.timeline.failures, err: this.timeline.lastError },
        `${this.timeline.failures} scrape(s) of /metrics during stage ${o.stage} failed: ${this.timeline.lastError}`);
    }
    if (this.before) {
      const settleOpts = { target: o.target, rows: o.rows, settleMs: o.settleMs, window: o.window, onSnap: (s: ServerSnapshot) => this.timeline?.add(s, false) };
      const settled = await settle(settleOpts, this.before, this.mark, client).catch((e: unknown) => {
        o.warn({ err: (e as Error).message, stage: o.stage }, `scrape after stage ${o.stage} failed: ${(e as Error).message}`);
        return null;
      });
      if (settled?.rowsError) o.warn({ err: settled.rowsError, stage: o.stage }, `row count after stage ${o.stage} failed: ${settled.rowsError}`);
      if (settled) {
        // rows written twice under one Idempotency-Key would be a write the service let through twice
        let duplicateRows: number | undefined;
        if (o.rows && this.mark !== null && settled.rows !== undefined) {
          try {
            const keys = await o.rows.keysSince(this.mark);
            if (keys !== undefined) duplicateRows = keys.keyed - keys.distinct;
          } catch (e) {
            o.warn({ err: (e as Error).message, stage: o.stage }, `duplicate count after stage ${o.stage} failed: ${(e as Error).message}`);
          }
        }
        out.delta = diffSnapshots(this.before, settled.snap);
        out.server = correlate({ client, delta: out.delta, rowsWritten: settled.rows, duplicateRows });
        out.server_time = serverTime(out.delta);
      }
    }
    if (this.timeline) out.peaks = this.timeline.peaks();
    if (o.mysql) {
      try {
        out.mysql = mysqlStageStatus(this.mysqlBefore, await o.mysql.read());
      } catch (e) {
        o.warn({ err: (e as Error).message, stage: o.stage }, `MySQL status after stage ${o.stage} failed: ${(e as Error).message}`);
      }
    }
    return out;
  }
}
