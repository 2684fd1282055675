// Requests no ordinary client sends, over raw sockets against the real app: every answer on the service is a Twirp
// error body with its table's status (including what Node's parser and Fastify's router refuse before a route
// runs), and nothing refused is stored.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import type { MemoryStore } from '../src/db/memory-store';
import { TWIRP_STATUS, isTwirpCode } from '../src/twirp/errors';
import { connectionCheckIntervalMs } from '../src/app';
import { parseAnswer, rawExchange, type RawAnswer } from './support/raw-http';
import { PUSH_PATH, startApp } from './support/service';

let app: FastifyInstance;
let port: number;

before(async () => {
  let base: string;
  ({ app, base } = await startApp({}));
  port = Number(new URL(base).port);
});
after(async () => {
  await app?.close();
});

const rows = () => (app.store as MemoryStore).size;
const okBody = '{"property":"news","section":1,"id":1}';

function request(lines: string[], body: string | Buffer = ''): Buffer {
  const b = Buffer.isBuffer(body) ? body : Buffer.from(body);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\nContent-Length: ${b.length}\r\n\r\n`, 'latin1'), b]);
}

function assertTwirp(a: RawAnswer, code: string): void {
  assert.ok(a.status > 0, `no answer: ${JSON.stringify(a.raw)}`);
  assert.match(a.headers['content-type'] ?? '', /^application\/json/, a.raw);
  const body = JSON.parse(a.body) as Record<string, unknown>;
  assert.ok(isTwirpCode(body.code), a.raw);
  assert.equal(body.code, code, a.raw);
  assert.equal(a.status, TWIRP_STATUS[body.code as keyof typeof TWIRP_STATUS], a.raw);
  assert.equal(typeof body.msg, 'string');
  for (const k of Object.keys(body)) assert.ok(['code', 'msg', 'meta'].includes(k), `unexpected key ${k} in ${a.body}`);
}

test('a plain Push over the raw socket is stored (the baseline for the refusals below)', async () => {
  const before = rows();
  const a = await rawExchange(port, request([`POST ${PUSH_PATH} HTTP/1.1`, 'Host: x', 'Content-Type: application/json', 'Connection: close'], okBody), 5_000);
  assert.equal(a.status, 200, a.raw);
  assert.equal(a.body, '{}');
  assert.equal(rows(), before + 1);
});

const refusals: Array<[string, Buffer | string, string]> = [
  ['two Host headers (RFC 9112 section 3.2)', request([`POST ${PUSH_PATH} HTTP/1.1`, 'Host: a', 'Host: b', 'Content-Type: application/json'], okBody), 'malformed'],
  ['two Content-Type headers', request([`POST ${PUSH_PATH} HTTP/1.1`, 'Host: a', 'Content-Type: application/json', 'content-type: application/protobuf'], okBody), 'malformed'],
  ['a bad percent-encoding in the path', request([`POST /twirp/stats.StatsService/Push%E0%A4%A HTTP/1.1`, 'Host: a', 'Content-Type: application/json'], okBody), 'bad_route'],
  ['a method the router does not know', request([`PROPFIND ${PUSH_PATH} HTTP/1.1`, 'Host: a', 'Content-Type: application/json'], okBody), 'bad_route'],
  ['an unknown path', request(['POST /nope HTTP/1.1', 'Host: a', 'Content-Type: application/json'], okBody), 'bad_route'],
  ['a request line that is not HTTP', 'POST /twirp/x SPDY/9\r\n\r\n', 'malformed'],
  ['a header name with a space', request([`POST ${PUSH_PATH} HTTP/1.1`, 'Host: a', 'Bad Header: 1', 'Content-Type: application/json'], okBody), 'malformed'],
  ['Content-Length and Transfer-Encoding together (smuggling)', `POST ${PUSH_PATH} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'malformed'],
  ['headers over the size limit', request([`POST ${PUSH_PATH} HTTP/1.1`, 'Host: a', `X-Big: ${'a'.repeat(20_000)}`, 'Content-Type: application/json'], okBody), 'malformed'],
  ['a gzip Content-Encoding', request([`POST ${PUSH_PATH} HTTP/1.1`, 'Host: a', 'Content-Type: application/json', 'Content-Encoding: gzip'], okBody), 'malformed'],
  ['no Host header in HTTP/1.1 (RFC 9112 section 3.2)', request([`POST ${PUSH_PATH} HTTP/1.1`, 'Content-Type: application/json'], okBody), 'malformed'],
  ['a Host that is no authority', request([`POST ${PUSH_PATH} HTTP/1.1`, 'Host: a b', 'Content-Type: application/json'], okBody), 'malformed'],
  ['a transfer coding other than chunked (RFC 9112 section 6.1)', `POST ${PUSH_PATH} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${okBody.length.toString(16)}\r\n${okBody}\r\n0\r\n\r\n`, 'unimplemented'],
  ['an Expect other than 100-continue', request([`POST ${PUSH_PATH} HTTP/1.1`, 'Host: a', 'Expect: 200-ok', 'Content-Type: application/json'], okBody), 'malformed'],
  ['a chunked body over the size limit', `POST ${PUSH_PATH} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${(5000).toString(16)}\r\n${' '.repeat(5000)}\r\n0\r\n\r\n`, 'malformed'],
  ['Content-Length twice', request([`POST ${PUSH_PATH} HTTP/1.1`, 'Host: a', `Content-Length: ${okBody.length}`, 'Content-Type: application/json'], okBody), 'malformed'],
  ['Transfer-Encoding twice', `POST ${PUSH_PATH} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'malformed'],
  ['a folded header line (obs-fold)', request([`POST ${PUSH_PATH} HTTP/1.1`, 'Host: a', 'X-A: 1', '  more', 'Content-Type: application/json'], okBody), 'malformed'],
  ['bare LF line ends', `POST ${PUSH_PATH} HTTP/1.1\nHost: a\nContent-Type: application/json\nContent-Length: ${okBody.length}\n\n${okBody}`, 'malformed'],
  ['an HTTP/2 preface on the HTTP/1.1 port', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'malformed'],
  ['a path with a dot segment', request([`POST /twirp/x/../stats.StatsService/Push HTTP/1.1`, 'Host: a', 'Content-Type: application/json'], okBody), 'bad_route'],
  ['GET on the Push route', request([`GET ${PUSH_PATH} HTTP/1.1`, 'Host: a']), 'bad_route'],
  ['JSON with invalid UTF-8 in an unknown field', request([`POST ${PUSH_PATH} HTTP/1.1`, 'Host: a', 'Content-Type: application/json'], Buffer.concat([Buffer.from('{"property":"news","section":1,"id":1,"x":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])), 'malformed'],
  ['JSON with invalid UTF-8 in the property', request([`POST ${PUSH_PATH} HTTP/1.1`, 'Host: a', 'Content-Type: application/json; charset=utf-8'], Buffer.concat([Buffer.from('{"property":"news'), Buffer.from([0xc0]), Buffer.from('","section":1,"id":1}')])), 'malformed'],
];

const accepted: Array<[string, string]> = [
  ['a chunked body', `POST ${PUSH_PATH} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n${okBody.slice(0, 5)}\r\n${(okBody.length - 5).toString(16)}\r\n${okBody.slice(5)}\r\n0\r\n\r\n`],
  ['HTTP/1.0 without Host', `POST ${PUSH_PATH} HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: ${okBody.length}\r\n\r\n${okBody}`],
  ['an absolute-form target (RFC 9112 section 3.2.2)', `POST http://a${PUSH_PATH} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${okBody.length}\r\n\r\n${okBody}`],
  ['Expect: 100-continue', `POST ${PUSH_PATH} HTTP/1.1\r\nHost: a\r\nConnection: close\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: ${okBody.length}\r\n\r\n${okBody}`],
  ['a Host with a port and an IPv6 literal', `POST ${PUSH_PATH} HTTP/1.1\r\nHost: [::1]:8080\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${okBody.length}\r\n\r\n${okBody}`],
];

