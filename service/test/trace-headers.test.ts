// Incoming trace and bench headers: strict parsing, bounded values.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { benchLabel, isValidTracestate, parseTraceparent, twirpMethodName } from '../src/telemetry/tracing/trace-headers';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';

describe('parseTraceparent (W3C trace context)', () => {
  it('reads trace id, parent id and the sampled flag', () => {
    assert.deepEqual(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-01`), { traceId: TRACE_ID, parentId: PARENT_ID, sampled: true });
    assert.deepEqual(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-00`), { traceId: TRACE_ID, parentId: PARENT_ID, sampled: false });
    // Only bit 0 is the sampled flag; other flag bits are ignored.
    assert.equal(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-03`)?.sampled, true);
    assert.equal(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-02`)?.sampled, false);
  });

  it('accepts a later version with extra fields, as the spec asks', () => {
    assert.equal(parseTraceparent(`01-${TRACE_ID}-${PARENT_ID}-01-extra`)?.traceId, TRACE_ID);
  });

  it('rejects everything else', () => {
    for (const bad of [
      undefined,
      ['a', 'b'],
      '',
      `00-${TRACE_ID}-${PARENT_ID}`,
      `00-${TRACE_ID}-${PARENT_ID}-01-extra`, // version 00 has exactly four fields
      `ff-${TRACE_ID}-${PARENT_ID}-01`, // version ff is forbidden
      `00-${'0'.repeat(32)}-${PARENT_ID}-01`, // all-zero trace id
      `00-${TRACE_ID}-${'0'.repeat(16)}-01`, // all-zero parent id
      `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`, // upper-case hex
      `00-${TRACE_ID}-${PARENT_ID}-0g`,
      `00-${TRACE_ID}-${PARENT_ID}-01-${'x'.repeat(300)}`, // bounded length
    ]) {
      assert.equal(parseTraceparent(bad), undefined, JSON.stringify(bad));
    }
  });
});

describe('bench labels', () => {
  it('keeps 1-64 characters of [A-Za-z0-9._:-] starting with a letter or digit', () => {
    assert.equal(benchLabel('run-2024.11.23:a_b'), 'run-2024.11.23:a_b');
    assert.equal(benchLabel('x'.repeat(64)), 'x'.repeat(64));
  });
  it('drops anything else', () => {
    for (const bad of [undefined, '', 'x'.repeat(65), 'a b', '<script>', '-leading', 'ü', ['a'], 'a\nb']) {
      assert.equal(benchLabel(bad), undefined, JSON.stringify(bad));
    }
  });
});

describe('names', () => {
  it('names a transaction after the Twirp method, one bounded name for anything else', () => {
    assert.equal(twirpMethodName('/twirp/stats.StatsService/Push'), 'stats.StatsService/Push');
    assert.equal(twirpMethodName('/twirp/stats.StatsService/Push?x=1'), 'stats.StatsService/Push');
    assert.equal(twirpMethodName('/twirp/../../etc/passwd'), 'twirp unknown route');
    assert.equal(twirpMethodName(`/twirp/${'a'.repeat(500)}/Push`), 'twirp unknown route');
  });

});

describe('tracestate', () => {
  it('passes printable ASCII up to 512 characters, nothing else', () => {
    assert.equal(isValidTracestate('congo=t61rcWkgMzE,rojo=00f067aa0ba902b7'), true);
    for (const bad of [undefined, '', 'x'.repeat(513), 'a\u0000b', 'ü=1', ['a=1']]) {
      assert.equal(isValidTracestate(bad), false, JSON.stringify(bad));
    }
  });
});
