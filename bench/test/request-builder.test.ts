import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import protobuf from 'protobufjs';
import { RequestBuilder, sampledAt, traceIdAt } from '../src/request-builder';
import { DEFAULT_TRACE_SAMPLE_RATE } from '../src/profiles/limits';
import type { RequestSpec } from '../src/types';

const spec = (over: Partial<RequestSpec> = {}): RequestSpec => ({
  properties: ['news', 'sport', 'weather'],
  sections: 1000,
  ids: 1_000_000,
  invalidShare: 0,
  seed: 42,
  contentType: 'json',
  timeoutMs: 5000,
  traceSampleRate: DEFAULT_TRACE_SAMPLE_RATE,
  ...over,
});

const bodies = (b: RequestBuilder, n: number) => Array.from({ length: n }, () => b.next().body.toString());

test('the same seed and stage give the same bodies; another seed or stage gives others', () => {
  const a = bodies(new RequestBuilder(spec(), { runId: 'r1', stage: 'hold' }), 200);
  const b = bodies(new RequestBuilder(spec(), { runId: 'r2', stage: 'hold' }), 200);
  const c = bodies(new RequestBuilder(spec({ seed: 43 }), { runId: 'r1', stage: 'hold' }), 200);
  const d = bodies(new RequestBuilder(spec(), { runId: 'r1', stage: 'ramp' }), 200);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.notDeepEqual(a, d);
});

test('keys are drawn across the whole configured space', () => {
  const b = new RequestBuilder(spec({ sections: 4, ids: 5 }), { runId: 'r', stage: 's' });
  const props = new Set<string>(); const sections = new Set<number>(); const ids = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const p = JSON.parse(b.next().body.toString()) as { property: string; section: number; id: number };
    props.add(p.property); sections.add(p.section); ids.add(p.id);
  }
  assert.deepEqual([...props].sort(), ['news', 'sport', 'weather']);
  assert.deepEqual([...sections].sort(), [1, 2, 3, 4]);
  assert.deepEqual([...ids].sort(), [1, 2, 3, 4, 5]);
  // a wide space rarely repeats: 2000 draws from 3 x 1000 x 1e6 keys
  const wide = new RequestBuilder(spec(), { runId: 'r', stage: 's' });
  assert.ok(new Set(bodies(wide, 2000)).size > 1990);
});

test('the invalid share is honoured and invalid bodies have an empty property', () => {
  const b = new RequestBuilder(spec({ invalidShare: 0.2 }), { runId: 'r', stage: 's' });
  let invalid = 0;
  for (let i = 0; i < 5000; i++) {
    const r = b.next();
    const p = JSON.parse(r.body.toString()) as { property: string };
    assert.equal(r.invalid, p.property === '');
    if (r.invalid) invalid++;
  }
  assert.ok(invalid > 850 && invalid < 1150, `invalid ${invalid} of 5000`);
  const none = new RequestBuilder(spec(), { runId: 'r', stage: 's' });
  for (let i = 0; i < 1000; i++) assert.equal(none.next().invalid, false);
});

test('every request carries a fresh W3C traceparent and the run and stage headers', () => {
  const b = new RequestBuilder(spec(), { runId: 'run-7', stage: 'ramp\r\nx-evil: 1' });
  const seen = new Set<string>();
  const keys = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const r = b.next();
    // The service's Idempotency-Key rule (service/src/pageviews/validate.ts), one key per request.
    assert.match(r.headers['idempotency-key']!, /^[0-9a-f]{16}-[0-9a-z]+$/);
    keys.add(r.headers['idempotency-key']!);
    assert.match(r.headers.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/);
    assert.equal(r.headers.traceparent.slice(3, 35), r.traceId);
    assert.notEqual(r.traceId, '0'.repeat(32));
    seen.add(r.traceId);
    assert.equal(r.headers['x-bench-run'], 'run-7');
    assert.equal(r.headers['x-bench-stage'], 'ramp__x-evil: 1'); // CR/LF cannot split the header
    assert.equal(r.headers['content-type'], 'application/json');
  }
  assert.equal(seen.size, 1000);
  assert.equal(keys.size, 1000);
  // Another builder (another worker, stage or run) never repeats them.
  const other = new RequestBuilder(spec(), { runId: 'run-7', stage: 'ramp\r\nx-evil: 1' });
  for (let i = 0; i < 1000; i++) assert.ok(!keys.has(other.next().headers['idempotency-key']!));
});

test('the sampled flag is set on traceSampleRate of the requests, without changing the bodies a seed draws', () => {
  const sampledShare = (rate: number | undefined, n = 20_000) => {
    const b = new RequestBuilder(spec(rate === undefined ? {} : { traceSampleRate: rate }), { runId: 'r', stage: 's' });
    let sampled = 0;
    for (let i = 0; i < n; i++) if (b.next().headers.traceparent.endsWith('-01')) sampled += 1;
    return sampled / n;
  };
  assert.equal(sampledShare(0), 0);
  assert.equal(sampledShare(1), 1);
  const tenth = sampledShare(0.1);
  assert.ok(tenth > 0.09 && tenth < 0.11, `0.1 gave ${tenth}`);
  const byDefault = sampledShare(undefined);
  assert.ok(byDefault > 0.005 && byDefault < 0.015, `the default (0.01) gave ${byDefault}`);
  const all = bodies(new RequestBuilder(spec({ traceSampleRate: 1 }), { runId: 'r', stage: 's' }), 200);
  const none = bodies(new RequestBuilder(spec({ traceSampleRate: 0 }), { runId: 'r', stage: 's' }), 200);
  assert.deepEqual(all, none);
});

