// Two hot-path pieces of a Push against what they replace, side by side in one run, as ratios:
//   - a request's metrics: prom-client's labelled Histogram.observe + Counter.inc vs the service's own
//     observeRequest + observePush (series metrics, service/src/telemetry/series-metrics.ts);
//   - a batch's SQL text: mysql2's placeholder formatting vs buildInsert (service/src/db/insert-sql.ts), checked to
//     store the same values.
// Rounds alternate the two sides; the medians and their ratio are printed.
//
//   node --import tsx service/perf/hot-path-costs.ts [--rounds 7] [--iterations 200000] [--rows 50]
import { parseArgs } from 'node:util';
import mysql from 'mysql2';
import { Counter, Histogram, Registry } from 'prom-client';
import { INSERT_PREFIX, INSERT_SUFFIX, buildInsert } from '../src/db/insert-sql';
import type { PageviewRow } from '../src/db/store';
import { HTTP_BUCKETS, ServiceMetrics } from '../src/telemetry/metrics';
import { median, reportFailure, wholeArg } from './perf-args';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    iterations: { type: 'string', default: '200000' },
    rows: { type: 'string', default: '50' },
  },
});
const [rounds, iterations, batchRows] = (() => {
  try {
    return [
      wholeArg('rounds', values.rounds, 1, 50),
      wholeArg('iterations', values.iterations, 1_000, 10_000_000),
      wholeArg('rows', values.rows, 1, 10_000),
    ];
  } catch (err) {
    return reportFailure(err);
  }
})();

function nsPer(n: number, fn: (i: number) => void): number {
  const t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn(i);
  return Number(process.hrtime.bigint() - t) / n;
}

/** `per`: units of work one call does (rows of a batch), so the figures are per unit. */
function compare(name: string, unit: string, n: number, a: [string, (i: number) => void], b: [string, (i: number) => void], per = 1): void {
  nsPer(Math.ceil(n / 10), a[1]);
  nsPer(Math.ceil(n / 10), b[1]);
  const as: number[] = [];
  const bs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    as.push(nsPer(n, a[1]) / per);
    bs.push(nsPer(n, b[1]) / per);
  }
  const ma = median(as);
  const mb = median(bs);
  process.stdout.write(
    `${name}: ${a[0]} ${ma.toFixed(1)} ns/${unit}, ${b[0]} ${mb.toFixed(1)} ns/${unit}; ${b[0]}/${a[0]} = ${(mb / ma).toFixed(3)}x (median of ${rounds} alternating rounds)\n`,
  );
}

// --- per-request metrics: the label sets a Push run produces.
const LABEL_NAMES = ['http_request_method', 'http_route', 'http_response_status_code', 'twirp_code'] as const;
const theirs = new Registry();
const h1 = new Histogram({ name: 'h', help: 'h', labelNames: [...LABEL_NAMES], buckets: HTTP_BUCKETS, registers: [theirs] });
const c1 = new Counter({ name: 'c', help: 'c', labelNames: ['result', 'twirp_code'], registers: [theirs] });
const service = new ServiceMetrics({ defaultMetrics: false });
const CODES = ['ok', 'ok', 'ok', 'invalid_argument'];
compare(
  'metrics per request',
  'request',
  iterations,
  [
    'prom-client',
    (i) => {
      const code = CODES[i & 3]!;
      h1.observe({ http_request_method: 'POST', http_route: '/twirp/stats.StatsService/Push', http_response_status_code: code === 'ok' ? 200 : 400, twirp_code: code }, 0.0021);
      c1.inc({ result: code === 'ok' ? 'accepted' : 'rejected', twirp_code: code });
    },
  ],
  [
    'ServiceMetrics',
    (i) => {
      const code = CODES[i & 3]!;
      service.observeRequest('POST', '/twirp/stats.StatsService/Push', code === 'ok' ? 200 : 400, code, 0.0021);
      service.observePush(code);
    },
  ],
);

// --- a batch's SQL text.
const t0 = Date.now();
const rows: PageviewRow[] = Array.from({ length: batchRows }, (_, i) => ({
  property: 'news',
  section: 1 + (i % 7),
  id: 1 + i,
  remoteIp: i % 3 === 0 ? '::1' : '127.0.0.1',
  stampMs: t0 + (i >> 4),
  idempotencyKey: `k-${t0}-${i}`,
}));
const SQL = `${INSERT_PREFIX}?${INSERT_SUFFIX}`;
const viaMysql2 = (): string =>
  mysql.format(SQL, [rows.map((r) => [r.property, r.section, r.id, r.remoteIp, new Date(r.stampMs), r.idempotencyKey])], false, 'Z');
// Same values: mysql2 separates with ', ' and buildInsert with ','; nothing else may differ.
const normalise = (s: string): string => s.replace(/, /g, ',');
if (normalise(viaMysql2()) !== normalise(buildInsert(rows))) throw new Error('buildInsert and mysql2 disagree on the SQL');
let sink = 0;
compare(
  `SQL text of a ${batchRows}-row batch`,
  'row',
  Math.max(Math.ceil(iterations / batchRows), 100),
  ['mysql2 format', () => void (sink += viaMysql2().length)],
  ['buildInsert', () => void (sink += buildInsert(rows).length)],
  batchRows,
);
if (sink === 0) throw new Error('no SQL was built');

