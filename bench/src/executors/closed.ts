// The closed model: a fixed (or stepped, see closed-ramp.ts) number of connections, each sending its next
// request as soon as the previous answer arrives, driven by autocannon's programmatic API.
//
// What we take from autocannon and what we replace (read from autocannon 8 lib/run.js, lib/httpClient.js):
// - Sockets, HTTP parsing, keep-alive and reconnects: autocannon's Client.
// - Request bytes: each Client's `getRequestBuffer` is replaced in `setupClient` so every request gets a fresh
//   seeded body and traceparent without autocannon's generic per-request rebuild (`setupRequest` re-assembles
//   headers through Object.assign/Object.entries and Buffer.concat on every request).
// - Latency: the 'response' event carries the send-to-answer time from process.hrtime as a float of ms; we
//   record it in microseconds into our own HDR histogram. autocannon's histogram holds whole ms, and its
//   coordinated-omission correction (only active with a rate) is never enabled here.
// - Twirp code: `verifyBody` receives each answer's body right after its 'response' event (same tick), so a
//   non-2xx is held for one call and classified from its body; 2xx bodies are never parsed.
// - Socket errors: autocannon reconnects on 'error' and 'end' without dropping the request that was in flight
//   (its pipelined queue keeps the stale entry, so the next answer would be timed from the lost request's
//   start). We prepend listeners that count the loss by code and clear the queue first.
// - Timeouts: the Client's own timer, set to the request spec's timeout in ms (autocannon's option is whole
//   seconds, minimum 1).
// - Reconnects: autocannon reconnects at once after any socket error, so a refused connection spins a CPU
//   core and counts thousands of "requests" a second. A connection that fails before it ever connected waits
//   before the next attempt (10 ms doubling up to 500 ms, reset by a successful connect).
import autocannon from 'autocannon';
import type { StageResult, StageSpec } from '../types';
import { StageRecorder, type RequestEvidence } from '../metrics/stage-recorder';
import { GeneratorWatch } from '../metrics/generator-watch';
import { twirpCodeOf } from '../metrics/twirp-code';
import { PUSH_PATH, RequestBuilder, sampledAt, traceIdAt } from '../request-builder';
import { checkSegment, shareOf } from '../segment';
import { beat, type StageContext } from './stage-context';
import { closedRampPlan, type ClosedStep } from './closed-ramp';

/** After the stage ends, how long to wait for autocannon instances to wind down before giving up on them. */
const SETTLE_MS = 5_000;
/** Reconnect back-off after a connection that never connected: first wait and cap. */
const BACKOFF_FIRST_MS = 10;
const BACKOFF_MAX_MS = 500;

