// Environment -> one typed, validated configuration. Every variable has a useful, bounded default; a zero never
// means "unlimited". All problems are reported together in one ConfigError.
import proxyaddr from '@fastify/proxy-addr';

export interface PoolConfig {
  /** Most open connections at once. */
  connectionLimit: number;
  /** Most idle connections kept open; extra idle connections are closed at once. */
  idleLimit: number;
  /** Idle connections older than this are closed (ms). */
  idleTimeoutMs: number;
  /** Most callers waiting for a connection; 0 = never wait, fail at once when all are busy. */
  queueLimit: number;
  /** Longest wait for a connection before `unavailable` (ms). */
  acquireTimeoutMs: number;
  /** Longest TCP connect + handshake (ms). */
  connectTimeoutMs: number;
  /** Longest single query (ms); the connection is discarded when it passes. */
  queryTimeoutMs: number;
}

export interface BatchConfig {
  /** Rows per multi-row INSERT; a full batch is flushed at once. */
  maxRows: number;
  /** Longest time a Push waits for its batch to fill before it is flushed anyway (ms); 0 = next event-loop turn. */
  flushIntervalMs: number;
  /** Flushes running at once (each holds one pool connection). */
  maxConcurrentFlushes: number;
  /** Pushes waiting for a flush; when full, Push answers resource_exhausted. */
  bufferCapacity: number;
  /** Even out a lopsided split of the rows in flight between consecutive partial flushes (group-commit.ts). */
  rebalance: boolean;
}

export type TrustProxy = false | true | readonly string[];

export interface Config {
  port: number;
  host: string;
  mysqlUrl: string | undefined;
  logLevel: string;
  pool: PoolConfig;
  batch: BatchConfig;
  bodyLimitBytes: number;
  allowedProperties: readonly string[];
  trustProxy: TrustProxy;
  drainTimeoutMs: number;
  /** Longest time to receive a whole request (headers and body); bounds slow senders (Node's requestTimeout). */
  requestTimeoutMs: number;
  memoryStoreCapacity: number;
  /** The slow and failed request log (telemetry/request-log.ts). */
  requestLog: { slowMs: number; perSecond: number };
}

export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

type Env = Record<string, string | undefined>;

/** Describes every variable: default and bounds (used for docs and for the error text). */
// Batch and pool defaults come from service/perf/push-vs-bare.ts on a 2-core machine: a commit costs a round trip
// and a log sync whatever its size, so a partial batch goes out on the next event-loop turn and the next one
// gathers while it runs (group-commit.ts); concurrent flushes are for full batches only.
export const INT_VARS = {
  PORT: { def: 8080, min: 0, max: 65535 },
  DB_POOL_MAX: { def: 10, min: 1, max: 1000 },
  DB_POOL_IDLE_MAX: { def: 10, min: 0, max: 1000 },
  DB_POOL_IDLE_TIMEOUT_MS: { def: 60_000, min: 1_000, max: 3_600_000 },
  DB_POOL_QUEUE_MAX: { def: 1_000, min: 0, max: 100_000 },
  DB_POOL_ACQUIRE_TIMEOUT_MS: { def: 2_000, min: 1, max: 60_000 },
  DB_CONNECT_TIMEOUT_MS: { def: 2_000, min: 100, max: 60_000 },
  DB_QUERY_TIMEOUT_MS: { def: 10_000, min: 100, max: 300_000 },
  BATCH_MAX_ROWS: { def: 500, min: 1, max: 10_000 },
  BATCH_FLUSH_INTERVAL_MS: { def: 0, min: 0, max: 1_000 },
  BATCH_MAX_CONCURRENT_FLUSHES: { def: 8, min: 1, max: 1000 },
  BUFFER_CAPACITY: { def: 10_000, min: 1, max: 1_000_000 },
  BODY_LIMIT_BYTES: { def: 4_096, min: 64, max: 1_048_576 },
  DRAIN_TIMEOUT_MS: { def: 10_000, min: 100, max: 300_000 },
  REQUEST_TIMEOUT_MS: { def: 30_000, min: 1_000, max: 300_000 },
  MEMORY_STORE_CAPACITY: { def: 1_000_000, min: 1, max: 50_000_000 },
  LOG_SLOW_REQUEST_MS: { def: 250, min: 1, max: 600_000 },
  LOG_REQUESTS_PER_SECOND: { def: 100, min: 0, max: 100_000 },
} as const;

type IntVar = keyof typeof INT_VARS;

