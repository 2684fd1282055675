// The request context: values from the request, a signal that fires on a real disconnect only (not when the
// body has been read, as Fastify's request.signal does), and a write path that does not see it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { MemoryStore } from '../src/db/memory-store';
import { requestValues } from '../src/context/request-context';
import type { Context } from '../src/context/context';
import { withoutCancel } from '../src/context/context';
import type { FlushFn } from '../src/pageviews/group-commit';
import { flushBatch } from '../src/pageviews/group-commit';
import { post, PUSH_PATH, startApp } from './support/service';

test('values are carried to the flush; a completed request is never aborted', async () => {
  const seen: Context[] = [];
  const flush: FlushFn = async (batch, store) => {
    for (const p of batch) seen.push(p.ctx);
    await flushBatch(batch, store);
  };
  const ctxs: Context[] = [];
  const { app, base } = await startApp({}, { flush }, (a) =>
    a.addHook('onResponse', async (request) => {
      if (request.ctx) ctxs.push(request.ctx);
    }),
  );
  try {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const a = await post(base, JSON.stringify({ property: 'news', section: 1, id: 1 }), 'application/json', undefined, { traceparent: tp });
    assert.equal(a.status, 200);
    assert.equal(seen.length, 1);
    const v = requestValues(seen[0]!);
    assert.equal(v?.remoteIp, '127.0.0.1');
    assert.equal(v?.traceparent, tp);
    assert.ok(v?.requestId);
    assert.equal(seen[0]!.signal.aborted, false, 'the write runs under withoutCancel');
    assert.equal(ctxs[0]!.signal.aborted, false, 'answered requests are not disconnects');
  } finally {
    await app.close();
  }
});

/** A flush held until `release()`: the Push stays in flight while the test acts. */
function gatedFlush(): { flush: FlushFn; release: () => void } {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  return {
    flush: async (batch, store) => {
      await gate;
      await flushBatch(batch, store);
    },
    release: () => release(),
  };
}

/** Sends one Push over a raw socket and resolves once its flush is running; the caller hangs up with destroy(). */
async function pushAndHold(app: FastifyInstance, base: string, id: number): Promise<Socket> {
  const body = JSON.stringify({ property: 'news', section: 1, id });
  const s = connect({ port: Number(new URL(base).port), host: '127.0.0.1' });
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.write(`POST ${PUSH_PATH} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  for (let i = 0; i < 500 && app.committer.flushesInFlight === 0; i++) await new Promise((r) => setTimeout(r, 10));
  return s;
}

/** Lets the held flush finish and checks that the Push was committed all the same. */
async function releaseAndCheckCommitted(app: FastifyInstance, release: () => void): Promise<void> {
  release();
  for (let i = 0; i < 500 && app.committer.flushesInFlight > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal((app.store as MemoryStore).size, 1, 'the write committed after the disconnect');
}

test('a client that hangs up aborts the request signal, not the write context', async () => {
  const { flush, release } = gatedFlush();
  let requestCtx: Context | undefined;
  const { app, base } = await startApp({ BATCH_FLUSH_INTERVAL_MS: '0' }, { flush }, (a) =>
    a.addHook('preHandler', async (request) => {
      requestCtx = request.ctx ?? undefined;
    }),
  );
  try {
    const s = await pushAndHold(app, base, 9);
    const aborted = new Promise<unknown>((r) => requestCtx!.signal.addEventListener('abort', () => r(requestCtx!.signal.reason), { once: true }));
    s.destroy();
    const reason = (await aborted) as { code?: string };
    assert.equal(reason.code, 'CLIENT_DISCONNECTED');
    assert.equal(withoutCancel(requestCtx!).signal.aborted, false);
    await releaseAndCheckCommitted(app, release);
  } finally {
    release();
    await app.close();
  }
});

test('a signal first read after the client hung up is already aborted', async () => {
  const { flush, release } = gatedFlush();
  let requestCtx: Context | undefined;
  let closed!: () => void;
  const resClosed = new Promise<void>((r) => (closed = r));
  const { app, base } = await startApp({ BATCH_FLUSH_INTERVAL_MS: '0' }, { flush }, (a) =>
    a.addHook('preHandler', (request, reply, done) => {
      requestCtx = request.ctx ?? undefined;
      reply.raw.once('close', () => closed());
      done();
    }),
  );
  try {
    const s = await pushAndHold(app, base, 10);
    s.destroy();
    await resClosed;
    // Nobody read the signal while the request was alive: it is made now, after the fact, and must say so.
    assert.equal(requestCtx!.signal.aborted, true);
    assert.equal((requestCtx!.signal.reason as { code?: string }).code, 'CLIENT_DISCONNECTED');
    await releaseAndCheckCommitted(app, release);
  } finally {
    release();
    await app.close();
  }
});
