// Request tracing: the edge sampling decision, the Push transaction, the service's own spans through the
// OpenTelemetry API, the group-commit flush and its links back to the requests it committed, and Twirp errors.
//
// Why it is shaped like this (figures in service/perf/apm-overhead.ts):
// - The agent's incoming-HTTP instrumentation is off (apm-preload.cjs). Every request is decided once, at the
//   edge: an incoming W3C traceparent decides by its sampled flag (https://www.w3.org/TR/trace-context/#sampled-flag),
//   otherwise the edge sample rate does. Only sampled requests open a transaction and create spans; an unsampled
//   request costs a header parse and a few property reads.
// - Trace propagation is kept for all requests: an unsampled request with a traceparent still logs its trace id.
// - Spans are created with @opentelemetry/api and reach APM through the agent's OpenTelemetry bridge
//   (https://www.elastic.co/guide/en/apm/agent/nodejs/current/opentelemetry-bridge.html), always with an explicit
//   parent: handlers never run inside a context, so no AsyncLocalStorage work per request. Without the agent the
//   API is a no-op, and nothing here calls it for unsampled requests (with the bridge, a span started with no
//   active transaction would open a new transaction).
// - A span event costs about as much as the transaction itself, so fast steps are not spans: decode and validate
//   become spans only when slower than TRACE_SPAN_MIN_DURATION_MS (the idea of the agent's exit_span_min_duration),
//   and a commit wait only when its flush is traced, it failed, or it took TRACE_COMMIT_WAIT_MIN_MS.
// - Group commit: one flush commits rows of many requests. A flush holding a sampled row is its own transaction
//   (OTel batch-consumer shape: kind CONSUMER, linked to the sampled requests' commit-wait spans, labelled with its
//   batch size), at most TRACE_FLUSHES_PER_SECOND of them; each linked commit-wait span carries the flush's trace
//   and transaction id. A slow request leads to its flush (flush_trace_id), the flush back to its requests (links).
import {
  context,
  createTraceState,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context as OtelContext,
  type Link,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type {
  FastifyInstance,
  FastifyPluginCallback,
  FastifyReply,
  FastifyRequest,
  RouteOptions,
} from 'fastify';
import { contextKey, type Context as RequestContext } from '../context/context';
import type { Dispatch } from '../db/store';
import { apmAgent, apmState } from './apm';
import { LazyChildLogger, traceLogFields } from './logging';

type AgentTransaction = NonNullable<NonNullable<ReturnType<typeof apmAgent>>['currentTransaction']>;

const tracer = trace.getTracer('pageview-service');

// ---------------------------------------------------------------------------------------------------------------
// Incoming headers: parsed strictly, bounded, never trusted as anything but labels and a parent span context.

const TRACEPARENT_RE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\s]*)?$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

export interface Traceparent {
  readonly traceId: string;
  readonly parentId: string;
  readonly sampled: boolean;
}

/** Parses a W3C traceparent (https://www.w3.org/TR/trace-context/#traceparent-header); undefined when invalid. */
export function parseTraceparent(header: unknown): Traceparent | undefined {
  if (typeof header !== 'string' || header.length < 55 || header.length > 256) return undefined;
  const m = TRACEPARENT_RE.exec(header.trim());
  if (m === null) return undefined;
  const [, version, traceId, parentId, flags, rest] = m as unknown as [string, string, string, string, string, string?];
  // Version ff is forbidden; version 00 has exactly four fields. Later versions may append fields.
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (traceId === ZERO_TRACE_ID || parentId === ZERO_SPAN_ID) return undefined;
  return { traceId, parentId, sampled: (parseInt(flags, 16) & 1) === 1 };
}

const TRACESTATE_RE = /^[\x20-\x7e]{1,512}$/;

const BENCH_LABEL_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** A bench header value fit to be an APM label: 1-64 characters of [A-Za-z0-9._:-]; anything else is dropped. */
export function benchLabel(value: unknown): string | undefined {
  return typeof value === 'string' && BENCH_LABEL_RE.test(value) ? value : undefined;
}

