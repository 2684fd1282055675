// A streaming HTTP/1.1 response parser for the open model's raw keep-alive connections: just what a load
// generator needs from an answer, read without building strings or header objects. It follows RFC 9112:
// - status line `HTTP/1.x SSS reason`; 1xx answers are interim and skipped (the final answer follows);
// - body length (section 6.3): none for 204 and 304; `Transfer-Encoding` ending in `chunked` is decoded
//   (chunk extensions and trailers skipped); else `Content-Length`; else the body runs until the server closes;
// - keep-alive: HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`;
// - anything malformed (a bad status line, an unparseable or conflicting length, a head over 64 KiB) is an error
//   the connection dies of, never a guess.
// Bodies are counted, and collected (up to a cap) only for non-2xx answers, which the caller classifies.

/** Longest response head (status line + headers) accepted. */
export const MAX_HEAD = 64 * 1024;
/** Error bodies kept for classification (a Twirp error is a few hundred bytes). */
export const MAX_KEPT_BODY = 64 * 1024;

export class ResponseParseError extends Error {
  readonly code = 'BENCH_BAD_RESPONSE';
}

const enum State { Head, Body, ChunkSize, ChunkData, ChunkDataEnd, Trailers, UntilClose }

const CR = 13;
/** the blank line ending a head, as bytes (a string needle would be encoded again on every search) */
const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const LF = 10;

/** Index of the first LF in buf[from..to), or `to` when none. */
function lfAt(buf: Buffer, from: number, to: number): number {
  for (let i = from; i < to; i++) if (buf[i] === LF) return i;
  return to;
}

/** Index of the first ':' in buf[from..to), or -1. */
function colonAt(buf: Buffer, from: number, to: number): number {
  for (let i = from; i < to; i++) if (buf[i] === 58) return i;
  return -1;
}

/** Lower-case ASCII compare of buf[at..at+name.length) with `name` (already lower case). */
function nameIs(buf: Buffer, at: number, len: number, name: string): boolean {
  if (len !== name.length) return false;
  for (let i = 0; i < len; i++) {
    let c = buf[at + i];
    if (c >= 65 && c <= 90) c += 32;
    if (c !== name.charCodeAt(i)) return false;
  }
  return true;
}

/** Whether the comma-separated token list in buf[from..to) holds `token` (lower case), case-insensitively. */
function hasToken(buf: Buffer, from: number, to: number, token: string): boolean {
  let i = from;
  while (i < to) {
    while (i < to && (buf[i] === 32 || buf[i] === 9 || buf[i] === 44)) i++;
    let j = i;
    while (j < to && buf[j] !== 44) j++;
    let e = j;
    while (e > i && (buf[e - 1] === 32 || buf[e - 1] === 9)) e--;
    if (nameIs(buf, i, e - i, token)) return true;
    i = j + 1;
  }
  return false;
}

/** Whether the last coding of a Transfer-Encoding list is `chunked`. */
function lastTokenIsChunked(buf: Buffer, from: number, to: number): boolean {
  let e = to;
  while (e > from && (buf[e - 1] === 32 || buf[e - 1] === 9)) e--;
  let s = e;
  while (s > from && buf[s - 1] !== 44 && buf[s - 1] !== 32 && buf[s - 1] !== 9) s--;
  return nameIs(buf, s, e - s, 'chunked');
}

export interface ResponseHandler {
  /** One complete final answer (status, bytes, keepAlive and, for non-2xx, body are set on the parser). */
  onResponse(p: ResponseParser): void;
}

export class ResponseParser {
  /** of the answer being read, or just completed */
  status = 0;
  /** bytes of the answer on the wire (head and body, interim answers included) */
  bytes = 0;
  keepAlive = true;
  /** non-2xx only: the body, at most MAX_KEPT_BODY bytes */
  body: Buffer[] | null = null;
  private bodyLen = 0;

  private state = State.Head;
  private head: Buffer | null = null;
  private remaining = 0;
  private line = '';

  constructor(private readonly handler: ResponseHandler) {}

  /** Whether a response has started (some of it arrived) and not completed. */
  get inResponse(): boolean {
    return this.state !== State.Head || this.head !== null;
  }

