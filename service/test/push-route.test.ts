// POST /twirp/stats.StatsService/Push end to end on a real MariaDB: success in both encodings, and every Twirp
// error case (bad_route, malformed, invalid_argument, body too large, resource_exhausted, internal), each in JSON
// and protobuf. Invalid input stores nothing; no error body is ever Fastify's default one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import mysql from 'mysql2/promise';
import protobuf from 'protobufjs';
import type { FastifyInstance } from 'fastify';
import { MariaDb } from './support/mariadb';
import { countRows, encodePush, post, startApp, PUSH_PATH, type Answer } from './support/service';

let db: MariaDb;
let app: FastifyInstance;
let base: string;

before(async () => {
  db = await MariaDb.start();
  ({ app, base } = await startApp({ MYSQL_URL: db.url, ALLOWED_PROPERTIES: 'news,sport' }));
});

after(async () => {
  await app?.close();
  await db?.destroy();
});

const sql = (s: string) => db.sql(s);

/** A spec-shaped Twirp error: JSON, {code, msg, meta?} only, the code's status. */
function assertTwirpError(a: Answer, code: string, status: number, argument?: string): void {
  assert.equal(a.status, status, `status for ${code}: ${a.body.toString()}`);
  assert.match(a.contentType, /^application\/json/);
  assert.equal(a.json.code, code, a.body.toString());
  assert.equal(typeof a.json.msg, 'string');
  for (const key of Object.keys(a.json)) assert.ok(['code', 'msg', 'meta'].includes(key), `unexpected key ${key}`);
  if (a.json.meta !== undefined) for (const v of Object.values(a.json.meta)) assert.equal(typeof v, 'string');
  if (argument !== undefined) assert.equal(a.json.meta?.argument, argument);
}

