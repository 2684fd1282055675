// Writing Twirp answers. Errors always leave as the spec's JSON body with the code's HTTP status, whatever the
// request's content type (https://twitchtv.github.io/twirp/docs/spec_v7.html#errors).
import type { FastifyReply, FastifyRequest } from 'fastify';
import { TwirpError } from './errors';

declare module 'fastify' {
  interface FastifyRequest {
    /** The Twirp code this request was answered with ('ok' on success); null for non-Twirp routes. */
    twirpCode: string | null;
    /** The error behind a Twirp error answer (what was thrown or sent; the TwirpError itself when nothing else). */
    twirpError: Error | null;
    /** Route label for metrics when the route pattern is not the truth (e.g. Twirp's bad_route catch-all). */
    routeLabel: string | null;
    /** Set once the request has been counted in the HTTP and Push metrics (see app.ts). */
    metricsRecorded: boolean;
    /** performance.now() when the request reached its first hook: the start of its duration metric (app.ts). */
    startedAt: number;
  }
}

/** Answers with `err`. The code and `reported` (the error behind the answer) are set on the request here, once. */
export function sendTwirpError(request: FastifyRequest, reply: FastifyReply, err: TwirpError, reported: unknown = err): FastifyReply {
  request.twirpCode = err.code;
  request.twirpError = reported instanceof Error ? reported : err;
  return reply
    .code(err.status)
    .header('content-type', 'application/json')
    .send(JSON.stringify(err.toJSON()));
}
