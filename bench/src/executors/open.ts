// The open model: requests start on an arrival schedule whether or not earlier ones finished (k6's
// constant/ramping-arrival-rate executors, wrk2's constant throughput), so a slow server cannot slow the
// client down and hide its own slowness (coordinated omission).
//
// - Latency is measured from each request's intended start (its slot in the schedule), service time from the
//   moment it is written to a connected socket; both go into microsecond HDR histograms. A wait for a
//   connection (see connection-set.ts) is in latency, not in service time.
// - A high-resolution clock (performance.now) decides what is due; the scheduler wakes on a timer and starts
//   every due arrival in one batch, so timer granularity (>= 1 ms) never lowers the rate.
// - In flight (waiting for a connection or on the wire) is capped at `maxInFlight`, and so are connections; an
//   arrival that finds the cap reached is not sent and counts as `dropped` (k6's dropped_iterations).
// - Each request has a deadline (intended start + request timeout); a sweeper aborts expired requests, which
//   count as timeouts.
// - When the stage's time is up, no new arrivals start; requests in flight get until their deadline to finish
//   and are recorded (achieved rate = answers / stage duration). Abort ends them at once.
import type { Client } from 'undici';
import type { StageResult, StageSpec } from '../types';
import { StageRecorder, type RequestEvidence } from '../metrics/stage-recorder';
import { twirpCodeOf } from '../metrics/twirp-code';
import { PUSH_PATH, RequestBuilder } from '../request-builder';
import { defaultMaxInFlight } from '../profiles/limits';
import { checkSegment, ownedBefore, shareOf } from '../distributed/segment';
import { beat, type StageContext } from './stage-context';
import { ArrivalSchedule } from './arrival-schedule';
import { ConnectionSet, type Waiter } from './connection-set';

/** Most arrivals started in one scheduler turn before yielding to I/O (keeps answers flowing when far behind). */
const MAX_BATCH = 2_000;
/** Error bodies kept for Twirp classification (a Twirp error is a few hundred bytes). */
const MAX_ERROR_BODY = 64 * 1024;
/** How often the sweeper looks for expired requests. */
const SWEEP_MS = 20;

class TimeoutAbort extends Error {
  readonly code = 'BENCH_REQUEST_TIMEOUT';
}
class StageAbort extends Error {
  readonly code = 'BENCH_STAGE_ABORTED';
}

/**
 * One arrival from its intended start to its end: queued for a connection, then on the wire. It is also a node
 * of the stage's in-flight list (ordered by intended start, so by deadline) and the undici dispatch handler for
 * its request (prototype methods: no closures allocated per request).
 */
class Arrival implements Waiter, RequestEvidence {
  sent = 0;
  status = 0;
  bytes = 0;
  body: Buffer[] | null = null;
  bodyLen = 0;
  abortFn: ((err?: Error) => void) | null = null;
  client: Client | null = null;
  done = false;
  prev: Arrival | null = null;
  next: Arrival | null = null;

  constructor(
    private readonly stage: OpenStageRun,
    readonly intended: number,
    readonly deadline: number,
    private readonly headers: Record<string, string>,
    private readonly payload: Buffer,
  ) {}

  traceId(): string {
    return this.headers.traceparent.slice(3, 35);
  }

  sampled(): boolean {
    return this.headers.traceparent.endsWith('1');
  }

  /** A connection is ours: send. */
  use(client: Client): void {
    this.client = client;
    this.sent = performance.now();
    this.stage.rec.onScheduleLag((this.sent - this.intended) * 1000);
    client.dispatch({ path: PUSH_PATH, method: 'POST', headers: this.headers, body: this.payload }, this as never);
  }

  // undici dispatch handler (the callback form the core calls directly)
  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    // actual send: the request is being written to a connected socket now
    this.sent = performance.now();
    if (this.done) abort(new StageAbort('aborted'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[]): boolean {
    if (statusCode < 200) return true; // 1xx: the real answer follows
    this.status = statusCode;
    let n = 17; // status line
    for (let i = 0; i < rawHeaders.length; i++) n += rawHeaders[i].length + 2;
    this.bytes += n;
    if (statusCode >= 300) this.body = [];
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.body && this.bodyLen < MAX_ERROR_BODY) {
      this.body.push(chunk);
      this.bodyLen += chunk.length;
    }
    return true;
  }

  onComplete(): void {
    this.stage.answered(this);
  }

  onError(err: Error): void {
    this.stage.failed(this, err);
  }