function rawRequest(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(base);
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const ct = String(res.headers['content-type'] ?? '');
        resolve({ status: res.statusCode ?? 0, contentType: ct, body: buf, json: ct.startsWith('application/json') ? JSON.parse(buf.toString()) : undefined });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('success', () => {
  test('JSON Push is committed and answered {} as application/json', async () => {
    const before = await countRows(sql);
    const a = await post(base, JSON.stringify({ property: 'news', section: 11, id: 12 }));
    assert.equal(a.status, 200);
    assert.match(a.contentType, /^application\/json/);
    assert.deepEqual(a.json, {});
    assert.equal(await countRows(sql), before + 1);
    const row = await sql('SELECT property, property_section, property_id, remote_ip FROM test.incoming WHERE property_id = 12');
    assert.deepEqual(row, [['news', '11', '12', '127.0.0.1']]);
  });

  test('protobuf Push is answered with an empty protobuf message', async () => {
    const a = await post(base, encodePush({ property: 'sport', section: 21, id: 22 }), 'application/protobuf');
    assert.equal(a.status, 200);
    assert.equal(a.contentType, 'application/protobuf');
    assert.equal(a.body.length, 0);
    const type = protobuf.loadSync(`${__dirname}/../rpc/stats.proto`).lookupType('stats.PushResponse');
    assert.deepEqual(type.toObject(type.decode(a.body)), {});
    assert.equal(await countRows(sql, 'property_id = 22 AND property = "sport"'), 1);
  });

  test('charset parameter, unknown fields and numeric strings are accepted in JSON', async () => {
    const a = await post(base, '{"property":"news","section":"31","id":32,"referrer":"x"}', 'application/json; charset=utf-8');
    assert.equal(a.status, 200);
    assert.equal(await countRows(sql, 'property_id = 32 AND property_section = 31'), 1);
  });

  test('section and id at the top of uint32 are stored', async () => {
    const a = await post(base, encodePush({ property: 'news', section: 4294967295, id: 4294967295 }), 'application/protobuf');
    assert.equal(a.status, 200);
    assert.equal(await countRows(sql, 'property_id = 4294967295'), 1);
  });
});

describe('bad_route (404)', () => {
  test('wrong method, unknown package/service/method, bad content types; nothing stored', async () => {
    const before = await countRows(sql);
    const good = JSON.stringify({ property: 'news', section: 1, id: 1 });
    const cases: Array<Promise<Answer>> = [
      rawRequest('GET', PUSH_PATH, {}),
      rawRequest('PUT', PUSH_PATH, { 'content-type': 'application/json' }, Buffer.from(good)),
      post(base, good, 'application/json', '/twirp/other.StatsService/Push'),
      post(base, good, 'application/json', '/twirp/stats.OtherService/Push'),
      post(base, good, 'application/json', '/twirp/stats.StatsService/Pull'),
      post(base, good, 'application/json', '/twirp/stats.StatsService/Push/extra'),
      post(base, encodePush({ property: 'news', section: 1, id: 1 }), 'application/protobuf', '/twirp/stats.StatsService/Nope'),
      post(base, good, 'text/plain'),
      post(base, good, 'application/x-www-form-urlencoded'),
      post(base, good, 'application/grpc'),
      rawRequest('POST', PUSH_PATH, { 'content-type': '///' }, Buffer.from(good)),
      rawRequest('POST', PUSH_PATH, { 'content-length': String(good.length) }, Buffer.from(good)),
      rawRequest('POST', PUSH_PATH, {}),
    ];
    for (const a of await Promise.all(cases)) assertTwirpError(a, 'bad_route', 404);
    assert.equal(await countRows(sql), before);
  });
});

describe('malformed (400)', () => {
  test('undecodable JSON and protobuf bodies; nothing stored', async () => {
    const before = await countRows(sql);
    const json = ['', '{', 'null', '[1]', '{"property":5}', '{"section":1.5}', '{"id":"abc"}', '{"id":true}'];
    for (const body of json) assertTwirpError(await post(base, body), 'malformed', 400);
    const pb = [Buffer.from([0x0a, 0x10, 0x6e]), Buffer.from([0x13]), Buffer.from([0x0a, 0x02, 0xc3, 0x28]), Buffer.from([0x10, 0xff])];
    for (const body of pb) assertTwirpError(await post(base, body, 'application/protobuf'), 'malformed', 400);
    assert.equal(await countRows(sql), before);
  });

  test('a body over BODY_LIMIT_BYTES is a Twirp error, in both encodings', async () => {
    const big = JSON.stringify({ property: 'news', section: 1, id: 1, pad: 'x'.repeat(8192) });
    const a = await post(base, big);
    assertTwirpError(a, 'malformed', 400);
    assert.equal(a.json.meta.body_limit_bytes, '4096');
    const pb = Buffer.concat([Buffer.from(encodePush({ property: 'news', section: 1, id: 1 })), Buffer.from(protobuf.Writer.create().uint32((15 << 3) | 2).bytes(new Uint8Array(8192)).finish())]);
    assertTwirpError(await post(base, pb, 'application/protobuf'), 'malformed', 400);
  });
});

describe('invalid_argument (400) with meta.argument', () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['missing property', { section: 1, id: 1 }, 'property'],
    ['empty property', { property: '', section: 1, id: 1 }, 'property'],
    ['33-byte property', { property: 'n'.repeat(33), section: 1, id: 1 }, 'property'],
    ['property not allowed', { property: 'weather', section: 1, id: 1 }, 'property'],
    ['missing section', { property: 'news', id: 1 }, 'section'],
    ['section 0', { property: 'news', section: 0, id: 1 }, 'section'],
    ['section 2^32', { property: 'news', section: 2 ** 32, id: 1 }, 'section'],
    ['missing id', { property: 'news', section: 1 }, 'id'],
    ['id 0', { property: 'news', section: 1, id: 0 }, 'id'],
    ['id 2^32', { property: 'news', section: 1, id: 2 ** 32 }, 'id'],
  ];
  for (const [name, msg, argument] of cases) {
    test(`${name} (JSON and protobuf)`, async () => {
      const before = await countRows(sql);
      assertTwirpError(await post(base, JSON.stringify(msg)), 'invalid_argument', 400, argument);
      let pb: Uint8Array;
      if ((msg.section as number) >= 2 ** 32 || (msg.id as number) >= 2 ** 32) {
        // protobufjs would truncate a uint32; write the oversized varint by hand.
        const w = protobuf.Writer.create();
        if (msg.property !== undefined) w.uint32(10).string(String(msg.property));
        w.uint32(16).uint64(Number(msg.section));
        w.uint32(24).uint64(Number(msg.id));
        pb = w.finish();
      } else {
        pb = encodePush(msg as { property?: string; section?: number; id?: number });
      }
      assertTwirpError(await post(base, pb, 'application/protobuf'), 'invalid_argument', 400, argument);
      assert.equal(await countRows(sql), before);
    });
  }

  test('negative numbers in JSON', async () => {
    assertTwirpError(await post(base, '{"property":"news","section":-1,"id":1}'), 'invalid_argument', 400, 'section');
  });
});

