// The slow and failed request log: a line per request slower than LOG_SLOW_REQUEST_MS or answered with an error,
// with the request's ECS trace.id (from its traceparent, sampled or not), bounded per second with the lines left
// out counted on the next one. Against the real app on a port; a partial batch that waits 300 ms makes every Push
// slow for real.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { createLogger } from '../src/telemetry/logging';
import { post, startApp } from './support/service';

const chunks: string[] = [];
const lines = (): Record<string, unknown>[] =>
  chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
let app: FastifyInstance;
let base: string;

function traceparent(): { header: string; traceId: string } {
  const traceId = randomBytes(16).toString('hex');
  return { header: `00-${traceId}-${randomBytes(8).toString('hex')}-00`, traceId };
}

before(async () => {
  const logger = createLogger({ logLevel: 'info' }, { write: (s: string) => void chunks.push(s) });
  ({ app, base } = await startApp(
    { BATCH_FLUSH_INTERVAL_MS: '300', BATCH_MAX_ROWS: '100', LOG_SLOW_REQUEST_MS: '100', LOG_REQUESTS_PER_SECOND: '3' },
    { logger },
  ));
});
after(async () => {
  await app?.close();
});

test('a slow Push and a refused one are logged with their trace.id; a fast health check is not', async () => {
  const slow = traceparent();
  const bad = traceparent();
  const [a, b] = await Promise.all([
    post(base, JSON.stringify({ property: 'news', section: 1, id: 1 }), 'application/json', undefined, { traceparent: slow.header }),
    post(base, JSON.stringify({ property: 'nope', section: 1, id: 1 }), 'application/json', undefined, { traceparent: bad.header }),
  ]);
  assert.equal(a.status, 200);
  assert.equal(b.status, 400);
  assert.equal((await fetch(`${base}/healthz`)).status, 200);

  const slowLine = lines().find((l) => l['trace.id'] === slow.traceId);
  assert.ok(slowLine, `no line for ${slow.traceId}: ${chunks.join('')}`);
  assert.equal(slowLine.msg, 'slow request');
  assert.equal(slowLine.level, 40);
  assert.equal(slowLine.twirp_code, 'ok');
  assert.equal(slowLine['http.response.status_code'], 200);
  assert.ok((slowLine.duration_ms as number) >= 100, `duration ${slowLine.duration_ms}`);
  // ECS event.duration is nanoseconds; duration_ms the same, rounded to the microsecond
  assert.ok(Math.abs((slowLine['event.duration'] as number) - (slowLine.duration_ms as number) * 1e6) <= 1000);

  const badLine = lines().find((l) => l['trace.id'] === bad.traceId);
  assert.ok(badLine);
  assert.equal(badLine.msg, 'request failed');
  assert.equal(badLine.level, 30, "a caller's mistake is info, not a warning");
  assert.equal(badLine.twirp_code, 'invalid_argument');
  assert.equal(lines().filter((l) => l['url.path'] === '/healthz').length, 0);
});

test('at most LOG_REQUESTS_PER_SECOND lines a second; the next line counts the ones left out', async () => {
  await new Promise((r) => setTimeout(r, 1100));
  const before = lines().length;
  for (let i = 0; i < 8; i++) await post(base, JSON.stringify({ property: 'nope', section: 1, id: 1 }));
  const burst = lines().slice(before);
  assert.ok(burst.length <= 3, `${burst.length} lines in one second`);
  const left = 8 - burst.length;
  await new Promise((r) => setTimeout(r, 1100));
  const t = traceparent();
  await post(base, JSON.stringify({ property: 'nope', section: 1, id: 1 }), 'application/json', undefined, { traceparent: t.header });
  const next = lines().find((l) => l['trace.id'] === t.traceId);
  assert.ok(next);
  assert.equal(next.suppressed_lines, left);
});
