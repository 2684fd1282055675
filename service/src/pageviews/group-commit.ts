// Durable group commit: concurrent Pushes wait in a bounded buffer and are written by one multi-row INSERT.
// A full batch (`maxRows`) is flushed at once, up to `maxConcurrentFlushes` side by side. A partial batch is
// flushed `flushIntervalMs` after its first row arrived (0 = the next event-loop turn), but only while no other
// partial flush runs: rows that arrive during a flush wait for it and go out together as soon as it is done. That
// is the classic group commit (one flush in flight gathers the next batch) and it adapts by itself: at low load a
// Push is written at once, under load batches grow with the database's commit latency, and only when batches fill
// up do flushes run in parallel. Running partial flushes side by side instead splits the same rows into more,
// smaller INSERTs, each paying a round trip and a log sync (service/perf/push-vs-bare.ts measures both).
// When a flush ends, the batch gathered meanwhile is handed to the database before the finished batch is answered.
// Every Push's promise settles only after its batch was committed (or failed as a whole: then exactly the Pushes
// in it fail with the store's error). One exception: when the database refused the statement for a value in one of
// its rows (nothing was stored), the batch is written again in halves until each refused row stands alone, so only
// those fail and their neighbours are committed (flushBatch). Nothing else is retried: a retry after an unknown
// outcome could store a row twice.
import type { BatchConfig } from '../config';
import type { Context } from '../context/context';
import type { Dispatch, PageviewRow, Store } from '../db/store';
import { StoreError } from '../db/store';

/**
 * Rebalancing a lopsided split (see finish): it applies when the rows that gathered are at least this many times
 * the batch just committed, and at least `REBALANCE_MIN_EXCESS` more. Small differences are noise, and at low load
 * (a row or two per flush) nothing is ever held back.
 */
const REBALANCE_RATIO = 2;
const REBALANCE_MIN_EXCESS = 8;

export class BufferFullError extends Error {
  readonly code = 'BUFFER_FULL';
  constructor(capacity: number) {
    super(`write buffer is full (${capacity} pushes waiting); retry later`);
    this.name = 'BufferFullError';
  }
}

export class CommitterClosedError extends Error {
  readonly code = 'COMMITTER_CLOSED';
  constructor() {
    super('service is shutting down');
    this.name = 'CommitterClosedError';
  }
}

/** Called once when the row's batch is committed (no argument) or failed (the store's error). */
export type CommitCallback = (err?: StoreError) => void;

interface Pending {
  row: PageviewRow;
  ctx: Context;
  done: CommitCallback;
  /** Set by the flush when this row alone was refused while the rest of its batch was committed. */
  error: StoreError | undefined;
}

export interface FlushResult {
  rows: number;
  seconds: number;
  /** The whole batch failed with this error. */
  error: StoreError | undefined;
  /** The batch was committed except these rows, each refused alone (one error per refused row). */
  rowErrors: readonly StoreError[];
}

const NO_ROW_ERRORS: readonly StoreError[] = [];

export interface CommitterObserver {
  onFlush?(result: FlushResult): void;
  /** A row joined the buffer, which now holds `depth` rows (the buffer's high-water mark, peak-windows.ts). */
  onEnqueue?(depth: number): void;
  /** A commit callback threw: the other Pushes of its batch are still answered, the committer carries on. */
  onCallbackError?(err: unknown): void;
}

/** One flush: the seam where tracing of the write lands (it receives the batch and each row's context). */
export type FlushFn = (batch: readonly Pending[], store: Store, dispatch?: Dispatch) => Promise<void>;

export const flushBatch: FlushFn = async (batch, store, dispatch) => {
  try {
    await store.insertBatch(batch.map((p) => p.row), dispatch);
  } catch (err) {
    if (!(err instanceof StoreError) || !err.rowRefused || batch.length === 1) throw err;
    await isolateRefused(batch, store, dispatch);
  }
};

