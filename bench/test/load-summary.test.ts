// The one gate a summary passes before the report or the comparison reads it: JSON, an object with a run id and
// stages, and a schema_version this bench knows (absent = 1, an old summary); each failure a stable code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSummary, parseSummary, SummaryLoadError, SUMMARY_ERRORS } from '../src/report/load-summary';
import { SCHEMA_VERSION } from '../src/types';

const ok = { schema_version: SCHEMA_VERSION, run_id: 'r1', stages: [{ name: 'a' }] };

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    assert.ok(e instanceof SummaryLoadError, String(e));
    return e.code;
  }
  assert.fail('no error');
}

test('a current summary is read as it is, with no notes', () => {
  const l = parseSummary(JSON.stringify(ok), 's.json');
  assert.equal(l.doc.schema_version, SCHEMA_VERSION);
  assert.equal(l.doc.run_id, 'r1');
  assert.deepEqual(l.notes, []);
});

test('a summary without schema_version is read as version 1 and says so', () => {
  const { schema_version: _v, ...old } = ok;
  const l = parseSummary(JSON.stringify(old), 'old.json');
  assert.equal(l.doc.schema_version, 1);
  assert.match(l.notes[0]!, /no schema_version: read as version 1/);
});

test('versions it cannot read, and files that are not summaries, are errors with stable codes', () => {
  assert.equal(code(() => parseSummary(JSON.stringify({ ...ok, schema_version: SCHEMA_VERSION + 1 }), 'new.json')), SUMMARY_ERRORS.schema);
  assert.match(String((() => { try { parseSummary(JSON.stringify({ ...ok, schema_version: 99 }), 'n.json'); } catch (e) { return (e as Error).message; } })()), /schema_version 99 is newer than this bench reads/);
  for (const v of [0, 1.5, '2', null]) assert.equal(code(() => parseSummary(JSON.stringify({ ...ok, schema_version: v }), 'x')), SUMMARY_ERRORS.schema, String(v));
  assert.equal(code(() => parseSummary('{"run_id": ', 'x')), SUMMARY_ERRORS.notJson);
  assert.equal(code(() => parseSummary('[1]', 'x')), SUMMARY_ERRORS.notSummary);
  assert.equal(code(() => parseSummary(JSON.stringify({ ...ok, stages: {} }), 'x')), SUMMARY_ERRORS.notSummary);
  assert.equal(code(() => parseSummary(JSON.stringify({ ...ok, stages: [{ name: 3 }] }), 'x')), SUMMARY_ERRORS.notSummary);
  assert.equal(code(() => parseSummary(JSON.stringify({ ...ok, run_id: '' }), 'x')), SUMMARY_ERRORS.notSummary);
});

test('a file that cannot be read is SUMMARY_UNREADABLE; one that can is loaded', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-load-'));
  try {
    await assert.rejects(loadSummary(join(dir, 'nope.json')), (e: unknown) => e instanceof SummaryLoadError && e.code === SUMMARY_ERRORS.unreadable && /ENOENT/.test(e.message));
    writeFileSync(join(dir, 's.json'), JSON.stringify(ok));
    assert.equal((await loadSummary(join(dir, 's.json'))).doc.run_id, 'r1');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
