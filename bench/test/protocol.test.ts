// The coordinator/worker messages: what each side accepts, and that anything malformed is a ProtocolError with a
// stable code naming the field (the connection that sent it is dropped; no half-read data reaches the merge).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeInterval, emptyInterval } from '../src/metrics/interval';
import { parseCoordinatorMessage, parseWorkerMessage, ProtocolError, PROTOCOL_VERSION } from '../src/distributed/protocol';

const bad = (f: () => unknown, field: RegExp) => assert.throws(f, (e: unknown) => e instanceof ProtocolError && e.code === 'BENCH_PROTOCOL_ERROR' && field.test(e.message));

test('well-formed messages of both sides parse as they were sent', () => {
  const iv = encodeInterval(emptyInterval(2, 'open', 1000));
  for (const m of [
    { type: 'hello', v: PROTOCOL_VERSION, index: null, host: 'node-a', pid: 42 },
    { type: 'hello', v: PROTOCOL_VERSION, index: 3, host: 'node-a', pid: 42 },
    { type: 'pong', seq: 1, at: 1.5 },
    { type: 'ready', warmupMs: 3.2 },
    { type: 'stage-started', stage: 0, at: 123.456 },
    { type: 'interval', interval: iv },
    { type: 'tick', stage: 0, tick: { elapsedMs: 1000, counts: { sent: 1, completed: 1, ok: 1, errors: 0, timeouts: 0, dropped: 0 }, inFlight: 0, achievedRate: 1, targetRate: null, buckets: [0, 1], sumSeconds: 0.001, count: 1 } },
    { type: 'failed', message: 'boom' },
  ]) assert.deepEqual(parseWorkerMessage(JSON.stringify(m)), JSON.parse(JSON.stringify(m)));
  for (const m of [
    { type: 'ping', seq: 0 },
    { type: 'start', t0: 1.7e12, offsetMs: -0.25 },
    { type: 'stage', stage: 1, atMs: 5000 },
    { type: 'abort-stage', stage: 1, reason: 'abortOnFail' },
    { type: 'done' },
    { type: 'reject', message: 'index taken' },
  ]) assert.deepEqual(parseCoordinatorMessage(JSON.stringify(m)), m);
});

test('malformed messages are refused, naming what is wrong', () => {
  bad(() => parseWorkerMessage('{"type":'), /not JSON/);
  bad(() => parseWorkerMessage('[1]'), /message must be an object/);
  bad(() => parseWorkerMessage('{"type":"nope"}'), /unknown message type "nope"/);
  bad(() => parseWorkerMessage(JSON.stringify({ type: 'hello', v: 1, index: 1.5, host: 'a', pid: 1 })), /hello\.index must be a whole number/);
  bad(() => parseWorkerMessage(JSON.stringify({ type: 'hello', v: 1, index: null, host: 'x'.repeat(300), pid: 1 })), /hello\.host/);
  const iv = encodeInterval(emptyInterval(0, 'closed')) as unknown as Record<string, unknown>;
  bad(() => parseWorkerMessage(JSON.stringify({ type: 'interval', interval: { ...iv, counts: { ...(iv.counts as object), sent: 'many' } } })), /interval\.counts\.sent/);
  bad(() => parseWorkerMessage(JSON.stringify({ type: 'interval', interval: { ...iv, latency: 5 } })), /interval\.latency/);
  bad(() => parseWorkerMessage(JSON.stringify({ type: 'interval', interval: { ...iv, byStatus: { 200: 'x' } } })), /interval\.byStatus\.200/);
  bad(() => parseWorkerMessage(JSON.stringify({ type: 'tick', stage: 0, tick: { elapsedMs: 1, counts: {}, inFlight: 0, achievedRate: 0, targetRate: null, buckets: [], sumSeconds: 0, count: 0 } })), /tick\.counts\.sent/);
  bad(() => parseWorkerMessage(JSON.stringify({ type: 'stage-end', stage: 0, intervals: 1, result: { counts: { sent: 0, completed: 0, ok: 0, errors: 0, timeouts: 0, dropped: 0 }, duration_ms: 1, bytes: { sent: 0 }, started_at: 'x' } })), /bytes\.received/);
  bad(() => parseCoordinatorMessage(JSON.stringify({ type: 'stage', stage: 'one', atMs: 0 })), /stage\.stage/);
  bad(() => parseCoordinatorMessage(JSON.stringify({ type: 'welcome', v: 1, index: 0, count: 1, runId: 'r', target: 't', profile: null })), /welcome\.profile/);
});
