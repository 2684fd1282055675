// Reconciliation against the real thing: the CLI starts the real service on a throwaway MariaDB (MYSQL_URL), and
// per stage the client's counts, the service's /metrics and the rows in `incoming` must agree.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MariaDb } from '../../service/test/support/mariadb';
import type { StageResult } from '../src/types';
import { runCli, type CliRun } from './support/run-cli';

const dir = mkdtempSync(join(tmpdir(), 'bench-recon-'));
let db: MariaDb;

before(async () => {
  db = await MariaDb.start();
});
after(async () => {
  await db?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function cli(args: string[], env: NodeJS.ProcessEnv): Promise<CliRun> {
  return runCli(args, { ...process.env, ...env });
}

test('client counts == server counts == rows written, stage by stage, with invalid requests in the mix', async () => {
  const profile = join(dir, 'recon.yaml');
  writeFileSync(profile, [
    'thresholds: ["disagreements == 0"]',
    'request: { properties: 20, sections: 50, ids: 100000, invalidShare: 0.1, seed: 42, timeout: 10s }',
    'stages:',
    '  - { name: closed-8, duration: 2s, connections: 8 }',
    '  - { name: open-100, duration: 2s, rate: 100 }',
    '',
  ].join('\n'));
  const out = join(dir, 'run');
  const r = await cli(['--profile', profile, '--out', out, '--quiet', '--json'], { MYSQL_URL: db.url });
  assert.equal(r.code, 0, `${r.stderr}\n${r.stdout.slice(0, 2000)}`);
  const summary = JSON.parse(r.stdout) as { stages: StageResult[]; passed: boolean; service: { store: string; exit_code: number } };
  assert.equal(summary.passed, true);
  // the bench stopped the service it started, and the service drained and exited cleanly
  assert.equal(summary.service.store, 'mysql');
  assert.equal(summary.service.exit_code, 0);

  let rowsTotal = 0;
  let acceptedTotal = 0;
  for (const st of summary.stages) {
    const s = st.server;
    assert.ok(s, `stage ${st.name} has server counts`);
    assert.deepEqual(s.disagreements, [], `${st.name}: ${s.disagreements.join('; ')}`);
    const unknown = st.counts.sent - st.counts.completed;
    const accepted = s.by_twirp_code.ok ?? 0;
    // every acknowledged push is a row; the table and the server's commit counter agree exactly; a row beyond
    // the server's accepted count can only be a push whose caller hung up (closed model, cut at the stage's end)
    assert.equal(s.rows_written, s.extra?.rows_committed, st.name);
    // every request carried its own Idempotency-Key: no row repeats one
    assert.equal(s.rows_duplicated, 0, st.name);
    assert.ok(s.rows_written! >= accepted && s.rows_written! <= accepted + unknown, `${st.name}: rows ${s.rows_written}, accepted ${accepted}`);
    assert.ok(accepted >= st.counts.ok && accepted <= st.counts.ok + unknown, `${st.name}: accepted ${accepted}, ok ${st.counts.ok}, unknown ${unknown}`);
    assert.ok(s.requests >= st.counts.completed && s.requests <= st.counts.completed + unknown, st.name);
    // the invalid share reached the server and came back as invalid_argument on both sides
    assert.ok((st.by_twirp_code.invalid_argument ?? 0) > 0, `${st.name}: client saw invalid_argument`);
    assert.ok(
      (s.by_twirp_code.invalid_argument ?? 0) >= st.by_twirp_code.invalid_argument!
        && (s.by_twirp_code.invalid_argument ?? 0) <= st.by_twirp_code.invalid_argument! + unknown,
      st.name,
    );
    rowsTotal += s.rows_written!;
    acceptedTotal += accepted;
  }
  // The open stage waits for every answer: there the three counts are exactly equal.
  const open = summary.stages[1]!;
  assert.equal(open.counts.sent, open.counts.completed);
  assert.equal(open.server!.requests, open.counts.completed);
  assert.equal(open.server!.rows_written, open.counts.ok);
  assert.equal(open.server!.by_twirp_code.ok, open.counts.ok);
  // and the table holds exactly what the stages say was written, plus what the warm-up before them wrote (it is
  // in no stage: its acks are in `warmup`; requests cut at its end may be written too)
  const [[count, keyed, distinct]] = await db.sql('SELECT COUNT(*), COUNT(idempotency_key), COUNT(DISTINCT idempotency_key) FROM test.incoming') as [[string, string, string]];
  const w = (summary as unknown as { warmup: { ok: number; sent: number } }).warmup;
  assert.ok(w.ok > 0, 'a warm-up by default');
  assert.ok(Number(count) - rowsTotal >= w.ok && Number(count) - rowsTotal <= w.sent, `table ${count}, stages ${rowsTotal}, warm-up ${JSON.stringify(w)}`);
  assert.equal(Number(keyed), Number(count), 'every row carries the key its request was sent with');
  assert.equal(Number(distinct), Number(count));
  assert.ok(rowsTotal >= acceptedTotal);
  assert.match(readFileSync(join(out, 'service.log'), 'utf8'), /listening/i);
});
