// The open model: requests start on an arrival schedule whether or not earlier ones finished (k6's
// constant/ramping-arrival-rate executors, wrk2's constant throughput), so a slow server cannot slow the
// client down and hide its own slowness (coordinated omission).
//
// - Latency is measured from each request's intended start (its slot in the schedule), service time from the
//   moment it is written to a connected socket; both go into microsecond HDR histograms, and so does the
//   schedule lag (written minus intended: the generator's own lateness). A wait for a connection (see
//   connection-set.ts) is in latency, not in service time.
// - A high-resolution clock (performance.now) decides what is due. One scheduler turn starts every arrival
//   due, woken by a timer for the next one and also after each batch of answers (which arrive while the
//   timer waits), so timer granularity (>= 1 ms) never lowers the rate and adds little lateness at load.
// - The send path is built for rate (issue 17): requests are prebuilt bytes (request-builder.ts `nextRaw`),
//   written straight to raw keep-alive sockets; answers are read by a minimal parser from one shared read
//   buffer; a request in flight lives on its connection (no per-request objects or closures), a waiting one
//   is a number in a ring; trace ids become strings only for the requests kept as the worst.
// - In flight (waiting for a connection or on the wire) is capped at `maxInFlight`, and so are connections; an
//   arrival that finds the cap reached is not sent and counts as `dropped` (k6's dropped_iterations).
// - Each request has a deadline (intended start + request timeout); a sweeper ends expired requests (their
//   connection is closed: its answer can no longer be told apart), which count as timeouts.
// - When the stage's time is up, no new arrivals start; requests in flight get until their deadline to finish
//   and are recorded (achieved rate = answers / stage duration). Abort ends them at once.
// - Distributed runs: every process computes the one global schedule and fires arrival i when
//   i mod count == index (segment.ts); rates and the in-flight cap are its share.
import type { StageResult, StageSpec } from '../types';
import { StageRecorder, type RequestEvidence } from '../metrics/stage-recorder';
import { GeneratorWatch } from '../metrics/generator-watch';
import { twirpCodeOf } from '../metrics/twirp-code';
import { RequestBuilder, sampledAt, traceIdAt } from '../request-builder';
import { defaultMaxConnections, defaultMaxInFlight } from '../profiles/limits';
import { checkSegment, ownedBefore, shareOf } from '../segment';
import { beat, type StageContext } from './stage-context';
import { ArrivalSchedule } from './arrival-schedule';
import { ConnectionSet, type Connection, type ConnectionOwner } from './connection-set';

/** Most arrivals started in one scheduler turn before yielding to I/O (keeps answers flowing when far behind). */
const MAX_BATCH = 2_000;
/**
 * How often the sweeper looks for expired requests when nothing else wakes the stage; every scheduler turn looks
 * too (one comparison when nothing expired), so at load timeouts are found at once without extra wake-ups.
 */
const SWEEP_MS = 50;
/** A request on the wire this long (and 4x the usual hold) means the server stalls (ms). */
const STALL_MS = 50;
/**
 * Connections beyond Little's law's estimate, for its noise and for draining a backlog (only opened while
 * arrivals wait for one): near a server's capacity a backlog drains at the rate the server has to spare, which a
 * handful more connections raises (wrk on a zero-latency server: 54k answers/s on 8 connections, 59k on 32).
 */
const MARGIN_CONNECTIONS = 32;
/**
 * A hold beyond this many times the shortest recent one is queueing at the server, not work: more connections
 * would lengthen every hold instead of serving more (see demand()).
 */
const QUEUEING_FACTOR = 10;
/** A carried connection idle longer than this is closed rather than reused (see ConnectionSet.adopt). */
const CARRY_IDLE_MS = 2_000;

/** Evidence for one request read from its bytes, made only when the request is kept as one of the worst. */
class RequestBytes implements RequestEvidence {
  buf: Buffer | null = null;
  at = 0;
  traceId(): string {
    return this.buf ? traceIdAt(this.buf, this.at) : '';
  }
  sampled(): boolean {
    return this.buf ? sampledAt(this.buf, this.at) : false;
  }
}

