// The APM agent's ids from pooled random bytes: what the pool hands out, how often it asks OpenSSL, and that under
// the preload the agent really draws from it while the rest of the process keeps crypto's own randomFillSync.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRELOAD, REPO_ROOT } from './support/apm-service';

const ids = require('../src/telemetry/agent-ids.cjs') as {
  pooledRandomFill(poolBytes?: number): (buffer: NodeJS.ArrayBufferView, offset?: number, size?: number) => NodeJS.ArrayBufferView;
  loadAgentIdsFromPool(moduleId?: string): boolean;
  POOL_BYTES: number;
};

/** A pool whose refills are counted: crypto.randomFillSync is swapped only while the pool is made. */
function countedPool(poolBytes?: number): {
  fill: (b: NodeJS.ArrayBufferView, o?: number, s?: number) => NodeJS.ArrayBufferView;
  calls: () => number;
} {
  const original = crypto.randomFillSync;
  let calls = 0;
  crypto.randomFillSync = ((...args: Parameters<typeof original>) => {
    calls++;
    return original(...args);
  }) as typeof original;
  try {
    return { fill: ids.pooledRandomFill(poolBytes), calls: () => calls };
  } finally {
    crypto.randomFillSync = original;
  }
}

describe('pooled random fill', () => {
  it('fills exactly the asked range and leaves the rest of the buffer alone', () => {
    const { fill } = countedPool();
    const buf = Buffer.alloc(34, 0xee);
    fill(buf, 17, 8);
    assert.deepEqual(buf.subarray(0, 17), Buffer.alloc(17, 0xee));
    assert.deepEqual(buf.subarray(25), Buffer.alloc(9, 0xee));
    // 8 random bytes are all 0xee once in 2^64 draws.
    assert.notDeepEqual(buf.subarray(17, 25), Buffer.alloc(8, 0xee));
  });

  it('hands out each byte once and asks OpenSSL once per pool, not once per id', () => {
    const { fill, calls } = countedPool(4096);
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) seen.add((fill(Buffer.alloc(8)) as Buffer).toString('hex'));
    assert.equal(seen.size, 1000, 'no id repeats');
    // 8000 bytes from 4096-byte pools: two fills.
    assert.equal(calls(), Math.ceil((1000 * 8) / 4096));
  });

  it('a request larger than the pool goes to crypto directly, still random', () => {
    const { fill, calls } = countedPool(64);
    const a = fill(Buffer.alloc(100));
    const b = fill(Buffer.alloc(100));
    assert.notDeepEqual(a, b);
    assert.equal(calls(), 2);
  });

  it('views other than bytes go to crypto, which counts offset and size in their own units', () => {
    const { fill, calls } = countedPool();
    const words = new Uint32Array(4);
    fill(words, 1, 2);
    assert.equal(calls(), 1);
    assert.equal(words[0], 0);
    assert.equal(words[3], 0);
    // Whole random 32-bit words, not single bytes copied into words (both below 256: once in 2^48).
    assert.ok(words[1]! > 255 || words[2]! > 255, `words ${words[1]}, ${words[2]}`);
  });

  it('an ArrayBuffer, with offset and size left out, goes to crypto as given and is filled whole', () => {
    const { fill, calls } = countedPool();
    const raw = new ArrayBuffer(16);
    fill(raw as unknown as NodeJS.ArrayBufferView);
    assert.equal(calls(), 1);
    assert.notDeepEqual(Buffer.from(raw), Buffer.alloc(16));
  });

  it('out-of-range arguments raise crypto\'s own error and draw nothing', () => {
    const { fill, calls } = countedPool();
    assert.throws(() => fill(Buffer.alloc(8), 4, 8), { code: 'ERR_OUT_OF_RANGE' });
    assert.throws(() => fill(Buffer.alloc(8), -1, 2), { code: 'ERR_OUT_OF_RANGE' });
    assert.equal(calls(), 2, 'both went to crypto, which refused them');
  });
});

const run = promisify(execFile);

describe('loading the agent module with the pool', () => {
  it('a module that is not there (another agent layout) is reported, and crypto is left alone', () => {
    const before = crypto.randomFillSync;
    assert.equal(ids.loadAgentIdsFromPool('elastic-apm-node/lib/no-such-module.js'), false);
    assert.equal(crypto.randomFillSync, before);
  });
});

