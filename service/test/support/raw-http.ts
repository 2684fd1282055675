// Raw HTTP/1.1 over a TCP socket, for requests no HTTP client would send: repeated headers, bad encodings in the
// path, bodies dripped or withheld. The answer is read until the server closes or `waitMs` passes.
import { connect, type Socket } from 'node:net';

export interface RawAnswer {
  /** Status of the first response, 0 when none came. */
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Everything the server sent. */
  raw: string;
  /** ms from the connection's open to the server closing it (undefined when it stayed open past waitMs). */
  closedAfterMs: number | undefined;
}

export function parseAnswer(raw: string, closedAfterMs: number | undefined): RawAnswer {
  const head = raw.indexOf('\r\n\r\n');
  const lines = (head === -1 ? raw : raw.slice(0, head)).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  const headers: Record<string, string> = {};
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = head === -1 ? '' : raw.slice(head + 4);
  const len = Number(headers['content-length']);
  if (Number.isFinite(len)) body = Buffer.from(body, 'latin1').subarray(0, len).toString('utf8');
  return { status: m ? Number(m[1]) : 0, headers, body, raw, closedAfterMs };
}

export interface Drip {
  /** Bytes sent at once. */
  first: string | Buffer;
  /** Then one byte of `rest` every `everyMs` (never ends on its own when `rest` is long enough). */
  rest?: string;
  everyMs?: number;
}

/** Whether `raw` holds a whole final response (interim 1xx skipped) whose body length is known and complete. */
function complete(raw: string): boolean {
  let at = 0;
  for (;;) {
    const head = raw.indexOf('\r\n\r\n', at);
    if (head === -1) return false;
    const a = parseAnswer(raw.slice(at), undefined);
    if (a.status >= 100 && a.status < 200) {
      at = head + 4;
      continue;
    }
    const len = Number(a.headers['content-length']);
    return Number.isFinite(len) && Buffer.byteLength(raw.slice(head + 4), 'latin1') >= len;
  }
}

/**
 * Opens a connection, writes `send` (a whole request or a drip), reads until the first whole response arrived (or,
 * with `untilClose`, until the server closes), at most `waitMs`.
 */
export function rawExchange(port: number, send: string | Buffer | Drip, waitMs: number, untilClose = false): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const chunks: Buffer[] = [];
    const socket: Socket = connect({ port, host: '127.0.0.1' });
    let drip: NodeJS.Timeout | undefined;
    let closedAt: number | undefined;
    const finish = () => {
      clearInterval(drip);
      clearTimeout(timer);
      socket.destroy();
      resolve(parseAnswer(Buffer.concat(chunks).toString('latin1'), closedAt));
    };
    const timer = setTimeout(finish, waitMs);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      if (!untilClose && complete(Buffer.concat(chunks).toString('latin1'))) finish();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // A reset after the answer is how a server drops a connection it gave up on.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') return;
      clearTimeout(timer);
      reject(err);
    });
    socket.on('close', () => {
      closedAt = performance.now() - started;
      finish();
    });
    socket.on('connect', () => {
      if (typeof send === 'string' || Buffer.isBuffer(send)) {
        socket.write(send);
        return;
      }
      socket.write(send.first);
      const rest = send.rest ?? '';
      let i = 0;
      drip = setInterval(() => {
        if (i >= rest.length || socket.destroyed) return clearInterval(drip);
        socket.write(rest[i++]!);
      }, send.everyMs ?? 100);
    });
  });
}
