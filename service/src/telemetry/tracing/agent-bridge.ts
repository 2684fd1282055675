// Where the service meets the agent's OpenTelemetry bridge: the tracer, the bridge's own root context, and the
// agent transaction behind a bridge context.
import { context, ROOT_CONTEXT, trace, type Context as OtelContext } from '@opentelemetry/api';
import { apmAgent } from '../apm';

export type AgentTransaction = NonNullable<NonNullable<ReturnType<typeof apmAgent>>['currentTransaction']>;

export const tracer = trace.getTracer('pageview-service');

/**
 * The agent transaction of a bridge context. The bridge's context is the agent's run context, which knows its
 * transaction; asking it directly saves entering the context (an AsyncLocalStorage run) once per request.
 */
export function transactionOf(otelContext: OtelContext, agent: NonNullable<ReturnType<typeof apmAgent>>): AgentTransaction | undefined {
  const runContext = otelContext as { currTransaction?: () => AgentTransaction | null };
  if (typeof runContext.currTransaction === 'function') return runContext.currTransaction() ?? undefined;
  return context.with(otelContext, () => agent.currentTransaction) ?? undefined;
}

let cachedBridgeRoot: OtelContext | undefined;

/**
 * The bridge's own empty context. Setting a span on it yields the bridge's context for that span directly, so
 * spans and context.with() calls need no conversion from a foreign context.
 */
export function bridgeRoot(): OtelContext {
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
export function pauseContextTracking(): void {
  const agent = apmAgent() as unknown as { _instrumentation?: { _runCtxMgr?: { disable?: () => void } } } | undefined;
  agent?._instrumentation?._runCtxMgr?.disable?.();
}