/** The bookkeeping of one open-model stage: the send path, the in-flight list, recording. */
class OpenStageRun implements ConnectionOwner {
  inFlight = 0;
  /** on the wire, in order of intended start (so of deadline) */
  private head: Connection | null = null;
  private tail: Connection | null = null;
  private settled: (() => void) | null = null;
  private readonly ev = new RequestBytes();
  readonly conns: ConnectionSet;
  /** called after each answer or failure: arrivals that fell due meanwhile can start on the freed connection */
  kick: () => void = () => {};
  /** the target rate now (arrivals/s), for the connections' demand */
  rateNow: () => number = () => 0;

  constructor(
    readonly rec: StageRecorder,
    private readonly builder: RequestBuilder,
    private readonly host: string,
    private readonly start0: number,
    private readonly timeoutMs: number,
    private readonly maxInFlight: number,
    maxConnections: number,
    endpoint: { host: string; port: number; tls: boolean },
    carried: ConnectionSet | null,
  ) {
    const opts = { ...endpoint, maxConnections, demand: () => this.demand() };
    if (carried) {
      carried.adopt(this, opts, maxInFlight, CARRY_IDLE_MS);
      this.conns = carried;
    } else this.conns = new ConnectionSet(this, opts, maxInFlight);
  }

  /**
   * Connections the load needs: Little's law (target rate x how long a request holds a connection) plus a fixed
   * margin. The margin is added, not multiplied: near the server's capacity the hold time grows with the number
   * of connections (they queue at the server), and demand = k x rate x hold(connections) with k > 1 has no fixed
   * point once the rate passes 1/k of the capacity: connections would grow until the cap. For the same reason the
   * hold time is bounded by a multiple of the shortest recent hold: after a stall of the bench's
   * own the backlog it drains makes the server queue, and connections opened for those inflated holds would stay
   * in use, each one slowing the server further (measured with wrk2 on a zero-latency server at 48k req/s: p99
   * 78 ms on 100 connections, 315 ms and 28% fewer answers on 1000). While the oldest request
   * on the wire has been held far longer than usual (the server stalls), its age is the hold time: arrivals keep
   * reaching the server on connections of their own, as many as the stall's length at the target rate.
   */
  private demand(): number {
    const h = this.head;
    if (h !== null && h.connected) {
      const age = performance.now() - h.sentAt;
      if (age > Math.max(STALL_MS, 4 * this.conns.hold.meanMs)) return this.rateNow() * age / 1000 + MARGIN_CONNECTIONS;
    }
    const est = this.conns.hold;
    return this.rateNow() * Math.min(est.meanMs, QUEUEING_FACTOR * est.minMs) / 1000 + MARGIN_CONNECTIONS;
  }

  /** An arrival is due (intended at `intended`, performance.now() ms). */
  arrive(intended: number): void {
    if (this.inFlight >= this.maxInFlight) {
      this.rec.onDropped();
      return;
    }
    this.inFlight++;
    // counted as sent once admitted (it waits for a connection at most until its deadline), as k6 and wrk2 do
    this.rec.onSent(0);
    this.conns.acquire(intended);
  }

  // ConnectionOwner
  start(c: Connection, intended: number): void {
    const req = this.builder.nextRaw(this.host);
    c.intended = intended;
    c.write(req);
    this.rec.onBytesSent(req.length);
    // ordered by intended start: a connection freed later may carry an older (queued) arrival, so walk back
    let after = this.tail;
    while (after !== null && after.intended > intended) after = after.prev;
    c.prev = after;
    c.next = after ? after.next : this.head;
    if (c.next) c.next.prev = c; else this.tail = c;
    if (after) after.next = c; else this.head = c;
    if (c.connected) this.written(c);
  }

  connected(c: Connection): void {
    if (c.busy) this.written(c);
  }

  answered(c: Connection): void {
    const now = performance.now();
    const p = c.parser;
    const status = p.status;
    const code = status >= 200 && status < 300 ? 'ok' : twirpCodeOf(status, p.body ? Buffer.concat(p.body) : undefined);
    this.ev.buf = c.req;
    this.ev.at = this.builder.lastTraceOffset;
    this.rec.onResponse(status, code, p.bytes, (now - c.intended) * 1000, (now - c.sentAt) * 1000, c.intended - this.start0, this.ev);
    this.conns.hold.record(now - c.sentAt, now);
    const keep = p.keepAlive;
    this.end(c);
    if (keep) this.conns.release(c, now);
    else c.destroy();
    this.settle();
    this.kick();
  }

