// Profile loading and validation: every problem reported at once with its path; overrides; shipped profiles.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateProfile } from '../src/profiles/validate';
import { applyOverrides } from '../src/profiles/overrides';
import { loadProfile, ProfileError, ProfileLoadError, shippedProfileNames } from '../src/profiles/index';
import { parseDuration } from '../src/profiles/duration';

test('durations: units, compounds, rejects bare numbers and junk', () => {
  assert.deepEqual(parseDuration('500ms'), { ms: 500 });
  assert.deepEqual(parseDuration('30s'), { ms: 30_000 });
  assert.deepEqual(parseDuration('2m'), { ms: 120_000 });
  assert.deepEqual(parseDuration('1h'), { ms: 3_600_000 });
  assert.deepEqual(parseDuration('1m30s'), { ms: 90_000 });
  assert.deepEqual(parseDuration('1.5s'), { ms: 1500 });
  for (const bad of ['30', '', 's', '10 parsecs', '5d', 30]) assert.ok('error' in parseDuration(bad), String(bad));
});

test('a valid profile becomes typed stages with models, defaults and parsed durations', () => {
  const r = validateProfile(
    {
      thresholds: ['p99 < 50ms'],
      stages: [
        { name: 'a', duration: '2s', connections: 10, rampTo: 20 },
        { duration: '500ms', rate: 100, thresholds: ['dropped == 0'] },
      ],
    },
    'fallback',
  );
  assert.ok('profile' in r, JSON.stringify(r));
  const p = r.profile;
  assert.equal(p.name, 'fallback');
  assert.equal(p.abortOnFail, false);
  assert.deepEqual(p.stages[0], { name: 'a', durationMs: 2000, model: 'closed', connections: 10, rampTo: 20, thresholds: [] });
  assert.deepEqual(p.stages[1], {
    name: 'stage-2', durationMs: 500, model: 'open', rate: 100, maxInFlight: 100, maxConnections: 100,
    thresholds: [{ expr: 'dropped == 0', metric: { kind: 'count', key: 'dropped' }, op: '==', value: 0 }],
  });
  // thresholds are parsed once, here: the run judges these objects
  assert.deepEqual(p.thresholds, [{ expr: 'p99 < 50ms', metric: { kind: 'latency', key: 'p99', service: false }, op: '<', value: 50 }]);
  assert.equal(p.request.timeoutMs, 10_000);
  assert.equal(p.request.traceSampleRate, 0.01);
  assert.ok(p.request.properties.length >= 1);
});

test('every problem is reported at once, each with its path', () => {
  const r = validateProfile(
    {
      nmae: 'typo',
      abortOnFail: 'yes',
      thresholds: ['p99 < 50ms', 'p98 < 1s', 'error_rate < 150%'],
      request: { sections: 0, contentType: 'xml', invalidShare: 2, timeout: 'forever', extra: 1, traceSampleRate: -0.5 },
      stages: [
        { name: 'ok', duration: '1s', connections: 5 },
        { duration: '1s' },
        { duration: 'soon', rate: -3 },
        { duration: '1s', connections: 2, rate: 5 },
        { name: 'ok', duration: '0s', connections: 1.5 },
        { duration: '1s', connections: 3, maxInFlight: 10, maxConnections: 4, thresholds: ['p99 <'] },
        'nope',
      ],
    },
    'x',
  );
  assert.ok('errors' in r);
  const expected = [
    'nmae: unknown field',
    'abortOnFail: must be true or false',
    'thresholds[1]: ',
    'thresholds[2]: ',
    'request.extra: unknown field',
    'request.sections: must be >= 1',
    'request.invalidShare: must be <= 1',
    'request.traceSampleRate: must be >= 0',
    'request.contentType: must be "json" or "protobuf"',
    'request.timeout: must be a duration',
    'stages[1]: needs connections (closed model) or rate',
    'stages[2].duration: must be a duration',
    'stages[2].rate: must be > 0',
    'stages[3]: has both connections',
    'stages[4].duration: must be > 0',
    'stages[4].connections: must be a whole number',
    'stages[5].maxInFlight: applies to open-model',
    'stages[5].maxConnections: applies to open-model',
    'stages[5].thresholds[0]: ',
    'stages[6]: must be an object',
  ];
  for (const e of expected) assert.ok(r.errors.some((m) => m.startsWith(e)), `missing "${e}" in:\n${r.errors.join('\n')}`);
  assert.equal(r.errors.length, expected.length, r.errors.join('\n'));
});