/**
 * The database refused the batch's statement for a value in some row, and stored nothing (mysql-errors.ts sets
 * rowRefused only for the server's own refusal). Each half is written on its own; a half refused again is split
 * again, and a row refused alone, or a half that failed for another reason, keeps its error. At most 2n - 1
 * statements for n rows, and only when the database refuses a value, which validation is there to prevent.
 */
async function isolateRefused(batch: readonly Pending[], store: Store, dispatch: Dispatch | undefined): Promise<void> {
  const mid = batch.length >> 1;
  for (const half of [batch.slice(0, mid), batch.slice(mid)]) {
    try {
      await store.insertBatch(half.map((p) => p.row), dispatch);
    } catch (err) {
      const e = asStoreError(err);
      if (e.rowRefused && half.length > 1) await isolateRefused(half, store, dispatch);
      else for (const p of half) p.error = e;
    }
  }
}

/** A flush that threw something other than a StoreError: a bug, and the rows may or may not be written. */
function asStoreError(err: unknown): StoreError {
  return err instanceof StoreError ? err : new StoreError('internal', 'FLUSH_FAILED', 'write failed', { cause: err, outcome: 'unknown' });
}

export class GroupCommitter {
  private buffer: Pending[] = [];
  private inFlight = 0;
  /** A flush of fewer than maxRows rows is running: the next partial batch gathers meanwhile. */
  private partialInFlight = false;
  private timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private closing = false;
  private idleWaiters: Array<() => void> = [];

  constructor(
    private readonly store: Store,
    private readonly cfg: BatchConfig,
    private readonly observer: CommitterObserver = {},
    private readonly flush: FlushFn = flushBatch,
  ) {}

  /** Pushes waiting for a flush (not yet handed to the store). */
  get depth(): number {
    return this.buffer.length;
  }

  get capacity(): number {
    return this.cfg.bufferCapacity;
  }

  get flushesInFlight(): number {
    return this.inFlight;
  }

  /**
   * Queues one row; `done` is called once its batch is committed or failed. Refusals (buffer full, closing) are
   * thrown at once and queue nothing. Takes no cancellation on purpose: callers pass a withoutCancel() context,
   * and a row that entered the buffer is always flushed. A callback rather than a promise: this is on the path of
   * every Push, and a promise with its executor, resolvers and continuation is several allocations and microtask
   * hops per request.
   */
  enqueue(ctx: Context, row: PageviewRow, done: CommitCallback): void {
    if (this.closing) throw new CommitterClosedError();
    if (this.buffer.length >= this.cfg.bufferCapacity) throw new BufferFullError(this.cfg.bufferCapacity);
    this.buffer.push({ row, ctx, done, error: undefined });
    this.observer.onEnqueue?.(this.buffer.length);
    this.schedule();
  }

