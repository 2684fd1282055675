// The reference failure: MySQL refuses connections with error 1040 (ER_CON_COUNT_ERROR, at handshake) because the
// service's pool may open more connections than the server's max_connections. The client sees `unavailable`; the
// service counts the Pushes its failed flushes carried by error code (pageview_rows_failed_total) and the refused
// connections (db_client_connection_errors_total); MySQL's own max_connections tells whether the pool is too big.
import type { Diagnosis, StageEvidence } from './evidence';

export const RULE = 'mysql-too-many-connections';
const CODE = 'ER_CON_COUNT_ERROR';

export function tooManyConnections(e: StageEvidence): Diagnosis | null {
  const s = e.server;
  const failedPushes = s?.rows_failed[CODE] ?? 0;
  const refused = Object.entries(s?.db_connection_errors ?? {})
    .filter(([k]) => k.startsWith(`${CODE}/`) || k.endsWith('/1040'))
    .reduce((a, [, v]) => a + v, 0);
  const mysqlRefused = e.mysql?.connection_errors_max_connections ?? 0;
  if (failedPushes === 0 && refused === 0 && mysqlRefused === 0) return null;
  const errors = e.client.counts.errors;
  const poolMax = s?.pool_max;
  const maxConn = e.mysql?.max_connections;
  // The client sees 1040 as `unavailable`; the service may have failed more Pushes with it than the client saw
  // answered (callers that hung up or were cut at the stage's end), so the client's share is at most its own count.
  const attributed = Math.min(failedPushes, e.client.by_twirp_code.unavailable ?? 0);
  const what = attributed > 0
    ? `${attributed} of ${errors} errors are MySQL 1040 (too many connections)`
    : `MySQL refused ${Math.max(refused, mysqlRefused, failedPushes)} connections or Pushes with 1040 (too many connections)`;
  let why: string;
  if (poolMax !== undefined && maxConn !== undefined && poolMax > maxConn) {
    why = `the service's pool (${poolMax}) exceeds max_connections (${maxConn})`;
  } else if (maxConn !== undefined) {
    why = `max_connections (${maxConn}) was reached (${e.mysql!.max_used_connections} used at most)` +
      (poolMax !== undefined ? ` with the service's pool at ${poolMax}: other clients hold connections too` : '');
  } else {
    why = `the service's pool${poolMax !== undefined ? ` (${poolMax})` : ''} opens more connections than the server allows` +
      ' (set MYSQL_URL for the bench to read max_connections)';
  }
  return {
    rule: RULE,
    severity: 'error',
    text: `${what}: ${why}`,
    evidence: {
      client_errors: errors,
      client_errors_1040: attributed,
      pushes_failed_1040: failedPushes,
      connections_refused_1040: refused,
      mysql_connection_errors_max_connections: e.mysql?.connection_errors_max_connections ?? null,
      pool_max: poolMax ?? null,
      max_connections: maxConn ?? null,
      max_used_connections: e.mysql?.max_used_connections ?? null,
    },
  };
}
