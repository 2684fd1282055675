// A bounded MySQL connection pool on mysql2 connections. mysql2's own pool has no acquire timeout, treats
// queueLimit 0 as unbounded and keeps its statistics private; this one bounds every dimension, exposes its
// counts for the db_client_connection_* metrics, and drops a connection as soon as mysql2 reports it dead.
import mysql, { type Connection, type QueryError } from 'mysql2';
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
  /** Connections being opened (counted against the limit). */
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

interface Waiter {
  resolve(conn: PooledConnection): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  startedAt: number;
}

export interface PooledConnection {
  /** Runs one statement; rejects with mysql2's error. A fatal error marks the connection broken. */
  query<T = unknown>(sql: string, values?: unknown): Promise<T>;
  /** Returns the connection to the pool (or closes it when it broke). Call exactly once. */
  release(): void;
}

interface Slot {
  conn: Connection;
  broken: boolean;
  /** Set before the pool itself ends the connection, so that its 'end' is not counted as a loss. */
  retired: boolean;
  lastUsed: number;
}

export class MysqlPool {
  private readonly idle: Slot[] = [];
  private readonly used = new Set<Slot>();
  private connecting = 0;
  private readonly waiters: Waiter[] = [];
  private closed = false;
  private readonly reaper: NodeJS.Timeout;

  constructor(
    private readonly url: string,
    private readonly cfg: PoolConfig,
    private readonly observer: PoolObserver = {},
  ) {
    this.reaper = setInterval(() => this.reapIdle(), Math.min(1_000, cfg.idleTimeoutMs));
    this.reaper.unref();
  }

  stats(): PoolStats {
    return {
      idle: this.idle.length,
      used: this.used.size,
      connecting: this.connecting,
      max: this.cfg.connectionLimit,
      pending: this.waiters.length,
    };
  }

  private get total(): number {
    return this.idle.length + this.used.size + this.connecting;
  }

