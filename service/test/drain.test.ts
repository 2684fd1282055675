// app.close() drains: a Push in flight when closing starts is still committed and answered (with
// `Connection: close`), readiness turns 503 meanwhile, and close resolves only after the buffer is flushed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest, Agent } from 'node:http';
import type { MemoryStore } from '../src/db/memory-store';
import { flushBatch, type FlushFn } from '../src/pageviews/group-commit';
import { PUSH_PATH, startApp } from './support/service';

function send(port: number, agent: Agent, method: string, path: string, body?: string) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, agent, headers: body ? { 'content-type': 'application/json' } : {} },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

test('close() answers and commits the Push in flight, then resolves', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const flush: FlushFn = async (batch, store) => {
    await gate;
    await flushBatch(batch, store);
  };
  const { app, base } = await startApp({ BATCH_FLUSH_INTERVAL_MS: '0' }, { flush });
  const port = Number(new URL(base).port);
  const agent = new Agent({ keepAlive: true, maxSockets: 2 });
  try {
    const ready = await send(port, agent, 'GET', '/readyz');
    assert.equal(ready.status, 200);
    const inFlight = send(port, agent, 'POST', PUSH_PATH, JSON.stringify({ property: 'news', section: 1, id: 1 }));
    for (let i = 0; i < 500 && app.committer.flushesInFlight === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(app.committer.flushesInFlight, 1);
    let closed = false;
    const closing = app.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(closed, false, 'close waits for the Push in flight');
    release();
    const answer = await inFlight;
    assert.equal(answer.status, 200);
    assert.equal(answer.body, '{}');
    assert.equal(answer.headers.connection, 'close');
    await closing;
    assert.equal((app.store as MemoryStore).size, 1);
    await assert.rejects(app.committer.write(undefined as never, { property: 'news', section: 1, id: 2, remoteIp: '', stampMs: Date.now() }), {
      code: 'COMMITTER_CLOSED',
    });
  } finally {
    release();
    agent.destroy();
    await app.close();
  }
});
