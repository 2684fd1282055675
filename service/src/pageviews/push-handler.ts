// POST /twirp/stats.StatsService/Push, as separate steps: decode -> validate -> enqueue -> wait for commit ->
// answer in the request's encoding. The write runs under withoutCancel(ctx): once the body has arrived, a
// client hanging up does not cancel it.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Context } from '../context/context';
import { withoutCancel, withValue } from '../context/context';
import { COMMIT_WAIT, requestTrace, startCommitWait, timedSpan } from '../telemetry/tracing';
import { requestValues } from '../context/request-context';
import { StoreError } from '../db/store';
import { CONTENT_TYPES, encodingOf, type TwirpEncoding } from '../twirp/content-type';
import { TwirpError, twirpError } from '../twirp/errors';
import { BufferFullError, CommitterClosedError, type GroupCommitter } from './group-commit';
import { decodePushJson, decodePushProtobuf, type PushFields } from './push-codec';
import { validatePush } from './validate';

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

export function decodePush(encoding: TwirpEncoding, body: unknown): PushFields {
  const buf = Buffer.isBuffer(body) ? body : Buffer.alloc(0);
  return encoding === 'json' ? decodePushJson(buf) : decodePushProtobuf(buf);
}

/** Waits for the row's commit; maps write-path failures to Twirp errors. */
export async function commitPush(ctx: Context, deps: PushDeps, fields: PushFields): Promise<void> {
  if (!deps.storeReady()) throw twirpError.unavailable('storage is not ready yet');
  const remoteIp = requestValues(ctx)?.remoteIp ?? '';
  try {
    await deps.committer.write(ctx, {
      property: fields.property,
      section: fields.section,
      id: fields.id,
      remoteIp,
      stampMs: Date.now(),
    });
  } catch (err) {
    throw writeErrorToTwirp(err);
  }
}

export function writeErrorToTwirp(err: unknown): TwirpError {
  if (err instanceof TwirpError) return err;
  if (err instanceof BufferFullError) return twirpError.resourceExhausted(err.message);
  if (err instanceof CommitterClosedError) return twirpError.unavailable(err.message);
  if (err instanceof StoreError) {
    if (err.failure === 'unavailable') return twirpError.unavailable(err.message, err);
    if (err.failure === 'resource_exhausted') return twirpError.resourceExhausted(err.message);
    return twirpError.internal('internal error', err);
  }
  return twirpError.internal('internal error', err);
}

export function makePushHandler(deps: PushDeps) {
  return async function push(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const encoding = requestEncoding(request);
    // Spans for sampled requests only (no-ops otherwise); the commit wait rides with the row to its flush.
    const trace = requestTrace(request);
    const decoded = timedSpan(trace, 'decode', () => decodePush(encoding, request.body));
    const fields = timedSpan(trace, 'validate', () => validatePush(decoded, deps.allowedProperties));
    const wait = startCommitWait(trace);
    const ctx = withoutCancel(request.ctx!);
    try {
      await commitPush(wait === undefined ? ctx : withValue(ctx, COMMIT_WAIT, wait), deps, fields);
    } catch (err) {
      wait?.end(err);
      throw err;
    }
    wait?.end();
    request.twirpCode = 'ok';
    // PushResponse is empty: `{}` in JSON, zero bytes in protobuf.
    return reply.header('content-type', CONTENT_TYPES[encoding]).send(encoding === 'json' ? '{}' : Buffer.alloc(0));
  };
}