  /** End it from outside (timeout, stage abort): counted once, its connection (if any) is torn down. */
  cancel(err: Error): void {
    const abort = this.abortFn;
    this.stage.failed(this, err);
    abort?.(err);
  }
}

/** The bookkeeping of one open-model stage: in-flight list, recording, connection hand-back. */
class OpenStageRun {
  inFlight = 0;
  head: Arrival | null = null;
  tail: Arrival | null = null;
  private settled: (() => void) | null = null;

  constructor(readonly rec: StageRecorder, readonly conns: ConnectionSet, private readonly start: number) {}

  add(a: Arrival): void {
    a.prev = this.tail;
    if (this.tail) this.tail.next = a; else this.head = a;
    this.tail = a;
    this.inFlight++;
  }

  /**
   * Takes `a` out of flight and hands its connection on. After a failure the hand-over waits a turn: an abort
   * destroys the socket after our onError returns, and a request dispatched in between would die with it.
   */
  private end(a: Arrival, failed: boolean): boolean {
    if (a.done) return false;
    a.done = true;
    if (a.prev) a.prev.next = a.next; else this.head = a.next;
    if (a.next) a.next.prev = a.prev; else this.tail = a.prev;
    a.prev = a.next = null;
    this.inFlight--;
    if (a.client) {
      const c = a.client;
      a.client = null;
      if (failed) setImmediate(() => this.conns.release(c));
      else this.conns.release(c);
    }
    if (this.inFlight === 0 && this.settled) this.settled();
    return true;
  }

  answered(a: Arrival): void {
    if (!this.end(a, false)) return;
    const now = performance.now();
    const code = a.status >= 200 && a.status < 300 ? 'ok' : twirpCodeOf(a.status, a.body ? Buffer.concat(a.body) : undefined);
    this.rec.onResponse(a.status, code, a.bytes, (now - a.intended) * 1000, (now - a.sent) * 1000, a.intended - this.start, a);
  }

  failed(a: Arrival, err: Error): void {
    if (!this.end(a, true)) return;
    const at = a.intended - this.start;
    const us = (performance.now() - a.intended) * 1000;
    if (err instanceof TimeoutAbort) this.rec.onTimeout(at, us, a);
    else if (err instanceof StageAbort) this.rec.onAbandoned(1);
    else this.rec.onSocketError(errorCode(err), true, at, us, a);
  }

  /** Expire arrivals past their deadline; the list is in intended-start order, so they are at its head. */
  sweep(now: number): void {
    while (this.head && this.head.deadline <= now) this.head.cancel(new TimeoutAbort('request timed out'));
  }

  abortAll(): void {
    while (this.head) this.head.cancel(new StageAbort('stage aborted'));
  }

  /** Resolves when nothing is in flight. */
  drained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => { this.settled = resolve; });
  }
}

