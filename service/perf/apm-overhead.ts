// What Elastic APM costs on the Push route with MySQL, measured side by side in one run:
//   node --import tsx service/perf/apm-overhead.ts [--rounds 3] [--seconds 8] [--connections 100]
//       [--variant 'name:ENV=value,ENV2=value']...   (extra APM-on variants, to price a single setting)
//       [--base off,default,full]     (which of the three standard variants run; off always does)
// A throwaway MariaDB, a capture intake server, and the service started (with the preload) three ways:
// APM off (no server URL), APM on with the default edge sampling (rate and per-second budget), and APM on tracing
// every request (rate 1, budget lifted). wrk runs alternate
// between them, round after round, so machine noise hits them all alike; the ratios of median throughput are
// printed. Goals (from the issue): default >= 0.85x of off, 100% >= 0.4x of off.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { MariaDb } from '../test/support/mariadb';
import { ApmIntake } from '../test/support/apm-intake';
import { startService, type ServiceProcess } from '../test/support/apm-service';
import { processCpuSeconds } from './cpu-account';
import { UsageError, median, parseVariantSpec, reportFailure, wholeArg } from './perf-args';

interface Variant {
  /** Key for --base (standard variants only). */
  key?: string;
  name: string;
  env: Record<string, string>;
  svc?: ServiceProcess;
  rps: number[];
  /** Service CPU time per answered request (µs): steadier than throughput on a shared machine. */
  cpuUs: number[];
  errors: number;
}

interface WrkResult {
  rps: number;
  requests: number;
  non2xx: number;
  socketErrors: number;
}

const BASE_KEYS = ['off', 'default', 'full'];

const LUA = `wrk.method = "POST"
wrk.body = '{"property":"news","section":1,"id":1}'
wrk.headers["Content-Type"] = "application/json"
`;

function wrk(url: string, luaPath: string, connections: number, seconds: number): Promise<WrkResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'wrk',
      ['-t2', `-c${connections}`, `-d${seconds}s`, '--timeout', '5s', '-s', luaPath, `${url}/twirp/stats.StatsService/Push`],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
    const guard = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(guard);
      const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
      if (code !== 0 || rps === null) return reject(new Error(`wrk failed (${code}): ${out}`));
      const requests = /(\d+) requests in/.exec(out);
      const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
      const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      resolve({
        rps: Number(rps[1]),
        requests: requests ? Number(requests[1]) : 0,
        non2xx: non2xx ? Number(non2xx[1]) : 0,
        socketErrors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
      });
    });
  });
}

/** `name:ENV=value,ENV2=value` -> an APM-on variant with those settings (sent to `intakeUrl`, set once it is known). */
export function parseVariant(spec: string, intakeUrl = ''): Variant {
  const { name, env } = parseVariantSpec(spec);
  return { name, env: { ELASTIC_APM_SERVER_URL: intakeUrl, ...env }, rps: [], cpuUs: [], errors: 0 };
}

