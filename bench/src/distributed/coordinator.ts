// The coordinator: waits for N workers, estimates each one's clock offset, sends one absolute start time and
// each stage's start as an offset from it, merges what the workers send (merge.ts), and is, to the run
// (run.ts), just another stage executor: it returns the merged StageResult and feeds the merged intervals and
// ticks to the run, so thresholds, abortOnFail, the live line, /metrics scrapes, row counts, outputs and the
// summary happen once, on the merged data, exactly as for one process.
//
// Workers that do not connect in time, die, or fall behind are named (when, and what they had sent); the run
// then fails unless `allowWorkerLoss`. k6-operator starts its runners one after another so their skew grows
// with N; here every worker waits for the same instant on its own clock, and the skew each one actually had is
// measured (its stage-started stamp against the planned start, on the coordinator's clock) and reported.
import { WebSocketServer, WebSocket } from 'ws';
import type { AddressInfo } from 'node:net';
import type { Profile, StageResult, StageSpec } from '../types';
import type { StageContext } from '../executors/stage-context';
import { decodeInterval, type Interval } from '../metrics/interval';
import { clockNow, estimateOffset, toCoordinatorClock, type ClockEstimate, type ClockSample } from './clock-sync';
import { mergedStageResult, StageMerge } from './merge';
import { profileDocument } from './profile-document';
import { MAX_MESSAGE_BYTES, PROTOCOL_VERSION, parseWorkerMessage, type CoordinatorMessage, type WorkerMessage } from './protocol';
import { stageShare, type StageShare } from './profile-share';
import type { WarmupSummary } from '../warmup';

export interface CoordinatorOptions {
  host: string;
  port: number;
  workers: number;
  /** how long to wait for every worker to connect and be ready */
  connectTimeoutMs: number;
  /** a lost or lagging worker is reported but does not fail the run */
  allowWorkerLoss?: boolean;
  /** clock round trips per worker (the smallest RTT wins; default 8) */
  clockRounds?: number;
  /** a worker whose intervals are this far behind the stage clock is named as behind (default 5 s) */
  behindMs?: number;
  /** how far ahead of now a start time is set (default 300 ms plus twice the largest RTT) */
  startLeadMs?: number;
  /** each worker's warm-up before it reports ready (warmup.ts; default DEFAULT_WARMUP_MS, 0 = none) */
  warmupMs?: number;
  log?: (obj: Record<string, unknown>, msg: string) => void;
}

export class CoordinatorError extends Error {
  constructor(readonly code: 'BENCH_WORKERS_NOT_READY' | 'BENCH_COORDINATOR_LISTEN', message: string) {
    super(message);
  }
}

type Status = 'connecting' | 'ready' | 'done' | 'lost' | 'never-connected';

/** What went wrong with a worker, as the summary names it. */
export interface WorkerProblem {
  kind: 'lost' | 'behind' | 'not-ready' | 'failed';
  /** ISO time */
  at: string;
  /** the stage it was in, or null before the first one */
  stage: string | null;
  reason: string;
  /** what it had sent by then: requests sent in the run, intervals received */
  sent: number;
  intervals: number;
}

interface StageState {
  index: number;
  spec: StageSpec;
  merge: StageMerge;
  /** planned start on the coordinator's clock */
  plannedAt: number;
  results: Map<number, StageResult>;
  startedAt: Map<number, number>;
  ctx: StageContext | null;
  ended: Set<number>;
  /** the stage's own wait ended (the run moved on); data after this is late */
  closed: boolean;
  onProgress: () => void;
}

class Session {
  index = -1;
  host = '';
  pid = 0;
  status: Status = 'connecting';
  clock: ClockEstimate | null = null;
  readonly samples: ClockSample[] = [];
  readonly pingSent = new Map<number, number>();
  connectedAt = clockNow();
  readyAt: number | null = null;
  warmupMs: number | null = null;
  warmup: WarmupSummary | null = null;
  problems: WorkerProblem[] = [];
  alive = true;
  missedPings = 0;
  constructor(readonly ws: WebSocket, readonly remote: string) {}
  send(m: CoordinatorMessage): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(m));
  }
}