const TWIRP_PREFIX = '/twirp/';
const TWIRP_METHOD_RE = /^[A-Za-z_][A-Za-z0-9_.]{0,99}\/[A-Za-z_][A-Za-z0-9_]{0,99}$/;

/** `/twirp/stats.StatsService/Push?x` -> `stats.StatsService/Push`; unknown shapes get one bounded name. */
export function twirpMethodName(url: string): string {
  const q = url.indexOf('?');
  const path = url.slice(TWIRP_PREFIX.length, q === -1 ? undefined : q);
  return TWIRP_METHOD_RE.test(path) ? path : 'twirp unknown route';
}

// ---------------------------------------------------------------------------------------------------------------
// The per-request trace.

/** What tracing knows about one request. `sampled` requests have a transaction and record spans. */
export class RequestTrace {
  readonly traceId: string;
  readonly sampled: boolean;
  readonly name: string;
  /** The transaction's id (sampled requests only). */
  readonly transactionId: string | undefined;
  /** The OTel context whose active span is the transaction (sampled requests only). */
  readonly otelContext: OtelContext | undefined;
  readonly span: Span | undefined;
  readonly transaction: AgentTransaction | undefined;
  twirpCode: string | undefined;
  error: unknown;
  ended = false;

  constructor(init: {
    traceId: string;
    sampled: boolean;
    name: string;
    transactionId?: string;
    otelContext?: OtelContext;
    span?: Span;
    transaction?: AgentTransaction;
  }) {
    this.traceId = init.traceId;
    this.sampled = init.sampled;
    this.name = init.name;
    this.transactionId = init.transactionId;
    this.otelContext = init.otelContext;
    this.span = init.span;
    this.transaction = init.transaction;
  }
}

const TRACE = Symbol('pageview.trace');
type TracedMessage = IncomingMessage & { [TRACE]?: RequestTrace | null };

/**
 * Decides once per request (memoised on the raw request) whether it is traced, and opens its transaction when it
 * is sampled. Only Twirp routes are traced: health checks and scrapes are not the service's work.
 */
export function beginRequestTrace(raw: IncomingMessage): RequestTrace | undefined {
  const msg = raw as TracedMessage;
  const memo = msg[TRACE];
  if (memo !== undefined) return memo ?? undefined;
  const t = decide(raw);
  msg[TRACE] = t ?? null;
  return t;
}

/** The request's trace, if it has one (sampled, or unsampled with an incoming trace id). */
export function requestTrace(request: FastifyRequest): RequestTrace | undefined {
  const memo = (request.raw as TracedMessage)[TRACE];
  return memo ?? undefined;
}

function decide(raw: IncomingMessage): RequestTrace | undefined {
  const url = raw.url ?? '';
  if (!url.startsWith(TWIRP_PREFIX)) return undefined;
  const parent = parseTraceparent(raw.headers.traceparent);
  const state = apmState();
  // The caller's sampled flag is honoured as it is; the edge's own decision is a sample rate within a budget of
  // transactions per second (TRACE_REQUESTS_PER_SECOND, apm-options.cjs), so tracing cost stays bounded under load.
  const sampled =
    state.active &&
    (parent !== undefined
      ? parent.sampled
      : state.sampleRate > 0 && Math.random() < state.sampleRate && requestBudget.take(state.requestsPerSecond));
  if (!sampled) {
    // Most requests end here: no trace id to carry, so no method name to work out either.
    return parent === undefined ? undefined : new RequestTrace({ traceId: parent.traceId, sampled: false, name: twirpMethodName(url) });
  }
  const name = twirpMethodName(url);
  return openTransaction(raw, name, parent) ?? (parent && new RequestTrace({ traceId: parent.traceId, sampled: false, name }));
}

const TWIRP_SERVER_ATTRIBUTES: Attributes = Object.freeze({ 'rpc.system': 'twirp' });

/**
 * The agent transaction of a bridge context. The bridge's context is the agent's run context, which knows its
 * transaction; asking it directly saves entering the context (an AsyncLocalStorage run) once per request.
 */
