// The MySQL connection pool: tarn (the pool knex uses) over single mysql2 connections. mysql2's own pool has no
// acquire timeout, treats queueLimit 0 as unbounded and keeps its statistics private; tarn bounds the pool size,
// the acquire, the open and the idle time and counts what it holds. What tarn has no option for, this file adds
// around its public API: the bound on waiting callers, the bound on idle connections, and dropping a connection as
// soon as mysql2 reports it dead (tarn discards it through `validate` the next time it would hand it out).
import mysql, { type Connection, type QueryError } from 'mysql2';
import { Pool as TarnPool, TimeoutError } from 'tarn';
import type { PoolConfig } from '../config';

function formatQuery(sql: string, values: unknown): string {
  if (values === undefined || (Array.isArray(values) && values.length === 0)) return sql;
  return mysql.format(sql, values as never, false, 'Z');
}

export class PoolError extends Error {
  readonly code: 'POOL_ACQUIRE_TIMEOUT' | 'POOL_QUEUE_FULL' | 'POOL_CLOSED';
  constructor(code: PoolError['code'], message: string) {
    super(message);
    this.name = 'PoolError';
    this.code = code;
  }
}

export interface PoolStats {
  idle: number;
  used: number;
  /** Connections being opened (not yet counted as used or idle). */
  connecting: number;
  max: number;
  pending: number;
}

/** Hooks the metrics layer subscribes to; the pool itself knows nothing about Prometheus. */
export interface PoolObserver {
  onAcquire?(waitSeconds: number): void;
  onAcquireTimeout?(): void;
  onConnectionError?(code: string, errno: number | undefined): void;
}

/** What a connection offers: one statement at a time. */
export interface Queryable {
  /** Runs one statement; rejects with mysql2's error. A fatal error marks the connection broken. */
  query<T = unknown>(sql: string, values?: unknown): Promise<T>;
}

export interface PooledConnection extends Queryable {
  /** Returns the connection to the pool (or closes it when it broke). Call exactly once. */
  release(): void;
}

export interface PoolOptions {
  observer?: PoolObserver;
  /**
   * Session setup run once on every new connection before the pool hands it out (e.g. `SET SESSION sql_mode`).
   * A failure closes the connection and fails the acquire that waited for it.
   */
  onConnect?: (conn: Queryable) => Promise<void>;
}

/** One mysql2 connection as the pool holds it. */
class Conn implements Queryable {
  /** mysql2 reported it dead, or the pool retired it (surplus idle): never handed out again. */
  closed = false;
  /** Counted in `retiredInPool` (tarn still lists it until its validate or reaper discards it). */
  awaitingDiscard = false;
  /** Between acquire and release. */
  held = false;
  constructor(
    readonly connection: Connection,
    private readonly queryTimeoutMs: number,
  ) {}

  query<T>(sql: string, values?: unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.connection.query({ sql, values: values as never, timeout: this.queryTimeoutMs }, (err: unknown, rows: unknown) => {
        if (err) {
          const e = err as QueryError;
          // A timed-out query leaves the connection in an unknown state; fatal errors end it.
          if (e.fatal || e.code === 'PROTOCOL_SEQUENCE_TIMEOUT') this.onDeath?.(e);
          reject(e);
          return;
        }
        resolve(rows as T);
      });
    });
  }

  /** Set by the pool: called once per way mysql2 reports the connection's death. */
  onDeath: ((err: { code?: string; errno?: number }) => void) | undefined;
}

const CLOSE_TIMEOUT_MS = 1_000;

