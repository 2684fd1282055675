import { test } from 'node:test';
import assert from 'node:assert/strict';
import { twirpCodeOf } from '../src/metrics/twirp-code';

test('2xx is ok whatever the body', () => {
  assert.equal(twirpCodeOf(200, '{"code":"internal"}'), 'ok');
  assert.equal(twirpCodeOf(204, undefined), 'ok');
});

test('a Twirp error body gives its code', () => {
  assert.equal(twirpCodeOf(503, '{"code":"unavailable","msg":"pool exhausted"}'), 'unavailable');
  assert.equal(twirpCodeOf(400, Buffer.from('{"msg":"x","code":"invalid_argument","meta":{"argument":"id"}}')), 'invalid_argument');
});

test('a non-Twirp answer maps its status like a Twirp client does', () => {
  assert.equal(twirpCodeOf(502, '<html>Bad Gateway</html>'), 'unavailable');
  assert.equal(twirpCodeOf(404, ''), 'bad_route');
  assert.equal(twirpCodeOf(400, '{"code":"not-a-twirp-code"}'), 'internal');
  assert.equal(twirpCodeOf(500, '{"code": broken json'), 'unknown');
  assert.equal(twirpCodeOf(301, undefined), 'internal');
});