function transactionOf(otelContext: OtelContext, agent: NonNullable<ReturnType<typeof apmAgent>>): AgentTransaction | undefined {
  const runContext = otelContext as { currTransaction?: () => AgentTransaction | null };
  if (typeof runContext.currTransaction === 'function') return runContext.currTransaction() ?? undefined;
  return context.with(otelContext, () => agent.currentTransaction) ?? undefined;
}

let cachedBridgeRoot: OtelContext | undefined;

/**
 * The bridge's own empty context. Setting a span on it yields the bridge's context for that span directly, so
 * spans and context.with() calls need no conversion from a foreign context.
 */
function bridgeRoot(): OtelContext {
  if (cachedBridgeRoot === undefined) {
    // Outside any context the active one is the bridge's root. Asking for it this way, rather than through
    // context.with(), keeps AsyncLocalStorage's promise hooks off until a context is really entered.
    const active = context.active() as OtelContext & { currTransaction?: () => unknown };
    const isEmptyBridgeContext =
      typeof active.currTransaction === 'function' && active.currTransaction() == null && trace.getSpan(active) === undefined;
    cachedBridgeRoot = isEmptyBridgeContext ? active : context.with(ROOT_CONTEXT, () => context.active());
  }
  return cachedBridgeRoot;
}

function openTransaction(raw: IncomingMessage, name: string, parent: Traceparent | undefined): RequestTrace | undefined {
  const agent = apmAgent();
  if (agent === undefined) return undefined;
  let parentCtx = ROOT_CONTEXT;
  if (parent !== undefined) {
    const stateHeader = raw.headers.tracestate;
    const spanContext: SpanContext = {
      traceId: parent.traceId,
      spanId: parent.parentId,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    };
    if (typeof stateHeader === 'string' && TRACESTATE_RE.test(stateHeader)) {
      spanContext.traceState = createTraceState(stateHeader);
    }
    parentCtx = trace.setSpanContext(ROOT_CONTEXT, spanContext);
  }
  // rpc.system makes the bridge type the transaction `request`; service and method are already its name, and
  // every attribute is encoded into every transaction event.
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: TWIRP_SERVER_ATTRIBUTES }, parentCtx);
  const otelContext = trace.setSpan(bridgeRoot(), span);
  const transaction = transactionOf(otelContext, agent);
  if (transaction === undefined) {
    span.end();
    return undefined;
  }
  const run = benchLabel(raw.headers['x-bench-run']);
  const stage = benchLabel(raw.headers['x-bench-stage']);
  if (run !== undefined) transaction.setLabel('bench_run', run);
  if (stage !== undefined) transaction.setLabel('bench_stage', stage);
  const ids = transaction.ids;
  return new RequestTrace({
    traceId: ids['trace.id'],
    sampled: true,
    name,
    transactionId: ids['transaction.id'],
    otelContext,
    span,
    transaction,
  });
}

/** Result names: the Twirp code, `ok`, or `client_disconnected` when the client left before the response. */
export function transactionResult(statusCode: number, twirpCode: string | undefined, finished: boolean): {
  result: string;
  outcome: 'success' | 'failure' | 'unknown';
} {
  if (!finished) return { result: 'client_disconnected', outcome: 'unknown' };
  const result = twirpCode ?? (statusCode < 400 ? 'ok' : `http_${statusCode}`);
  // Client mistakes (4xx) are not service failures: https://github.com/elastic/apm/blob/main/specs/agents/tracing-transactions.md#transaction-outcome
  return { result, outcome: statusCode >= 500 ? 'failure' : 'success' };
}

/** Ends the request's transaction once (the response finished or its socket closed). */
export function endRequestTrace(t: RequestTrace, res: ServerResponse): void {
  if (t.ended) return;
  t.ended = true;
  const tx = t.transaction;
  if (tx === undefined || t.span === undefined) return;
  const { result, outcome } = transactionResult(res.statusCode, t.twirpCode, res.writableFinished);
  tx.result = result;
  tx.setOutcome(outcome);
  if (t.twirpCode !== undefined) tx.setLabel('twirp_code', t.twirpCode);
  t.span.end();
}