test('what the executors and the request builder take as it is is refused here, with its path', () => {
  const r = validateProfile(
    {
      request: { properties: [], sections: 0, invalidShare: 2, timeout: '0s', traceSampleRate: 2, seed: -1 },
      stages: [
        { duration: '1s', rate: -1 },
        { duration: '1s', rate: 0 },
        { duration: '1s', rate: 10, maxInFlight: 0 },
        { duration: '1s', connections: -1 },
        { duration: '1s', connections: 0, rampTo: 0 },
        { duration: '1s', rate: 2e6, rampTo: 2e6 },
        { duration: '25h', connections: 1, rampTo: 1.5 },
      ],
    },
    'x',
  );
  assert.ok('errors' in r);
  assert.deepEqual(r.errors, [
    'request.invalidShare: must be <= 1 (got 2)',
    'request.properties: must not be empty',
    'request.sections: must be >= 1 (got 0)',
    'request.seed: must be >= 0 (got -1)',
    'request.timeout: must be > 0 (got "0s")',
    'request.traceSampleRate: must be <= 1 (got 2)',
    'stages[0].rate: must be > 0 (got -1)',
    'stages[1].rate: must be > 0 (got 0)',
    'stages[2].maxInFlight: must be >= 1 (got 0)',
    'stages[3].connections: must be >= 1 (got -1)',
    'stages[4].connections: must be >= 1 (got 0)',
    'stages[4].rampTo: a closed stage ramps to a whole number of connections from 1 to 10000 (got 0)',
    'stages[5].rampTo: must be <= 1000000 (got 2000000)',
    'stages[5].rate: must be <= 1000000 (got 2000000)',
    'stages[6].duration: must be at most 1440m (got "25h")',
    'stages[6].rampTo: a closed stage ramps to a whole number of connections from 1 to 10000 (got 1.5)',
  ]);
  // an open stage may ramp down to 0 arrivals a second, as k6's ramping-arrival-rate may
  assert.ok('profile' in validateProfile({ stages: [{ duration: '1s', rate: 10, rampTo: 0 }] }, 'x'));
});

test('duplicate stage names and a breakpoint profile with closed stages are rejected', () => {
  const r = validateProfile(
    { breakpoint: true, stages: [{ name: 'a', duration: '1s', rate: 5 }, { name: 'a', duration: '1s', connections: 1 }] },
    'x',
  );
  assert.ok('errors' in r);
  assert.ok(r.errors.some((e) => e.startsWith('stages[1].name: "a" is already')), r.errors.join('\n'));
  assert.ok(r.errors.some((e) => e.startsWith('breakpoint: a breakpoint profile needs open-model')), r.errors.join('\n'));
  assert.ok(r.errors.some((e) => e.startsWith('breakpoint: a breakpoint profile needs thresholds')), r.errors.join('\n'));
});

test('overrides apply to every stage, as documented', () => {
  const doc = {
    request: { seed: 1 },
    stages: [
      { name: 'a', duration: '10s', connections: 4, rampTo: 8 },
      { name: 'b', duration: '10s', rate: 100, rampTo: 200, maxInFlight: 50 },
    ],
  };
  const c = applyOverrides(doc, { duration: '2s', connections: 3, seed: 9 });
  assert.deepEqual(c.errors, []);
  assert.deepEqual((c.doc as typeof doc).stages, [
    { name: 'a', duration: '2s', connections: 3 },
    { name: 'b', duration: '2s', connections: 3 },
  ]);
  assert.equal((c.doc as typeof doc).request.seed, 9);
  const r = applyOverrides(doc, { rate: 300 });
  assert.deepEqual((r.doc as typeof doc).stages, [
    { name: 'a', duration: '10s', rate: 300 },
    { name: 'b', duration: '10s', rate: 300, maxInFlight: 50 },
  ]);
  // the original is untouched
  assert.equal(doc.stages[0]!.connections, 4);
  const s = applyOverrides(doc, { set: ['stages[1].rampTo=800', 'request.sections=7', 'stages[5].rate=1', 'oops'] });
  const sd = s.doc as { stages: { rampTo?: number }[]; request: { sections?: number } };
  assert.equal(sd.stages[1]!.rampTo, 800);
  assert.equal(sd.request.sections, 7);
  assert.equal(s.errors.length, 2, s.errors.join('\n'));
  assert.match(s.errors[0]!, /stages has only 2 entries/);
  assert.match(s.errors[1]!, /expected PATH=VALUE/);
});

test('every shipped profile validates, and the required ones exist', () => {
  const names = shippedProfileNames();
  for (const required of ['smoke', 'load', 'stress', 'spike', 'soak', 'breakpoint']) assert.ok(names.includes(required), required);
  for (const name of names) {
    const { profile } = loadProfile(name);
    assert.equal(profile.name, name);
    assert.ok(profile.stages.length > 0);
  }
  const stress = loadProfile('stress').profile;
  assert.deepEqual(stress.stages.map((s) => [s.model, s.connections]), [['closed', 400], ['closed', 100]]);
  const bp = loadProfile('breakpoint').profile;
  assert.equal(bp.breakpoint, true);
  assert.ok(bp.stages.every((s, i) => s.model === 'open' && (i === 0 || s.rate! > bp.stages[i - 1]!.rate!)));
  assert.equal(loadProfile('soak', { duration: '3s' }).profile.stages[0]!.durationMs, 3000);
});

test('loading: paths, YAML and JSON, unknown names, parse errors, override errors together with file errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-profiles-'));
  try {
    writeFileSync(join(dir, 'mine.json'), JSON.stringify({ stages: [{ duration: '1s', rate: 5 }] }));
    assert.equal(loadProfile(join(dir, 'mine.json')).profile.name, 'mine');
    writeFileSync(join(dir, 'bad.yaml'), 'stages: [ {duration: 1s\n');
    assert.throws(() => loadProfile(join(dir, 'bad.yaml')), ProfileLoadError);
    assert.throws(() => loadProfile('no-such-profile'), /no profile named "no-such-profile".*shipped: .*smoke/);
    writeFileSync(join(dir, 'two.yaml'), 'stages:\n  - duration: 1s\n    rate: 0\n');
    assert.throws(
      () => loadProfile(join(dir, 'two.yaml'), { set: ['stages[3].rate=1'] }),
      (e: unknown) => e instanceof ProfileError && e.problems.length === 2 && e.problems.some((p) => p.startsWith('stages[0].rate')),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
