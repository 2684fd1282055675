// Writes a disconnect cannot cancel: many clients hang up right after sending their Push, while it waits in the
// buffer or while its INSERT runs. Every Push whose body was fully sent is committed exactly once; a Push whose
// body was cut off is not stored.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import mysql from 'mysql2/promise';
import type { FastifyInstance } from 'fastify';
import { MariaDb } from './support/mariadb';
import { PUSH_PATH, startApp } from './support/service';

let db: MariaDb;

before(async () => {
  db = await MariaDb.start();
});
after(async () => {
  await db?.destroy();
});

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' }, () => resolve(s));
    s.once('error', reject);
  });
}

function pushBytes(section: number, id: number): { head: string; body: string } {
  const body = JSON.stringify({ property: 'news', section, id });
  const head = `POST ${PUSH_PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  return { head, body };
}

function portOf(app: FastifyInstance): number {
  const a = app.server.address();
  if (a === null || typeof a === 'string') throw new Error('no port');
  return a.port;
}

async function waitFor(cond: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 1000; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.fail(`gave up waiting for ${what}`);
}

async function idsStored(section: number): Promise<Map<number, number>> {
  const rows = await db.sql(`SELECT property_id, COUNT(*) FROM test.incoming WHERE property_section = ${section} GROUP BY property_id`);
  return new Map(rows.map(([id, n]) => [Number(id), Number(n)]));
}

test('clients that hang up while their Push waits in the buffer: all complete bodies are committed once', async () => {
  // A long flush interval keeps every Push in the buffer when its client disconnects.
  const { app } = await startApp({ MYSQL_URL: db.url, BATCH_MAX_ROWS: '1000', BATCH_FLUSH_INTERVAL_MS: '1000' });
  const port = portOf(app);
  const full = 150;
  const cut = 50;
  const disconnects = { count: 0 };
  app.server.on('connection', (s: Socket) => s.once('close', () => (disconnects.count += 1)));
  try {
    const sockets: Socket[] = [];
    for (let i = 1; i <= full; i++) {
      const s = await open(port);
      const { head, body } = pushBytes(101, i);
      s.write(head + body);
      sockets.push(s);
    }
    for (let i = 1; i <= cut; i++) {
      const s = await open(port);
      const { head, body } = pushBytes(102, i);
      s.write(head + body.slice(0, body.length - 3)); // incomplete body
      sockets.push(s);
    }
    await waitFor(() => app.committer.depth === full, `${full} Pushes in the buffer (have ${app.committer.depth})`);
    for (const s of sockets) s.destroy();
    await waitFor(() => disconnects.count >= full + cut, 'the server to see every disconnect');
    await waitFor(async () => app.committer.depth === 0 && app.committer.flushesInFlight === 0, 'the flush');
    const stored = await idsStored(101);
    assert.equal(stored.size, full);
    for (let i = 1; i <= full; i++) assert.equal(stored.get(i), 1, `id ${i}`);
    assert.equal((await idsStored(102)).size, 0, 'a cut-off body was stored');
  } finally {
    await app.close();
  }
});

test('clients that hang up while their INSERT runs: the INSERT still commits, once', async () => {
  const { app } = await startApp({ MYSQL_URL: db.url, BATCH_MAX_ROWS: '20', BATCH_FLUSH_INTERVAL_MS: '1' });
  const port = portOf(app);
  const locker = await mysql.createConnection({ uri: db.url });
  const n = 200;
  try {
    await locker.query('LOCK TABLES incoming WRITE');
    const sockets: Socket[] = [];
    for (let i = 1; i <= n; i++) {
      const s = await open(port);
      const { head, body } = pushBytes(201, i);
      s.write(head + body);
      sockets.push(s);
    }
    // Flushes are now blocked on the table lock (or waiting behind those that are).
    await waitFor(() => app.committer.flushesInFlight > 0, 'a blocked flush');
    await waitFor(
      async () => (await db.sql("SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE 'INSERT INTO incoming%'"))[0]?.[0] !== '0',
      'the INSERT to reach the server',
    );
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    await locker.query('UNLOCK TABLES');
    await waitFor(async () => (await idsStored(201)).size === n || app.committer.depth + app.committer.flushesInFlight === 0, 'flushes');
    await waitFor(async () => app.committer.depth === 0 && app.committer.flushesInFlight === 0, 'idle committer');
    const stored = await idsStored(201);
    assert.equal(stored.size, n);
    for (let i = 1; i <= n; i++) assert.equal(stored.get(i), 1, `id ${i}`);
    // The server's own count agrees with the table: a Push whose client hung up is still an accepted Push.
    const text = await app.inject({ method: 'GET', url: '/metrics' }).then((r) => r.body);
    const accepted = text.match(/^pageview_pushes_total\{result="accepted",twirp_code="ok"\} (\d+)$/m);
    assert.equal(Number(accepted?.[1]), n, 'pageview_pushes_total{result="accepted"} equals the rows written');
  } finally {
    await locker.end();
    await app.close();
  }
});
