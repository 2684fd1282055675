// The request transaction's result and outcome (the agent-backed path is in apm.test.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { transactionResult } from '../src/telemetry/tracing/request-trace';

describe('transaction result', () => {
  it('result from the Twirp code; 4xx is success, 5xx failure, a vanished client unknown', () => {
    assert.deepEqual(transactionResult(200, undefined, true), { result: 'ok', outcome: 'success' });
    assert.deepEqual(transactionResult(400, 'invalid_argument', true), { result: 'invalid_argument', outcome: 'success' });
    assert.deepEqual(transactionResult(429, 'resource_exhausted', true), { result: 'resource_exhausted', outcome: 'success' });
    assert.deepEqual(transactionResult(503, 'unavailable', true), { result: 'unavailable', outcome: 'failure' });
    assert.deepEqual(transactionResult(408, 'deadline_exceeded', true), { result: 'deadline_exceeded', outcome: 'failure' });
    assert.deepEqual(transactionResult(500, undefined, true), { result: 'http_500', outcome: 'failure' });
    assert.deepEqual(transactionResult(200, undefined, false), { result: 'client_disconnected', outcome: 'unknown' });
  });

});