// ---------------------------------------------------------------------------------------------------------------
// The service's own spans.

/** A span handle that is a no-op for unsampled requests, so callers never branch on sampling. */
export interface TraceSpan {
  readonly recording: boolean;
  setAttribute(key: string, value: string | number | boolean): void;
  /** Ends the span; an error marks it failed (its message is recorded, never its cause). */
  end(error?: unknown): void;
}

const NOOP_SPAN: TraceSpan = {
  recording: false,
  setAttribute() {},
  end() {},
};

class OtelTraceSpan implements TraceSpan {
  readonly recording = true;
  constructor(readonly span: Span) {}
  setAttribute(key: string, value: string | number | boolean): void {
    this.span.setAttribute(key, value);
  }
  /** `endTime` (performance.now()) must be given when the span was started with an explicit start time. */
  end(error?: unknown, endTime?: number): void {
    if (error !== undefined) {
      const code = errorCode(error);
      this.span.setStatus({ code: SpanStatusCode.ERROR, message: code ?? errorMessage(error) });
      if (code !== undefined) this.span.setAttribute('error.code', code);
    }
    this.span.end(endTime);
  }
}

/** Starts a child span of the request's transaction (no-op unless the request is sampled). */
export function startSpan(t: RequestTrace | undefined, name: string, attributes?: Attributes): TraceSpan {
  if (t === undefined || t.otelContext === undefined || t.ended) return NOOP_SPAN;
  return new OtelTraceSpan(tracer.startSpan(name, { kind: SpanKind.INTERNAL, attributes }, t.otelContext));
}

/**
 * Runs the synchronous step `fn` (decode, validate) and records it as a child span of a sampled request only when
 * it took at least the span minimum duration (`spanMinDurationMs`, see apm-options.cjs) or threw. Like the agent's
 * own exit_span_min_duration (https://github.com/elastic/apm/blob/main/specs/agents/handling-huge-traces/tracing-spans-drop-fast-exit.md):
 * a 10 µs step is noise in a trace but costs a whole span event, which is most of what tracing a Push costs.
 * The span is created after the fact with the measured start and end times.
 */
export function timedSpan<T>(t: RequestTrace | undefined, name: string, fn: () => T): T;
/** The same for a step of two arguments, passed through: the caller needs no closure per request. */
export function timedSpan<A, B, T>(t: RequestTrace | undefined, name: string, fn: (a: A, b: B) => T, a: A, b: B): T;
export function timedSpan<A, B, T>(t: RequestTrace | undefined, name: string, fn: (a?: A, b?: B) => T, a?: A, b?: B): T {
  if (t === undefined || t.otelContext === undefined || t.ended) return fn(a, b);
  const start = performance.now();
  let result: T;
  try {
    result = fn(a, b);
  } catch (err) {
    recordSpan(t.otelContext, name, start, performance.now(), err);
    throw err;
  }
  const end = performance.now();
  if (end - start >= spanMinDurationMs()) recordSpan(t.otelContext, name, start, end, undefined);
  return result;
}

function recordSpan(parent: OtelContext, name: string, start: number, end: number, error: unknown): void {
  const span = tracer.startSpan(name, { kind: SpanKind.INTERNAL, startTime: start }, parent);
  if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: errorCode(error) ?? errorMessage(error) });
  span.end(end);
}

