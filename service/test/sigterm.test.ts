// SIGTERM with load in flight: the process stops accepting, answers what it took, flushes the buffer, closes the
// pool and exits 0; every acknowledged Push is in the table.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { MariaDb, freePort } from './support/mariadb';
import { PUSH_PATH } from './support/service';

let db: MariaDb;
let child: ChildProcess | undefined;

before(async () => {
  db = await MariaDb.start();
});
after(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await db?.destroy();
});

test('SIGTERM under load: exit 0 and every acknowledged Push is stored', async () => {
  const port = await freePort();
  let stderr = '';
  child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'src', 'main.ts')], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      MYSQL_URL: db.url,
      LOG_LEVEL: 'warn',
      // A long interval keeps Pushes in the buffer when the signal arrives, so the drain has work to do.
      BATCH_FLUSH_INTERVAL_MS: '200',
      BATCH_MAX_ROWS: '1000',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }

  const agent = new Agent({ connections: 32 });
  const acked: number[] = [];
  const refused: Record<string, number> = {};
  let next = 1;
  let stop = false;
  const workers = Array.from({ length: 32 }, async () => {
    while (!stop && next <= 20_000) {
      const id = next++;
      try {
        const res = await request(base + PUSH_PATH, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ property: 'news', section: 7, id }),
        });
        const text = await res.body.text();
        if (res.statusCode === 200) acked.push(id);
        else {
          const code = (JSON.parse(text) as { code: string }).code;
          refused[code] = (refused[code] ?? 0) + 1;
        }
      } catch {
        // connection refused/reset once the server stopped listening: not acknowledged
        refused.network = (refused.network ?? 0) + 1;
        if (child!.exitCode !== null) return;
        await new Promise((r) => setTimeout(r, 5));
      }
    }
  });
  // Let load build up, then signal while Pushes are buffered and in flight.
  while (acked.length < 300) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGTERM');
  const code = await exited;
  stop = true;
  await Promise.all(workers);
  await agent.close();

  assert.equal(code, 0, stderr);
  for (const k of Object.keys(refused)) assert.ok(['unavailable', 'network'].includes(k), `unexpected refusal ${k}`);
  const rows = await db.sql('SELECT property_id FROM test.incoming WHERE property_section = 7');
  const stored = new Set(rows.map(([id]) => Number(id)));
  const missing = acked.filter((id) => !stored.has(id));
  assert.deepEqual(missing, [], `${missing.length} acknowledged Pushes missing`);
  assert.equal(rows.length, stored.size, 'a row stored twice');
  assert.ok(acked.length >= 300);
});
