// Where the service meets the agent's OpenTelemetry bridge, through public API only: the tracer, the bridge's own
// root context, and the agent transaction behind a bridge context.
//
// Entering a context (context.with) switches the agent's context tracking (AsyncLocalStorage hooks) on for the
// process. Measured with service/perf/apm-overhead.ts, neither asking the agent's run context for its transaction
// directly (without entering it) nor switching the tracking off again after each use (both through the agent's
// internals) made a difference beyond the machine's noise, so neither is done (README, tracing section).
import { context, trace, type Context as OtelContext } from '@opentelemetry/api';
import { apmAgent } from '../apm';

export type AgentTransaction = NonNullable<NonNullable<ReturnType<typeof apmAgent>>['currentTransaction']>;

export const tracer = trace.getTracer('pageview-service');

/** The agent transaction of a bridge context: the agent's current transaction while that context is active. */
export function transactionOf(otelContext: OtelContext): AgentTransaction | undefined {
  const agent = apmAgent();
  if (agent === undefined) return undefined;
  return context.with(otelContext, () => agent.currentTransaction) ?? undefined;
}

let cachedBridgeRoot: OtelContext | undefined;

/**
 * The bridge's own empty context: outside any context the active one is the bridge's root (the tracing plugin asks
 * first, at registration). Setting a span on it yields the bridge's context for that span directly, so spans and
 * context.with() calls need no conversion from a foreign context.
 */
export function bridgeRoot(): OtelContext {
  cachedBridgeRoot ??= context.active();
  return cachedBridgeRoot;
}
