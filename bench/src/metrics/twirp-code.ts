// Classifies an HTTP answer by Twirp error code, the way a Twirp client does.
// Spec: https://twitchtv.github.io/twirp/docs/spec_v7.html#error-codes
// A 2xx is `ok` (the label the service's own metrics use for success, so client and server counts line up).
// A non-2xx whose body is a Twirp error ({"code": "...", "msg": "..."}) is its `code`. A non-2xx without a
// Twirp body came from something in between (a proxy, a load balancer, a crashed handler): Twirp clients map
// its HTTP status to a code ("twirpErrorFromIntermediary" in the Go client); we do the same.

export const TWIRP_CODES: ReadonlySet<string> = new Set([
  'canceled', 'unknown', 'invalid_argument', 'malformed', 'deadline_exceeded', 'not_found', 'bad_route',
  'already_exists', 'permission_denied', 'unauthenticated', 'resource_exhausted', 'failed_precondition',
  'aborted', 'out_of_range', 'unimplemented', 'internal', 'unavailable', 'dataloss',
]);

/** Bodies above this size are not parsed (a Twirp error body is a few hundred bytes). */
const MAX_ERROR_BODY = 64 * 1024;

export function twirpCodeFromIntermediary(status: number): string {
  if (status >= 300 && status < 400) return 'internal';
  switch (status) {
    case 400: return 'internal';
    case 401: return 'unauthenticated';
    case 403: return 'permission_denied';
    case 404: return 'bad_route';
    case 429: case 502: case 503: case 504: return 'unavailable';
    default: return 'unknown';
  }
}

/** The Twirp code of one answer. `body` is only looked at for non-2xx answers. */
export function twirpCodeOf(status: number, body: string | Buffer | undefined): string {
  if (status >= 200 && status < 300) return 'ok';
  if (body !== undefined && body.length > 0 && body.length <= MAX_ERROR_BODY) {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    // Cheap pre-check before JSON.parse: a Twirp error body is a JSON object with a "code" member.
    if (text.charCodeAt(0) === 0x7b /* { */ && text.includes('"code"')) {
      try {
        const parsed = JSON.parse(text) as { code?: unknown };
        if (typeof parsed.code === 'string' && TWIRP_CODES.has(parsed.code)) return parsed.code;
      } catch {
        // not JSON: fall through to the intermediary mapping
      }
    }
  }
  return twirpCodeFromIntermediary(status);
}