export class Coordinator {
  private readonly wss: WebSocketServer;
  private readonly sessions: (Session | null)[];
  private readonly pending = new Set<Session>();
  private readonly stages: StageState[] = [];
  private profile: Profile | null = null;
  private target = '';
  private runId = '';
  private t0: number | null = null;
  private readyWaiter: (() => void) | null = null;
  private readonly runAbort = new AbortController();
  private heartbeat: NodeJS.Timeout | null = null;
  /** set when a worker failed the run (lost, behind, not ready) and that is not allowed */
  failure: string | null = null;
  readonly lateIntervals: { worker: number; stage: number }[] = [];

  private constructor(private readonly o: CoordinatorOptions, wss: WebSocketServer) {
    this.wss = wss;
    this.sessions = new Array<Session | null>(o.workers).fill(null);
    wss.on('connection', (ws, req) => this.onConnection(ws, `${req.socket.remoteAddress}:${req.socket.remotePort}`));
  }

  static async listen(o: CoordinatorOptions): Promise<Coordinator> {
    const wss = new WebSocketServer({ host: o.host, port: o.port, maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false, clientTracking: true });
    await new Promise<void>((resolve, reject) => {
      wss.once('listening', () => resolve());
      wss.once('error', (e) => reject(new CoordinatorError('BENCH_COORDINATOR_LISTEN', `cannot listen on ${o.host}:${o.port}: ${e.message}`)));
    });
    return new Coordinator(o, wss);
  }

  get url(): string {
    const a = this.wss.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `ws://${host}:${a.port}`;
  }

  /** Aborts when the run must stop because of a worker (lost and not allowed). Pass it to runProfile. */
  get signal(): AbortSignal {
    return this.runAbort.signal;
  }

  private log(obj: Record<string, unknown>, msg: string): void {
    this.o.log?.(obj, msg);
  }