  failed(c: Connection, code: string): void {
    const now = performance.now();
    this.ev.buf = c.req;
    this.ev.at = this.builder.lastTraceOffset;
    this.rec.onSocketError(code, true, c.intended - this.start0, (now - c.intended) * 1000, this.ev);
    this.end(c);
    this.settle();
    this.kick();
  }

  idleError(code: string): void {
    this.rec.onSocketError(code, false);
  }

  /** Expire requests past their deadline: waiting ones first (oldest at the ring's head), then those on the wire. */
  sweep(now: number): void {
    const limit = now - this.timeoutMs;
    while (this.conns.queued > 0 && this.conns.oldestQueued <= limit) {
      const intended = this.conns.dropOldest();
      this.inFlight--;
      // never written: no trace id to show
      this.ev.buf = null;
      this.rec.onTimeout(intended - this.start0, (now - intended) * 1000, this.ev);
    }
    while (this.head !== null && this.head.intended <= limit) {
      const c = this.head;
      this.ev.buf = c.req;
      this.ev.at = this.builder.lastTraceOffset;
      this.rec.onTimeout(c.intended - this.start0, (now - c.intended) * 1000, this.ev);
      this.end(c);
      // its answer may still come: the connection cannot carry another request
      c.destroy();
    }
    this.settle();
  }

  /** Ends everything in flight now (stage aborted, or settling cut short): abandoned, neither ok nor failed. */
  abortAll(): void {
    const queued = this.conns.dropAll();
    this.inFlight -= queued;
    let n = queued;
    while (this.head !== null) {
      const c = this.head;
      this.end(c);
      c.destroy();
      n++;
    }
    this.rec.onAbandoned(n);
    this.settle();
  }