  /** Ready for the next answer (after a completed one, or a reused connection). */
  reset(): void {
    this.state = State.Head;
    this.head = null;
    this.status = 0;
    this.bytes = 0;
    this.keepAlive = true;
    this.body = null;
    this.bodyLen = 0;
    this.remaining = 0;
    this.line = '';
  }

  /**
   * Feeds `chunk[0..length)` from the socket (the chunk may be a read buffer reused after this call: nothing
   * is kept from it without a copy); calls the handler for each answer completed. Throws ResponseParseError.
   */
  execute(chunk: Buffer, length: number = chunk.length): void {
    let buf = chunk;
    let len = length;
    let at = 0;
    while (at < len) {
      switch (this.state) {
        case State.Head: {
          if (this.head !== null) {
            // a head split across reads (rare): join and search again from the start
            buf = Buffer.concat([this.head, buf.subarray(at, len)]);
            len = buf.length;
            at = 0;
            this.head = null;
          }
          let end = buf.indexOf(HEAD_END, at);
          if (end + 4 > len) end = -1;
          if (end === -1) {
            if (len - at > MAX_HEAD) throw new ResponseParseError(`response head over ${MAX_HEAD} bytes`);
            this.head = Buffer.from(buf.subarray(at, len));
            return;
          }
          if (end + 4 - at > MAX_HEAD) throw new ResponseParseError(`response head over ${MAX_HEAD} bytes`);
          this.bytes += end + 4 - at;
          this.parseHead(buf, at, end);
          at = end + 4;
          break;
        }
        case State.Body: {
          const n = Math.min(this.remaining, len - at);
          this.take(buf, at, n);
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) this.complete();
          break;
        }
        case State.ChunkSize:
        case State.ChunkDataEnd:
        case State.Trailers: {
          let lf = buf.indexOf(LF, at);
          if (lf >= len) lf = -1;
          const to = lf === -1 ? len : lf + 1;
          this.bytes += to - at;
          this.line += buf.toString('latin1', at, to);
          at = to;
          if (this.line.length > MAX_HEAD) throw new ResponseParseError('chunk line too long');
          if (lf !== -1) this.lineDone();
          break;
        }
        case State.ChunkData: {
          const n = Math.min(this.remaining, len - at);
          this.take(buf, at, n);
          at += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = State.ChunkDataEnd;
          break;
        }
        case State.UntilClose: {
          this.take(buf, at, len - at);
          at = len;
          break;
        }
      }
    }
  }

  /**
   * The server closed the connection. Completes an answer whose body runs until the close; returns false when
   * an answer was cut short (a hang-up), true when nothing was pending or the answer completed.
   */
  finish(): boolean {
    if (this.state === State.UntilClose) {
      this.complete();
      return true;
    }
    return !this.inResponse;
  }

  private take(buf: Buffer, at: number, n: number): void {
    this.bytes += n;
    if (this.body !== null && this.bodyLen < MAX_KEPT_BODY && n > 0) {
      const keep = Math.min(n, MAX_KEPT_BODY - this.bodyLen);
      // a copy: the socket's buffer is not ours to keep
      this.body.push(Buffer.from(buf.subarray(at, at + keep)));
      this.bodyLen += keep;
    }
  }

  private parseHead(buf: Buffer, from: number, end: number): void {
    // "HTTP/1.x SSS"
    if (end - from < 12 || buf[from] !== 72 || buf[from + 1] !== 84 || buf[from + 2] !== 84 || buf[from + 3] !== 80 ||
        buf[from + 4] !== 47 || buf[from + 5] !== 49 || buf[from + 6] !== 46 || buf[from + 8] !== 32) {
      throw new ResponseParseError(`bad status line: ${JSON.stringify(buf.toString('latin1', from, Math.min(end, from + 40)))}`);
    }
    const minor = buf[from + 7] - 48;
    const d0 = buf[from + 9] - 48, d1 = buf[from + 10] - 48, d2 = buf[from + 11] - 48;
    if (minor < 0 || minor > 9 || d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9 ||
        (end - from > 12 && buf[from + 12] !== 32)) {
      throw new ResponseParseError(`bad status line: ${JSON.stringify(buf.toString('latin1', from, Math.min(end, from + 40)))}`);
    }
    const status = d0 * 100 + d1 * 10 + d2;
    let length = -1;
    let chunked = false;
    let close = minor === 0;
    // a head is a few hundred bytes: plain loops beat native searches (each a call into C++) here
    const last = end + 2;
    let lineStart = lfAt(buf, from, last) + 1;
    while (lineStart > 0 && lineStart < last) {
      const lineEnd = lfAt(buf, lineStart, last);
      const stop = buf[lineEnd - 1] === CR ? lineEnd - 1 : lineEnd;
      const c0 = buf[lineStart] | 32;
      // only Content-Length, Connection and Transfer-Encoding matter
      const colon = c0 === 99 || c0 === 116 ? colonAt(buf, lineStart, stop) : -1;
      if (colon !== -1) {
        const nameLen = colon - lineStart;
        let v = colon + 1;
        while (v < stop && (buf[v] === 32 || buf[v] === 9)) v++;
        let ve = stop;
        while (ve > v && (buf[ve - 1] === 32 || buf[ve - 1] === 9)) ve--;
        if (c0 === 99 /* c */) {
          if (nameIs(buf, lineStart, nameLen, 'content-length')) {
            let n = 0;
            if (ve === v) throw new ResponseParseError('empty Content-Length');
            for (let i = v; i < ve; i++) {
              const d = buf[i] - 48;
              if (d < 0 || d > 9) throw new ResponseParseError('bad Content-Length');
              n = n * 10 + d;
            }
            if (n > Number.MAX_SAFE_INTEGER || (length !== -1 && length !== n)) throw new ResponseParseError('conflicting Content-Length');
            length = n;
          } else if (nameIs(buf, lineStart, nameLen, 'connection')) {
            if (hasToken(buf, v, ve, 'close')) close = true;
            else if (minor === 0 && hasToken(buf, v, ve, 'keep-alive')) close = false;
          }
        } else if (nameIs(buf, lineStart, nameLen, 'transfer-encoding')) {
          chunked = lastTokenIsChunked(buf, v, ve);
          // a transfer coding other than chunked last: the body runs until the close (RFC 9112 6.3)
          if (!chunked) length = -2;
        }
      }
      lineStart = lineEnd + 1;
    }
    if (status < 200) {
      // interim (100 Continue, 103 Early Hints): the final answer follows on the same connection
      return;
    }
    this.status = status;
    this.keepAlive = !close;
    this.body = status >= 300 ? [] : null;
    this.bodyLen = 0;
    if (status === 204 || status === 304) return this.complete();
    if (chunked) {
      this.state = State.ChunkSize;
      this.line = '';
      return;
    }
    if (length >= 0) {
      if (length === 0) return this.complete();
      this.state = State.Body;
      this.remaining = length;
      return;
    }
    this.state = State.UntilClose;
    this.keepAlive = false;
  }

  private lineDone(): void {
    const line = this.line;
    this.line = '';
    if (this.state === State.ChunkSize) {
      let n = 0;
      let digits = 0;
      for (let i = 0; i < line.length; i++) {
        const c = line.charCodeAt(i);
        const d = c >= 48 && c <= 57 ? c - 48 : (c | 32) >= 97 && (c | 32) <= 102 ? (c | 32) - 87 : -1;
        if (d === -1) break;
        n = n * 16 + d;
        digits++;
      }
      if (digits === 0 || digits > 12) throw new ResponseParseError('bad chunk size');
      if (n === 0) {
        this.state = State.Trailers;
        return;
      }
      this.remaining = n;
      this.state = State.ChunkData;
    } else if (this.state === State.ChunkDataEnd) {
      if (line !== '\r\n' && line !== '\n') throw new ResponseParseError('chunk data not followed by CRLF');
      this.state = State.ChunkSize;
    } else if (line === '\r\n' || line === '\n') {
      // the empty line after the trailers ends the answer
      this.complete();
    }
  }

  private complete(): void {
    this.state = State.Head;
    this.handler.onResponse(this);
    // ready for the next answer on the connection
    this.status = 0;
    this.bytes = 0;
    this.keepAlive = true;
    this.body = null;
    this.bodyLen = 0;
  }
}