  /**
   * Hands the profile out and waits until every worker connected, synced its clock and is ready. Throws
   * CoordinatorError naming the missing workers when the connect timeout passes (or `signal` aborts).
   */
  async prepare(profile: Profile, target: string, runId: string, signal?: AbortSignal): Promise<void> {
    this.profile = profile;
    this.target = target;
    this.runId = runId;
    for (const s of this.pending) this.welcome(s);
    this.heartbeat = setInterval(() => this.beat(), 5_000);
    this.heartbeat.unref();
    const allReady = () => this.sessions.every((s) => s?.status === 'ready' && s.clock !== null);
    if (!allReady()) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, this.o.connectTimeoutMs);
        signal?.addEventListener('abort', done, { once: true });
        this.readyWaiter = () => { if (allReady()) done(); };
        function done() {
          clearTimeout(timer);
          resolve();
        }
      });
      this.readyWaiter = null;
    }
    if (!allReady()) {
      const missing = this.sessions.map((s, i) => {
        if (!s) return `worker ${i}: never connected`;
        if (s.status !== 'ready') return `worker ${i} (${s.host}): connected but not ready (${s.problems.at(-1)?.reason ?? s.status})`;
        return null;
      }).filter((x): x is string => x !== null);
      for (let i = 0; i < this.sessions.length; i++) {
        const s = this.sessions[i];
        if (s?.status === 'ready') continue;
        this.problem(i, { kind: 'not-ready', stage: null, reason: s ? `not ready within ${this.o.connectTimeoutMs} ms` : `did not connect within ${this.o.connectTimeoutMs} ms` });
      }
      throw new CoordinatorError('BENCH_WORKERS_NOT_READY', `${missing.length} of ${this.o.workers} workers not ready after ${this.o.connectTimeoutMs} ms: ${missing.join('; ')}`);
    }
    this.log({ workers: this.o.workers, offsets_ms: this.sessions.map((s) => round3(s!.clock!.offsetMs)) }, 'every worker is ready');
  }

  private onConnection(ws: WebSocket, remote: string): void {
    const s = new Session(ws, remote);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.protocolError(s, 'binary message');
      let m: WorkerMessage;
      try {
        m = parseWorkerMessage(data.toString());
      } catch (e) {
        return this.protocolError(s, (e as Error).message);
      }
      try {
        this.onMessage(s, m);
      } catch (e) {
        this.protocolError(s, (e as Error).message);
      }
    });
    ws.on('pong', () => {
      s.alive = true;
      s.missedPings = 0;
    });
    ws.on('close', (code, reason) => this.onClose(s, `connection closed (${code}${reason.length ? ` ${reason.toString()}` : ''})`));
    ws.on('error', (e) => this.onClose(s, `connection error: ${e.message}`));
  }

  private protocolError(s: Session, msg: string): void {
    this.log({ worker: s.index, remote: s.remote, err: msg }, 'protocol error; dropping the worker');
    if (s.index >= 0) this.problem(s.index, { kind: 'failed', stage: this.currentStageName(), reason: `protocol error: ${msg}` });
    s.ws.terminate();
  }

  private onMessage(s: Session, m: WorkerMessage): void {
    switch (m.type) {
      case 'hello': return this.onHello(s, m);
      case 'pong': return this.onPong(s, m);
      case 'ready': {
        s.status = 'ready';
        s.readyAt = clockNow();
        s.warmupMs = m.warmupMs;
        s.warmup = m.warmup ?? null;
        this.maybeReady(s);
        return;
      }
      case 'stage-started': {
        const st = this.stages[m.stage];
        if (st && s.clock) st.startedAt.set(s.index, toCoordinatorClock(m.at, s.clock));
        return;
      }
      case 'interval': return this.onInterval(s, decodeInterval(m.interval));
      case 'tick': {
        this.stages[m.stage]?.merge.tick(s.index, m.tick);
        return;
      }
      case 'stage-end': {
        const st = this.stages[m.stage];
        if (!st) return;
        st.results.set(s.index, m.result);
        st.ended.add(s.index);
        this.emit(st, st.merge.finished(s.index));
        st.onProgress();
        return;
      }
      case 'failed': {
        this.problem(s.index, { kind: 'failed', stage: this.currentStageName(), reason: m.message });
        this.log({ worker: s.index, host: s.host, err: m.message }, 'worker failed');
        return;
      }
    }
  }

  private onHello(s: Session, m: Extract<WorkerMessage, { type: 'hello' }>): void {
    if (s.index >= 0) return this.protocolError(s, 'hello sent twice');
    if (m.v !== PROTOCOL_VERSION) {
      s.send({ type: 'reject', message: `protocol version ${m.v}; this coordinator speaks ${PROTOCOL_VERSION}` });
      s.ws.close();
      return;
    }
    let index = m.index;
    if (index === null) index = this.sessions.findIndex((x) => x === null);
    if (index < 0 || index >= this.o.workers) {
      s.send({ type: 'reject', message: m.index === null ? `all ${this.o.workers} worker places are taken` : `index ${m.index} is outside 0..${this.o.workers - 1}` });
      s.ws.close();
      return;
    }
    if (this.sessions[index] !== null) {
      s.send({ type: 'reject', message: `worker index ${index} is already connected (from ${this.sessions[index]!.host})` });
      s.ws.close();
      return;
    }
    if (this.t0 !== null) {
      s.send({ type: 'reject', message: 'the run has started' });
      s.ws.close();
      return;
    }
    s.index = index;
    s.host = m.host;
    s.pid = m.pid;
    this.sessions[index] = s;
    this.log({ worker: index, host: m.host, remote: s.remote }, 'worker connected');
    if (this.profile) this.welcome(s);
    else this.pending.add(s);
  }

  private welcome(s: Session): void {
    this.pending.delete(s);
    s.send({
      type: 'welcome', v: PROTOCOL_VERSION, index: s.index, count: this.o.workers, runId: this.runId, target: this.target,
      profile: profileDocument(this.profile!),
      ...(this.o.warmupMs !== undefined ? { warmupMs: this.o.warmupMs } : {}),
    });
    // clock rounds, spaced so they do not queue behind each other
    const rounds = this.o.clockRounds ?? 8;
    for (let i = 0; i < rounds; i++) {
      setTimeout(() => {
        s.pingSent.set(i, clockNow());
        s.send({ type: 'ping', seq: i });
      }, i * 20).unref();
    }
  }

  private onPong(s: Session, m: Extract<WorkerMessage, { type: 'pong' }>): void {
    const sentAt = s.pingSent.get(m.seq);
    if (sentAt === undefined) return;
    s.pingSent.delete(m.seq);
    s.samples.push({ sentAt, workerAt: m.at, receivedAt: clockNow() });
    if (s.samples.length === (this.o.clockRounds ?? 8)) {
      s.clock = estimateOffset(s.samples);
      this.maybeReady(s);
    }
  }

  private maybeReady(s: Session): void {
    if (s.status === 'ready' && s.clock) this.readyWaiter?.();
  }

  private onClose(s: Session, reason: string): void {
    if (s.index < 0 || this.sessions[s.index] !== s) return;
    if (s.status === 'done' || s.status === 'lost') return;
    const wasReady = s.status === 'ready';
    s.status = 'lost';
    const stage = this.currentStageName();
    this.problem(s.index, { kind: 'lost', stage, reason });
    this.log({ worker: s.index, host: s.host, stage, reason }, 'worker lost');
    for (const st of this.stages) {
      if (!st.ended.has(s.index)) {
        st.ended.add(s.index);
        this.emit(st, st.merge.finished(s.index));
        st.onProgress();
      }
    }
    if (wasReady && this.t0 !== null && !this.o.allowWorkerLoss) {
      this.fail(`worker ${s.index} (${s.host}) lost${stage ? ` in stage ${stage}` : ''}: ${reason}`);
    }
  }

  private fail(why: string): void {
    if (this.failure === null) this.failure = why;
    this.runAbort.abort();
    for (const st of this.stages) if (!st.closed) this.broadcast({ type: 'abort-stage', stage: st.index, reason: why });
  }

  private problem(index: number, p: Omit<WorkerProblem, 'at' | 'sent' | 'intervals'>): void {
    const s = this.sessions[index];
    const sent = this.stages.reduce((a, st) => a + st.merge.workerTotal(index).counts.sent, 0);
    const intervals = this.stages.reduce((a, st) => a + st.merge.intervalsOf(index), 0);
    const full: WorkerProblem = { ...p, at: new Date().toISOString(), sent, intervals };
    if (s) s.problems.push(full);
    else this.neverConnected.set(index, full);
  }

  private readonly neverConnected = new Map<number, WorkerProblem>();

  private currentStageName(): string | null {
    const st = this.stages.at(-1);
    return st && !st.closed ? st.spec.name : null;
  }

  private onInterval(s: Session, iv: Interval): void {
    const st = this.stages[iv.stage];
    if (!st) throw new Error(`interval for stage ${iv.stage}, which has not started`);
    const out = st.merge.add(s.index, iv);
    if (st.closed) {
      this.lateIntervals.push({ worker: s.index, stage: iv.stage });
      this.log({ worker: s.index, stage: st.spec.name }, 'late interval joins the totals');
    }
    this.emit(st, out);
  }

  private emit(st: StageState, ivs: Interval[]): void {
    if (!st.ctx || st.closed) return;
    for (const iv of ivs) {
      try {
        st.ctx.onInterval?.(iv);
      } catch {
        // the run's consumer must not break the merge
      }
    }
  }

  private broadcast(m: CoordinatorMessage): void {
    for (const s of this.sessions) if (s && s.status === 'ready') s.send(m);
  }

  private liveSessions(): Session[] {
    return this.sessions.filter((s): s is Session => s !== null && s.status === 'ready');
  }

  /**
   * ws ping frames every 5 s: a worker that answers none of three in a row (a frozen host, a cut network) is
   * terminated and so lost. A shorter freeze makes it late (named as behind), not lost.
   */
  private beat(): void {
    for (const s of this.sessions) {
      if (!s || s.status === 'lost' || s.status === 'done') continue;
      if (!s.alive && ++s.missedPings >= 3) {
        s.ws.terminate();
        continue;
      }
      s.alive = false;
      s.ws.ping();
    }
  }

  /** The stage executor the run calls for every stage (both models). */
  readonly executor = async (spec: StageSpec, ctx: StageContext): Promise<StageResult> => {
    // the profile's stage index (the run calls this once per stage, in order; ctx.stage.index may be offset)
    const index = this.stages.length;
    const merge = new StageMerge({ stage: index, model: spec.model, workers: this.o.workers });
    const live = this.liveSessions();
    const maxRtt = Math.max(0, ...live.map((s) => s.clock?.rttMs ?? 0));
    const lead = this.o.startLeadMs ?? 300 + 2 * maxRtt;
    let atMs: number;
    if (this.t0 === null) {
      this.t0 = clockNow() + lead;
      for (const s of live) s.send({ type: 'start', t0: this.t0, offsetMs: s.clock!.offsetMs });
      atMs = 0;
    } else {
      const planned = this.stages.reduce((a, st) => a + st.spec.durationMs, 0);
      atMs = Math.max(planned, clockNow() - this.t0 + lead);
    }
    atMs = round3(atMs);
    let progress: () => void = () => {};
    const st: StageState = {
      index, spec, merge, plannedAt: this.t0 + atMs, results: new Map(), startedAt: new Map(), ctx, ended: new Set(),
      closed: false, onProgress: () => progress(),
    };
    this.stages[index] = st;
    for (let i = 0; i < this.o.workers; i++) {
      if (!live.some((s) => s.index === i)) {
        st.ended.add(i);
        merge.finished(i);
      }
    }
    for (const s of live) s.send({ type: 'stage', stage: index, atMs });

    const onAbort = () => this.broadcast({ type: 'abort-stage', stage: index, reason: 'the run stops this stage' });
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const behind = new Set<number>();
    const behindMs = this.o.behindMs ?? 5_000;
    const ticker = setInterval(() => {
      const elapsed = clockNow() - st.plannedAt;
      if (elapsed < 0) return;
      try {
        ctx.onTick(merge.snapshot(Math.min(elapsed, spec.durationMs)));
      } catch {
        // see emit()
      }
      // a worker whose intervals lag the stage clock cannot keep up (or its link cannot)
      for (const s of this.liveSessions()) {
        if (st.ended.has(s.index) || behind.has(s.index) || elapsed > spec.durationMs) continue;
        const t = merge.workerTick(s.index);
        const lag = elapsed - (t?.elapsedMs ?? 0);
        // open model: arrivals due by its schedule that it has not started yet (neither sent nor dropped)
        const w = merge.workerTotal(s.index);
        const backlog = spec.model === 'open' ? w.scheduled - w.counts.sent - w.counts.dropped : 0;
        const share = t?.targetRate ?? 0;
        const backlogMs = share > 0 ? (backlog / share) * 1000 : 0;
        if (lag > behindMs || backlogMs > behindMs) {
          behind.add(s.index);
          const reason = lag > behindMs
            ? `its reports are ${Math.round(lag)} ms behind the stage clock`
            : `its arrivals are ${Math.round(backlogMs)} ms behind its schedule (${backlog} due and not started)`;
          this.problem(s.index, { kind: 'behind', stage: spec.name, reason });
          this.log({ worker: s.index, host: s.host, stage: spec.name, lag_ms: Math.round(lag) }, 'worker is behind');
          if (!this.o.allowWorkerLoss && this.failure === null) this.failure = `worker ${s.index} (${s.host}) fell behind in stage ${spec.name}: ${reason}`;
        }
      }
    }, 1000);

    // every worker ends its stage (its stage-end) or is lost; one that does neither within the stage's length
    // plus the request timeout plus a grace is named as behind and the stage is closed without it.
    const graceMs = spec.durationMs + ctx.request.timeoutMs + 15_000;
    const waitStart = clockNow();
    await new Promise<void>((resolve) => {
      const check = () => {
        if (st.ended.size >= this.o.workers) done();
      };
      const timer = setTimeout(done, Math.max(0, st.plannedAt - waitStart) + graceMs);
      progress = check;
      function done() {
        clearTimeout(timer);
        resolve();
      }
      check();
    });
    clearInterval(ticker);
    ctx.signal.removeEventListener('abort', onAbort);
    for (const s of this.liveSessions()) {
      if (st.ended.has(s.index)) continue;
      const reason = `no end of stage ${spec.name} within ${Math.round(graceMs)} ms of its start`;
      this.problem(s.index, { kind: 'behind', stage: spec.name, reason });
      if (!this.o.allowWorkerLoss && this.failure === null) this.failure = `worker ${s.index} (${s.host}): ${reason}`;
      st.ended.add(s.index);
    }
    this.emit(st, merge.flush());
    const elapsed = Math.max(0, ...[...st.results.values()].map((r) => r.duration_ms));
    try {
      ctx.onTick(merge.snapshot(elapsed));
    } catch {
      // see emit()
    }
    st.closed = true;
    if (this.failure !== null && !this.runAbort.signal.aborted && !this.o.allowWorkerLoss) this.fail(this.failure);
    return mergedStageResult(spec.name, spec.model, toEpochMs(st.plannedAt), merge, [...st.results.values()]);
  };

  /**
   * Stage results rebuilt from everything received, late intervals included, for the summary (the run's own
   * results were built when each stage's wait ended). Same order as the run's stages.
   */
  finalStageResults(): StageResult[] {
    return this.stages.map((st) => mergedStageResult(st.spec.name, st.spec.model, toEpochMs(st.plannedAt), st.merge, [...st.results.values()]));
  }

  /** summary.json's `workers[]`. */
  report(): WorkerReport[] {
    const out: WorkerReport[] = [];
    for (let i = 0; i < this.o.workers; i++) {
      const s = this.sessions[i];
      const counts = { sent: 0, completed: 0, ok: 0, errors: 0, timeouts: 0, dropped: 0 };
      let durationMs = 0;
      const stages: WorkerStageReport[] = [];
      const timeline: { stage: number; t_s: number; achieved_rate: number }[] = [];
      for (const st of this.stages) {
        const t = st.merge.workerTotal(i);
        for (const k of Object.keys(counts) as (keyof typeof counts)[]) counts[k] += t.counts[k];
        const r = st.results.get(i);
        durationMs += r?.duration_ms ?? 0;
        const started = st.startedAt.get(i);
        stages.push({
          stage: st.spec.name,
          share: stageShare(st.spec, { index: i, count: this.o.workers }),
          counts: { ...t.counts },
          achieved_rate: r?.rate.achieved ?? null,
          target_rate: r?.rate.target ?? null,
          start_skew_ms: started === undefined ? null : round3(started - st.plannedAt),
          intervals: st.merge.intervalsOf(i),
          late_intervals: st.merge.lateOf(i),
        });
        for (const iv of st.merge.timelineOf(i)) timeline.push({ stage: st.index, t_s: round3(iv.t1Ms / 1000), achieved_rate: iv.rate });
      }
      const skews = stages.map((x) => x.start_skew_ms).filter((x): x is number => x !== null);
      const problems = s?.problems ?? (this.neverConnected.has(i) ? [this.neverConnected.get(i)!] : []);
      out.push({
        index: i,
        host: s?.host ?? null,
        status: !s ? 'never-connected' : s.status === 'lost' ? 'lost' : problems.some((p) => p.kind === 'behind') ? 'behind' : problems.length ? 'failed' : 'ok',
        sent: counts.sent,
        ok: counts.ok,
        errors: counts.errors,
        achieved_rate: durationMs > 0 ? round2(counts.completed / (durationMs / 1000)) : 0,
        clock_offset_ms: s?.clock ? round3(s.clock.offsetMs) : null,
        clock_rtt_ms: s?.clock ? round3(s.clock.rttMs) : null,
        start_skew_ms: skews.length ? skews[0]! : null,
        max_start_skew_ms: skews.length ? skews.reduce((a, b) => (Math.abs(b) > Math.abs(a) ? b : a)) : null,
        pid: s?.pid ?? null,
        remote: s?.remote ?? null,
        warmup_ms: s?.warmupMs ?? null,
        warmup: s?.warmup ?? null,
        counts,
        share: { index: i, count: this.o.workers },
        stages,
        problems,
        timeline,
      });
    }
    return out;
  }

  /**
   * Tells every worker the run is over (`done`; `reject` with the reason when it never started) and closes the
   * server (bounded).
   */
  async close(neverStarted?: string): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const s of [...this.sessions, ...this.pending]) {
      if (!s || s.status === 'lost' || s.status === 'done') continue;
      if (this.t0 === null && neverStarted !== undefined) s.send({ type: 'reject', message: `the run did not start: ${neverStarted}` });
      else s.send({ type: 'done' });
      s.status = 'done';
    }
    const closing = this.sessions.filter((s): s is Session => s !== null && s.ws.readyState !== WebSocket.CLOSED);
    await Promise.race([
      Promise.all(closing.map((s) => new Promise<void>((r) => { s.ws.once('close', () => r()); }))),
      new Promise((r) => setTimeout(r, 5_000).unref()),
    ]);
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
  }
}

