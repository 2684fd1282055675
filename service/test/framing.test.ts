// framingError on raw header lists as Node hands them over (service/test/app.test.ts sends the same over sockets).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { framingError } from '../src/twirp/framing';

const code = (raw: string[], v = '1.1') => framingError(raw, v)?.code;

test('one valid Host in HTTP/1.1, none needed in 1.0; one Content-Type; chunked is the only transfer coding', () => {
  assert.equal(code(['Host', 'a:80', 'Content-Type', 'application/json']), undefined);
  assert.equal(code(['host', '[::1]:8080', 'transfer-encoding', 'Chunked ']), undefined);
  assert.equal(code([], '1.0'), undefined);
  assert.equal(code([]), 'malformed');
  assert.equal(code(['Host', 'a', 'HOST', 'a']), 'malformed');
  assert.equal(code(['Host', 'a b']), 'malformed');
  assert.equal(code(['Host', 'a/b']), 'malformed');
  assert.equal(code(['Host', 'a', 'Content-Type', 'application/json', 'content-type', 'application/json']), 'malformed');
  assert.equal(code(['Host', 'a', 'Transfer-Encoding', 'gzip, chunked']), 'unimplemented');
  assert.equal(code(['Host', 'a', 'Transfer-Encoding', 'gzip', 'Transfer-Encoding', 'chunked']), 'unimplemented');
  // Names of the same length but another header are not mistaken for these.
  assert.equal(code(['Host', 'a', 'Content-Typo', 'x', 'Content-Typo', 'y', 'Hast', 'b']), undefined);
});