  /** Resolves when nothing is in flight. */
  drained(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve) => { this.settled = resolve; });
  }

  private written(c: Connection): void {
    const now = performance.now();
    c.sentAt = now;
    this.rec.onScheduleLag((now - c.intended) * 1000);
  }

  /** Takes `c`'s request out of flight. */
  private end(c: Connection): void {
    if (c.prev) c.prev.next = c.next; else this.head = c.next;
    if (c.next) c.next.prev = c.prev; else this.tail = c.prev;
    c.prev = c.next = null;
    c.busy = false;
    c.req = null;
    this.inFlight--;
  }

  private settle(): void {
    if (this.inFlight === 0 && this.settled) {
      const s = this.settled;
      this.settled = null;
      s();
    }
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
  const maxConnections = Math.min(maxInFlight, Math.max(1, shareOf(stage.maxConnections ?? defaultMaxConnections(totalInFlight), segment)));

  const base = new URL(ctx.target);
  const builder = new RequestBuilder(ctx.request, { runId: ctx.runId, stage: stage.name, segment });
  const schedule = new ArrivalSchedule(r0, stage.rampTo, stage.durationMs);
  const port = base.port ? Number(base.port) : base.protocol === 'https:' ? 443 : 80;
  // URL keeps IPv6 literals in brackets; net wants them bare
  const hostname = base.hostname.startsWith('[') ? base.hostname.slice(1, -1) : base.hostname;

  let start = 0;
  let run!: OpenStageRun;

  // global arrival index of the next arrival this process fires
  let next = segment.index;
  let nextAt = schedule.atMs(next);
  let timer: NodeJS.Timeout | null = null;
  let immediate: NodeJS.Immediate | null = null;
  let stopped = false;
  let aborted = false;
  let windowDone: () => void = () => {};
  const windowEnded = new Promise<void>((resolve) => { windowDone = resolve; });

  const endWindow = (): void => {
    if (stopped) return;
    const left = start + stage.durationMs - performance.now();
    // node timers can fire up to ~1 ms early (they start from the loop's cached clock): wait out the rest
    if (left > 0 && !aborted) {
      timer = setTimeout(endWindow, Math.ceil(left));
      return;
    }
    stopped = true;
    run.rec.end(Math.min(performance.now(), start + stage.durationMs));
    windowDone();
  };

  /** Starts every arrival due; arms the timer for the next one. */
  const pump = (): void => {
    if (stopped) return;
    run.sweep(performance.now());
    const now = performance.now() - start;
    let batch = 0;
    while (nextAt <= now && nextAt < stage.durationMs && batch < MAX_BATCH) {
      run.arrive(start + nextAt);
      next += segment.count;
      nextAt = schedule.atMs(next);
      batch++;
    }
    if (timer !== null || immediate !== null) return; // a wake-up is armed already
    if (nextAt >= stage.durationMs || !Number.isFinite(nextAt)) {
      // no more arrivals: the window still lasts the whole stage
      const rest = stage.durationMs - now;
      if (rest <= 0) endWindow();
      else timer = setTimeout(onTimer, rest);
      return;
    }
    const delay = nextAt - (performance.now() - start);
    if (delay <= 0) immediate = setImmediate(onImmediate);
    else timer = setTimeout(onTimer, Math.floor(delay));
  };
  const onTimer = (): void => {
    timer = null;
    if (nextAt >= stage.durationMs || !Number.isFinite(nextAt)) return endWindow();
    pump();
  };
  const onImmediate = (): void => {
    immediate = null;
    pump();
  };

  const onAbort = (): void => {
    aborted = true;
    if (timer) clearTimeout(timer);
    timer = null;
    endWindow();
    run.abortAll();
  };
  // arrivals of this process due by `ms` after the start (within the stage)
  const dueBy = (ms: number): number => ownedBefore(schedule.dueBy(Math.min(ms, stage.durationMs)), segment);
  const ticker = setInterval(() => {
    const now = performance.now();
    beat(ctx, run.rec, now, schedule.rateAt(now - start) / segment.count, dueBy(now - start));
  }, 1000);
  const sweeper = setInterval(() => {
    run.sweep(performance.now());
    // answers arrive between timer wake-ups; arrivals that fell due meanwhile start here at the latest
    if (!stopped && start + nextAt <= performance.now()) pump();
  }, SWEEP_MS);

  const watch = new GeneratorWatch();
  start = performance.now();
  const rec = new StageRecorder({ name: stage.name, model: 'open', index: ctx.stage.index, startedAt: start });
  const endpoint = { host: hostname, port, tls: base.protocol === 'https:' };
  const carryKey = `${base.protocol}//${base.host}`;
  run = new OpenStageRun(rec, builder, base.host, start, ctx.request.timeoutMs, maxInFlight, maxConnections,
    endpoint, ctx.carry?.take(carryKey) ?? null);
  // answers free connections between timer wake-ups: start what fell due right then (one clock read each)
  run.rateNow = () => schedule.rateAt(performance.now() - start) / segment.count;
  run.kick = () => {
    if (!stopped && start + nextAt <= performance.now()) pump();
  };
  if (ctx.signal.aborted) onAbort();
  else {
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    pump();
  }

  try {
    await windowEnded;
    if (timer) clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
    timer = null;
    immediate = null;
    // settle: in-flight requests finish or hit their deadline (the sweeper keeps running), or abort ends them
    await run.drained();
  } finally {
    clearInterval(ticker);
    clearInterval(sweeper);
    ctx.signal.removeEventListener('abort', onAbort);
    run.abortAll();
    // the next stage of the run starts on these connections (an aborted run has no next stage)
    if (ctx.carry && !aborted) ctx.carry.keep(carryKey, run.conns);
    else run.conns.destroy();
    watch.stop(rec.scheduleLag);
  }

  const elapsed = rec.elapsedMs();
  // the plan's mean rate; an aborted stage is judged on the part of the plan it ran
  const target = !aborted ? (r0 + r1) / 2 : elapsed > 0 ? schedule.plannedBy(elapsed) / (elapsed / 1000) : 0;
  beat(ctx, rec, performance.now(), schedule.rateAt(elapsed) / segment.count, dueBy(elapsed));
  const result = rec.result(target / segment.count);
  result.generator = watch.stop(rec.scheduleLag);
  rec.destroy();
  return result;
}