export interface WorkerStageReport {
  stage: string;
  share: StageShare;
  counts: { sent: number; completed: number; ok: number; errors: number; timeouts: number; dropped: number };
  achieved_rate: number | null;
  target_rate: number | null;
  start_skew_ms: number | null;
  intervals: number;
  late_intervals: number;
}

export interface WorkerReport {
  index: number;
  host: string | null;
  status: 'ok' | 'lost' | 'behind' | 'failed' | 'never-connected';
  sent: number;
  ok: number;
  errors: number;
  achieved_rate: number;
  clock_offset_ms: number | null;
  clock_rtt_ms: number | null;
  /** first stage: when it actually started minus the planned start, on the coordinator's clock */
  start_skew_ms: number | null;
  /** the largest skew over its stages */
  max_start_skew_ms: number | null;
  pid: number | null;
  remote: string | null;
  /** from its hello to its ready: the target check and the warm-up */
  warmup_ms: number | null;
  /** its warm-up (warmup.ts), sent before the start and outside every stage */
  warmup: WarmupSummary | null;
  counts: { sent: number; completed: number; ok: number; errors: number; timeouts: number; dropped: number };
  share: { index: number; count: number };
  stages: WorkerStageReport[];
  problems: WorkerProblem[];
  timeline: { stage: number; t_s: number; achieved_rate: number }[];
}

/** clockNow() is on Date.now()'s epoch, so this is just a rounding to whole ms for ISO strings. */
function toEpochMs(clockMs: number): number {
  return Math.round(clockMs);
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