for (const [what, bytes] of accepted) {
  test(`accepted and stored once: ${what}`, async () => {
    const before = rows();
    const a = await rawExchange(port, bytes, 3_000);
    const last = a.raw.lastIndexOf('HTTP/1.');
    const answer = parseAnswer(a.raw.slice(last), undefined);
    assert.equal(answer.status, 200, a.raw);
    assert.equal(answer.body, '{}');
    assert.equal(rows(), before + 1);
  });
}

for (const [what, bytes, code] of refusals) {
  test(`refused as ${code}, as a Twirp error, nothing stored: ${what}`, async () => {
    const before = rows();
    const a = await rawExchange(port, bytes, 5_000);
    assertTwirp(a, code);
    assert.equal(rows(), before);
  });
}

// --- slow senders: REQUEST_TIMEOUT_MS bounds headers and body, cut within the connection-check interval.
test('slow senders are cut close to REQUEST_TIMEOUT_MS with deadline_exceeded, and nothing is stored', async (t) => {
  const timeoutMs = 1_000;
  const interval = connectionCheckIntervalMs(timeoutMs);
  const { app: slow, base } = await startApp({ REQUEST_TIMEOUT_MS: String(timeoutMs) });
  const p = Number(new URL(base).port);
  const head = `POST ${PUSH_PATH} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nContent-Length: ${okBody.length}\r\n\r\n`;
  const waitMs = 10 * timeoutMs;
  try {
    const [dripHeaders, dripBody, withheld, silent, keepAlive, honest] = await Promise.all([
      rawExchange(p, { first: 'P', rest: head.slice(1) + okBody, everyMs: 200 }, waitMs, true),
      rawExchange(p, { first: head, rest: okBody, everyMs: 200 }, waitMs, true),
      rawExchange(p, head + okBody.slice(0, 5), waitMs, true),
      rawExchange(p, '', waitMs, true),
      // A first request answered at once, then a second one dripped on the same connection.
      rawExchange(p, { first: head + okBody + 'P', rest: head.slice(1), everyMs: 200 }, waitMs, true),
      // Inside the time: a body sent over about half of it is taken.
      rawExchange(p, { first: head.replace('Content-Type', 'Connection: close\r\nContent-Type') + okBody.slice(0, -5), rest: okBody.slice(-5), everyMs: 90 }, waitMs),
    ]);
    assert.equal(honest.status, 200, honest.raw);
    for (const [what, a] of Object.entries({ dripHeaders, dripBody, withheld, silent, keepAlive })) {
      const last = a.raw.lastIndexOf('HTTP/1.1 ');
      const answer = what === 'keepAlive' ? parseAnswerAt(a.raw, last) : a;
      t.diagnostic(`${what}: cut after ${a.closedAfterMs?.toFixed(0)} ms (REQUEST_TIMEOUT_MS ${timeoutMs}, check every ${interval} ms)`);
      assert.equal(answer.status, 408, `${what}: ${a.raw}`);
      assert.equal(JSON.parse(answer.body).code, 'deadline_exceeded', what);
      assert.ok(a.closedAfterMs !== undefined, `${what}: still open after ${waitMs} ms`);
      // Cut no earlier than the timeout (less the timer's granularity) and no later than the timeout plus two check
      // intervals and one more timeout for a busy machine: Node's defaults cut these after 30 to 90 s.
      assert.ok(a.closedAfterMs >= timeoutMs - interval, `${what}: cut after ${a.closedAfterMs} ms, before ${timeoutMs} ms`);
      assert.ok(a.closedAfterMs <= 2 * timeoutMs + 2 * interval, `${what}: cut after ${a.closedAfterMs} ms (timeout ${timeoutMs}, interval ${interval})`);
    }
    assert.equal((slow.store as MemoryStore).size, 2, "the keep-alive connection's first Push and the one inside the time");
  } finally {
    await slow.close();
  }
});

function parseAnswerAt(raw: string, at: number): RawAnswer {
  return parseAnswer(raw.slice(Math.max(0, at)), undefined);
}
