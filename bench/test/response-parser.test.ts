import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { ResponseParseError, ResponseParser } from '../src/executors/response-parser';

interface Seen { status: number; bytes: number; keepAlive: boolean; body: string | null }

function parser(): { p: ResponseParser; seen: Seen[] } {
  const seen: Seen[] = [];
  const p = new ResponseParser({
    onResponse: (x) => seen.push({ status: x.status, bytes: x.bytes, keepAlive: x.keepAlive, body: x.body ? Buffer.concat(x.body).toString() : null }),
  });
  return { p, seen };
}

/** Feeds `text` in every split into two reads, and byte by byte: the answers must be the same each time. */
function feedAllWays(text: string): Seen[] {
  const whole = parser();
  whole.p.execute(Buffer.from(text, 'latin1'));
  for (let cut = 1; cut < text.length; cut++) {
    const x = parser();
    // a reused read buffer with stale bytes past the length, as net's onread gives it
    const a = Buffer.alloc(text.length + 16, 'X');
    a.write(text.slice(0, cut), 'latin1');
    x.p.execute(a, cut);
    x.p.execute(Buffer.from(text.slice(cut), 'latin1'));
    assert.deepEqual(x.seen, whole.seen, `split at ${cut}`);
  }
  const bytewise = parser();
  for (const ch of Buffer.from(text, 'latin1')) bytewise.p.execute(Buffer.from([ch]));
  assert.deepEqual(bytewise.seen, whole.seen, 'byte by byte');
  return whole.seen;
}

test('Content-Length answers, back to back, whatever the read boundaries', () => {
  const a = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}';
  const b = 'HTTP/1.1 503 Service Unavailable\r\nContent-Length: 36\r\nConnection: keep-alive\r\n\r\n{"code":"unavailable","msg":"busy!"}';
  const seen = feedAllWays(a + b);
  assert.deepEqual(seen, [
    { status: 200, bytes: a.length, keepAlive: true, body: null },
    { status: 503, bytes: b.length, keepAlive: true, body: '{"code":"unavailable","msg":"busy!"}' },
  ]);
});

test('chunked bodies with extensions and trailers; 1xx skipped; 204 without a body; close and HTTP/1.0', () => {
  const chunked = 'HTTP/1.1 500 Internal\r\nTransfer-Encoding: gzip, chunked\r\n\r\n' +
    '5;ext=1\r\n{"cod\r\nA\r\ne":"intern\r\n3\r\nal"\r\n1\r\n}\r\n0\r\nX-Trailer: y\r\n\r\n';
  const interim = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n';
  const noBody = 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n';
  const close = 'HTTP/1.1 200 OK\r\nConnection: Keep-Alive, Close\r\nContent-Length: 1\r\n\r\nx';
  const old = 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx';
  const oldKept = 'HTTP/1.0 200 OK\r\nconnection: keep-alive\r\nContent-Length: 1\r\n\r\nx';
  const seen = feedAllWays(chunked + interim + noBody + close + old + oldKept);
  assert.deepEqual(seen.map((s) => [s.status, s.keepAlive, s.body]), [
    [500, true, '{"code":"internal"}'], [200, true, null], [204, true, null], [200, false, null], [200, false, null], [200, true, null],
  ]);
  assert.equal(seen[0].bytes, chunked.length);
  assert.equal(seen[1].bytes, interim.length);
});

test('a body without a length runs until the close', () => {
  const { p, seen } = parser();
  p.execute(Buffer.from('HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\n\r\nupstream '));
  p.execute(Buffer.from('gone'));
  assert.equal(seen.length, 0);
  assert.equal(p.finish(), true);
  assert.deepEqual(seen, [{ status: 502, bytes: 67, keepAlive: false, body: 'upstream gone' }]);
  // a close in the middle of a Content-Length body is a cut answer
  const cut = parser();
  cut.p.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
  assert.equal(cut.p.finish(), false);
  assert.equal(cut.seen.length, 0);
  assert.equal(parser().p.finish(), true);
});

test('malformed answers are errors, never guesses', () => {
  for (const bad of [
    'HTTP/2 200 OK\r\n\r\n', 'HTTP/1.1 20 OK\r\n\r\n', 'HTTP/1.1 200OK\r\n\r\n', 'FTP/1.1 200 OK\r\n\r\n',
    'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n',
  ]) {
    assert.throws(() => parser().p.execute(Buffer.from(bad)), (e: unknown) => e instanceof ResponseParseError && e.code === 'BENCH_BAD_RESPONSE', bad);
  }
  assert.throws(() => parser().p.execute(Buffer.from(`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(70_000)}`)), ResponseParseError);
});

test('what node:http sends (fixed length, chunked, close) parses as node itself reads it', async (t) => {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/chunked') {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.write('{"code":');
        setImmediate(() => res.end('"unavailable","msg":"x"}'));
      } else if (req.url === '/close') {
        res.writeHead(200, { connection: 'close', 'content-length': 2 });
        res.end('{}');
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
        res.end('{}');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as AddressInfo;
  const { p, seen } = parser();
  const sock = net.connect(port, '127.0.0.1');
  sock.on('data', (d: Buffer) => p.execute(d));
  const closed = new Promise<void>((r) => sock.on('close', () => r()));
  const ask = async (path: string, n: number) => {
    sock.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n`);
    while (seen.length < n) await new Promise((r) => setTimeout(r, 5));
  };
  await ask('/', 1);
  await ask('/chunked', 2);
  await ask('/close', 3);
  await closed;
  assert.deepEqual(seen.map((s) => [s.status, s.keepAlive, s.body]), [
    [200, true, null], [503, true, '{"code":"unavailable","msg":"x"}'], [200, false, null],
  ]);
});
