// The service's APM intake client against real HTTP servers: the capture intake (what arrives, in order, gzip),
// and a scripted one (status codes, headers, a server that never answers), plus its string bounds and backoff.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { ApmIntake } from './support/apm-intake';

const require_ = createRequire(__filename);
const { IntakeClient, bounded, backoffMs, KEYWORD_MAX } = require_('../src/telemetry/intake-client.cjs') as {
  IntakeClient: new (conf: Record<string, unknown>, opts: { agentVersion: string; intervalMs?: number }) => Client;
  bounded: (v: unknown, key: string, longMax: number, depth: number) => unknown;
  backoffMs: (failures: number, random?: () => number) => number;
  KEYWORD_MAX: number;
};

interface Client {
  sendTransaction(p: unknown): void;
  sendSpan(p: unknown): void;
  sendError(p: unknown): void;
  flush(cb: () => void): void;
  destroy(): void;
  _getStats(): { sent: number; dropped: number; failed: number; requests: number; failedRequests: number; queued: number };
}

const warnings: unknown[] = [];
const logger = { warn: (o: unknown) => warnings.push(o), debug() {}, trace() {} };

function conf(serverUrl: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    serverUrl,
    serviceName: 'pageview-test',
    serviceVersion: '1.2.3',
    environment: 'test',
    maxQueueSize: 1024,
    apiRequestSize: 768 * 1024,
    serverTimeout: 10,
    longFieldMaxLength: 10000,
    logger,
    ...extra,
  };
}

const flushed = (c: Client) => new Promise<void>((resolve) => c.flush(resolve));

describe('string bounds', () => {
  it('returns the very same event when nothing is too long', () => {
    const tx = { name: 'stats.StatsService/Push', context: { tags: { bench_run: 'r1' } }, span_count: { started: 1 }, links: [{ trace_id: 'a' }] };
    assert.equal(bounded(tx, 'transaction', 10000, 0), tx);
  });

  it('cuts long keywords to 1024 and long text fields to the long limit, on a copy', () => {
    const long = 'x'.repeat(20_000);
    const span = { name: long, context: { db: { statement: long, type: 'sql' } }, otel: { attributes: { a: 'ok' } } };
    const out = bounded(span, 'span', 10000, 0) as typeof span;
    assert.equal(out.name.length, KEYWORD_MAX);
    assert.equal(out.context.db.statement.length, 10000);
    assert.equal(out.context.db.type, 'sql');
    assert.equal(out.otel, span.otel, 'untouched branches are shared, not copied');
    assert.equal(span.name.length, 20_000, 'the input is not changed');
    assert.equal(span.context.db.statement.length, 20_000);
  });

  it('never splits a surrogate pair, also inside arrays', () => {
    const s = 'a'.repeat(KEYWORD_MAX - 1) + '😂😂';
    const out = bounded({ tags: [s] }, 'error', 10000, 0) as { tags: string[] };
    assert.equal(out.tags[0], 'a'.repeat(KEYWORD_MAX - 1));
  });
});

describe('backoff', () => {
  it('follows min(n, 6)^2 seconds with 10% jitter', () => {
    assert.equal(backoffMs(0), 0);
    assert.equal(backoffMs(1, () => 0.5), 1000);
    assert.equal(backoffMs(2, () => 0.5), 4000);
    assert.equal(backoffMs(6, () => 0.5), 36000);
    assert.equal(backoffMs(50, () => 0.5), 36000);
    assert.equal(backoffMs(3, () => 0), 8100);
    assert.equal(backoffMs(3, () => 1), 9900);
  });
});

