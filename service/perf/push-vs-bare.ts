// Push throughput with MySQL and durable acknowledgements vs a bare Fastify route that answers `{}`, side by side
// in one run: a throwaway MariaDB, the service and a bare server on free ports, alternating wrk runs at the same
// connection count and body. Prints req/s of each run, the medians and their ratio, plus the cost of a /metrics
// scrape at rest and under load, and checks rows in `incoming` against the 200 answers wrk counted.
// It also splits the machine's CPU per request between the server's main thread, its other threads, MariaDB and the
// rest (wrk, kernel), median over the rounds (cpu-account.ts), and how busy each server's main thread was: with wrk
// keeping 100 requests outstanding, a main thread short of 100% busy is waiting (for Push: on commits). The rows per
// flush are shown as a distribution over the measured rounds, since a mean hides how the rows in flight split.
//
//   node --import tsx service/perf/push-vs-bare.ts [--rounds 3] [--duration 10] [--connections 100] [--threads 2]
//                                                  [--store mysql|memory] [--mysql-via tcp|socket]
//                                                  [--mariadb-arg=FLAG]... [--variant 'name:ENV=value,...']...
//                                                  [--keys]
// `--store memory` runs the service on its embedded store: the same comparison without the database, which
// separates the HTTP/Twirp cost from the commit cost. `--mysql-via socket` connects to the (co-located) MariaDB
// over its unix socket instead of TCP on 127.0.0.1. `--mariadb-arg` adds a flag to the throwaway mariadbd, to price a
// server setting (`--mariadb-arg=--innodb-flush-log-at-trx-commit=2` shows what the per-commit log sync costs; not a
// durable setting, only a measurement).
//
// Extra env (BATCH_*, DB_POOL_*) is passed to the service. `--variant` starts one more service with those settings
// added, measured in the same rounds (the order of the services rotates each round), and prints its ratio to bare
// and to the default service: `--variant 'plain cycle:BATCH_REBALANCE=false'` prices one setting side by side.
// `--keys` adds the service once more as `push+keys`, sent a unique Idempotency-Key with every request (the unique
// index and the key's validation, side by side with `push`); every target's wrk then builds each request in Lua
// (wrk's request()), so the load generator's extra cost is the same for all.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { SERVICE_V8_FLAGS, serviceNodeArgs } from '../src/launch';
import { MariaDb, freePort } from '../test/support/mariadb';
import { cpuPerRequest, cpuSnapshot, formatCpuSplit, type CpuSplit } from './cpu-account';
import { UsageError, median, parseVariantSpec, reportFailure, wholeArg } from './perf-args';

const run = promisify(execFile);
const BODY = '{"property":"news","section":1,"id":1}';
const PUSH_PATH = '/twirp/stats.StatsService/Push';

async function bareServer(port: number): Promise<void> {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  app.post(PUSH_PATH, async () => ({}));
  await app.listen({ port, host: '127.0.0.1' });
  process.on('SIGTERM', () => void app.close().then(() => process.exit(0)));
}

