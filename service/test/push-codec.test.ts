// Decoding PushRequest bodies: protobuf bytes produced by protobufjs from service/rpc/stats.proto, and JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import protobuf from 'protobufjs';
import { decodePushJson, decodePushProtobuf } from '../src/pageviews/push-codec';
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
