// The service's own spans under a sampled request's transaction, through @opentelemetry/api and the agent's bridge
// (https://www.elastic.co/guide/en/apm/agent/nodejs/current/opentelemetry-bridge.html), always with an explicit
// parent: handlers never run inside a context, so no AsyncLocalStorage work per request. Nothing here calls the
// API for unsampled requests (with the bridge, a span started with no active transaction would open a new
// transaction). A span event costs about as much as the transaction itself, so fast steps are not spans: decode
// and validate become spans only when slower than TRACE_SPAN_MIN_DURATION_MS (the idea of the agent's
// exit_span_min_duration).
import { SpanKind, SpanStatusCode, type Attributes, type Context as OtelContext, type Span } from '@opentelemetry/api';
import { apmState } from '../apm';
import { tracer } from './agent-bridge';
import type { RequestTrace } from './request-trace';

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

export class OtelTraceSpan implements TraceSpan {
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

/** The `code` of an error, when it has a short string one (the service's and mysql2's errors do). */
export function errorCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'string' && code.length <= 64) return code;
  }
  return undefined;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

