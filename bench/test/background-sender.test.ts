import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BackgroundSender } from '../src/outputs/background-sender';

/** A send that stays pending until released (or aborted), recording what it was given. */
function gatedSend() {
  const sent: number[] = [];
  const gates: Array<() => void> = [];
  const send = (item: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      sent.push(item);
      gates.push(resolve);
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
  const releaseAll = () => gates.splice(0).forEach((r) => r());
  return { sent, send, releaseAll };
}

test('drop-oldest keeps the newest items when the server is slower than the producer', async () => {
  const g = gatedSend();
  const dropped: Array<[number, string]> = [];
  const s = new BackgroundSender<number>({ maxQueued: 2, whenFull: 'drop-oldest', send: g.send, drop: (i, why) => dropped.push([i, why]) });
  for (let i = 1; i <= 5; i++) s.push(i, 'full');
  // 1 is being sent; 2 and 3 were pushed out by 4 and 5.
  assert.deepEqual(g.sent, [1]);
  assert.deepEqual(dropped, [[2, 'full'], [3, 'full']]);
  const drained = s.drain(10_000);
  for (let i = 0; i < 3 && g.sent.length < 3; i++) {
    g.releaseAll();
    await new Promise((r) => setImmediate(r));
  }
  g.releaseAll();
  await drained;
  assert.deepEqual(g.sent, [1, 4, 5]);
});

test('refuse-new keeps what was queued first', () => {
  const g = gatedSend();
  const dropped: number[] = [];
  const s = new BackgroundSender<number>({ maxQueued: 2, whenFull: 'refuse-new', send: g.send, drop: (i) => dropped.push(i) });
  for (let i = 1; i <= 5; i++) s.push(i, 'full');
  assert.deepEqual(g.sent, [1]);
  assert.deepEqual(dropped, [4, 5]);
  void s.drain(0);
});

test('drain is bounded: a server that never answers is aborted and what is left is dropped', async () => {
  const g = gatedSend();
  const dropped: Array<[number, string]> = [];
  const s = new BackgroundSender<number>({ maxQueued: 10, whenFull: 'drop-oldest', send: g.send, drop: (i, why) => dropped.push([i, why]) });
  for (let i = 1; i <= 3; i++) s.push(i, 'full');
  await s.drain(50); // send never releases by itself: only the abort ends it
  assert.deepEqual(g.sent, [1]);
  assert.deepEqual(dropped, [[2, 'stopped before it could be sent'], [3, 'stopped before it could be sent']]);
});
