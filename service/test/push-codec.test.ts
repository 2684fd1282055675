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
    '"1x"', '"1e0"', '"2.50"', 'null', 'true', '{}', '[]', '{"a":1}', '[1,2]', '',
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
  assert.deepEqual(scanPushJson(Buffer.from(' { "id" : 2 , "property":"x" } ')), { property: 'x', section: 0, id: 2 });
  assert.equal(scanPushJson(Buffer.from(' { "id" : 2 , "property":"x","id":3 } ')), undefined);
});

test('json: invalid UTF-8 anywhere in the body is malformed, as in protobuf (RFC 8259 section 8.1)', () => {
  const bodies = [
    Buffer.concat([Buffer.from('{"property":"ne'), Buffer.from([0xff]), Buffer.from('ws","section":1,"id":1}')]),
    Buffer.concat([Buffer.from('{"property":"news","section":1,"id":1,"x":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
    Buffer.concat([Buffer.from('{"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('":1}')]), // an encoded surrogate
    Buffer.concat([Buffer.from('{"property":"news","x":"'), Buffer.from([0xf0, 0x9f, 0x98]), Buffer.from('"}')]), // cut short
    Buffer.concat([Buffer.from('{"property":"'), Buffer.from([0xc0, 0xae]), Buffer.from('"}')]), // overlong
  ];
  for (const b of bodies) {
    malformed(() => decodePushJson(b));
    malformed(() => decodePushJsonGeneral(b));
  }
  // Valid multi-byte text still decodes (and is then refused by validation, not here).
  assert.equal(decodePushJson(Buffer.from('{"property":"z\u00fcrich \u2603 \ud83d\ude00"}')).property, 'z\u00fcrich \u2603 \ud83d\ude00');
  // A byte order mark is not JSON (RFC 8259 allows refusing it); protobuf keeps it as part of the string.
  malformed(() => decodePushJson(Buffer.from('\ufeff{"property":"news"}')));
  assert.equal(decodePushProtobuf(new Uint8Array([0x0a, 0x07, 0xef, 0xbb, 0xbf, 0x6e, 0x65, 0x77, 0x73])).property, '\ufeffnews');
});

test('json: quoted integers in any JSON number form of integral value (protojson), others malformed', () => {
  for (const [text, n] of [['"1e0"', 1], ['"7.0"', 7], ['"1E2"', 100], ['"-3"', -3], ['"0"', 0], ['"4294967296"', 4294967296], ['1e1', 10], ['2.0', 2]] as const) {
    assert.equal(decodePushJson(Buffer.from(`{"section":${text}}`)).section, n, text);
  }
  for (const text of ['"1.5"', '"1e-1"', '" 1"', '"1 "', '"0x10"', '"+1"', '"01"', '"1e999"', '"."', '"Infinity"', '"NaN"', '""', '1e999']) {
    malformed(() => decodePushJson(Buffer.from(`{"id":${text}}`)));
  }
});

test('protobuf: groups are skipped (nested too), as protobuf-go and protobufjs do', () => {
  const w = protobuf.Writer.create();
  w.uint32((1 << 3) | 2).string('news');
  w.uint32((7 << 3) | 3); // start group 7
  w.uint32((1 << 3) | 0).uint32(99); // inside the group: a field 1 that must not count
  w.uint32((8 << 3) | 3); // nested group 8
  w.uint32((2 << 3) | 2).string('x');
  w.uint32((8 << 3) | 4); // end 8
  w.uint32((3 << 3) | 1).fixed64(5);
  w.uint32((7 << 3) | 4); // end 7
  w.uint32((2 << 3) | 0).uint32(3);
  w.uint32((3 << 3) | 0).uint32(4);
  const bytes = w.finish();
  assert.deepEqual(decodePushProtobuf(bytes), { property: 'news', section: 3, id: 4 });
  // protobufjs, decoding with the same .proto, agrees.
  const type = protobuf.loadSync(`${__dirname}/../rpc/stats.proto`).lookupType('stats.PushRequest');
  assert.deepEqual(type.toObject(type.decode(bytes)), { property: 'news', section: 3, id: 4 });
  malformed(() => decodePushProtobuf(new Uint8Array([(7 << 3) | 3, (8 << 3) | 4]))); // mismatched end
  malformed(() => decodePushProtobuf(new Uint8Array([(7 << 3) | 4]))); // end without a start
  malformed(() => decodePushProtobuf(new Uint8Array([(7 << 3) | 3, 0x10, 0x01]))); // never ended
  malformed(() => decodePushProtobuf(new Uint8Array(new Array(20_002).fill(0).map((_, i) => (i < 10_001 ? (7 << 3) | 3 : (7 << 3) | 4)))));
});

test('protobuf: a 10-byte varint overflowing 64 bits, and field numbers 0 or above 2^29-1, are malformed', () => {
  // 2^63 fits (tenth byte 1) and is kept for validation to refuse.
  assert.equal(decodePushProtobuf(new Uint8Array([0x10, ...new Array(9).fill(0x80), 0x01])).section, 2 ** 63);
  malformed(() => decodePushProtobuf(new Uint8Array([0x10, ...new Array(9).fill(0xff), 0x02])));
  malformed(() => decodePushProtobuf(new Uint8Array([0x10, ...new Array(9).fill(0xff), 0x7f])));
  malformed(() => decodePushProtobuf(new Uint8Array([0x00, 0x01]))); // field 0
  const big = protobuf.Writer.create().uint64(2 ** 29 * 8).uint32(1).finish(); // field 2^29, varint
  assert.equal(big.length, 6);
  malformed(() => decodePushProtobuf(big));
  const top = protobuf.Writer.create().uint32(((2 ** 29 - 1) * 8) >>> 0).uint32(1).finish(); // the largest field number
  assert.deepEqual(decodePushProtobuf(top), { property: '', section: 0, id: 0 });
});

test('json: a known field given twice is malformed, as protobuf-go refuses it; unknown and nested repeats are not', () => {
  for (const body of [
    '{"property":"news","property":"evil"}',
    '{"id":1,"section":1,"id":1}',
    '{"pro\\u0070erty":"news","property":"news"}',
    '{"property":"news","x":{"a":[1,{"b":"}"}]},"property":null}',
    '{"section":null,"section":2}',
  ]) {
    malformed(() => decodePushJson(Buffer.from(body)));
  }
  assert.deepEqual(decodePushJson(Buffer.from('{"x":1,"x":2,"property":"news","y":{"id":1,"id":2},"z":["id","id"],"id":3}')), {
    property: 'news',
    section: 0,
    id: 3,
  });
  assert.deepEqual(decodePushJson(Buffer.from('{"p\\"q":1,"p\\"q":2,"s":"\\\\","id":"5"}')), { property: '', section: 0, id: 5 });
});