test('protobuf bodies decode with the service contract to the same keys the JSON builder draws', () => {
  const type = protobuf.loadSync(path.join(__dirname, '../../service/rpc/stats.proto')).lookupType('stats.PushRequest');
  const pb = new RequestBuilder(spec({ contentType: 'protobuf', invalidShare: 0.1 }), { runId: 'r', stage: 's' });
  const js = new RequestBuilder(spec({ contentType: 'json', invalidShare: 0.1 }), { runId: 'r', stage: 's' });
  for (let i = 0; i < 300; i++) {
    const a = pb.next();
    const b = js.next();
    assert.equal(a.headers['content-type'], 'application/protobuf');
    const decoded = type.toObject(type.decode(a.body), { defaults: true });
    assert.deepEqual(decoded, JSON.parse(b.body.toString()));
    assert.equal(a.invalid, b.invalid);
  }
});

test('nextRaw is a well-formed HTTP/1.1 request whose Content-Length matches its body', () => {
  const b = new RequestBuilder(spec({ properties: ['café'] }), { runId: 'r', stage: 's' });
  const raw = b.nextRaw('127.0.0.1:8080');
  const sep = raw.indexOf('\r\n\r\n');
  const head = raw.subarray(0, sep).toString();
  const body = raw.subarray(sep + 4);
  assert.match(head, /^POST \/twirp\/stats\.StatsService\/Push HTTP\/1\.1\r\n/);
  assert.match(head, /\r\nHost: 127\.0\.0\.1:8080\r\n/);
  assert.match(head, /\r\ntraceparent: 00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]\r\n/);
  assert.match(head, /\r\nIdempotency-Key: [0-9a-f]{16}-0\r\n/);
  assert.match(b.nextRaw('127.0.0.1:8080').toString(), /\r\nIdempotency-Key: [0-9a-f]{16}-1\r\n/);
  // The counter in base 36, written as bytes: the same text Number#toString(36) gives, across digit-count changes.
  const prefix = /\r\nIdempotency-Key: ([0-9a-f]{16})-/.exec(head)![1];
  for (let i = 2; i < 1400; i++) {
    const k = /\r\nIdempotency-Key: ([^\r]*)\r\n/.exec(b.nextRaw('127.0.0.1:8080').toString())![1];
    assert.equal(k, `${prefix}-${i.toString(36)}`);
  }
  const len = Number(/\r\nContent-Length: (\d+)/.exec(head)?.[1]);
  assert.equal(len, body.length);
  assert.equal((JSON.parse(body.toString()) as { property: string }).property, 'café');
});

test('nextRaw draws the same seeded bodies as next', () => {
  const a = new RequestBuilder(spec({ invalidShare: 0.3 }), { runId: 'r', stage: 's' });
  const b = new RequestBuilder(spec({ invalidShare: 0.3 }), { runId: 'r', stage: 's' });
  for (let i = 0; i < 200; i++) {
    const raw = a.nextRaw('h:1');
    assert.equal(raw.subarray(raw.indexOf('\r\n\r\n') + 4).toString(), b.next().body.toString());
  }
});

test('nextRaw: protobuf bodies as next draws them; the trace id and sampled flag read back from the bytes', () => {
  const a = new RequestBuilder(spec({ contentType: 'protobuf', traceSampleRate: 0.5 }), { runId: 'r', stage: 's' });
  const b = new RequestBuilder(spec({ contentType: 'protobuf', traceSampleRate: 0.5 }), { runId: 'r', stage: 's' });
  let sampled = 0;
  for (let i = 0; i < 200; i++) {
    const raw = a.nextRaw('h:1');
    const sep = raw.indexOf('\r\n\r\n');
    assert.deepEqual(raw.subarray(sep + 4), b.next().body);
    const tp = /\r\ntraceparent: (00-([0-9a-f]{32})-[0-9a-f]{16}-0([01]))\r\n/.exec(raw.subarray(0, sep).toString())!;
    assert.equal(raw.toString('latin1', a.lastTraceOffset, a.lastTraceOffset + 55), tp[1]);
    assert.equal(traceIdAt(raw, a.lastTraceOffset), tp[2]);
    assert.equal(sampledAt(raw, a.lastTraceOffset), tp[3] === '1');
    if (tp[3] === '1') sampled++;
  }
  assert.ok(sampled > 50 && sampled < 150, `sampled ${sampled}`);
});

test('segments draw their own keys; worker 0 draws the one-process sequence', () => {
  const one = bodies(new RequestBuilder(spec(), { runId: 'r', stage: 's' }), 50);
  const w0 = bodies(new RequestBuilder(spec(), { runId: 'r', stage: 's', segment: { index: 0, count: 2 } }), 50);
  const w1 = bodies(new RequestBuilder(spec(), { runId: 'r', stage: 's', segment: { index: 1, count: 2 } }), 50);
  assert.deepEqual(w0, one);
  assert.notDeepEqual(w1, one);
});