  /** enqueue() as a promise: resolves once the row is committed, rejects with the refusal or the store's error. */
  write(ctx: Context, row: PageviewRow): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.enqueue(ctx, row, (err) => (err === undefined ? resolve() : reject(err)));
    });
  }

  private schedule(): void {
    while (this.buffer.length >= this.cfg.maxRows && this.inFlight < this.cfg.maxConcurrentFlushes) {
      this.startFlush();
    }
    if (this.buffer.length > 0 && !this.partialInFlight && this.timer === undefined) {
      // Interval 0: flush once the current event-loop turn has read every request that arrived in it.
      this.timer =
        this.cfg.flushIntervalMs === 0
          ? setImmediate(() => this.onTimer())
          : setTimeout(() => this.onTimer(), this.cfg.flushIntervalMs);
    }
  }

  private clearTimer(): void {
    if (this.timer === undefined) return;
    if (this.cfg.flushIntervalMs === 0) clearImmediate(this.timer as NodeJS.Immediate);
    else clearTimeout(this.timer as NodeJS.Timeout);
    this.timer = undefined;
  }

  private onTimer(): void {
    this.timer = undefined;
    // When a partial flush runs or every slot is busy, a finishing flush picks the buffer up (see finish).
    if (this.partialMayStart()) this.startFlush();
  }

  /** Rows wait, no partial flush runs and a slot is free: the waiting rows may go now. */
  private partialMayStart(): boolean {
    return this.buffer.length > 0 && !this.partialInFlight && this.inFlight < this.cfg.maxConcurrentFlushes;
  }

  private startFlush(limit = this.cfg.maxRows): void {
    const take = Math.min(limit, this.cfg.maxRows);
    const batch = this.buffer.length <= take ? this.buffer : this.buffer.slice(0, take);
    this.buffer = batch === this.buffer ? [] : this.buffer.slice(take);
    if (this.buffer.length === 0) this.clearTimer();
    const partial = batch.length < this.cfg.maxRows;
    if (partial) this.partialInFlight = true;
    this.inFlight += 1;
    const started = performance.now();
    this.flush(batch, this.store).then(
      () => this.finish(batch, partial, started, undefined),
      (err: unknown) => this.finish(batch, partial, started, asStoreError(err)),
    );
  }

  private settle(p: Pending, err: StoreError | undefined): void {
    try {
      p.done(err);
    } catch (thrown) {
      this.observer.onCallbackError?.(thrown);
    }
  }

  private finish(batch: readonly Pending[], partial: boolean, started: number, error: StoreError | undefined): void {
    const seconds = (performance.now() - started) / 1000;
    this.inFlight -= 1;
    if (partial) this.partialInFlight = false;
    // Rows that gathered while a flush ran have waited at least as long as that flush: write them now rather than
    // after another gathering window; schedule() then starts any further full batches. The next INSERT leaves
    // before this batch's Pushes are answered, so the database commits it while they are (answering 50 Pushes
    // is a few hundred microseconds of this thread; the database would idle through them otherwise).
    if (this.partialMayStart()) this.startFlush(this.balancedTake(batch.length));
    this.schedule();
    let rowErrors: StoreError[] | undefined;
    for (const p of batch) {
      if (error === undefined && p.error !== undefined) (rowErrors ??= []).push(p.error);
      this.settle(p, error ?? p.error);
    }
    this.observer.onFlush?.({ rows: batch.length, seconds, error, rowErrors: rowErrors ?? NO_ROW_ERRORS });
    if (this.buffer.length === 0 && this.inFlight === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /**
   * How many of the waiting rows the flush after a batch of `finished` rows takes. Under a closed load (each client
   * sends its next Push once the last one is answered, as wrk and autocannon connections do) one partial flush at a
   * time settles into a two-step cycle: the rows that gather during a flush are the Pushes answered when the flush
   * before it ended, so whatever split the rows in flight once took (10 and 90, say) repeats for ever. A lopsided
   * split idles the service: during the big flush it has only the small batch's clients to serve, during the small
   * one it has the big batch's answers and requests to work through while the database has little to do. So when
   * the gathered rows outnumber the finished batch clearly, only half of the two together goes now; the rest rides
   * with the next flush, which then carries about the other half, and the cycle is even from there. A held row waits
   * for one more flush at most. Side by side (service/perf/push-vs-bare.ts --rounds 6 --duration 8 --variant
   * 'plain:BATCH_REBALANCE=false', wrk -c100, MySQL) the plain cycle kept 0.90x of this one's throughput (0.88x
   * median per round), its main thread was busy 89% against 93%, and 6% of its flushes carried 20 rows or fewer
   * against under 1% here.
   */
  private balancedTake(finished: number): number {
    const waiting = this.buffer.length;
    if (!this.cfg.rebalance || waiting < REBALANCE_RATIO * finished || waiting - finished < REBALANCE_MIN_EXCESS) return waiting;
    return Math.ceil((waiting + finished) / 2);
  }

  /** Stops taking writes, flushes everything buffered, resolves when no flush is running. */
  async close(): Promise<void> {
    this.closing = true;
    this.clearTimer();
    while (this.buffer.length > 0 && this.inFlight < this.cfg.maxConcurrentFlushes) this.startFlush();
    if (this.buffer.length === 0 && this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }
}