export class ClosedStageError extends Error {
  constructor(readonly code: 'BENCH_CLOSED_STAGE_FAILED', message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

/** The parts of autocannon's Client (lib/httpClient.js) this executor touches. */
interface AcClient {
  timeout: number;
  conn: NodeJS.EventEmitter;
  destroyed: boolean;
  pipelinedRequests: { size(): number; clear(): void };
  getRequestBuffer(): Buffer;
  _connect(): void;
  destroy(): void;
  on(event: 'connError', fn: (err: Error) => void): void;
  on(event: 'timeout', fn: () => void): void;
}

/** The request a connection has in flight (one at a time: pipelining 1), for the worst-requests evidence. */
class InFlight implements RequestEvidence {
  buf: Buffer | null = null;
  traceAt = 0;
  sentAt = 0;
  traceId(): string {
    return this.buf ? traceIdAt(this.buf, this.traceAt) : '';
  }
  sampled(): boolean {
    return this.buf ? sampledAt(this.buf, this.traceAt) : false;
  }
}

const IN_FLIGHT = Symbol('bench.inFlight');

interface Instance {
  step: ClosedStep;
  clients: Set<AcClient>;
  /** pending delayed reconnects (back-off), cleared when the instance stops */
  backoffTimers: Set<NodeJS.Timeout>;
  done: Promise<unknown> | null;
  stopped: boolean;
}

export async function runClosedStage(stage: StageSpec, ctx: StageContext): Promise<StageResult> {
  const c0 = stage.connections ?? 0;
  const c1 = stage.rampTo ?? c0;
  // a distributed run: this process opens its integer share of the connections (the shares sum exactly)
  const segment = checkSegment(ctx.segment);
  const mine0 = shareOf(c0, segment);
  const mine1 = shareOf(c1, segment);

  const base = new URL(ctx.target);
  const host = base.host;
  const url = new URL(PUSH_PATH, base).toString();
  const builder = new RequestBuilder(ctx.request, { runId: ctx.runId, stage: stage.name, segment });
  const timeoutMs = ctx.request.timeoutMs;
  // started just before the first instance, so set-up time is not counted as stage time
  let rec!: StageRecorder;

  // stage start (performance.now()), for the evidence's at_ms
  let rec0 = 0;

  // A non-2xx answer waits here between its 'response' event and its verifyBody call (same tick).
  let held: { status: number; bytes: number; us: number; req: InFlight | undefined } | null = null;

  const setupClient = (instance: Instance) => (raw: unknown): void => {
    const client = raw as AcClient & { [IN_FLIGHT]?: InFlight };
    instance.clients.add(client);
    client.timeout = timeoutMs;
    const req = new InFlight();
    client[IN_FLIGHT] = req;
    client.getRequestBuffer = () => {
      const buf = builder.nextRaw(host);
      // autocannon writes the buffer right after asking for it
      req.buf = buf;
      req.traceAt = builder.lastTraceOffset;
      req.sentAt = performance.now();
      rec.onSent(buf.length);
      return buf;
    };
    let backoffMs = 0;
    let waiting: NodeJS.Timeout | null = null;
    // while waiting to reconnect no request is in flight: the client's timer firing then is not a timeout
    client.on('timeout', () => {
      if (waiting === null) {
        const now = performance.now();
        rec.onTimeout(req.sentAt - rec0, (now - req.sentAt) * 1000, req);
      }
    });
    const connect = client._connect;
    const connectNow = function (this: AcClient): void {
      connect.call(this);
      const conn = this.conn;
      let connected = false;
      conn.once('connect', () => {
        connected = true;
        backoffMs = 0;
      });
      conn.prependListener('error', (err: NodeJS.ErrnoException) => {
        if (this.conn !== conn) return;
        const lost = this.pipelinedRequests.size() > 0;
        rec.onSocketError(err.code ?? 'UNKNOWN', lost, req.sentAt - rec0, (performance.now() - req.sentAt) * 1000, req);
        this.pipelinedRequests.clear();
        if (!connected) backoffMs = Math.min(Math.max(backoffMs * 2, BACKOFF_FIRST_MS), BACKOFF_MAX_MS);
      });
      conn.prependListener('end', () => {
        // the server closed the connection; with a request in flight that request is lost (a hang-up)
        if (this.conn !== conn || this.pipelinedRequests.size() === 0) return;
        rec.onSocketError('ECONNRESET', true, req.sentAt - rec0, (performance.now() - req.sentAt) * 1000, req);
        this.pipelinedRequests.clear();
      });
    };
    client._connect = function (this: AcClient) {
      if (backoffMs === 0) return connectNow.call(this);
      if (waiting !== null || instance.stopped) return;
      waiting = setTimeout(() => {
        instance.backoffTimers.delete(waiting!);
        waiting = null;
        if (!this.destroyed && !instance.stopped) connectNow.call(this);
      }, backoffMs);
      instance.backoffTimers.add(waiting);
    };
  };

  // On the instance's tracker rather than on each client: a client's 'response' already has autocannon's own
  // listener, and an emitter with two listeners copies its listener array on every emit.
  const onResponse = (client: { [IN_FLIGHT]?: InFlight }, status: number, bytes: number, durationMs: number): void => {
    const req = client[IN_FLIGHT];
    if (status >= 200 && status < 300) rec.onResponse(status, 'ok', bytes, durationMs * 1000, undefined, req ? req.sentAt - rec0 : 0, req);
    else held = { status, bytes, us: durationMs * 1000, req };
  };

  const verifyBody = (body: unknown): boolean => {
    if (held !== null) {
      const h = held;
      held = null;
      rec.onResponse(h.status, twirpCodeOf(h.status, body as string), h.bytes, h.us, undefined, h.req ? h.req.sentAt - rec0 : 0, h.req);
    }
    return true; // never a "mismatch": classification is ours
  };

  const plan = closedRampPlan(mine0, mine1, stage.durationMs);
  const instances: Instance[] = plan.map((step) => ({ step, clients: new Set(), backoffTimers: new Set(), done: null, stopped: false }));
  const timers: NodeJS.Timeout[] = [];
  let failure: unknown = null;

  const startInstance = (inst: Instance): void => {
    if (inst.stopped) return;
    const tracker = autocannon({
      url,
      method: 'POST',
      connections: inst.step.connections,
      pipelining: 1,
      // the stage's own timer ends the instance (by destroying its clients); this is only a backstop
      duration: Math.ceil(stage.durationMs / 1000) + 60,
      timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
      sampleInt: 250,
      headers: { 'content-type': builder.contentType },
      setupClient: setupClient(inst) as never,
      verifyBody: verifyBody as never,
      skipAggregateResult: true,
    } as autocannon.Options) as unknown as NodeJS.EventEmitter & PromiseLike<unknown>; // a thenable emitter
    tracker.on('response', onResponse);
    inst.done = Promise.resolve(tracker).catch((err: unknown) => {
      failure ??= err;
      finish();
    });
  };

  const stopInstance = (inst: Instance): void => {
    if (inst.stopped) return;
    inst.stopped = true;
    for (const t of inst.backoffTimers) clearTimeout(t);
    inst.backoffTimers.clear();
    for (const c of inst.clients) {
      if (!c.destroyed) rec.onAbandoned(c.pipelinedRequests.size());
      c.destroy();
    }
  };

  let finish: () => void = () => {};
  const ended = new Promise<void>((resolve) => {
    finish = resolve;
  });

  const watch = new GeneratorWatch();
  rec = new StageRecorder({ name: stage.name, model: 'closed', index: ctx.stage.index });
  rec0 = performance.now();
  for (const inst of instances) {
    if (inst.step.startMs <= 0) startInstance(inst);
    else timers.push(setTimeout(() => startInstance(inst), inst.step.startMs));
    if (inst.step.stopMs < stage.durationMs) timers.push(setTimeout(() => stopInstance(inst), inst.step.stopMs));
  }
  timers.push(setTimeout(finish, stage.durationMs));
  const onAbort = (): void => finish();
  if (ctx.signal.aborted) finish();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });
  const ticker = setInterval(() => beat(ctx, rec, performance.now(), null), 1000);

  try {
    await ended;
    rec.end();
    for (const inst of instances) stopInstance(inst);
  } finally {
    for (const t of timers) clearTimeout(t);
    clearInterval(ticker);
    ctx.signal.removeEventListener('abort', onAbort);
  }
  // autocannon resolves at its next sample tick after its clients are gone; bounded wait.
  const running = instances.map((i) => i.done).filter((d): d is Promise<unknown> => d !== null);
  let settleTimer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.allSettled(running),
    new Promise((resolve) => { settleTimer = setTimeout(resolve, SETTLE_MS); }),
  ]);
  clearTimeout(settleTimer);

  const generator = watch.stop(null);
  if (failure !== null) {
    rec.destroy();
    throw new ClosedStageError('BENCH_CLOSED_STAGE_FAILED', `stage ${stage.name}: autocannon failed: ${String(failure)}`, { cause: failure });
  }
  beat(ctx, rec, performance.now(), null);
  const result = rec.result(null);
  result.generator = generator;
  rec.destroy();
  return result;
}