/** Ends a connection politely (COM_QUIT), or at once when the server does not answer within a second. */
function endConnection(connection: Connection): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      connection.destroy();
      resolve();
    }, CLOSE_TIMEOUT_MS);
    timer.unref();
    connection.end(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

export class MysqlPool {
  private readonly pool: TarnPool<Conn>;
  /** Acquires in flight, so that close() can abort them at once (tarn's destroy waits for used connections first). */
  private readonly acquiring = new Set<{ abort(): void }>();
  /** Closed connections tarn still lists as free (see Conn.awaitingDiscard). */
  private retiredInPool = 0;
  private closed = false;
  private readonly observer: PoolObserver;

  constructor(
    private readonly url: string,
    private readonly cfg: PoolConfig,
    opts: PoolOptions = {},
  ) {
    this.observer = opts.observer ?? {};
    const onConnect = opts.onConnect;
    this.pool = new TarnPool<Conn>({
      create: () => this.open(onConnect),
      destroy: (conn) => this.discard(conn),
      validate: (conn) => !conn.closed,
      min: 0,
      max: cfg.connectionLimit,
      acquireTimeoutMillis: cfg.acquireTimeoutMs,
      // mysql2's connectTimeout bounds the handshake with a clear ETIMEDOUT; tarn's bound is only a backstop.
      createTimeoutMillis: cfg.connectTimeoutMs + 1_000,
      idleTimeoutMillis: cfg.idleTimeoutMs,
      reapIntervalMillis: Math.min(1_000, cfg.idleTimeoutMs),
      // A failed open fails the acquire waiting for it now (ECONNREFUSED, 1040) instead of at the acquire timeout.
      propagateCreateError: true,
    });
  }

  stats(): PoolStats {
    return {
      // Math.max: while tarn validates a retired connection it briefly lists it as used.
      idle: Math.max(0, this.pool.numFree() - this.retiredInPool),
      used: this.pool.numUsed(),
      connecting: this.pool.numPendingCreates(),
      max: this.cfg.connectionLimit,
      pending: this.pool.numPendingAcquires(),
    };
  }

  async acquire(): Promise<PooledConnection> {
    if (this.closed) throw new PoolError('POOL_CLOSED', 'connection pool is closed');
    const p = this.pool;
    // Would this caller wait for someone else's release? Then it counts against the waiting bound. (An acquire
    // served by a connection being opened is not waiting on anyone.)
    const mustWait = p.numFree() - this.retiredInPool <= 0 && p.numUsed() + p.numPendingCreates() >= this.cfg.connectionLimit;
    const waiting = p.numPendingAcquires() - p.numPendingCreates();
    if (mustWait && waiting >= this.cfg.queueLimit) {
      throw new PoolError(
        'POOL_QUEUE_FULL',
        `all ${this.cfg.connectionLimit} connections are busy and ${Math.max(0, waiting)} callers are waiting`,
      );
    }
    const started = performance.now();
    const op = p.acquire();
    this.acquiring.add(op);
    let conn: Conn;
    try {
      conn = await op.promise;
    } catch (err) {
      if (this.closed) throw new PoolError('POOL_CLOSED', 'connection pool is closed');
      if (err instanceof TimeoutError) {
        this.observer.onAcquireTimeout?.();
        throw new PoolError('POOL_ACQUIRE_TIMEOUT', `no connection free within ${this.cfg.acquireTimeoutMs} ms`);
      }
      throw err;
    } finally {
      this.acquiring.delete(op);
    }
    conn.held = true;
    this.observer.onAcquire?.((performance.now() - started) / 1000);
    let released = false;
    return {
      query: (sql, values) => conn.query(sql, values),
      release: () => {
        if (released) return;
        released = true;
        this.release(conn);
      },
    };
  }

  private release(conn: Conn): void {
    conn.held = false;
    if (!conn.closed && this.pool.numFree() - this.retiredInPool >= this.cfg.idleLimit) {
      // Over the idle bound: the surplus connection is closed now, not left for the idle timeout.
      this.retire(conn);
      void endConnection(conn.connection);
    }
    if (conn.closed) this.countRetired(conn);
    this.pool.release(conn);
  }

  /** Opens one mysql2 connection and runs the session setup; tarn counts it as pending until it resolves. */
  private async open(onConnect: PoolOptions['onConnect']): Promise<Conn> {
    const connection = mysql.createConnection({
      uri: this.url,
      connectTimeout: this.cfg.connectTimeoutMs,
      timezone: 'Z',
      supportBigNumbers: true,
      // A statement without values goes out as it is. mysql2 otherwise scans every statement for placeholders,
      // which for a batch INSERT (built complete by insert-sql.ts) is a pass over kilobytes of text per flush.
      queryFormat: formatQuery,
    });
    const conn = new Conn(connection, this.cfg.queryTimeoutMs);
    let dead = false;
    conn.onDeath = (err) => {
      if (dead) return;
      dead = true;
      this.observer.onConnectionError?.(err.code ?? 'UNKNOWN', err.errno);
      if (!conn.closed) {
        this.retire(conn);
        connection.destroy();
        // A connection that dies while idle is still listed free by tarn until it is discarded.
        if (!conn.held) this.countRetired(conn);
      }
    };
    // mysql2 emits fatal errors here when no query is waiting (e.g. the server went away while idle).
    connection.on('error', (err: QueryError) => conn.onDeath?.(err));
    // The server closed the connection (restart, wait_timeout, kill): a loss unless the pool ended it.
    connection.on('end', () => {
      if (!conn.closed) conn.onDeath?.({ code: 'PROTOCOL_CONNECTION_LOST' });
    });
    try {
      await new Promise<void>((resolve, reject) => connection.connect((err) => (err ? reject(err) : resolve())));
      if (onConnect !== undefined) await onConnect(conn);
    } catch (err) {
      conn.onDeath?.(err as QueryError);
      throw err;
    }
    return conn;
  }

  private retire(conn: Conn): void {
    conn.closed = true;
  }

  private countRetired(conn: Conn): void {
    if (conn.awaitingDiscard) return;
    conn.awaitingDiscard = true;
    this.retiredInPool += 1;
  }

  /** tarn's destroy step: after the idle timeout, a failed validation, or close(). */
  private discard(conn: Conn): Promise<void> {
    if (conn.awaitingDiscard) {
      conn.awaitingDiscard = false;
      this.retiredInPool -= 1;
    }
    const wasClosed = conn.closed;
    this.retire(conn);
    return wasClosed ? Promise.resolve() : endConnection(conn.connection);
  }

  /** Rejects waiters and later acquires at once, closes idle connections, and used ones as they are released. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const op of this.acquiring) op.abort();
    this.acquiring.clear();
    await this.pool.destroy();
  }
}
