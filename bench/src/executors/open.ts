// The open model: requests start on an arrival schedule whether or not earlier ones finished (k6's
// constant/ramping-arrival-rate executors, wrk2's constant throughput), so a slow server cannot slow the
// client down and hide its own slowness (coordinated omission).
//
// - Latency is measured from each request's intended start (its slot in the schedule), service time from the
//   moment it was handed to the connection pool; both go into microsecond HDR histograms.
// - A high-resolution clock (performance.now) decides what is due; the scheduler wakes on a timer and starts
//   every due arrival in one batch, so timer granularity (>= 1 ms) never lowers the rate.
// - In flight is capped at `maxInFlight` (one connection per in-flight request, undici Pool); an arrival that
//   finds the cap reached is not sent and counts as `dropped` (k6's dropped_iterations).
// - Each request has a deadline (request timeout); a sweeper aborts expired requests, which count as timeouts.
// - When the stage's time is up, no new arrivals start; requests in flight get until their deadline to finish
//   and are recorded (achieved rate = answers / stage duration). Abort ends them at once.
import { Pool } from 'undici';
import type { StageResult, StageSpec } from '../types';
import { StageRecorder } from '../metrics/stage-recorder';
import { twirpCodeOf } from '../metrics/twirp-code';
import { RequestBuilder } from '../request-builder';
import { PUSH_PATH, type StageContext } from './stage-context';
import { ArrivalSchedule } from './arrival-schedule';

export const MAX_RATE = 1_000_000;
export const MAX_IN_FLIGHT = 10_000;
/** Default in-flight cap: one second of arrivals at the peak rate, at least 100, at most 1000. */
export function defaultMaxInFlight(peakRate: number): number {
  return Math.min(1000, Math.max(100, Math.ceil(peakRate)));
}
/** Most arrivals started in one scheduler turn before yielding to I/O (keeps answers flowing when far behind). */
const MAX_BATCH = 2_000;
/** Error bodies kept for Twirp classification (a Twirp error is a few hundred bytes). */
const MAX_ERROR_BODY = 64 * 1024;
/** How often the sweeper looks for expired requests. */
const SWEEP_MS = 20;

export class OpenStageError extends Error {
  constructor(readonly code: 'BENCH_OPEN_STAGE_INVALID', message: string) {
    super(message);
  }
}

class TimeoutAbort extends Error {
  readonly code = 'BENCH_REQUEST_TIMEOUT';
}
class StageAbort extends Error {
  readonly code = 'BENCH_STAGE_ABORTED';
}

/** One request in flight, also a node of the in-flight list (ordered by send time, so by deadline). */
interface InFlight {
  intended: number;
  sent: number;
  deadline: number;
  status: number;
  bytes: number;
  body: Buffer[] | null;
  bodyLen: number;
  abort: ((err?: Error) => void) | null;
  done: boolean;
  prev: InFlight | null;
  next: InFlight | null;
}

