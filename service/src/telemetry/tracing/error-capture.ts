// Twirp errors to APM: every error answer of a sampled request is captured under its transaction; errors of
// unsampled requests within a budget, so an error storm under stress costs at most so many events a second.
// The code and the error come from the reply (twirp/reply.ts sets them where the error answer is produced).
import type { FastifyRequest } from 'fastify';
import { apmAgent } from '../apm';
import type { RequestTrace } from './request-trace';
import { errorCode } from './spans';
import { TokenBucket } from './token-bucket';
import { benchLabel } from './trace-headers';

/**
 * Errors of unsampled requests are captured within this budget, so an error storm under stress costs at most this
 * many error events per second; every error of a sampled request is captured.
 */
export const UNSAMPLED_ERRORS_PER_SECOND = 20;
const unsampledErrors = new TokenBucket(UNSAMPLED_ERRORS_PER_SECOND);

/** Captures the error a Twirp request was answered with; `error` is what the handler threw or sent. */
export function captureTwirpError(request: FastifyRequest, t: RequestTrace | undefined, code: string, error: Error): void {
  const agent = apmAgent();
  if (agent === undefined) return;
  const sampled = t?.transaction !== undefined && !t.ended;
  if (!sampled && !unsampledErrors.take()) return;
  const labels: Record<string, string> = { twirp_code: code };
  if (!sampled) {
    const run = benchLabel(request.headers['x-bench-run']);
    const stage = benchLabel(request.headers['x-bench-stage']);
    if (run !== undefined) labels.bench_run = run;
    if (stage !== undefined) labels.bench_stage = stage;
  }
  const cause = errorCode(error.cause);
  if (cause !== undefined) labels.cause_code = cause;
  agent.captureError(error, {
    // Unsampled: null = no parent, even if some context leaked into this hook.
    parent: sampled ? t.transaction : null,
    labels,
    handled: true,
    captureAttributes: false,
    // The transaction's outcome follows the Twirp code (4xx is not a failure), not the mere presence of an error.
    skipOutcome: true,
  } as Parameters<typeof agent.captureError>[1]);
}
