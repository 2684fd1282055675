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

/** A W3C tracestate header worth passing on: printable ASCII, bounded (https://www.w3.org/TR/trace-context/#tracestate-header). */
export function isValidTracestate(value: unknown): value is string {
  return typeof value === 'string' && TRACESTATE_RE.test(value);
}

const BENCH_LABEL_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

/** A bench header value fit to be an APM label: 1-64 characters of [A-Za-z0-9._:-]; anything else is dropped. */
export function benchLabel(value: unknown): string | undefined {
  return typeof value === 'string' && BENCH_LABEL_RE.test(value) ? value : undefined;
}

export const TWIRP_PREFIX = '/twirp/';
const TWIRP_METHOD_RE = /^[A-Za-z_][A-Za-z0-9_.]{0,99}\/[A-Za-z_][A-Za-z0-9_]{0,99}$/;

/** `/twirp/stats.StatsService/Push?x` -> `stats.StatsService/Push`; unknown shapes get one bounded name. */
export function twirpMethodName(url: string): string {
  const q = url.indexOf('?');
  const path = url.slice(TWIRP_PREFIX.length, q === -1 ? undefined : q);
  return TWIRP_METHOD_RE.test(path) ? path : 'twirp unknown route';
}