export function formatReport(variants: Variant[], base: Variant, opts: { connections: number; seconds: number }): string {
  const lines = [
    `Push with MySQL, wrk -t2 -c${opts.connections} -d${opts.seconds}s, rounds alternating`,
    'throughput ratio = median req/s vs APM off; round ratio = median of each round\'s req/s vs APM off in the same round',
    '(steadier when the machine speed drifts); cpu ratio = APM-off CPU per request / this CPU per request',
    '',
  ];
  const width = Math.max(...variants.map((v) => v.name.length)) + 2;
  for (const v of variants) {
    const ratio = median(v.rps) / median(base.rps);
    const roundRatio = median(v.rps.map((r, i) => r / base.rps[i]!));
    const cpuRatio = median(base.cpuUs) / median(v.cpuUs);
    lines.push(
      `${v.name.padEnd(width)} ${median(v.rps).toFixed(0).padStart(6)} req/s  ratio ${ratio.toFixed(3)}x  ` +
        `round ratio ${roundRatio.toFixed(3)}x  ` +
        `| ${median(v.cpuUs).toFixed(0).padStart(5)} µs cpu/req  cpu ratio ${cpuRatio.toFixed(3)}x  ` +
        `| runs [${v.rps.map((r) => r.toFixed(0)).join(', ')}]  errors ${v.errors}`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '8' },
      connections: { type: 'string', default: '100' },
      variant: { type: 'string', multiple: true, default: [] },
      base: { type: 'string', default: BASE_KEYS.join(',') },
    },
  });
  const rounds = wholeArg('rounds', values.rounds, 1, 20);
  const seconds = wholeArg('seconds', values.seconds, 1, 120);
  const connections = wholeArg('connections', values.connections, 1, 1000);
  const base = new Set(values.base.split(',').map((k) => k.trim()).filter((k) => k !== ''));
  const unknown = [...base].filter((k) => !BASE_KEYS.includes(k));
  if (unknown.length > 0) throw new UsageError(`--base ${JSON.stringify(values.base)}: unknown ${unknown.join(', ')}; expected some of ${BASE_KEYS.join(',')}`);
  // Every option is checked before anything starts.
  const extra = (values.variant ?? []).map((spec) => parseVariant(spec));

  const dir = await mkdtemp(join(tmpdir(), 'pvlab-apm-overhead-'));
  const luaPath = join(dir, 'push.lua');
  await writeFile(luaPath, LUA);
  const db = await MariaDb.start();
  // The intake only counts bytes here: parsing what the agent sends would take CPU from the service under test.
  const intake = await ApmIntake.start({ capture: false });
  const standard: Variant[] = [
    { key: 'off', name: 'APM off', env: {}, rps: [], cpuUs: [], errors: 0 },
    { key: 'default', name: 'APM default sampling', env: { ELASTIC_APM_SERVER_URL: intake.url }, rps: [], cpuUs: [], errors: 0 },
    {
      // Every request traced: the sample rate at 1 and the edge budget (TRACE_REQUESTS_PER_SECOND) at its maximum.
      key: 'full',
      name: 'APM 100% sampling',
      env: { ELASTIC_APM_SERVER_URL: intake.url, ELASTIC_APM_TRANSACTION_SAMPLE_RATE: '1.0', TRACE_REQUESTS_PER_SECOND: '1000000' },
      rps: [],
      cpuUs: [],
      errors: 0,
    },
  ];
  const variants = standard.filter((v) => v.key === 'off' || base.has(v.key!));
  for (const v of extra) variants.push({ ...v, env: { ...v.env, ELASTIC_APM_SERVER_URL: intake.url } });
  try {
    for (const v of variants) v.svc = await startService({ MYSQL_URL: db.url, LOG_LEVEL: 'warn', ...v.env });
    // Warm-up (JIT, pool, agent connection), not counted.
    for (const v of variants) await wrk(v.svc!.url, luaPath, connections, Math.min(3, seconds));
    for (let r = 0; r < rounds; r++) {
      // Rotate the order each round so no variant always runs first after a pause.
      const order = variants.map((_, i) => variants[(i + r) % variants.length]!);
      for (const v of order) {
        const cpuBefore = await processCpuSeconds(v.svc!.pid);
        const res = await wrk(v.svc!.url, luaPath, connections, seconds);
        const cpu = (await processCpuSeconds(v.svc!.pid)) - cpuBefore;
        v.rps.push(res.rps);
        v.cpuUs.push(res.requests > 0 ? (cpu * 1e6) / res.requests : Number.NaN);
        v.errors += res.non2xx + res.socketErrors;
      }
    }
    process.stdout.write(`${formatReport(variants, variants[0]!, { connections, seconds })}\n`);
    process.stdout.write(`intake: ${intake.intakeRequests} intake requests, ${intake.bytes} bytes received\n`);
  } finally {
    for (const v of variants) await v.svc?.stop();
    await intake.stop();
    await db.destroy();
    await rm(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch(reportFailure);
}
