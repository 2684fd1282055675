// Requests Node's HTTP parser lets through but RFC 9112 says a server must refuse, or that this service cannot read
// as sent. Node keeps the first Host (and the first Content-Type) and drops the rest silently, accepts a Host that
// is no authority at all, and passes a body whose transfer codings it has not undone (`Transfer-Encoding: gzip,
// chunked` arrives still gzip-coded): two parties reading such a request could disagree about where it goes or what
// its body says. Checked once per request in one pass over the raw header list.
import { TwirpError, twirpError } from './errors';

/** RFC 3986 authority characters (reg-name, IP literal, port); `%` for pct-encoding. */
const AUTHORITY = /^[A-Za-z0-9\-._~!$&'()*+,;=:%[\]]*$/;

/**
 * The error a request's framing deserves, or undefined when it is fine. `raw` is Node's rawHeaders (name, value,
 * name, value...), `httpVersion` e.g. '1.1'.
 */
export function framingError(raw: readonly string[], httpVersion: string): TwirpError | undefined {
  let hosts = 0;
  let host = '';
  let contentTypes = 0;
  let transferEncoding: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    // Only names of the right length are folded: the loop is on every request.
    if (name.length === 4 && name.toLowerCase() === 'host') {
      hosts++;
      host = raw[i + 1]!;
    } else if (name.length === 12 && name.toLowerCase() === 'content-type') contentTypes++;
    else if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') {
      transferEncoding = transferEncoding === undefined ? raw[i + 1]! : `${transferEncoding}, ${raw[i + 1]!}`;
    }
  }
  // RFC 9112 section 3.2: exactly one Host in HTTP/1.1, and a valid one, or 400.
  if (hosts > 1) return twirpError.malformed('the request has more than one Host header');
  if (hosts === 0 && httpVersion === '1.1') return twirpError.malformed('the request has no Host header (RFC 9112 section 3.2)');
  if (hosts === 1 && !AUTHORITY.test(host)) return twirpError.malformed('the Host header is not a valid authority');
  if (contentTypes > 1) return twirpError.malformed('the request has more than one Content-Type header');
  // RFC 9112 section 6.1: a transfer coding the server does not understand is 501. Only chunked is undone here.
  if (transferEncoding !== undefined && transferEncoding.trim().toLowerCase() !== 'chunked') {
    return new TwirpError('unimplemented', `Transfer-Encoding ${JSON.stringify(transferEncoding)} is not supported; only chunked`);
  }
  return undefined;
}
