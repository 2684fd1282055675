// The values every request carries through the service, and the disconnect signal that cancels the request's
// cancellable work. A disconnect is the response socket closing before the response finished: Fastify 5's
// request.signal fires on every POST once the body has been read, so it cannot be used for this.
import type { ServerResponse } from 'node:http';
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
 * A request's root context. Its AbortController, and the listener that aborts it on a disconnect, are made only
 * when someone reads `signal`: most requests never do (the write path runs under withoutCancel), and a controller
 * plus a 'close' listener per request cost measurable throughput. A disconnect that happened before the first read
 * is seen then: the response is already destroyed without having finished.
 */
class RequestContext implements Context {
  readonly deadline = undefined;
  private controller: AbortController | undefined;

  constructor(
    private readonly values: RequestValues,
    private readonly res: ServerResponse,
  ) {}

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      const res = this.res;
      const abortIfUnfinished = () => {
        if (!res.writableFinished) controller.abort(new ClientDisconnectedError());
      };
      if (res.destroyed) abortIfUnfinished();
      else res.once('close', abortIfUnfinished);
    }
    return this.controller.signal;
  }

  value<T>(key: ContextKey<T>): T | undefined {
    return key === (REQUEST_VALUES as ContextKey<unknown>) ? (this.values as T) : undefined;
  }
}

/** Builds the request's context; its signal aborts when the client disconnects before the reply is written. */
export function createRequestContext(request: FastifyRequest, reply: FastifyReply, remoteIp: string): Context {
  const header = request.headers.traceparent;
  return new RequestContext(
    {
      requestId: request.id,
      remoteIp,
      traceparent: typeof header === 'string' ? header : undefined,
    },
    reply.raw,
  );
}