export async function runOpenStage(stage: StageSpec, ctx: StageContext): Promise<StageResult> {
  const r0 = stage.rate ?? 0;
  const r1 = stage.rampTo ?? r0;
  for (const [what, v] of [['rate', r0], ['rampTo', r1]] as const) {
    if (!Number.isFinite(v) || v < 0 || v > MAX_RATE) {
      throw new OpenStageError('BENCH_OPEN_STAGE_INVALID', `stage ${stage.name}: ${what} must be in 0..${MAX_RATE} requests/s, got ${v}`);
    }
  }
  if (r0 === 0 && r1 === 0) throw new OpenStageError('BENCH_OPEN_STAGE_INVALID', `stage ${stage.name}: needs a rate > 0`);
  if (!(stage.durationMs > 0)) throw new OpenStageError('BENCH_OPEN_STAGE_INVALID', `stage ${stage.name}: duration must be > 0`);
  const maxInFlight = stage.maxInFlight ?? defaultMaxInFlight(Math.max(r0, r1));
  if (!Number.isInteger(maxInFlight) || maxInFlight < 1 || maxInFlight > MAX_IN_FLIGHT) {
    throw new OpenStageError('BENCH_OPEN_STAGE_INVALID', `stage ${stage.name}: maxInFlight must be an integer in 1..${MAX_IN_FLIGHT}, got ${maxInFlight}`);
  }

  const base = new URL(ctx.target);
  const origin = base.origin;
  const builder = new RequestBuilder(ctx.request, { runId: ctx.runId, stage: stage.name });
  const timeoutMs = ctx.request.timeoutMs;
  const schedule = new ArrivalSchedule(r0, stage.rampTo, stage.durationMs);
  const pool = new Pool(origin, {
    connections: maxInFlight,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    // our own deadline (the sweeper) is the request timeout; undici's are backstops slightly beyond it
    headersTimeout: timeoutMs + 1000,
    bodyTimeout: timeoutMs + 1000,
    connect: { timeout: Math.min(timeoutMs + 1000, 30_000) },
  });
  // bytes a request's head adds to its body (request line, host, the bench headers, content-length)
  const headOverhead = Buffer.byteLength(
    `POST ${PUSH_PATH} HTTP/1.1\r\nhost: ${base.host}\r\nconnection: keep-alive\r\ncontent-type: ${builder.contentType}\r\n` +
    `x-bench-run: ${ctx.runId}\r\nx-bench-stage: ${stage.name}\r\ntraceparent: 00-${'0'.repeat(32)}-${'0'.repeat(16)}-01\r\n` +
    'content-length: 00\r\n\r\n');

  let rec!: StageRecorder;
  let start = 0;
  let inFlight = 0;
  let head: InFlight | null = null;
  let tail: InFlight | null = null;
  let settled: (() => void) | null = null;

  const unlink = (r: InFlight): void => {
    if (r.prev) r.prev.next = r.next; else head = r.next;
    if (r.next) r.next.prev = r.prev; else tail = r.prev;
    r.prev = r.next = null;
    inFlight--;
    if (inFlight === 0 && settled) settled();
  };

  const finishOk = (r: InFlight): void => {
    if (r.done) return;
    r.done = true;
    unlink(r);
    const now = performance.now();
    const code = r.status >= 200 && r.status < 300 ? 'ok' : twirpCodeOf(r.status, r.body ? Buffer.concat(r.body) : undefined);
    rec.onResponse(r.status, code, r.bytes, (now - r.intended) * 1000, (now - r.sent) * 1000);
  };

  const finishErr = (r: InFlight, err: Error): void => {
    if (r.done) return;
    r.done = true;
    unlink(r);
    if (err instanceof TimeoutAbort) rec.onTimeout();
    else if (err instanceof StageAbort) rec.onAbandoned(1);
    else rec.onSocketError(errorCode(err), true);
  };

  const send = (intendedAbs: number): void => {
    if (inFlight >= maxInFlight) {
      rec.onDropped();
      return;
    }
    const req = builder.next();
    const now = performance.now();
    const r: InFlight = {
      intended: intendedAbs, sent: now, deadline: now + timeoutMs, status: 0, bytes: 0, body: null, bodyLen: 0,
      abort: null, done: false, prev: tail, next: null,
    };
    if (tail) tail.next = r; else head = r;
    tail = r;
    inFlight++;
    rec.onSent(req.body.length + headOverhead);
    pool.dispatch({ path: PUSH_PATH, method: 'POST', headers: req.headers, body: req.body }, {
      onConnect(abort: (err?: Error) => void) {
        r.abort = abort;
        if (r.done) abort(new StageAbort('aborted'));
      },
      onHeaders(statusCode: number, rawHeaders: Buffer[]) {
        if (statusCode < 200) return true; // 1xx: the real answer follows
        r.status = statusCode;
        let n = 17; // status line
        for (let i = 0; i < rawHeaders.length; i++) n += rawHeaders[i].length + 2;
        r.bytes += n;
        if (statusCode >= 300) r.body = [];
        return true;
      },
      onData(chunk: Buffer) {
        r.bytes += chunk.length;
        if (r.body && r.bodyLen < MAX_ERROR_BODY) {
          r.body.push(chunk);
          r.bodyLen += chunk.length;
        }
        return true;
      },
      onComplete() {
        finishOk(r);
      },
      onError(err: Error) {
        finishErr(r, err);
      },
    } as never);
  };

  // expire requests past their deadline; the list is in send order, so expired ones are at its head
  const sweep = (): void => {
    const now = performance.now();
    while (head && head.deadline <= now) {
      const r = head;
      const abort = r.abort;
      finishErr(r, new TimeoutAbort('request timed out'));
      abort?.(new TimeoutAbort('request timed out'));
    }
  };

  const abortAll = (): void => {
    while (head) {
      const r = head;
      const abort = r.abort;
      finishErr(r, new StageAbort('stage aborted'));
      abort?.(new StageAbort('stage aborted'));
    }
  };

  let next = 0;
  let nextAt = schedule.atMs(0);
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
    rec.end(Math.min(performance.now(), start + stage.durationMs));
    windowDone();
  };

  const tick = (): void => {
    wake = null;
    if (stopped) return;
    const now = performance.now() - start;
    let batch = 0;
    while (nextAt <= now && nextAt < stage.durationMs && batch < MAX_BATCH) {
      send(start + nextAt);
      next++;
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
    abortAll();
  };
  const ticker = setInterval(() => {
    try {
      ctx.onTick(rec.snapshot(schedule.rateAt(performance.now() - start)));
    } catch {
      // a tick consumer must not break the stage
    }
  }, 1000);
  const sweeper = setInterval(sweep, SWEEP_MS);

  start = performance.now();
  rec = new StageRecorder({ name: stage.name, model: 'open', startedAt: start });
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
    if (inFlight > 0) {
      await new Promise<void>((resolve) => { settled = resolve; });
    }
  } finally {
    clearInterval(ticker);
    clearInterval(sweeper);
    ctx.signal.removeEventListener('abort', onAbort);
    abortAll();
    await Promise.race([pool.destroy().catch(() => {}), new Promise((r) => setTimeout(r, 2000).unref())]);
  }

  const elapsed = rec.elapsedMs();
  // the plan's mean rate; an aborted stage is judged on the part of the plan it ran
  const target = !aborted ? (r0 + r1) / 2 : elapsed > 0 ? schedule.plannedBy(elapsed) / (elapsed / 1000) : 0;
  const result = rec.result(target);
  try {
    ctx.onTick(rec.snapshot(schedule.rateAt(elapsed)));
  } catch {
    // see above
  }
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