export async function runOpenStage(stage: StageSpec, ctx: StageContext): Promise<StageResult> {
  const r0 = stage.rate ?? 0;
  const r1 = stage.rampTo ?? r0;
  const totalInFlight = stage.maxInFlight ?? defaultMaxInFlight(Math.max(r0, r1));
  // a distributed run: this process fires arrivals i with i mod count == index of the one global schedule, and
  // holds its integer share of the in-flight cap (at least one, or it could send nothing it owns)
  const segment = checkSegment(ctx.segment);
  const maxInFlight = Math.max(1, shareOf(totalInFlight, segment));

  const base = new URL(ctx.target);
  const builder = new RequestBuilder(ctx.request, { runId: ctx.runId, stage: stage.name, segment });
  const timeoutMs = ctx.request.timeoutMs;
  const schedule = new ArrivalSchedule(r0, stage.rampTo, stage.durationMs);
  const conns = new ConnectionSet(base.origin, {
    maxConnections: maxInFlight,
    client: {
      keepAliveTimeout: 30_000,
      // our own deadline (the sweeper) is the request timeout; undici's are backstops slightly beyond it
      headersTimeout: timeoutMs + 1000,
      bodyTimeout: timeoutMs + 1000,
      connect: { timeout: Math.min(timeoutMs + 1000, 30_000) },
    },
  });
  // bytes a request's head adds to its body (request line, host, the bench headers, content-length)
  const headOverhead = Buffer.byteLength(
    `POST ${PUSH_PATH} HTTP/1.1\r\nhost: ${base.host}\r\nconnection: keep-alive\r\ncontent-type: ${builder.contentType}\r\n` +
    `x-bench-run: ${ctx.runId}\r\nx-bench-stage: ${stage.name}\r\ntraceparent: 00-${'0'.repeat(32)}-${'0'.repeat(16)}-01\r\n` +
    'content-length: 00\r\n\r\n');

  let start = 0;
  let run!: OpenStageRun;

  const send = (intendedAbs: number): void => {
    if (run.inFlight >= maxInFlight) {
      run.rec.onDropped();
      return;
    }
    const req = builder.next();
    const a = new Arrival(run, intendedAbs, intendedAbs + timeoutMs, req.headers, req.body);
    run.add(a);
    run.rec.onSent(req.body.length + headOverhead);
    conns.acquire(a);
  };

  // global arrival index of the next arrival this process fires
  let next = segment.index;
  let nextAt = schedule.atMs(next);
  let wake: NodeJS.Timeout | NodeJS.Immediate | null = null;
  let stopped = false;
  let windowDone: () => void = () => {};
  const windowEnded = new Promise<void>((resolve) => { windowDone = resolve; });

  let aborted = false;
  const endWindow = (): void => {
    if (stopped) return;
    const left = start + stage.durationMs - performance.now();
    // node timers can fire up to ~1 ms early (they start from the loop's cached clock): wait out the rest
    if (left > 0 && !aborted) {
      wake = setTimeout(endWindow, Math.ceil(left));
      return;
    }
    stopped = true;
    run.rec.end(Math.min(performance.now(), start + stage.durationMs));
    windowDone();
  };

  const tick = (): void => {
    wake = null;
    if (stopped) return;
    const now = performance.now() - start;
    let batch = 0;
    while (nextAt <= now && nextAt < stage.durationMs && batch < MAX_BATCH) {
      send(start + nextAt);
      next += segment.count;
      nextAt = schedule.atMs(next);
      batch++;
    }
    if (nextAt >= stage.durationMs || !Number.isFinite(nextAt)) {
      // no more arrivals: the window still lasts the whole stage
      const rest = stage.durationMs - now;
      if (rest <= 0) endWindow();
      else wake = setTimeout(endWindow, rest);
      return;
    }
    const delay = nextAt - (performance.now() - start);
    wake = delay <= 0 ? setImmediate(tick) : setTimeout(tick, Math.floor(delay));
  };

  const onAbort = (): void => {
    aborted = true;
    endWindow();
    run.abortAll();
  };
  // arrivals of this process due by `ms` after the start (within the stage)
  const dueBy = (ms: number): number => ownedBefore(schedule.dueBy(Math.min(ms, stage.durationMs)), segment);
  const ticker = setInterval(() => {
    const now = performance.now();
    beat(ctx, run.rec, now, schedule.rateAt(now - start) / segment.count, dueBy(now - start));
  }, 1000);
  const sweeper = setInterval(() => run.sweep(performance.now()), SWEEP_MS);

  start = performance.now();
  const rec = new StageRecorder({ name: stage.name, model: 'open', index: ctx.stage.index, startedAt: start });
  run = new OpenStageRun(rec, conns, start);
  if (ctx.signal.aborted) onAbort();
  else {
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    tick();
  }

  try {
    await windowEnded;
    if (wake) {
      clearTimeout(wake as NodeJS.Timeout);
      clearImmediate(wake as NodeJS.Immediate);
    }
    // settle: in-flight requests finish or hit their deadline (the sweeper keeps running), or abort ends them
    await run.drained();
  } finally {
    clearInterval(ticker);
    clearInterval(sweeper);
    ctx.signal.removeEventListener('abort', onAbort);
    run.abortAll();
    await Promise.race([conns.destroy().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  const elapsed = rec.elapsedMs();
  // the plan's mean rate; an aborted stage is judged on the part of the plan it ran
  const target = !aborted ? (r0 + r1) / 2 : elapsed > 0 ? schedule.plannedBy(elapsed) / (elapsed / 1000) : 0;
  beat(ctx, rec, performance.now(), schedule.rateAt(elapsed) / segment.count, dueBy(elapsed));
  const result = rec.result(target / segment.count);
  rec.destroy();
  return result;
}

/** Socket error code, undici's named in node's terms where they mean the same thing. */
function errorCode(err: Error): string {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  // undici reports a peer that closed the connection with the request in flight as UND_ERR_SOCKET
  // ("other side closed"); node's http calls the same event ECONNRESET ("socket hang up"), as does the
  // closed-model executor, so both models count a hang-up under one code.
  if (e.code === 'UND_ERR_SOCKET') return e.cause?.code ?? 'ECONNRESET';
  return e.code ?? e.cause?.code ?? 'UNKNOWN';
}
