// POST /twirp/stats.StatsService/Push, as separate steps: decode -> validate -> enqueue -> wait for commit ->
// answer in the request's encoding. The write runs under withoutCancel(ctx): once the body has arrived, a
// client hanging up does not cancel it.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../context/context';
import { withoutCancel, withValue } from '../context/context';
import { COMMIT_WAIT, startCommitWait } from '../telemetry/tracing/flush-trace';
import { requestTrace } from '../telemetry/tracing/request-trace';
import { timedSpan } from '../telemetry/tracing/spans';
import { requestValues } from '../context/request-context';
import { StoreError, type PageviewRow } from '../db/store';
import { CONTENT_TYPES, encodingOf, type TwirpEncoding } from '../twirp/content-type';
import { TwirpError, twirpError } from '../twirp/errors';
import { BufferFullError, CommitterClosedError, type GroupCommitter } from './group-commit';
import { decodePushJson, decodePushProtobuf, type PushFields } from './push-codec';
import { IDEMPOTENCY_KEY_HEADER, idempotencyKeyOf, validatePush } from './validate';

declare module 'fastify' {
  interface FastifyRequest {
    /** The request context (values + disconnect signal); set for Twirp routes. */
    ctx: Context | null;
  }
}

export interface PushDeps {
  committer: GroupCommitter;
  allowedProperties: ReadonlySet<string>;
  /** False until the schema is in place; Push answers unavailable meanwhile. */
  storeReady(): boolean;
}

export function requestEncoding(request: FastifyRequest): TwirpEncoding {
  const encoding = encodingOf(request.headers['content-type']);
  if (encoding === undefined) {
    const ct = request.headers['content-type'];
    throw twirpError.badRoute(`unexpected Content-Type: ${JSON.stringify(ct ?? '')}`, {
      twirp_invalid_route: `${request.method} ${request.url}`,
    });
  }
  return encoding;
}

/**
 * The body must arrive as it is: a Content-Encoding (gzip, br...) is not decoded here, and its bytes read as JSON or
 * protobuf could decode to something the client never sent.
 */
export function checkContentEncoding(request: FastifyRequest): void {
  const ce = request.headers['content-encoding'];
  if (ce === undefined || ce.trim().toLowerCase() === 'identity') return;
  throw twirpError.malformed(`Content-Encoding ${JSON.stringify(ce)} is not supported: send the body unencoded`);
}

export function decodePush(encoding: TwirpEncoding, body: unknown): PushFields {
  const buf = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
  return encoding === 'json' ? decodePushJson(buf) : decodePushProtobuf(buf);
}

export function writeErrorToTwirp(err: unknown): TwirpError {
  if (err instanceof TwirpError) return err;
  if (err instanceof BufferFullError) return twirpError.resourceExhausted(err.message);
  if (err instanceof CommitterClosedError) return twirpError.unavailable(err.message);
  if (err instanceof StoreError) {
    // The INSERT was sent and its fate is unknown: say so, never unavailable (which promises nothing was stored).
    if (err.outcome === 'unknown') {
      return new TwirpError(
        'deadline_exceeded',
        'the database did not confirm the write in time; it may have been stored (retry with the same Idempotency-Key)',
        undefined,
        { cause: err },
      );
    }
    if (err.failure === 'unavailable') return twirpError.unavailable(err.message, err);
    if (err.failure === 'resource_exhausted') return twirpError.resourceExhausted(err.message);
    if (err.rowRefused) return twirpError.internal('the database refused this pageview; it was not stored', err);
    return twirpError.internal('internal error', err);
  }
  return twirpError.internal('internal error', err);
}

export function makePushHandler(deps: PushDeps) {
  // Callback style: the handler returns nothing and answers through reply.send once the row's batch is committed.
  // This is the path every Push takes, and an async handler awaiting a promise costs several allocations and
  // microtask hops per request. What it throws synchronously (bad route, malformed, invalid_argument, not ready,
  // buffer full) and what it sends as an error, Fastify answers through the Twirp error handler.
  return function push(request: FastifyRequest, reply: FastifyReply): void {
    const encoding = requestEncoding(request);
    checkContentEncoding(request);
    // Spans for sampled requests only; the commit wait rides with the row to its flush.
    const trace = requestTrace(request);
    const decoded = timedSpan(trace, 'decode', decodePush, encoding, request.body);
    const fields = timedSpan(trace, 'validate', validatePush, decoded, deps.allowedProperties);
    const idempotencyKey = idempotencyKeyOf(request.headers[IDEMPOTENCY_KEY_HEADER]);
    if (!deps.storeReady()) throw twirpError.unavailable('storage is not ready yet');
    const wait = startCommitWait(trace);
    const base = withoutCancel(request.ctx!);
    const ctx = wait === undefined ? base : withValue(base, COMMIT_WAIT, wait);
    // Every value is bounded before the row joins a batch (one row the database refuses would fail the whole
    // multi-row INSERT): property by validatePush, the address by remote-ip.ts, the key by idempotencyKeyOf.
    const row: PageviewRow = {
      property: fields.property,
      section: fields.section,
      id: fields.id,
      remoteIp: requestValues(ctx)?.remoteIp ?? '',
      stampMs: Date.now(),
      idempotencyKey,
    };
    try {
      deps.committer.enqueue(ctx, row, (err) => {
        if (err !== undefined) {
          wait?.end(err);
          reply.send(writeErrorToTwirp(err));
          return;
        }
        wait?.end();
        request.twirpCode = 'ok';
        // PushResponse is empty: `{}` in JSON, zero bytes in protobuf.
        reply.header('content-type', CONTENT_TYPES[encoding]).send(encoding === 'json' ? '{}' : EMPTY);
      });
    } catch (err) {
      wait?.end(err);
      throw writeErrorToTwirp(err);
    }
  };
}

const EMPTY = Buffer.alloc(0);