describe('resource_exhausted (429) when the write buffer is full', () => {
  test('a full buffer refuses Pushes; buffered ones are still committed', async () => {
    const { app: small, base: b } = await startApp({
      MYSQL_URL: db.url,
      BATCH_MAX_ROWS: '1',
      BUFFER_CAPACITY: '2',
      BATCH_MAX_CONCURRENT_FLUSHES: '1',
    });
    const locker = await mysql.createConnection({ uri: db.url });
    try {
      const before = await countRows(sql);
      await locker.query('LOCK TABLES incoming WRITE');
      const held = [1, 2, 3].map((i) => post(b, JSON.stringify({ property: 'news', section: 900, id: i })));
      for (let i = 0; i < 500 && (small.committer.flushesInFlight < 1 || small.committer.depth < 2); i++) {
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(small.committer.depth, 2);
      assertTwirpError(await post(b, JSON.stringify({ property: 'news', section: 901, id: 1 })), 'resource_exhausted', 429);
      assertTwirpError(await post(b, encodePush({ property: 'news', section: 901, id: 2 }), 'application/protobuf'), 'resource_exhausted', 429);
      await locker.query('UNLOCK TABLES');
      for (const a of await Promise.all(held)) assert.equal(a.status, 200);
      assert.equal(await countRows(sql), before + 3);
      assert.equal(await countRows(sql, 'property_section = 901'), 0);
    } finally {
      await locker.end();
      await small.close();
    }
  });
});

describe('internal (500)', () => {
  test('an unexpected database error is internal and leaks no SQL or stack', async () => {
    await db.sql('CREATE DATABASE broken');
    const { app: broken, base: b } = await startApp({ MYSQL_URL: db.url.replace(/\/test$/, '/broken') });
    try {
      await db.sql('DROP TABLE broken.incoming');
      for (const a of [
        await post(b, JSON.stringify({ property: 'news', section: 1, id: 1 })),
        await post(b, encodePush({ property: 'news', section: 1, id: 1 }), 'application/protobuf'),
      ]) {
        assertTwirpError(a, 'internal', 500);
        const text = a.body.toString();
        for (const leak of ['incoming', 'INSERT', 'ER_NO_SUCH_TABLE', 'at ', '.ts']) assert.ok(!text.includes(leak), `${leak} in ${text}`);
      }
    } finally {
      await broken.close();
    }
  });
});

describe('non-Twirp routes', () => {
  test('healthz and readyz answer; unknown paths are a plain 404', async () => {
    const h = await fetch(`${base}/healthz`);
    assert.equal(h.status, 200);
    const r = await fetch(`${base}/readyz`);
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { store: string }).store, 'mysql');
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  });
});

test('a co-located MySQL over its unix socket: MYSQL_URL with socketPath', async () => {
  const viaSocket = await startApp({ MYSQL_URL: db.socketUrl });
  try {
    const a = await post(viaSocket.base, JSON.stringify({ property: 'news', section: 77, id: 1 }));
    assert.equal(a.status, 200);
    // Counted in the throwaway server: a URL whose socketPath were ignored would go to localhost:3306 instead.
    assert.equal(await countRows(sql, 'property_section = 77'), 1);
  } finally {
    await viaSocket.app.close();
  }
});