export function loadConfig(env: Env = process.env): Config {
  const problems: string[] = [];

  const int = (name: IntVar): number => {
    const spec = INT_VARS[name];
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') return spec.def;
    const text = raw.trim();
    if (!/^\d+$/.test(text)) {
      problems.push(`${name}=${JSON.stringify(raw)}: expected a whole number from ${spec.min} to ${spec.max}`);
      return spec.def;
    }
    const n = Number(text);
    if (n < spec.min || n > spec.max) {
      problems.push(`${name}=${text}: out of range, expected ${spec.min} to ${spec.max}`);
      return spec.def;
    }
    return n;
  };

  const port = int('PORT');
  const host = env.HOST?.trim() || '127.0.0.1';

  let mysqlUrl: string | undefined = env.MYSQL_URL?.trim() || undefined;
  if (mysqlUrl !== undefined) {
    try {
      const u = new URL(mysqlUrl);
      if (u.protocol !== 'mysql:') throw new Error('protocol');
      if (u.hostname === '' || u.pathname.length <= 1) throw new Error('host/db');
    } catch {
      problems.push(`MYSQL_URL: expected mysql://user:pass@host:3306/database`);
      mysqlUrl = undefined;
    }
  }

  const logLevel = env.LOG_LEVEL?.trim() || 'info';
  if (!LOG_LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL=${JSON.stringify(logLevel)}: expected one of ${LOG_LEVELS.join(', ')}`);

  const pool: PoolConfig = {
    connectionLimit: int('DB_POOL_MAX'),
    idleLimit: int('DB_POOL_IDLE_MAX'),
    idleTimeoutMs: int('DB_POOL_IDLE_TIMEOUT_MS'),
    queueLimit: int('DB_POOL_QUEUE_MAX'),
    acquireTimeoutMs: int('DB_POOL_ACQUIRE_TIMEOUT_MS'),
    connectTimeoutMs: int('DB_CONNECT_TIMEOUT_MS'),
    queryTimeoutMs: int('DB_QUERY_TIMEOUT_MS'),
  };
  if (env.DB_POOL_IDLE_MAX === undefined || env.DB_POOL_IDLE_MAX.trim() === '') {
    pool.idleLimit = pool.connectionLimit;
  } else if (pool.idleLimit > pool.connectionLimit) {
    problems.push(`DB_POOL_IDLE_MAX=${pool.idleLimit}: must not exceed DB_POOL_MAX (${pool.connectionLimit})`);
  }

  const batch: BatchConfig = {
    maxRows: int('BATCH_MAX_ROWS'),
    flushIntervalMs: int('BATCH_FLUSH_INTERVAL_MS'),
    maxConcurrentFlushes: int('BATCH_MAX_CONCURRENT_FLUSHES'),
    bufferCapacity: int('BUFFER_CAPACITY'),
    rebalance: true,
  };
  const rb = env.BATCH_REBALANCE?.trim();
  if (rb !== undefined && rb !== '') {
    if (rb === 'false' || rb === '0') batch.rebalance = false;
    else if (rb !== 'true' && rb !== '1') problems.push(`BATCH_REBALANCE=${JSON.stringify(env.BATCH_REBALANCE)}: expected true or false`);
  }
  if (batch.maxConcurrentFlushes > pool.connectionLimit) {
    problems.push(
      `BATCH_MAX_CONCURRENT_FLUSHES=${batch.maxConcurrentFlushes}: must not exceed DB_POOL_MAX (${pool.connectionLimit}); each flush holds a connection`,
    );
  }
  if (batch.bufferCapacity < batch.maxRows) {
    problems.push(`BUFFER_CAPACITY=${batch.bufferCapacity}: must be at least BATCH_MAX_ROWS (${batch.maxRows})`);
  }

  const allowedRaw = env.ALLOWED_PROPERTIES;
  let allowedProperties: string[] = ['news'];
  if (allowedRaw !== undefined && allowedRaw.trim() !== '') {
    allowedProperties = allowedRaw
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.length > 0);
    const bad = allowedProperties.filter((p) => Buffer.byteLength(p, 'utf8') > 32);
    if (bad.length > 0) problems.push(`ALLOWED_PROPERTIES: longer than 32 bytes: ${bad.join(', ')}`);
    if (allowedProperties.length === 0) problems.push('ALLOWED_PROPERTIES: lists no property');
  }

  let trustProxy: TrustProxy = false;
  const tp = env.TRUST_PROXY?.trim();
  if (tp !== undefined && tp !== '') {
    if (tp === 'false' || tp === '0') trustProxy = false;
    else if (tp === 'true' || tp === '1') trustProxy = true;
    else {
      const list = tp.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
      // Addresses, CIDR ranges and proxy-addr's names (loopback, linklocal, uniquelocal); compiled once here so a
      // bad entry is a start-up error, not a per-request one.
      const bad = list.filter((s) => {
        try {
          proxyaddr.compile(s);
          return false;
        } catch {
          return true;
        }
      });
      if (bad.length > 0) {
        problems.push(
          `TRUST_PROXY: expected true, false or a comma list of proxy addresses, CIDR ranges or loopback/linklocal/uniquelocal; not understood: ${bad.join(', ')}`,
        );
      } else trustProxy = list;
    }
  }

  const config: Config = {
    port,
    host,
    mysqlUrl,
    logLevel,
    pool,
    batch,
    bodyLimitBytes: int('BODY_LIMIT_BYTES'),
    allowedProperties,
    trustProxy,
    drainTimeoutMs: int('DRAIN_TIMEOUT_MS'),
    requestTimeoutMs: int('REQUEST_TIMEOUT_MS'),
    memoryStoreCapacity: int('MEMORY_STORE_CAPACITY'),
    requestLog: { slowMs: int('LOG_SLOW_REQUEST_MS'), perSecond: int('LOG_REQUESTS_PER_SECOND') },
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}
