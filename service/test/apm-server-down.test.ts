// An APM server that hangs or is gone must not hurt Push: every write is still answered and committed, and the
// service's memory stays bounded (the agent drops events past maxQueueSize instead of holding them).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MariaDb, freePort } from './support/mariadb';
import { ApmIntake } from './support/apm-intake';
import { startService, type ServiceProcess } from './support/apm-service';

const ROUNDS = 4;
const PER_ROUND = 1_200;
const CONCURRENCY = 32;

/** Sends `count` Pushes with `concurrency` in flight; returns how many were answered 200. */
async function load(url: string, section: number, count: number, concurrency: number): Promise<number> {
  let next = 0;
  let ok = 0;
  const body = JSON.stringify({ property: 'news', section, id: 1 });
  const worker = async () => {
    while (next < count) {
      next += 1;
      const res = await fetch(`${url}/twirp/stats.StatsService/Push`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-bench-run': 'apm-down' },
        body,
      });
      await res.arrayBuffer();
      if (res.status === 200) ok += 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return ok;
}

const MB = 1024 * 1024;

describe('APM server hanging or down', () => {
  let db: MariaDb;
  let intake: ApmIntake;
  const services: ServiceProcess[] = [];

  before(async () => {
    db = await MariaDb.start();
    intake = await ApmIntake.start();
    intake.mode = 'stall';
  });

  after(async () => {
    for (const s of services) await s.stop();
    await intake?.stop();
    await db?.destroy();
  });

  const scenarios: Array<{ name: string; section: number; serverUrl: () => Promise<string> }> = [
    { name: 'hanging (accepts, never reads or answers)', section: 101, serverUrl: async () => intake.url },
    // Nothing listens on a port just found free: connections are refused.
    { name: 'down (connection refused)', section: 102, serverUrl: async () => `http://127.0.0.1:${await freePort()}` },
  ];

  for (const scenario of scenarios) {
    it(`${scenario.name}: Push keeps working, every row committed, memory bounded`, async (t) => {
      const svc = await startService({
        MYSQL_URL: db.url,
        ELASTIC_APM_SERVER_URL: await scenario.serverUrl(),
        // Every request sampled: the most events the agent could try to hold.
        ELASTIC_APM_TRANSACTION_SAMPLE_RATE: '1.0',
        TRACE_SPAN_MIN_DURATION_MS: '0',
        ELASTIC_APM_SERVER_TIMEOUT: '2s',
        ELASTIC_APM_API_REQUEST_TIME: '1s',
        ELASTIC_APM_METRICS_INTERVAL: '0s',
        LOG_LEVEL: 'warn',
      });
      services.push(svc);
      const rss: number[] = [];
      let answered = 0;
      for (let round = 0; round < ROUNDS; round++) {
        answered += await load(svc.url, scenario.section, PER_ROUND, CONCURRENCY);
        rss.push(await svc.rss());
      }
      assert.equal(answered, ROUNDS * PER_ROUND, 'every Push answered 200');
      const [[rows]] = (await db.sql(`SELECT COUNT(*) FROM test.incoming WHERE property_section = ${scenario.section}`)) as [[string]];
      assert.equal(Number(rows), ROUNDS * PER_ROUND, 'every accepted Push committed');
      // A coarse ceiling: V8's heap sizing moves RSS by tens of MB, so this catches a leak of kilobytes per request
      // (e.g. traces kept after their request), not the agent's own queue, which maxQueueSize bounds to 1024 events.
      const growth = rss[rss.length - 1]! - rss[0]!;
      t.diagnostic(`RSS after each round: ${rss.map((r) => (r / MB).toFixed(1)).join(', ')} MB`);
      assert.ok(growth < 64 * MB, `RSS grew ${(growth / MB).toFixed(1)} MB over ${ROUNDS - 1} rounds: ${rss.map((r) => (r / MB).toFixed(0)).join(', ')} MB`);
      if (scenario.section === 101) assert.ok(intake.intakeRequests >= 1, 'the agent did reach the hanging server');
    });
  }
});
