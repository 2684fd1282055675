// The bench's own connection to MySQL (MYSQL_URL), for row counts and status reads. A pool of one connection rather
// than one connection: mysql2 drops a pooled connection that died (the server was killed or restarted) and the next
// query opens a fresh one, so these observers come back when the database does instead of failing for the rest of
// the run ("Can't add new command when connection is in closed state"). One connection, opened before the load, so
// a server at max_connections does not refuse the bench's reads too; bounded wait queue and timeouts.
import { createPool, type Pool } from 'mysql2/promise';

export function benchDbPool(url: string, timeoutMs = 5000): Pool {
  return createPool({
    uri: url,
    connectionLimit: 1,
    maxIdle: 1,
    idleTimeout: 600_000,
    queueLimit: 20,
    connectTimeout: timeoutMs,
    enableKeepAlive: true,
  });
}
