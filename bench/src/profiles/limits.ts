// The bounds and defaults of the profile model, in one place. The shipped JSON schema
// (bench/profiles/profile.schema.json) states the same numbers for editors and for the validator;
// bench/test/limits.test.ts checks that every bound in the schema is one of these. Every limit is far beyond this
// machine: it keeps a typo from asking for something absurd, not a real run from happening.

export const MAX_STAGES = 1000;
/** A stage lasts at most a day (a duration string, so checked in code, not by the schema). */
export const MAX_STAGE_MS = 24 * 3_600_000;
export const MAX_CONNECTIONS = 10_000;
/** Open model: arrivals per second. */
export const MAX_RATE = 1_000_000;
/** Open model: requests in flight (on the wire or waiting for a connection): one second at the highest rate. */
export const MAX_IN_FLIGHT = 1_000_000;
/** Per-request timeout (a duration string, checked in code). */
export const MAX_TIMEOUT_MS = 10 * 60_000;
export const MAX_PROPERTIES = 100_000;
/** sections, ids and seed are unsigned 32-bit integers (the wire type of the Push request's fields). */
export const MAX_UINT32 = 2 ** 32 - 1;

/**
 * Share of requests sent with the W3C sampled flag when a profile says nothing. A service that honours the flag
 * traces exactly these, so the bench decides the tracing load it puts on the service. Every request traced
 * costs the service several times the CPU of an untraced one (service/perf/apm-overhead.ts): sampling all bench
 * traffic would measure the tracer, not the service. 1% of a few thousand requests a second is still dozens of
 * traces a second.
 */
export const DEFAULT_TRACE_SAMPLE_RATE = 0.01;

/**
 * Default in-flight cap of an open stage: one second of arrivals at the peak rate, at least 100. An arrival
 * waiting for a connection is only a number in a ring (8 bytes), so the cap can absorb a stall of the bench's own
 * (a GC pause, a busy machine) at any rate without dropping; what the server sees is bounded by the connections.
 */
export function defaultMaxInFlight(peakRate: number): number {
  return Math.min(MAX_IN_FLIGHT, Math.max(100, Math.ceil(peakRate)));
}

/** Default connection cap of an open stage: its in-flight cap, at most this many. */
export const DEFAULT_OPEN_CONNECTIONS = 1000;

export function defaultMaxConnections(maxInFlight: number): number {
  return Math.min(DEFAULT_OPEN_CONNECTIONS, maxInFlight);
}
