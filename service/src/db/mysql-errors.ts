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

/**
 * Server errors that refuse a statement for a value in one of its rows (SQLSTATE classes 22 data exception and 23
 * integrity constraint, and MariaDB's codes for a truncated or unstorable value): the rest of a batch may be fine.
 */
const ROW_REFUSED_ERRNOS = new Set([1048, 1062, 1264, 1265, 1292, 1366, 1406, 1452]);

/** Where a failure happened: before the statement was written to a connection, or after. */
export type FailurePoint = 'before_send' | 'sent';

/**
 * Maps any error from the pool or mysql2 to a StoreError; the original stays as `cause` for logs only. `at` says
 * whether the statement had been handed to a connection: after that, only an error packet from the server (it has a
 * SQLSTATE; autocommit rolled the statement back) or a command mysql2 never sent proves nothing was stored. A
 * timeout or a connection lost while waiting for the answer leaves the outcome unknown.
 */
export function classifyMysqlError(err: unknown, at: FailurePoint = 'before_send'): StoreError {
  if (err instanceof StoreError) return err;
  const e = (err ?? {}) as { code?: unknown; errno?: unknown; fatal?: unknown; message?: unknown; sqlState?: unknown };
  const code = typeof e.code === 'string' ? e.code : 'UNKNOWN';
  const errno = typeof e.errno === 'number' ? e.errno : undefined;
  if (err instanceof PoolError) {
    return new StoreError('unavailable', code, `database connection pool: ${err.message}`, { cause: err });
  }
  const serverRefused = typeof e.sqlState === 'string' && errno !== undefined && errno > 0;
  const neverSent = code.startsWith('PROTOCOL_ENQUEUE_');
  if (at === 'sent' && !serverRefused && !neverSent) {
    return new StoreError('unavailable', code, `the database did not answer the write (${code}); it may have been stored`, {
      cause: err,
      outcome: 'unknown',
    });
  }
  if (UNAVAILABLE_CODES.has(code) || (errno !== undefined && UNAVAILABLE_ERRNOS.has(errno)) || e.fatal === true) {
    const what = code === 'ER_CON_COUNT_ERROR' ? 'database refused the connection: too many connections' : 'database unavailable';
    return new StoreError('unavailable', code, `${what} (${code})`, { cause: err });
  }
  const rowRefused = serverRefused && (ROW_REFUSED_ERRNOS.has(errno) || /^2[23]/.test(e.sqlState as string));
  return new StoreError('internal', code, rowRefused ? 'the database refused a value of the row' : 'database error', {
    cause: err,
    rowRefused,
  });
}