// Loaded before the APM preload: counts every crypto.randomFillSync call from then on, the agent's included (it
// reads the function off the crypto module when its trace-context module loads, so a counter set later would miss
// its calls).
const COUNTER = `
const crypto = require('node:crypto');
const original = crypto.randomFillSync;
const counter = { calls: 0 };
function countingRandomFillSync(...args) { counter.calls++; return original(...args); }
crypto.randomFillSync = countingRandomFillSync;
globalThis.randomFillCounter = { counter, countingRandomFillSync };
`;

describe('the agent under the preload', () => {
  for (const owner of ['service', 'agent'] as const) {
  it(`APM_TRACE_PARENT=${owner}: ids come from the pool, spans name their parents; the process keeps crypto's randomFillSync`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'pvlab-ids-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const counterFile = join(dir, 'counter.cjs');
    await writeFile(counterFile, COUNTER);
    // 500 transactions with a span each. Without the pool the agent calls randomFillSync at least once per
    // transaction and once per span (1000 calls); with it, 500 x 24 + 500 x 8 = 16000 bytes are 4 pool refills.
    const script = `
      const crypto = require('node:crypto');
      const state = globalThis[Symbol.for('pageview-stress-lab.apm')];
      const { counter, countingRandomFillSync } = globalThis.randomFillCounter;
      const before = counter.calls;
      const agent = state.agent;
      const traceIds = new Set(), spanIds = new Set();
      let parentsOk = 0, plainFields = 0;
      for (let i = 0; i < 500; i++) {
        const t = agent.startTransaction('t' + i, 'request', { startTime: Date.now() });
        const s = t.startSpan('s');
        traceIds.add(t.traceId); spanIds.add(t.id); spanIds.add(s.id);
        if (s.parentId === t.id && s.traceId === t.traceId && t.parentId === undefined) parentsOk++;
        const d = Object.getOwnPropertyDescriptor(t._context.traceparent, 'traceId');
        if (d !== undefined && 'value' in d && '_flags' in t._context.traceparent) plainFields++;
        s.end(); t.end();
      }
      process.stdout.write(JSON.stringify({ calls: counter.calls - before, idsFromPool: state.idsFromPool,
        traceParent: state.traceParent, parentsOk, plainFields,
        restored: crypto.randomFillSync === countingRandomFillSync,
        traceIds: traceIds.size, spanIds: spanIds.size, sample: [...traceIds][0], span: [...spanIds][0] }));
      agent.destroy();
    `;
    const { stdout } = await run(process.execPath, ['-r', counterFile, '-r', PRELOAD, '-e', script], {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        ELASTIC_APM_SERVER_URL: 'http://127.0.0.1:9',
        ELASTIC_APM_METRICS_INTERVAL: '0s',
        ELASTIC_APM_LOG_LEVEL: 'off',
        APM_TRACE_PARENT: owner,
      },
      timeout: 30_000,
    });
    const r = JSON.parse(stdout) as {
      calls: number;
      idsFromPool: boolean;
      traceParent: string;
      parentsOk: number;
      plainFields: number;
      restored: boolean;
      traceIds: number;
      spanIds: number;
      sample: string;
      span: string;
    };
    assert.equal(r.idsFromPool, true);
    assert.equal(r.traceParent, owner);
    // The service's class holds plain fields (and its flags as a number); the agent's has getters over a Buffer.
    assert.equal(r.plainFields, owner === 'service' ? 500 : 0);
    assert.equal(r.parentsOk, 500, 'every span names its transaction as parent, in the same trace');
    assert.equal(r.restored, true, "after the preload, crypto.randomFillSync is the process's own again");
    assert.ok(r.calls <= Math.ceil(16000 / ids.POOL_BYTES), `randomFillSync called ${r.calls} times for 1000 ids`);
    assert.equal(r.traceIds, 500);
    assert.equal(r.spanIds, 1000);
    assert.match(r.sample, /^[0-9a-f]{32}$/);
    assert.match(r.span, /^[0-9a-f]{16}$/);
  });
  }
});
