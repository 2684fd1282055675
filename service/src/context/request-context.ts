// The values every request carries through the service, and the disconnect signal that cancels the request's
// cancellable work. A disconnect is the response socket closing before the response finished: Fastify 5's
// request.signal fires on every POST once the body has been read, so it cannot be used for this.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { contextKey, type Context, type ContextKey } from './context';

export interface RequestValues {
  requestId: string;
  remoteIp: string;
  /** W3C trace context (https://www.w3.org/TR/trace-context/#traceparent-header), when one is known. */
  traceparent: string | undefined;
}

export const REQUEST_VALUES = contextKey<RequestValues>('request-values');

export function requestValues(ctx: Context): RequestValues | undefined {
  return ctx.value(REQUEST_VALUES);
}

export class ClientDisconnectedError extends Error {
  readonly code = 'CLIENT_DISCONNECTED';
  constructor() {
    super('client disconnected before the response was sent');
    this.name = 'ClientDisconnectedError';
  }
}

/**
 * A request's root context. Its AbortController is created only when someone reads `signal`: most requests never
 * do (the write path runs under withoutCancel), and a controller per request costs measurable throughput.
 */
class RequestContext implements Context {
  readonly deadline = undefined;
  private controller: AbortController | undefined;
  private reason: unknown;
  private cancelled = false;

  constructor(private readonly values: RequestValues) {}

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.cancelled) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }

  value<T>(key: ContextKey<T>): T | undefined {
    return key === (REQUEST_VALUES as ContextKey<unknown>) ? (this.values as T) : undefined;
  }

  cancel(reason: unknown): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }
}

/** Builds the request's context; its signal aborts when the client disconnects before the reply is written. */
export function createRequestContext(request: FastifyRequest, reply: FastifyReply, remoteIp: string): Context {
  const header = request.headers.traceparent;
  const ctx = new RequestContext({
    requestId: String(request.id),
    remoteIp,
    traceparent: typeof header === 'string' ? header : undefined,
  });
  const res = reply.raw;
  res.once('close', () => {
    if (!res.writableFinished) ctx.cancel(new ClientDisconnectedError());
  });
  return ctx;
}
