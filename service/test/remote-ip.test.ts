// remote_ip comes from the socket; X-Real-IP / X-Forwarded-For only count when TRUST_PROXY says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MemoryStore } from '../src/db/memory-store';
import { post, startApp } from './support/service';

const body = JSON.stringify({ property: 'news', section: 1, id: 1 });
const spoof = { 'x-real-ip': '203.0.113.9', 'x-forwarded-for': '198.51.100.7, 10.0.0.1' };

async function storedIp(env: Record<string, string>, headers: Record<string, string>): Promise<string> {
  const { app, base } = await startApp(env);
  try {
    const a = await post(base, body, 'application/json', undefined, headers);
    assert.equal(a.status, 200);
    return (app.store as MemoryStore).row(0)!.remoteIp;
  } finally {
    await app.close();
  }
}

test('by default forwarding headers are ignored', async () => {
  assert.equal(await storedIp({}, spoof), '127.0.0.1');
});

test('TRUST_PROXY=true uses X-Real-IP, then the first X-Forwarded-For entry', async () => {
  assert.equal(await storedIp({ TRUST_PROXY: 'true' }, spoof), '203.0.113.9');
  assert.equal(await storedIp({ TRUST_PROXY: 'true' }, { 'x-forwarded-for': '198.51.100.7, 10.0.0.1' }), '198.51.100.7');
  assert.equal(await storedIp({ TRUST_PROXY: 'true' }, { 'x-forwarded-for': 'garbage' }), '127.0.0.1');
});

test('TRUST_PROXY with a list trusts only those peers', async () => {
  assert.equal(await storedIp({ TRUST_PROXY: '127.0.0.1' }, spoof), '203.0.113.9');
  assert.equal(await storedIp({ TRUST_PROXY: '10.9.9.9' }, spoof), '127.0.0.1');
});
