// The profile model's bounds live in bench/src/profiles/limits.ts; the shipped schema states them for editors and
// for the validator. Every numeric bound in the schema must be one of the constants, and each constant must bound
// what it names, so a change to one side alone fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as limits from '../src/profiles/limits';
import { PROFILES_DIR } from '../src/profiles/load';

type Schema = Record<string, unknown>;

/** Every numeric bound in the schema, by its JSON pointer. */
function bounds(node: unknown, at = '#', out = new Map<string, number>()): Map<string, number> {
  if (node === null || typeof node !== 'object') return out;
  for (const [k, v] of Object.entries(node as Schema)) {
    if (['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'minItems', 'maxItems', 'minLength', 'maxLength'].includes(k)) {
      assert.equal(typeof v, 'number', `${at}/${k}`);
      out.set(`${at}/${k}`, v as number);
    } else bounds(v, `${at}/${k}`, out);
  }
  return out;
}

test('every bound in profile.schema.json is the code\'s constant, and nothing else is bounded', () => {
  const schema = JSON.parse(readFileSync(join(PROFILES_DIR, 'profile.schema.json'), 'utf8')) as Schema;
  const req = '#/properties/request/properties';
  const stage = '#/properties/stages/items/properties';
  const expected = new Map<string, number>([
    ['#/properties/stages/minItems', 1],
    ['#/properties/stages/maxItems', limits.MAX_STAGES],
    [`${stage}/connections/minimum`, 1],
    [`${stage}/connections/maximum`, limits.MAX_CONNECTIONS],
    [`${stage}/rate/exclusiveMinimum`, 0],
    [`${stage}/rate/maximum`, limits.MAX_RATE],
    [`${stage}/rampTo/minimum`, 0],
    [`${stage}/rampTo/maximum`, limits.MAX_RATE],
    [`${stage}/maxInFlight/minimum`, 1],
    [`${stage}/maxInFlight/maximum`, limits.MAX_IN_FLIGHT],
    [`${stage}/maxConnections/minimum`, 1],
    [`${stage}/maxConnections/maximum`, limits.MAX_CONNECTIONS],
    [`${req}/properties/minimum`, 1],
    [`${req}/properties/maximum`, limits.MAX_PROPERTIES],
    [`${req}/properties/minItems`, 1],
    [`${req}/properties/maxItems`, limits.MAX_PROPERTIES],
    [`${req}/properties/items/minLength`, 1],
    [`${req}/sections/minimum`, 1],
    [`${req}/sections/maximum`, limits.MAX_UINT32],
    [`${req}/ids/minimum`, 1],
    [`${req}/ids/maximum`, limits.MAX_UINT32],
    [`${req}/seed/minimum`, 0],
    [`${req}/seed/maximum`, limits.MAX_UINT32],
    [`${req}/invalidShare/minimum`, 0],
    [`${req}/invalidShare/maximum`, 1],
    [`${req}/traceSampleRate/minimum`, 0],
    [`${req}/traceSampleRate/maximum`, 1],
  ]);
  assert.deepEqual(Object.fromEntries([...bounds(schema)].sort()), Object.fromEntries([...expected].sort()));
  const defaults = schema.properties as { request: { properties: { traceSampleRate: { default: number } } } };
  assert.equal(defaults.request.properties.traceSampleRate.default, limits.DEFAULT_TRACE_SAMPLE_RATE);
  // the duration bounds are checked in code (durations are strings); the schema's descriptions say them
  assert.equal(limits.MAX_STAGE_MS, 24 * 3_600_000);
  assert.match(JSON.stringify(schema), /At most 24h/);
  assert.equal(limits.MAX_TIMEOUT_MS, 10 * 60_000);
  assert.match(JSON.stringify(schema), /at most 10m/);
});

test('the default in-flight cap is one second of arrivals at the peak rate, at least 100; connections at most 1000 of it', () => {
  assert.equal(limits.defaultMaxInFlight(10), 100);
  assert.equal(limits.defaultMaxInFlight(450.5), 451);
  assert.equal(limits.defaultMaxInFlight(48_000), 48_000);
  assert.equal(limits.defaultMaxInFlight(limits.MAX_RATE), limits.MAX_IN_FLIGHT);
  assert.equal(limits.defaultMaxConnections(100), 100);
  assert.equal(limits.defaultMaxConnections(48_000), limits.DEFAULT_OPEN_CONNECTIONS);
  assert.ok(limits.DEFAULT_OPEN_CONNECTIONS <= limits.MAX_CONNECTIONS);
});