async function waitReady(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} not ready in 60 s`);
}

interface WrkResult {
  rps: number;
  requests: number;
  non2xx: number;
  socketErrors: string;
  p50: string;
  p99: string;
}

async function wrk(url: string, script: string, o: { threads: number; connections: number; duration: number }): Promise<WrkResult> {
  const { stdout } = await run(
    'wrk',
    ['--latency', `-t${o.threads}`, `-c${o.connections}`, `-d${o.duration}s`, '-s', script, url],
    { timeout: (o.duration + 30) * 1000 },
  );
  const num = (re: RegExp): number => Number(re.exec(stdout)?.[1] ?? 0);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    non2xx: num(/Non-2xx or 3xx responses:\s+(\d+)/),
    socketErrors: /Socket errors:(.*)/.exec(stdout)?.[1]?.trim() ?? 'none',
    p50: /^\s+50%\s+(\S+)/m.exec(stdout)?.[1] ?? '?',
    p99: /^\s+99%\s+(\S+)/m.exec(stdout)?.[1] ?? '?',
  };
}

/** Share of a run's wall time the main thread spent on the CPU. */
function mainThreadBusy(split: CpuSplit, requests: number, wallMs: number): number {
  return (split.main * Math.max(requests, 1)) / (wallMs * 1000);
}

const pct = (x: number): string => (x > 0 && x < 0.005 ? '<1%' : `${(x * 100).toFixed(0)}%`);

/** Cumulative `pageview_batch_size` bucket counts by upper bound (Prometheus text). */
function batchSizeBuckets(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^pageview_batch_size_bucket\{le="([^"]+)"\} (\S+)$/gm)) out.set(m[1]!, Number(m[2]));
  return out;
}

/**
 * The flushes between two scrapes, as shares per bucket (`11-20: 14%`): how the rows in flight split into
 * batches, which a mean hides (one flush of 90 rows and one of 10 average 50, like two of 50).
 */
function batchSizeShares(before: Map<string, number>, after: Map<string, number>): string {
  const bounds = [...after.keys()].filter((k) => k !== '+Inf');
  const total = (after.get('+Inf') ?? 0) - (before.get('+Inf') ?? 0);
  if (total <= 0) return 'no flushes';
  const parts: string[] = [];
  let prevBound = 0;
  let prevCount = 0;
  for (const b of [...bounds, '+Inf']) {
    const cum = (after.get(b) ?? 0) - (before.get(b) ?? 0);
    const n = cum - prevCount;
    const label = b === '+Inf' ? `>${prevBound}` : prevBound + 1 === Number(b) ? b : `${prevBound + 1}-${b}`;
    if (n > 0) parts.push(`${label}: ${pct(n / total)}`);
    prevCount = cum;
    if (b !== '+Inf') prevBound = Number(b);
  }
  return `${parts.join(', ')} of ${total} flushes`;
}

/** Field-wise medians of the per-run CPU splits. */
function medianSplit(xs: CpuSplit[]): CpuSplit {
  return {
    main: median(xs.map((x) => x.main)),
    otherThreads: median(xs.map((x) => x.otherThreads)),
    db: median(xs.map((x) => x.db)),
    rest: median(xs.map((x) => x.rest)),
  };
}

async function timeScrape(url: string): Promise<{ ms: number; bytes: number }> {
  const t = performance.now();
  const res = await fetch(url);
  const text = await res.text();
  return { ms: performance.now() - t, bytes: text.length };
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A service process under measurement: the default one (`push`) or a --variant with extra env. */
interface Target {
  name: string;
  env: Record<string, string>;
  child?: ChildProcess;
  port?: number;
  rps: number[];
  cpu: CpuSplit[];
  busy: number[];
  lines: string[];
  batchesBefore?: Map<string, number>;
  batchShares?: string;
  metrics?: string;
  /** A wrk script of its own (--keys). */
  script?: string;
}

/** `name:ENV=value,ENV2=value` -> a service variant started with those settings added. */
export function parseVariant(spec: string): Target {
  const { name, env } = parseVariantSpec(spec);
  if (!/^[\w .%=-]{1,40}$/.test(name) || name === 'push' || name === 'bare') {
    throw new UsageError(`--variant ${JSON.stringify(spec)}: expected name:ENV=value[,ENV=value] (a name other than push or bare)`);
  }
  const badName = Object.keys(env).find((k) => !/^[A-Z][A-Z0-9_]*$/.test(k));
  if (badName !== undefined) throw new UsageError(`--variant ${JSON.stringify(spec)}: ${JSON.stringify(badName)} is not an ENV name`);
  return { name, env, rps: [], cpu: [], busy: [], lines: [] };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      duration: { type: 'string', default: '10' },
      connections: { type: 'string', default: '100' },
      threads: { type: 'string', default: '2' },
      store: { type: 'string', default: 'mysql' },
      'mysql-via': { type: 'string', default: 'tcp' },
      'mariadb-arg': { type: 'string', multiple: true, default: [] },
      variant: { type: 'string', multiple: true, default: [] },
      keys: { type: 'boolean', default: false },
      'bare-server': { type: 'string' },
    },
  });
  if (values['bare-server'] !== undefined) return bareServer(Number(values['bare-server']));
  const o = {
    rounds: wholeArg('rounds', values.rounds, 1, 20),
    duration: wholeArg('duration', values.duration, 1, 120),
    connections: wholeArg('connections', values.connections, 1, 2000),
    threads: wholeArg('threads', values.threads, 1, 16),
  };
  if (values.store !== 'mysql' && values.store !== 'memory') {
    throw new UsageError(`--store ${values.store}: expected mysql or memory`);
  }
  if (values['mysql-via'] !== 'tcp' && values['mysql-via'] !== 'socket') {
    throw new UsageError(`--mysql-via ${values['mysql-via']}: expected tcp or socket`);
  }
  const mariadbArgs = values['mariadb-arg'] ?? [];
  const badArg = mariadbArgs.find((a) => !/^--[a-z0-9][a-z0-9_-]*(=\S*)?$/.test(a));
  if (badArg !== undefined) throw new UsageError(`--mariadb-arg ${JSON.stringify(badArg)}: expected one mariadbd flag such as --innodb-flush-log-at-trx-commit=2`);
  const targets: Target[] = [{ name: 'push', env: {}, rps: [], cpu: [], busy: [], lines: [] }, ...(values.variant ?? []).map(parseVariant)];
  const names = targets.map((t) => t.name);
  if (new Set(names).size !== names.length) throw new UsageError(`--variant: names must differ (${names.join(', ')})`);
  const useMysql = values.store === 'mysql';
  const viaSocket = values['mysql-via'] === 'socket';

  const dir = await mkdtemp(join(tmpdir(), 'pvlab-perf-'));
  const script = join(dir, 'post.lua');
  const head = `wrk.method = "POST"\nwrk.body = '${BODY}'\nwrk.headers["Content-Type"] = "application/json"\n`;
  // --keys: each request built in Lua; the keyed script adds a key unique per run, wrk thread and request.
  const perRequest = (keyed: boolean) =>
    `${head}local threads = 0\nfunction setup(thread) threads = threads + 1; thread:set("tid", threads) end\n` +
    // os.time() at load tells the runs of one script apart (warm-up and rounds are seconds apart): a key repeated
    // by a later run would be answered ok and not stored.
    `local started = os.time()\nlocal n = 0\nfunction request()\n  n = n + 1\n` +
    (keyed ? `  wrk.headers["Idempotency-Key"] = "${randomBytes(8).toString('hex')}-" .. started .. "-" .. tid .. "-" .. n\n` : '') +
    `  return wrk.format()\nend\n`;
  await writeFile(script, values.keys ? perRequest(false) : head);
  if (values.keys) {
    const keyed = join(dir, 'post-keyed.lua');
    await writeFile(keyed, perRequest(true));
    targets.push({ name: 'push+keys', env: {}, rps: [], cpu: [], busy: [], lines: [], script: keyed });
  }
  let db: MariaDb | undefined;
  let bare: ChildProcess | undefined;
  const cleanup = async () => {
    for (const t of targets) await stopChild(t.child);
    await stopChild(bare);
    await db?.destroy();
    await rm(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    if (useMysql) db = await MariaDb.start({ args: mariadbArgs });
    const rowCount = async (): Promise<number> =>
      db === undefined ? Number.NaN : Number((await db.sql('SELECT COUNT(*) FROM test.incoming'))[0]?.[0] ?? 0);
    for (const t of targets) {
      t.port = await freePort();
      // The service as it is started in production (its V8 flags), without the APM preload: APM is off here.
      t.child = spawn(process.execPath, serviceNodeArgs({ preload: false }), {
        cwd: join(__dirname, '..', '..'),
        env: {
          ...process.env,
          PORT: String(t.port),
          HOST: '127.0.0.1',
          MYSQL_URL: (viaSocket ? db?.socketUrl : db?.url) ?? '',
          LOG_LEVEL: 'warn',
          ...t.env,
        },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
    }
    const barePort = await freePort();
    // The bare server gets the service's V8 flags too: the comparison is of the code, not of heap settings.
    bare = spawn(process.execPath, [...SERVICE_V8_FLAGS, '--import', 'tsx', __filename, '--bare-server', String(barePort)], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    for (const t of targets) await waitReady(`http://127.0.0.1:${t.port}/readyz`, t.child!);
    // The bare server has no GET route: a 404 answer still proves it listens.
    for (let i = 0; i < 600; i++) {
      const ok = await fetch(`http://127.0.0.1:${barePort}/`).then(() => true, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const pushUrl = (t: Target) => `http://127.0.0.1:${t.port}${PUSH_PATH}`;
    const metricsUrl = (t: Target) => `http://127.0.0.1:${t.port}/metrics`;
    const bareUrl = `http://127.0.0.1:${barePort}${PUSH_PATH}`;
    const push = targets[0]!;

    // Warm everything (JIT, pool connections, InnoDB) before measuring.
    for (const t of targets) await wrk(pushUrl(t), t.script ?? script, { ...o, duration: 3 });
    await wrk(bareUrl, script, { ...o, duration: 3 });
    const rowsBefore = await rowCount();
    await timeScrape(metricsUrl(push)); // the first scrape pays for lazy initialisation
    const restTimes: number[] = [];
    let restBytes = 0;
    for (let i = 0; i < 5; i++) {
      const t = await timeScrape(metricsUrl(push));
      restTimes.push(t.ms);
      restBytes = t.bytes;
    }
    const atRest = { ms: median(restTimes), bytes: restBytes };

    const bareT: Target = { name: 'bare', env: {}, rps: [], cpu: [], busy: [], lines: [] };
    const measured = async (t: Target, pid: number, dbPid: number | undefined, go: () => Promise<WrkResult>) => {
      const before = await cpuSnapshot(pid, dbPid);
      const started = performance.now();
      const result = await go();
      const split = cpuPerRequest(before, await cpuSnapshot(pid, dbPid), result.requests);
      t.cpu.push(split);
      t.busy.push(mainThreadBusy(split, result.requests, performance.now() - started));
      t.rps.push(result.rps);
      return result;
    };
    for (const t of targets) t.batchesBefore = batchSizeBuckets(await (await fetch(metricsUrl(t))).text());
    const lines: string[] = [];
    const scrapes: number[] = [];
    const line = (r: number, name: string, w: WrkResult) =>
      `round ${r + 1} ${name}: ${w.rps.toFixed(0)} req/s p50 ${w.p50} p99 ${w.p99} non-2xx ${w.non2xx} socket errors: ${w.socketErrors}`;
    for (let r = 0; r < o.rounds; r++) {
      // Bare first, then the services; with variants their order rotates each round, so none always runs last.
      const order = targets.map((_, i) => targets[(i + r) % targets.length]!);
      lines.push(line(r, 'bare', await measured(bareT, bare.pid!, undefined, () => wrk(bareUrl, script, o))));
      for (const t of order) {
        const run = measured(t, t.child!.pid!, db?.pid, () => wrk(pushUrl(t), t.script ?? script, o));
        // Scrape /metrics a few times while the default service's run is under way.
        const scrapeLoop =
          t !== push
            ? Promise.resolve()
            : (async () => {
                for (let i = 0; i < 5; i++) {
                  await new Promise((res) => setTimeout(res, (o.duration * 1000) / 6));
                  scrapes.push((await timeScrape(metricsUrl(t))).ms);
                }
              })();
        const w = await run;
        await scrapeLoop;
        lines.push(line(r, t.name, w));
      }
    }
    for (const t of targets) {
      t.metrics = await (await fetch(metricsUrl(t))).text();
      t.batchShares = batchSizeShares(t.batchesBefore!, batchSizeBuckets(t.metrics));
    }
    const num = (text: string, re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
    const accepted = targets.reduce((a, t) => a + num(t.metrics!, /pageview_pushes_total\{result="accepted",twirp_code="ok"\} (\d+)/), 0);
    const rowsAfter = await rowCount();
    // This machine's speed drifts over minutes (a neighbour on the same cores): each round's runs are seconds
    // apart, so the median of the per-round ratios is the steadier figure.
    const ratioLine = (a: Target, b: Target) => {
      const ratios = a.rps.map((x, i) => x / b.rps[i]!);
      return `ratio ${a.name}/${b.name}: ${(median(a.rps) / median(b.rps)).toFixed(2)}x (medians); per-round ratios ${ratios.map((x) => x.toFixed(2)).join(' ')}, median ${median(ratios).toFixed(2)}x`;
    };
    const settingsOf = (t: Target) =>
      Object.entries({ ...process.env, ...t.env })
        .filter(([k]) => /^(BATCH_|DB_POOL_|BUFFER_)/.test(k))
        .map(([k, v]) => `${k}=${v}`)
        .join(' ') || 'defaults';
    const out = [
      `wrk -t${o.threads} -c${o.connections} -d${o.duration}s, body ${BODY}, ${o.rounds} alternating rounds`,
      ...lines,
      `median bare: ${median(bareT.rps).toFixed(0)} req/s`,
      `median push (${useMysql ? `MySQL over ${viaSocket ? 'its unix socket' : 'TCP'}, durable ack` : 'embedded memory store'}): ${median(push.rps).toFixed(0)} req/s`,
      ...targets.slice(1).map((t) => `median ${t.name}: ${median(t.rps).toFixed(0)} req/s`),
      ...targets.map((t) => ratioLine(t, bareT)),
      ...targets.slice(1).map((t) => ratioLine(t, push)),
      `bare ${formatCpuSplit(medianSplit(bareT.cpu))}`,
      ...targets.map((t) => `${t.name} ${formatCpuSplit(medianSplit(t.cpu))}`),
      // A main thread below ~100% busy while wrk keeps 100 requests outstanding is waiting: for Push, on commits.
      `main thread busy (median): bare ${pct(median(bareT.busy))}, ${targets.map((t) => `${t.name} ${pct(median(t.busy))}`).join(', ')}`,
      ...targets.flatMap((t) => {
        const batches = /pageview_batch_size_sum (\S+)\npageview_batch_size_count (\S+)/.exec(t.metrics!);
        const flushes = /pageview_flush_duration_seconds_sum (\S+)\npageview_flush_duration_seconds_count (\S+)/.exec(t.metrics!);
        const who = targets.length > 1 ? ` (${t.name})` : '';
        return [
          `rows per flush in the measured rounds${who}: ${t.batchShares}`,
          `mean rows per flush${who}: ${batches ? (Number(batches[1]) / Number(batches[2])).toFixed(1) : '?'}`,
          `mean flush duration${who}: ${flushes ? ((Number(flushes[1]) / Number(flushes[2])) * 1000).toFixed(2) : '?'} ms`,
        ];
      }),
      `mariadbd flags added: ${mariadbArgs.length > 0 ? mariadbArgs.join(' ') : 'none'}`,
      ...targets.map((t) => `service settings${targets.length > 1 ? ` (${t.name})` : ''}: ${settingsOf(t)}`),
      // wrk closes its connections at the end of a run with Pushes in flight: those are committed (the write
      // ignores disconnects) but never answered, so rows may exceed accepted answers, never the reverse.
      useMysql
        ? `accepted pushes (all runs incl. warm-up): ${accepted}; rows in incoming: ${rowsAfter} (${rowsAfter >= accepted ? 'every accepted Push stored' : 'MISSING ROWS'}; ${rowsAfter - rowsBefore} during measured rounds)`
        : `accepted pushes (all runs incl. warm-up): ${accepted}`,
      `/metrics scrape: median ${atRest.ms.toFixed(1)} ms at rest over 5 scrapes (${atRest.bytes} bytes); under load median ${median(scrapes).toFixed(1)} ms, max ${Math.max(...scrapes).toFixed(1)} ms over ${scrapes.length} scrapes`,
    ];
    process.stdout.write(out.join('\n') + '\n');
  } finally {
    await cleanup();
  }
}

if (require.main === module) {
  main().catch(reportFailure);
}
