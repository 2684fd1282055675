// The per-request trace: the edge sampling decision, the Push transaction and its end.
//
// The agent's incoming-HTTP instrumentation is off (apm-preload.cjs). Every request is decided once, at the edge:
// an incoming W3C traceparent decides by its sampled flag (https://www.w3.org/TR/trace-context/#sampled-flag),
// otherwise the edge sample rate does, within a budget per second. Only sampled requests open a transaction;
// an unsampled request costs a header parse and a few property reads. Trace propagation is kept for all
// requests: an unsampled request with a traceparent still logs its trace id.
import {
  createTraceState,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  TraceFlags,
  type Attributes,
  type Context as OtelContext,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyRequest } from 'fastify';
import { apmAgent, apmState } from '../apm';
import { bridgeRoot, tracer, transactionOf, type AgentTransaction } from './agent-bridge';
import { PerSecondBudget } from './token-bucket';
import { benchLabel, isValidTracestate, parseTraceparent, TWIRP_PREFIX, twirpMethodName, type Traceparent } from './trace-headers';

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
  /** The Twirp code of an error answer (copied from the reply by the tracing plugin). */
  twirpCode: string | undefined;
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

/** Edge-sampled transactions per second (TRACE_REQUESTS_PER_SECOND, apm-options.cjs). */
const requestBudget = new PerSecondBudget();

const TWIRP_SERVER_ATTRIBUTES: Attributes = Object.freeze({ 'rpc.system': 'twirp' });

function openTransaction(raw: IncomingMessage, name: string, parent: Traceparent | undefined): RequestTrace | undefined {
  if (apmAgent() === undefined) return undefined;
  let parentCtx = ROOT_CONTEXT;
  if (parent !== undefined) {
    const stateHeader = raw.headers.tracestate;
    const spanContext: SpanContext = {
      traceId: parent.traceId,
      spanId: parent.parentId,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    };
    if (isValidTracestate(stateHeader)) {
      spanContext.traceState = createTraceState(stateHeader);
    }
    parentCtx = trace.setSpanContext(ROOT_CONTEXT, spanContext);
  }
  // rpc.system makes the bridge type the transaction `request`; service and method are already its name, and
  // every attribute is encoded into every transaction event.
  const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes: TWIRP_SERVER_ATTRIBUTES }, parentCtx);
  const otelContext = trace.setSpan(bridgeRoot(), span);
  const transaction = transactionOf(otelContext);
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
  // deadline_exceeded is a 408 but the service's own: the database did not confirm the write in time.
  return { result, outcome: statusCode >= 500 || twirpCode === 'deadline_exceeded' ? 'failure' : 'success' };
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

