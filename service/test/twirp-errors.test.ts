// The code -> HTTP status table must match the Twirp v7 spec's list exactly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TWIRP_STATUS, TwirpError, isTwirpCode } from '../src/twirp/errors';

// Transcribed from https://twitchtv.github.io/twirp/docs/spec_v7.html#error-codes ("Twirp error code" | "HTTP status").
const SPEC_V7_TABLE = `
canceled            408 RequestTimeout
unknown             500 Internal Server Error
invalid_argument    400 BadRequest
malformed           400 BadRequest
deadline_exceeded   408 RequestTimeout
not_found           404 Not Found
bad_route           404 Not Found
already_exists      409 Conflict
permission_denied   403 Forbidden
unauthenticated     401 Unauthorized
resource_exhausted  429 Too Many Requests
failed_precondition 412 Precondition Failed
aborted             409 Conflict
out_of_range        400 Bad Request
unimplemented       501 Not Implemented
internal            500 Internal Server Error
unavailable         503 Service Unavailable
dataloss            500 Internal Server Error
`;

const spec = new Map(
  SPEC_V7_TABLE.trim()
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .map(([code, status]) => [code!, Number(status)] as const),
);

test('the registry has exactly the spec codes with the spec statuses', () => {
  assert.equal(spec.size, 18);
  assert.deepEqual(new Map(Object.entries(TWIRP_STATUS)), spec);
});

test('isTwirpCode accepts spec codes only', () => {
  for (const code of spec.keys()) assert.ok(isTwirpCode(code), code);
  for (const bad of ['ok', 'data_loss', 'toString', '', 'INTERNAL']) assert.ok(!isTwirpCode(bad), bad);
});

test('a TwirpError serialises to {code, msg, meta?} and never carries its cause', () => {
  const cause = new Error('INSERT INTO incoming ... secret');
  const e = new TwirpError('internal', 'internal error', undefined, { cause });
  assert.equal(e.status, 500);
  assert.deepEqual(JSON.parse(JSON.stringify(e)), { code: 'internal', msg: 'internal error' });
  const v = new TwirpError('invalid_argument', 'section must be at least 1', { argument: 'section' });
  assert.deepEqual(JSON.parse(JSON.stringify(v)), {
    code: 'invalid_argument',
    msg: 'section must be at least 1',
    meta: { argument: 'section' },
  });
});
