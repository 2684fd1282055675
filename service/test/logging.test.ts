// Logs: secrets never reach a line; every line of a traced request carries the ECS trace fields.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify from 'fastify';
import { LazyChildLogger, createLogger, loggerOptions, redactUrl, traceLogFields } from '../src/telemetry/logging';
import { tracingPlugin } from '../src/telemetry/tracing/tracing-plugin';

function sink(): { lines: () => Record<string, unknown>[]; raw: () => string; write(s: string): void } {
  const chunks: string[] = [];
  return {
    write(s: string) {
      chunks.push(s);
    },
    raw: () => chunks.join(''),
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('redaction', () => {
  it('masks the password of a URL and keeps its shape', () => {
    assert.equal(redactUrl('mysql://app:s3cr3t@db.internal:3306/stats'), 'mysql://app:***@db.internal:3306/stats');
    assert.equal(redactUrl('mysql://root@127.0.0.1:3306/test'), 'mysql://root@127.0.0.1:3306/test');
    assert.equal(redactUrl('http://127.0.0.1:8200'), 'http://127.0.0.1:8200');
    assert.equal(redactUrl('not a url but has user:pw@host'), '[redacted]');
  });

  it('keeps passwords, tokens and auth headers out of log lines', () => {
    const out = sink();
    const log = createLogger({ logLevel: 'info' }, out);
    log.info({ mysqlUrl: 'mysql://app:s3cr3t-1@db:3306/stats' }, 'config');
    log.info({ config: { mysqlUrl: 'mysql://app:s3cr3t-2@db:3306/stats', pool: { max: 8 } } }, 'nested config');
    log.info({ headers: { authorization: 'Bearer s3cr3t-3', cookie: 's3cr3t-4', host: 'x' } }, 'headers');
    log.info({ db: { password: 's3cr3t-5', user: 'app' }, secretToken: 's3cr3t-6', apm: { apiKey: 's3cr3t-7' } }, 'misc');
    log.info({ url: 'mysql://app:s3cr3t-8@db/stats' }, 'url');
    const raw = out.raw();
    assert.doesNotMatch(raw, /s3cr3t/);
    const lines = out.lines();
    assert.equal(lines[0]!.mysqlUrl, 'mysql://app:***@db:3306/stats');
    assert.deepEqual((lines[1]!.config as Record<string, unknown>).pool, { max: 8 }, 'other fields are untouched');
    const headers = lines[2]!.headers as Record<string, string>;
    assert.equal(headers.host, 'x');
    assert.equal(headers.authorization, '[redacted]');
    assert.equal((lines[3]!.db as Record<string, string>).user, 'app');
  });

  it('shows a request as method, url, host and peer, never its headers', () => {
    const out = sink();
    const log = createLogger({ logLevel: 'info' }, out);
    const req = { method: 'POST', url: '/twirp/x', host: 'svc', ip: '10.0.0.9', socket: { remotePort: 4711 }, headers: { authorization: 'Bearer s3cr3t' } };
    log.error({ req, res: { statusCode: 500, raw: {} } }, 'failed');
    const line = out.lines()[0]!;
    assert.deepEqual(line.req, { method: 'POST', url: '/twirp/x', host: 'svc', remoteAddress: '10.0.0.9', remotePort: 4711 });
    assert.deepEqual(line.res, { statusCode: 500 });
    assert.doesNotMatch(out.raw(), /s3cr3t/);
  });

  it('keeps the level and base fields of the service logger', () => {
    const opts = loggerOptions({ logLevel: 'warn' });
    assert.equal(opts.level, 'warn');
    assert.deepEqual(opts.base, { service: 'pageview' });
  });
});

describe('trace fields', () => {
  it('ECS names; transaction.id only when a transaction exists', () => {
    assert.deepEqual(traceLogFields({ traceId: 'a'.repeat(32), transactionId: undefined }), { 'trace.id': 'a'.repeat(32) });
    assert.deepEqual(traceLogFields({ traceId: 'a'.repeat(32), transactionId: 'b'.repeat(16) }), {
      'trace.id': 'a'.repeat(32),
      'transaction.id': 'b'.repeat(16),
    });
  });

  it('every line of a request with a traceparent carries trace.id, Fastify\'s own lines included', async () => {
    const out = sink();
    const app = Fastify({ loggerInstance: createLogger({ logLevel: 'info' }, out) });
    await app.register(tracingPlugin);
    app.post('/twirp/stats.StatsService/Push', async (request) => {
      request.log.info({ step: 'decode' }, 'decoded');
      request.log.warn({ step: 'commit' }, 'slow commit');
      return {};
    });
    try {
      const traceId = '0af7651916cd43dd8448eb211c80319c';
      await app.inject({
        method: 'POST',
        url: '/twirp/stats.StatsService/Push',
        headers: { traceparent: `00-${traceId}-b7ad6b7169203331-00` },
        payload: {},
      });
      await app.inject({ method: 'POST', url: '/twirp/stats.StatsService/Push', payload: {} });
      const lines = out.lines().filter((l) => l.reqId !== undefined);
      const [first, second] = [lines.filter((l) => l.reqId === lines[0]!.reqId), lines.filter((l) => l.reqId !== lines[0]!.reqId)];
      assert.ok(first.length >= 4, `incoming, decoded, slow commit, completed: got ${first.length}`);
      for (const l of first) assert.equal(l['trace.id'], traceId, JSON.stringify(l));
      assert.ok(second.length >= 4);
      for (const l of second) assert.equal(l['trace.id'], undefined, 'no traceparent, not sampled: no trace id');
    } finally {
      await app.close();
    }
  });
});

describe('request loggers', () => {
  it('make their pino child on the first enabled line only, and write exactly what the child writes', () => {
    const out = sink();
    const parent = createLogger({ logLevel: 'warn' }, out);
    let children = 0;
    const counting = new Proxy(parent, {
      get(target, prop, receiver) {
        if (prop === 'child') {
          return (b: Record<string, unknown>, o?: Record<string, unknown>) => {
            children += 1;
            return target.child(b, o);
          };
        }
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const quiet = new LazyChildLogger(counting as never, { reqId: 'req-1' });
    quiet.info({ a: 1 }, 'below the level');
    quiet.debug('below the level');
    assert.equal(quiet.level, 'warn');
    assert.equal(quiet.isLevelEnabled('info'), false);
    assert.equal(children, 0, 'no line written, no child made');
    assert.equal(out.raw(), '');

    const loud = new LazyChildLogger(counting as never, { reqId: 'req-2', 'trace.id': 'c'.repeat(32) });
    loud.warn({ step: 'commit', password: 'hunter2' }, 'slow');
    loud.error(new Error('boom'), 'failed');
    assert.equal(children, 1, 'one child for the request, however many lines');
    const lines = out.lines();
    assert.equal(lines.length, 2);
    for (const l of lines) {
      assert.equal(l.reqId, 'req-2');
      assert.equal(l['trace.id'], 'c'.repeat(32));
      assert.equal(l.service, 'pageview');
    }
    assert.equal(lines[0]!.msg, 'slow');
    assert.equal(lines[0]!.password, '[redacted]', 'the parent\'s redaction applies');
    assert.equal((lines[1]!.err as { message: string }).message, 'boom');
  });

  it('a child with its own level exists at once and keeps that level', () => {
    const out = sink();
    const l = new LazyChildLogger(createLogger({ logLevel: 'warn' }, out) as never, { reqId: 'r' }, { level: 'debug' });
    assert.equal(l.level, 'debug');
    l.debug('shown');
    assert.equal(out.lines()[0]!.msg, 'shown');
  });
});
