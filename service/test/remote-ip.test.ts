// remote_ip comes from the socket; X-Forwarded-For / X-Real-IP only count when TRUST_PROXY says so, walked from the
// right as proxy-addr does, and bounded before a row takes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MemoryStore } from '../src/db/memory-store';
import { loadConfig } from '../src/config';
import { MAX_REMOTE_IP_LENGTH, normalizeIp } from '../src/pageviews/remote-ip';
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

test('TRUST_PROXY=true trusts every hop: the left-most X-Forwarded-For entry; X-Real-IP only without one', async () => {
  assert.equal(await storedIp({ TRUST_PROXY: 'true' }, spoof), '198.51.100.7');
  assert.equal(await storedIp({ TRUST_PROXY: 'true' }, { 'x-real-ip': '203.0.113.9' }), '203.0.113.9');
  assert.equal(await storedIp({ TRUST_PROXY: 'true' }, { 'x-forwarded-for': 'garbage' }), '127.0.0.1');
});

test('TRUST_PROXY with a list trusts only those peers', async () => {
  assert.equal(await storedIp({ TRUST_PROXY: '127.0.0.1' }, { 'x-real-ip': '203.0.113.9' }), '203.0.113.9');
  assert.equal(await storedIp({ TRUST_PROXY: '10.9.9.9' }, spoof), '127.0.0.1');
});

test('behind listed proxies the client is the right-most X-Forwarded-For entry that is not a proxy', async () => {
  // The client wrote "6.6.6.6, 10.0.0.2" itself; the proxy at 10.0.0.1 appended 198.51.100.7, 10.0.0.1 forwarded.
  const xff = { 'x-forwarded-for': '6.6.6.6, 10.0.0.2, 198.51.100.7, 10.0.0.1' };
  assert.equal(await storedIp({ TRUST_PROXY: '127.0.0.1,10.0.0.1' }, xff), '198.51.100.7');
  assert.equal(await storedIp({ TRUST_PROXY: '127.0.0.0/8,10.0.0.0/8' }, xff), '198.51.100.7');
  assert.equal(await storedIp({ TRUST_PROXY: 'loopback' }, xff), '10.0.0.1');
  // Two X-Forwarded-For headers read as one list, in order.
  const { app, base } = await startApp({ TRUST_PROXY: 'loopback' });
  try {
    const res = await fetch(`${base}/twirp/stats.StatsService/Push`, {
      method: 'POST',
      headers: [['content-type', 'application/json'], ['x-forwarded-for', '6.6.6.6'], ['x-forwarded-for', '198.51.100.8']],
      body,
    });
    assert.equal(res.status, 200);
    assert.equal((app.store as MemoryStore).row(0)!.remoteIp, '198.51.100.8');
  } finally {
    await app.close();
  }
});

test('a forwarded address is bounded before it is stored: zone ids dropped, non-addresses fall back a hop', async () => {
  const zone = `fe80::1%${'z'.repeat(300)}`;
  assert.equal(await storedIp({ TRUST_PROXY: 'true' }, { 'x-forwarded-for': zone }), 'fe80::1');
  assert.equal(await storedIp({ TRUST_PROXY: 'true' }, { 'x-real-ip': zone }), 'fe80::1');
  assert.equal(await storedIp({ TRUST_PROXY: 'true' }, { 'x-forwarded-for': '::ffff:198.51.100.9' }), '198.51.100.9');
  assert.equal(await storedIp({ TRUST_PROXY: 'loopback' }, { 'x-forwarded-for': `${'1'.repeat(5000)}` }), '127.0.0.1');
  assert.equal(await storedIp({ TRUST_PROXY: 'loopback' }, { 'x-forwarded-for': "1.2.3.4', 'x" }), '127.0.0.1');
  for (const ip of [zone, `${'a'.repeat(60)}`, '1.2.3.4.5', '::ffff:1.2.3.4'.padStart(60, '0')]) {
    const v = normalizeIp(ip);
    assert.ok(v.length <= MAX_REMOTE_IP_LENGTH, `${ip} -> ${v}`);
  }
});

test('TRUST_PROXY entries that are neither addresses nor ranges are a start-up error', () => {
  assert.throws(() => loadConfig({ TRUST_PROXY: '10.0.0.0/8,nonsense' }), /not understood: nonsense/);
  assert.deepEqual(loadConfig({ TRUST_PROXY: '10.0.0.0/8, loopback ,::1' }).trustProxy, ['10.0.0.0/8', 'loopback', '::1']);
});