describe('against the capture intake', () => {
  let intake: ApmIntake;
  before(async () => {
    intake = await ApmIntake.start();
  });
  after(() => intake.stop());

  it('sends metadata first, then every event in order, gzip-compressed, and flush waits for delivery', async () => {
    intake.clear();
    const c = new IntakeClient(conf(intake.url), { agentVersion: '9.9.9', intervalMs: 60_000 });
    for (let i = 0; i < 50; i++) c.sendTransaction({ id: `t${i}`, name: 'stats.StatsService/Push', type: 'request' });
    c.sendSpan({ id: 's1', name: 'commit_wait' });
    c.sendError({ id: 'e1', exception: { message: 'boom' } });
    await flushed(c);
    const kinds = intake.events.map((e) => Object.keys(e)[0]);
    assert.equal(kinds[0], 'metadata');
    assert.deepEqual(intake.transactions().map((t) => t.id), Array.from({ length: 50 }, (_, i) => `t${i}`));
    assert.equal(intake.spans().length, 1);
    assert.equal(intake.errors().length, 1);
    const md = intake.metadata()[0] as { service: { name: string; version: string; environment: string; agent: { name: string; version: string } } };
    assert.equal(md.service.name, 'pageview-test');
    assert.equal(md.service.version, '1.2.3');
    assert.equal(md.service.environment, 'test');
    assert.deepEqual(md.service.agent, { name: 'nodejs', version: '9.9.9' });
    assert.deepEqual(c._getStats(), { sent: 52, dropped: 0, failed: 0, requests: 1, failedRequests: 0, queued: 0 });
    c.destroy();
  });

  it('cuts what the intake would refuse on the way out: long names, long statements', async () => {
    intake.clear();
    const c = new IntakeClient(conf(intake.url), { agentVersion: '9.9.9', intervalMs: 60_000 });
    c.sendTransaction({ id: 'long', name: 'n'.repeat(1500), type: 'request' });
    c.sendSpan({ id: 'sql', name: 'INSERT INTO incoming', context: { db: { statement: 'v'.repeat(30_000) } } });
    c.sendTransaction({ id: 'short', name: 'stats.StatsService/Push' });
    await flushed(c);
    const [long, short] = intake.transactions();
    assert.equal((long!.name as string).length, 1024);
    assert.equal(short!.name, 'stats.StatsService/Push');
    const sql = intake.spans()[0] as { context: { db: { statement: string } } };
    assert.equal(sql.context.db.statement.length, 10000);
    c.destroy();
  });

  it('splits what exceeds the request size into several requests, losing nothing', async () => {
    intake.clear();
    const before = intake.intakeRequests;
    const c = new IntakeClient(conf(intake.url, { apiRequestSize: 4096 }), { agentVersion: '9.9.9', intervalMs: 60_000 });
    for (let i = 0; i < 200; i++) c.sendSpan({ id: `s${i}`, name: 'x'.repeat(100) });
    await flushed(c);
    assert.equal(intake.spans().length, 200);
    assert.ok(intake.intakeRequests - before >= 5, `${intake.intakeRequests - before} requests`);
    c.destroy();
  });
});

describe('against a scripted server', () => {
  let server: Server;
  let url: string;
  let status = 202;
  let answer = true;
  const seen: Array<{ headers: IncomingMessage['headers']; body: string }> = [];
  const held: ServerResponse[] = [];
  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ headers: req.headers, body: gunzipSync(Buffer.concat(chunks)).toString('utf8') });
        if (!answer) {
          held.push(res);
          return;
        }
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(status === 202 ? '' : '{"error":"queue is full"}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error('no port');
    url = `http://127.0.0.1:${addr.port}/some/prefix`;
  });
  after(async () => {
    for (const r of held) r.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it('posts to the intake path under the server URL with the agent headers and the secret token', async () => {
    seen.length = 0;
    status = 202;
    answer = true;
    const c = new IntakeClient(conf(url, { secretToken: 's3cret' }), { agentVersion: '9.9.9', intervalMs: 60_000 });
    c.sendTransaction({ id: 't1' });
    await flushed(c);
    assert.equal(seen.length, 1);
    const h = seen[0]!.headers;
    assert.equal(h.authorization, 'Bearer s3cret');
    assert.equal(h['content-type'], 'application/x-ndjson');
    assert.equal(h['content-encoding'], 'gzip');
    assert.equal(h['user-agent'], 'apm-agent-nodejs/9.9.9 (pageview-test 1.2.3)');
    const lines = seen[0]!.body.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(Object.keys(lines[0]!), ['metadata']);
    assert.deepEqual(lines[1], { transaction: { id: 't1' } });
    c.destroy();
  });

  it('a refused request loses its events, counts them, logs once and backs off before the next request', async () => {
    seen.length = 0;
    warnings.length = 0;
    status = 503;
    answer = true;
    const c = new IntakeClient(conf(url), { agentVersion: '9.9.9', intervalMs: 10 });
    c.sendTransaction({ id: 't1' });
    c.sendTransaction({ id: 't2' });
    await flushed(c);
    assert.equal(seen.length, 1);
    assert.equal(c._getStats().failed, 2);
    assert.equal(c._getStats().failedRequests, 1);
    assert.equal(warnings.length, 1);
    assert.match(JSON.stringify(warnings[0]), /503/);
    // Within the backoff (about 1 s) a new event waits instead of going out 10 ms later.
    status = 202;
    c.sendTransaction({ id: 't3' });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(seen.length, 1, 'no request during the backoff');
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(seen.length, 2, 'the queued event goes once the backoff is over');
    assert.match(seen[1]!.body, /"t3"/);
    assert.equal(c._getStats().sent, 1);
    c.destroy();
  });

  it('a server that never answers: requests time out, the queue stays bounded and the excess is dropped', async () => {
    seen.length = 0;
    answer = false;
    const c = new IntakeClient(conf(url, { maxQueueSize: 100, serverTimeout: 1 }), { agentVersion: '9.9.9', intervalMs: 10 });
    c.sendTransaction({ id: 'first' });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(seen.length, 1, 'the first request is out and hangs');
    for (let i = 0; i < 500; i++) c.sendTransaction({ id: `t${i}` });
    const s = c._getStats();
    assert.equal(s.queued, 100, 'at most maxQueueSize events wait');
    assert.equal(s.dropped, 400);
    await flushed(c); // returns after the hung request timed out and the next one did too
    assert.ok(c._getStats().failed >= 1, JSON.stringify(c._getStats()));
    c.destroy();
    answer = true;
  });
});
