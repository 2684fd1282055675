// Decoding PushRequest bodies: protobuf bytes produced by protobufjs from service/rpc/stats.proto, and JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { decodePushJson, decodePushJsonGeneral, decodePushProtobuf, scanPushJson } from '../src/pageviews/push-codec';
import { TwirpError } from '../src/twirp/errors';
import { encodePush } from './support/service';

const malformed = (fn: () => unknown) =>
  assert.throws(fn, (e: unknown) => e instanceof TwirpError && e.code === 'malformed');

test('protobuf: round trip of every field, and the empty message', () => {
  assert.deepEqual(decodePushProtobuf(encodePush({ property: 'news', section: 3, id: 4294967295 })), {
    property: 'news',
    section: 3,
    id: 4294967295,
  });
  assert.deepEqual(decodePushProtobuf(new Uint8Array()), { property: '', section: 0, id: 0 });
});

test('protobuf: unknown fields of every wire type are skipped; last value wins', () => {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string('first');
  w.uint32((9 << 3) | 0).uint64(123456789);
  w.uint32((10 << 3) | 1).fixed64(1);
  w.uint32((11 << 3) | 5).fixed32(1);
  w.uint32((12 << 3) | 2).bytes(new Uint8Array([1, 2, 3]));
  w.uint32((2 << 3) | 0).uint32(5);
  w.uint32((3 << 3) | 0).uint32(6);
  w.uint32((1 << 3) | 2).string('news');
  assert.deepEqual(decodePushProtobuf(w.finish()), { property: 'news', section: 5, id: 6 });
});

test('protobuf: values beyond uint32 are kept (not truncated) for validation to refuse', () => {
  const w = protobuf.Writer.create();
  w.uint32((2 << 3) | 0).uint64(2 ** 32);
  assert.equal(decodePushProtobuf(w.finish()).section, 2 ** 32);
});

test('protobuf: truncated, bad wire type, bad UTF-8 are malformed', () => {
  const ok = encodePush({ property: 'news', section: 1, id: 1 });
  malformed(() => decodePushProtobuf(ok.subarray(0, ok.length - 1)));
  malformed(() => decodePushProtobuf(new Uint8Array([(2 << 3) | 3]))); // group start
  malformed(() => decodePushProtobuf(new Uint8Array([0x0a, 0x02, 0xff, 0xfe]))); // property = invalid UTF-8
  malformed(() => decodePushProtobuf(new Uint8Array([0x10, 0x80]))); // varint cut short
  malformed(() => decodePushProtobuf(new Uint8Array([0x10, ...new Array(11).fill(0x80), 0x01]))); // 12-byte varint
});

test('json: proto names, ignored unknown fields, null as default, numeric strings', () => {
  assert.deepEqual(decodePushJson(Buffer.from('{"property":"news","section":"7","id":8,"extra":{"a":1}}')), {
    property: 'news',
    section: 7,
    id: 8,
  });
  assert.deepEqual(decodePushJson(Buffer.from('{"property":null}')), { property: '', section: 0, id: 0 });
});

test('json: wrong types and non-objects are malformed', () => {
  for (const body of ['', 'nope', '[]', 'null', '"x"', '{"property":1}', '{"section":1.5}', '{"id":true}', '{"id":"1x"}', '{"section":{}}']) {
    malformed(() => decodePushJson(Buffer.from(body)));
  }
});

/** The outcome of a decoder on one body: its fields, or the Twirp code it refused the body with. */
function outcome(fn: () => unknown): unknown {
  try {
    return fn();
  } catch (e) {
    return { refused: e instanceof TwirpError ? e.code : String(e) };
  }
}

test('json: the direct scan and JSON.parse agree on every body, accepted or refused', () => {
  // Fragments that make plain bodies, near misses and malformed ones: keys with and without quotes, unknown and
  // camel-case keys, escapes, non-ASCII, leading zeros, signs, fractions, exponents, big numbers, null, nesting,
  // whitespace everywhere, duplicates, trailing commas and garbage.
  const keys = ['"property"', '"section"', '"id"', '"Property"', '"ids"', '"extra"', 'property', '"pro\\u0070erty"', '""'];
  const values = [
    '"news"', '""', '"n\\"ews"', '"z\u00fcrich"', '"\u2603"', '"a\\\\b"', '"tab\\t"', '"ctl\u0001"', '1', '0', '01', '-1', '-0',
    '1.0', '1.5', '1e3', '4294967296', '123456789012345', '1234567890123456', '9007199254740993', '98765432109876543219876', '"7"', '"-3"',
    '"1x"', 'null', 'true', '{}', '[]', '{"a":1}', '[1,2]', '',
  ];
  const ws = ['', ' ', '\n', '\t', '\r\n  '];
  let seed = 0x2545f491;
  const rnd = (k: number): number => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) % k;
  };
  const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
  let scanned = 0;
  for (let n = 0; n < 20_000; n++) {
    const members = Array.from({ length: rnd(5) }, () => `${pick(ws)}${pick(keys)}${pick(ws)}:${pick(ws)}${pick(values)}${pick(ws)}`);
    let body = `${pick(ws)}{${members.join(',')}}${pick(ws)}`;
    if (rnd(20) === 0) body = body.slice(0, rnd(body.length + 1)); // truncated
    if (rnd(20) === 0) body += pick([',', '}', 'x', '{}']); // trailing garbage
    if (rnd(30) === 0) body = body.replace('{', '{,');
    const buf = Buffer.from(body, 'utf8');
    const general = outcome(() => decodePushJsonGeneral(buf));
    const fast = scanPushJson(buf);
    if (fast !== undefined) {
      scanned += 1;
      assert.deepEqual(fast, general, `scan and JSON.parse disagree on ${JSON.stringify(body)}`);
    }
    assert.deepEqual(outcome(() => decodePushJson(buf)), general, `decodePushJson differs on ${JSON.stringify(body)}`);
  }
  assert.ok(scanned > 1_000, `the scan took ${scanned} bodies: too few to compare`);
  assert.deepEqual(scanPushJson(Buffer.from('{"property":"news","section":1,"id":1}')), { property: 'news', section: 1, id: 1 });
  assert.deepEqual(scanPushJson(Buffer.from(' { "id" : 2 , "property":"x","id":3 } ')), { property: 'x', section: 0, id: 3 });
});
