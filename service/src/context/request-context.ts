// The values every request carries through the service, and the disconnect signal that cancels the request's
// cancellable work. A disconnect is the response socket closing before the response finished: Fastify 5's
// request.signal fires on every POST once the body has been read, so it cannot be used for this.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { background, contextKey, withCancel, withValue, type Context } from './context';

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

/** Builds the request's context; its signal aborts when the client disconnects before the reply is written. */
export function createRequestContext(request: FastifyRequest, reply: FastifyReply, remoteIp: string): Context {
  const header = request.headers.traceparent;
  const values: RequestValues = {
    requestId: String(request.id),
    remoteIp,
    traceparent: typeof header === 'string' ? header : undefined,
  };
  const { ctx, cancel } = withCancel(withValue(background(), REQUEST_VALUES, values));
  const res = reply.raw;
  res.once('close', () => {
    if (!res.writableFinished) cancel(new ClientDisconnectedError());
  });
  return ctx;
}
