// The tracing plugin: the request's trace decided as its logger is made, its transaction ended with the response,
// and its Twirp error answer captured. fastify-plugin makes it apply to the whole app (no encapsulation); register
// it before the routes.
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { apmState } from '../apm';
import { LazyChildLogger, traceLogFields } from '../logging';
import { bridgeRoot } from './agent-bridge';
import { captureTwirpError } from './error-capture';
import { beginRequestTrace, endRequestTrace, requestTrace } from './request-trace';
import { TWIRP_PREFIX } from './trace-headers';

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

export const tracingPlugin = fp(
  function tracing(fastify, _opts, done) {
    // Registration runs outside any context: with the agent on, the active one is the bridge's root.
    if (apmState().active) bridgeRoot();
    fastify.setChildLoggerFactory(traceChildLoggerFactory);
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
    fastify.addHook('onSend', (request, reply, payload, next) => {
      const status = reply.statusCode;
      if (status >= 400 && request.url.startsWith(TWIRP_PREFIX)) {
        // Set by the Twirp error reply (twirp/reply.ts) together with the error it answers for.
        const code = request.twirpCode ?? `http_${status}`;
        const error = request.twirpError ?? new Error(`HTTP ${status} without a Twirp error reply`);
        const t = requestTrace(request);
        if (t !== undefined) t.twirpCode = code;
        captureTwirpError(request, t, code, error);
      }
      next(null, payload);
    });
    done();
  },
  { name: 'pageview-tracing', fastify: '5.x' },
);