function spanMinDurationMs(): number {
  const state = apmState();
  return state.active ? state.spanMinDurationMs : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Group commit: the request's wait for its flush, and the flush.

/**
 * A sampled request's wait for the flush that commits its row. Its `commit_wait` span is created only when it
 * tells something: the flush was traced (the flush links to it and it names the flush), the commit failed, or the
 * wait was long (TRACE_COMMIT_WAIT_MIN_MS). Otherwise the transaction only gets a `batch_size` label: a span event
 * per Push would cost about as much as the transaction itself (service/perf/apm-overhead.ts).
 */
export class CommitWait {
  private readonly start = performance.now();
  private span: Span | undefined;
  private rows: number | undefined;
  constructor(private readonly trace: RequestTrace) {}

  /** The span, created now with the wait's start time if it does not exist yet. */
  materialize(): Span {
    this.span ??= tracer.startSpan(
      'commit_wait',
      { kind: SpanKind.INTERNAL, startTime: this.start },
      this.trace.otelContext ?? ROOT_CONTEXT,
    );
    return this.span;
  }

  /** Called by the flush that took this row. */
  flushStarted(rows: number, flush: { traceId: string; transactionId: string | undefined } | undefined): void {
    this.rows = rows;
    if (flush === undefined) return;
    const span = this.materialize();
    span.setAttribute('flush_trace_id', flush.traceId);
    if (flush.transactionId !== undefined) span.setAttribute('flush_transaction_id', flush.transactionId);
    span.setAttribute('batch_size', rows);
  }

  end(error?: unknown): void {
    if (this.rows !== undefined && !this.trace.ended) this.trace.transaction?.setLabel('batch_size', this.rows, false);
    if (this.span === undefined) {
      // A client that left has an ended transaction: nothing to hang a new span on.
      if (this.trace.ended) return;
      if (error === undefined && performance.now() - this.start < commitWaitMinMs()) return;
    }
    const span = this.materialize();
    if (this.rows !== undefined) span.setAttribute('batch_size', this.rows);
    // The start was given in performance.now() time, so the end is too: the agent's own clock for an end without
    // a time is not the same clock, and a short wait could come out with a negative duration.
    new OtelTraceSpan(span).end(error, performance.now());
  }
}

function commitWaitMinMs(): number {
  const state = apmState();
  return state.active ? state.commitWaitMinMs : 0;
}

/** Starts the commit wait of a sampled request; undefined (nothing to carry) otherwise. */
export function startCommitWait(t: RequestTrace | undefined): CommitWait | undefined {
  if (t === undefined || t.otelContext === undefined || t.ended) return undefined;
  return new CommitWait(t);
}

/** One flush of the group committer. */
export interface FlushTrace {
  readonly recording: boolean;
  /** The flush transaction's ids when recording (also for log lines about this flush). */
  readonly traceId: string | undefined;
  readonly transactionId: string | undefined;
  /**
   * Issues the database call in the flush's context, so the agent's mysql2 span belongs to the flush: the store
   * calls it around the synchronous start of the INSERT (a Dispatch, service/src/db/store.ts).
   */
  readonly dispatch: Dispatch;
  end(error?: unknown): void;
}

const UNTRACED_FLUSH: FlushTrace = {
  recording: false,
  traceId: undefined,
  transactionId: undefined,
  // No context switch: request handlers never run inside a transaction's context (spans get explicit parents), so
  // a flush started from a Push's async context has no transaction to be wrongly attributed to. Entering a context
  // here would also switch on AsyncLocalStorage's promise hooks for the whole process when nothing is sampled.
  dispatch: (start) => start(),
  end() {},
};

/**
 * A traced flush is the only place the service enters a context (the agent's mysql2 span needs it). Entering one
 * switches on AsyncLocalStorage's async and promise hooks for the whole process, a cost every request pays while
 * they are on. Nothing else relies on the active context (every span here gets its parent explicitly), so the
 * context is entered only for the instant the INSERT is issued (the agent makes its span and binds the query's
 * callback then) and the agent's storage is switched off right after; the agent's bound callback switches it on
 * again when the answer arrives, and the flush's end switches it off. Holding the context across the whole round
 * trip instead kept the hooks on for every request answered meanwhile (service/perf/apm-overhead.ts). The agent
 * exposes no public call for this; its run context manager's disable() is what it uses between its own tests.
 */
function pauseContextTracking(): void {
  const agent = apmAgent() as unknown as { _instrumentation?: { _runCtxMgr?: { disable?: () => void } } } | undefined;
  agent?._instrumentation?._runCtxMgr?.disable?.();
}

class RecordingFlush implements FlushTrace {
  readonly recording = true;
  readonly traceId: string;
  readonly transactionId: string | undefined;
  constructor(
    private readonly span: Span,
    private readonly otelContext: OtelContext,
    private readonly transaction: AgentTransaction | undefined,
  ) {
    const sc = span.spanContext();
    this.traceId = sc.traceId;
    this.transactionId = transaction?.ids['transaction.id'] ?? sc.spanId;
  }
  readonly dispatch: Dispatch = <T>(start: () => T): T => {
    try {
      return context.with(this.otelContext, start);
    } finally {
      pauseContextTracking();
    }
  };
  end(error?: unknown): void {
    pauseContextTracking();
    const code = error === undefined ? undefined : (errorCode(error) ?? 'error');
    if (this.transaction !== undefined) {
      this.transaction.result = code ?? 'ok';
      this.transaction.setOutcome(error === undefined ? 'success' : 'failure');
    }
    this.span.end();
  }
}

/**
 * Starts the trace of one flush of `rows` rows. It records only when at least one waiting request is sampled:
 * unsampled traffic never pays for flush transactions. Each sampled wait is labelled with the flush's ids and the
 * batch size; the flush links to each sampled wait (at most `MAX_FLUSH_LINKS`).
 */
export function startFlush(waits: Iterable<CommitWait | undefined>, rows: number): FlushTrace {
  const sampled: CommitWait[] = [];
  for (const w of waits) if (w !== undefined) sampled.push(w);
  const state = apmState();
  if (sampled.length === 0 || !state.active) return UNTRACED_FLUSH;
  const agent = state.agent;
  if (!flushBudget.take(state.flushesPerSecond)) {
    // Over the flush budget: the waits still say how big their batch was, and that its flush was not traced.
    for (const w of sampled) w.flushStarted(rows, undefined);
    return UNTRACED_FLUSH;
  }
  // Links need span contexts, so the linked waits get their spans now (the flush is traced: they tell something).
  const links: Link[] = sampled.slice(0, MAX_FLUSH_LINKS).map((w) => ({ context: w.materialize().spanContext() }));
  const span = tracer.startSpan(
    'pageviews.flush',
    {
      root: true,
      kind: SpanKind.CONSUMER,
      links,
      // OTel messaging attributes make the bridge type this transaction `messaging`: the buffer is an in-process
      // queue and a flush is a batch receive (https://opentelemetry.io/docs/specs/semconv/messaging/messaging-spans/).
      attributes: {
        'messaging.system': 'pageviews-buffer',
        'messaging.operation': 'process',
        'messaging.batch.message_count': rows,
      },
    },
    ROOT_CONTEXT,
  );
  const otelContext = trace.setSpan(bridgeRoot(), span);
  const transaction = transactionOf(otelContext, agent);
  transaction?.setLabel('batch_size', rows, false);
  transaction?.setLabel('sampled_requests', sampled.length, false);
  const flush = new RecordingFlush(span, otelContext, transaction);
  for (const w of sampled) w.flushStarted(rows, flush);
  return flush;
}

/** A token bucket for a per-second limit from the APM state, made anew when the limit changes. */
class PerSecondBudget {
  private current: { perSecond: number; bucket: TokenBucket } | undefined;
  take(perSecond: number): boolean {
    if (this.current === undefined || this.current.perSecond !== perSecond) {
      this.current = { perSecond, bucket: new TokenBucket(perSecond) };
    }
    return this.current.bucket.take();
  }
}

/** Edge-sampled transactions per second (TRACE_REQUESTS_PER_SECOND, apm-options.cjs). */
const requestBudget = new PerSecondBudget();

/**
 * Flush transactions do not scale down with the sample rate: at 10% sampling and 20 rows per batch almost every
 * flush holds a sampled row. They are bounded per second (TRACE_FLUSHES_PER_SECOND, apm-options.cjs).
 */
const flushBudget = new PerSecondBudget();

/** Span links per flush transaction: enough to find the requests, bounded so a huge batch stays a small event. */
export const MAX_FLUSH_LINKS = 64;

/** Where a Push's commit wait rides along with its row into the group committer (the row's request context). */
export const COMMIT_WAIT = contextKey<CommitWait>('commit-wait');

/**
 * Wraps the group committer's flush step: the flush gets its own transaction when one of its rows came from a
 * sampled request, and the database call runs in that transaction's context. Without the agent it is the plain
 * flush.
 */
export function tracedFlush<B extends { readonly ctx: RequestContext }, S>(
  inner: (batch: readonly B[], store: S, dispatch?: Dispatch) => Promise<void>,
): (batch: readonly B[], store: S) => Promise<void> {
  return async (batch, store) => {
    if (!apmState().active) return inner(batch, store);
    const flush = startFlush(
      batch.map((p) => p.ctx.value(COMMIT_WAIT)),
      batch.length,
    );
    try {
      await inner(batch, store, flush.dispatch);
    } catch (err) {
      flush.end(err);
      throw err;
    }
    flush.end();
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Twirp errors.

function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'string' && code.length <= 64) return code;
  }
  return undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Reads the Twirp code from an error body (https://twitchtv.github.io/twirp/docs/spec_v7.html#error-codes). */
export function twirpCodeFromBody(payload: unknown): string | undefined {
  const text = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : undefined;
  if (text === undefined || text.length > 8192) return undefined;
  try {
    const body = JSON.parse(text) as { code?: unknown };
    return typeof body.code === 'string' && /^[a-z_]{1,32}$/.test(body.code) ? body.code : undefined;
  } catch {
    return undefined;
  }
}

/** The error an APM error event is made from when the handler replied with a Twirp body instead of throwing. */
export class TwirpReplyError extends Error {
  readonly code: string;
  constructor(code: string, status: number) {
    super(`twirp ${code} (HTTP ${status})`);
    this.name = 'TwirpError';
    this.code = code;
  }
}

/**
 * A token bucket: at most `perSecond` takes per second on average, bursts up to `perSecond`. Bounds the APM events
 * that do not scale with the sample rate (errors of unsampled requests, flush transactions).
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.tokens = perSecond;
    this.last = now();
  }
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.perSecond, this.tokens + ((t - this.last) / 1000) * this.perSecond);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Errors of unsampled requests are captured within this budget, so an error storm under stress costs at most this
 * many error events per second; every error of a sampled request is captured.
 */
export const UNSAMPLED_ERRORS_PER_SECOND = 20;
const unsampledErrors = new TokenBucket(UNSAMPLED_ERRORS_PER_SECOND);

function captureTwirpError(request: FastifyRequest, t: RequestTrace | undefined, code: string, status: number, error: unknown): void {
  const agent = apmAgent();
  if (agent === undefined) return;
  const sampled = t?.transaction !== undefined && !t.ended;
  if (!sampled && !unsampledErrors.take()) return;
  const labels: Record<string, string> = { twirp_code: code };
  if (!sampled) {
    const run = benchLabel(request.headers['x-bench-run']);
    const stage = benchLabel(request.headers['x-bench-stage']);
    if (run !== undefined) labels.bench_run = run;
    if (stage !== undefined) labels.bench_stage = stage;
  }
  const cause = error instanceof Error ? errorCode(error.cause) : undefined;
  if (cause !== undefined) labels.cause_code = cause;
  const err = error instanceof Error ? error : new TwirpReplyError(code, status);
  agent.captureError(err, {
    // Unsampled: null = no parent, even if some context leaked into this hook.
    parent: sampled ? t.transaction : null,
    labels,
    handled: true,
    captureAttributes: false,
    // The transaction's outcome follows the Twirp code (4xx is not a failure), not the mere presence of an error.
    skipOutcome: true,
  } as Parameters<typeof agent.captureError>[1]);
}

// ---------------------------------------------------------------------------------------------------------------
// Fastify wiring.

type ChildLoggerFactory = Parameters<FastifyInstance['setChildLoggerFactory']>[0];

/**
 * Fastify child logger factory: every line of a traced request carries ECS `trace.id` / `transaction.id`. The child
 * itself is made on the request's first log line (LazyChildLogger): most requests never write one.
 * The parent is the instance's logger (`this.log`) rather than the one Fastify hands over: the service runs Fastify
 * without a logger of its own and sets its logger as the instance's (app.ts), and then Fastify hands over its null
 * logger. When Fastify has the logger, both are the same.
 */
export const traceChildLoggerFactory: ChildLoggerFactory = function (this: FastifyInstance, logger, bindings, opts, raw) {
  const t = beginRequestTrace(raw as IncomingMessage);
  const parent = (this as FastifyInstance | undefined)?.log ?? logger;
  const fields = t === undefined ? undefined : traceLogFields(t);
  return new LazyChildLogger(parent as never, bindings, opts as Record<string, unknown>, fields) as unknown as ReturnType<ChildLoggerFactory>;
};

const ERROR = Symbol('pageview.trace.error');
type ErrorCarrier = FastifyRequest & { [ERROR]?: unknown };

function wrapHandler(route: RouteOptions): void {
  if (!route.url.startsWith(TWIRP_PREFIX)) return;
  const handler = route.handler;
  route.handler = function tracedHandler(this: FastifyInstance, request: FastifyRequest, reply: FastifyReply) {
    const t = requestTrace(request);
    if (t === undefined || t.otelContext === undefined) return handler.call(this, request, reply);
    // The handler does not run inside the transaction's context: every span here gets its parent explicitly, and
    // entering a context per request would cost an AsyncLocalStorage run for nothing.
    // Keep what a sampled handler threw, synchronously or by rejecting: the error handler answers with a Twirp
    // body and Fastify's onError hook does not run for it, so this is where the original error (message, stack,
    // cause) is still at hand.
    let result: unknown;
    try {
      result = handler.call(this, request, reply);
    } catch (err) {
      (request as ErrorCarrier)[ERROR] = err;
      throw err;
    }
    if (result instanceof Promise) {
      return result.catch((err: unknown) => {
        (request as ErrorCarrier)[ERROR] = err;
        throw err;
      });
    }
    return result;
  };
}

/**
 * The tracing plugin. Register it before the routes (it wraps handlers as they are added) and at the root (it does
 * not encapsulate: `skip-override`, as fastify-plugin sets it).
 */
export const tracingPlugin: FastifyPluginCallback = (fastify, _opts, done) => {
  fastify.setChildLoggerFactory(traceChildLoggerFactory);
  fastify.addHook('onRoute', wrapHandler);
  fastify.addHook('onRequest', (request, reply, next) => {
    // Usually already decided by the child logger factory; this covers a replaced factory.
    const t = beginRequestTrace(request.raw);
    if (t !== undefined && t.sampled) {
      const res = reply.raw;
      // 'close' comes once per response; on() spares once()'s wrapper.
      res.on('close', () => endRequestTrace(t, res));
    }
    next();
  });
  fastify.addHook('onError', (request, _reply, error, next) => {
    (request as ErrorCarrier)[ERROR] = error;
    next();
  });
  fastify.addHook('onSend', (request, reply, payload, next) => {
    const status = reply.statusCode;
    if (status >= 400 && request.url.startsWith(TWIRP_PREFIX)) {
      const t = requestTrace(request);
      const error = (request as ErrorCarrier)[ERROR];
      const decorated = (request as { twirpCode?: unknown }).twirpCode;
      const code =
        (typeof decorated === 'string' && decorated !== 'ok' ? decorated : undefined) ??
        twirpCodeFromBody(payload) ??
        errorCode(error) ??
        `http_${status}`;
      if (t !== undefined) {
        t.twirpCode = code;
        t.error = error;
      }
      captureTwirpError(request, t, code, status, error);
    }
    next(null, payload);
  });
  done();
};
(tracingPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true;
