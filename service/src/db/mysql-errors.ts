// Which mysql2 / MySQL errors mean "the database is unreachable or saturated, try again" (unavailable) and which
// mean a bug (internal). Codes: https://mariadb.com/kb/en/mariadb-error-codes/ and node's system errors.
import { PoolError } from './pool';
import { StoreError } from './store';

const UNAVAILABLE_CODES = new Set([
  // network and connection life cycle
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
  // server saturated or going away
  'ER_CON_COUNT_ERROR', // 1040 too many connections
  'ER_TOO_MANY_USER_CONNECTIONS', // 1203
  'ER_SERVER_SHUTDOWN', // 1053
  'ER_CONNECTION_KILLED', // 1927
  'ER_QUERY_INTERRUPTED', // 1317
  'ER_LOCK_WAIT_TIMEOUT', // 1205
  'ER_LOCK_DEADLOCK', // 1213
  'ER_OPTION_PREVENTS_STATEMENT', // 1290 read-only
  'ER_OUT_OF_RESOURCES', // 1041
  // pool
  'POOL_ACQUIRE_TIMEOUT',
  'POOL_QUEUE_FULL',
  'POOL_CLOSED',
]);

const UNAVAILABLE_ERRNOS = new Set([1040, 1041, 1053, 1203, 1205, 1213, 1290, 1317, 1927, 2002, 2003, 2006, 2013]);

/** Maps any error from the pool or mysql2 to a StoreError; the original stays as `cause` for logs only. */
export function classifyMysqlError(err: unknown): StoreError {
  if (err instanceof StoreError) return err;
  const e = (err ?? {}) as { code?: unknown; errno?: unknown; fatal?: unknown; message?: unknown };
  const code = typeof e.code === 'string' ? e.code : 'UNKNOWN';
  const errno = typeof e.errno === 'number' ? e.errno : undefined;
  if (err instanceof PoolError) {
    return new StoreError('unavailable', code, `database connection pool: ${err.message}`, { cause: err });
  }
  if (UNAVAILABLE_CODES.has(code) || (errno !== undefined && UNAVAILABLE_ERRNOS.has(errno)) || e.fatal === true) {
    const what = code === 'ER_CON_COUNT_ERROR' ? 'database refused the connection: too many connections' : 'database unavailable';
    return new StoreError('unavailable', code, `${what} (${code})`, { cause: err });
  }
  return new StoreError('internal', code, 'database error', { cause: err });
}