  async acquire(): Promise<PooledConnection> {
    if (this.closed) throw new PoolError('POOL_CLOSED', 'connection pool is closed');
    const slot = this.idle.pop();
    if (slot !== undefined) {
      this.used.add(slot);
      this.observer.onAcquire?.(0);
      return this.wrap(slot);
    }
    if (this.total < this.cfg.connectionLimit) {
      const started = performance.now();
      const fresh = await this.open();
      this.used.add(fresh);
      this.observer.onAcquire?.((performance.now() - started) / 1000);
      return this.wrap(fresh);
    }
    if (this.waiters.length >= this.cfg.queueLimit) {
      throw new PoolError(
        'POOL_QUEUE_FULL',
        `all ${this.cfg.connectionLimit} connections are busy and ${this.waiters.length} callers are waiting`,
      );
    }
    return new Promise<PooledConnection>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        startedAt: performance.now(),
        timer: setTimeout(() => {
          const i = this.waiters.indexOf(waiter);
          if (i >= 0) this.waiters.splice(i, 1);
          this.observer.onAcquireTimeout?.();
          reject(new PoolError('POOL_ACQUIRE_TIMEOUT', `no connection free within ${this.cfg.acquireTimeoutMs} ms`));
        }, this.cfg.acquireTimeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  /** Opens one connection; counts against the limit while the handshake runs. */
  private open(): Promise<Slot> {
    this.connecting += 1;
    return new Promise<Slot>((resolve, reject) => {
      let conn: Connection;
      try {
        conn = mysql.createConnection({
          uri: this.url,
          connectTimeout: this.cfg.connectTimeoutMs,
          timezone: 'Z',
          supportBigNumbers: true,
          // A statement without values goes out as it is. mysql2 otherwise scans every statement for placeholders,
          // which for a batch INSERT (built complete by insert-sql.ts) is a pass over kilobytes of text per flush.
          queryFormat: formatQuery,
        });
      } catch (err) {
        this.connecting -= 1;
        reject(err as Error);
        return;
      }
      const slot: Slot = { conn, broken: false, retired: false, lastUsed: Date.now() };
      let settled = false;
      conn.on('error', (err: QueryError) => {
        // mysql2 emits fatal errors here when no query is waiting (e.g. the server went away while idle).
        if (!slot.retired) this.markBroken(slot, err);
        this.dropIdle(slot);
        if (!settled) {
          settled = true;
          this.connecting -= 1;
          conn.destroy();
          reject(err);
          this.serveWaiters();
        }
      });
      // The server closed the connection (restart, wait_timeout, kill): count it unless the pool ended it.
      conn.on('end', () => {
        if (slot.retired) return;
        this.markBroken(slot, { code: 'PROTOCOL_CONNECTION_LOST' });
        this.dropIdle(slot);
      });
      conn.connect((err) => {
        if (settled) return;
        settled = true;
        this.connecting -= 1;
        if (err) {
          this.markBroken(slot, err);
          conn.destroy();
          reject(err);
          this.serveWaiters();
          return;
        }
        if (this.closed) {
          conn.destroy();
          reject(new PoolError('POOL_CLOSED', 'connection pool is closed'));
          return;
        }
        resolve(slot);
      });
    });
  }

  /** Closes a connection the pool no longer wants: politely (COM_QUIT) or at once. */
  private retire(slot: Slot, destroy: boolean): void {
    slot.retired = true;
    if (destroy) slot.conn.destroy();
    else slot.conn.end(() => undefined);
  }

  /** Counts a connection's death once, however many ways mysql2 reports it. */
  private markBroken(slot: Slot, err: { code?: string; errno?: number }): void {
    if (slot.broken) return;
    slot.broken = true;
    this.observer.onConnectionError?.(err.code ?? 'UNKNOWN', err.errno);
  }

  private dropIdle(slot: Slot): void {
    const i = this.idle.indexOf(slot);
    if (i >= 0) {
      this.idle.splice(i, 1);
      this.retire(slot, true);
      this.serveWaiters();
    }
  }

  private wrap(slot: Slot): PooledConnection {
    let released = false;
    return {
      query: <T>(sql: string, values?: unknown) =>
        new Promise<T>((resolve, reject) => {
          slot.conn.query({ sql, values: values as never, timeout: this.cfg.queryTimeoutMs }, (err: unknown, rows: unknown) => {
            if (err) {
              const e = err as QueryError;
              // A timed-out query leaves the connection in an unknown state; fatal errors end it.
              if (e.fatal || e.code === 'PROTOCOL_SEQUENCE_TIMEOUT') this.markBroken(slot, e);
              reject(e);
              return;
            }
            resolve(rows as T);
          });
        }),
      release: () => {
        if (released) return;
        released = true;
        this.release(slot);
      },
    };
  }

  private release(slot: Slot): void {
    this.used.delete(slot);
    if (slot.broken || this.closed) {
      this.retire(slot, true);
      this.serveWaiters();
      return;
    }
    slot.lastUsed = Date.now();
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      clearTimeout(waiter.timer);
      this.used.add(slot);
      this.observer.onAcquire?.((performance.now() - waiter.startedAt) / 1000);
      waiter.resolve(this.wrap(slot));
      return;
    }
    if (this.idle.length >= this.cfg.idleLimit) {
      this.retire(slot, false);
      return;
    }
    this.idle.push(slot);
  }

  /** After a connection went away, open a replacement for the longest waiter (if any). */
  private serveWaiters(): void {
    if (this.closed || this.waiters.length === 0 || this.total >= this.cfg.connectionLimit) return;
    const waiter = this.waiters.shift()!;
    this.open().then(
      (slot) => {
        clearTimeout(waiter.timer);
        this.used.add(slot);
        this.observer.onAcquire?.((performance.now() - waiter.startedAt) / 1000);
        waiter.resolve(this.wrap(slot));
      },
      (err: Error) => {
        clearTimeout(waiter.timer);
        waiter.reject(err);
      },
    );
  }

  private reapIdle(): void {
    const cutoff = Date.now() - this.cfg.idleTimeoutMs;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const slot = this.idle[i]!;
      if (slot.lastUsed < cutoff) {
        this.idle.splice(i, 1);
        this.retire(slot, false);
      }
    }
  }

  /** Rejects waiters, closes idle connections now and used ones as they are released. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.reaper);
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new PoolError('POOL_CLOSED', 'connection pool is closed'));
    }
    const ends = this.idle.splice(0).map(
      (slot) =>
        new Promise<void>((resolve) => {
          slot.retired = true;
          const t = setTimeout(() => {
            slot.conn.destroy();
            resolve();
          }, 1_000);
          slot.conn.end(() => {
            clearTimeout(t);
            resolve();
          });
        }),
    );
    await Promise.all(ends);
  }
}
