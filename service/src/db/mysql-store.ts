// The MySQL store: one multi-row INSERT per batch on a pooled connection. Autocommit makes each INSERT its own
// transaction, so a batch is committed whole or not at all; the promise resolves only after the server's OK. A
// failure before the INSERT was handed to a connection (no connection, pool full) is `not_stored`; after it, only
// the server's own refusal is, and a timeout or a lost connection is `unknown` (the commit may have happened).
import type { PoolConfig } from '../config';
import { buildInsert } from './insert-sql';
import { classifyMysqlError } from './mysql-errors';
import { applyMigrations } from './migrations';
import { MysqlPool, type PoolOptions, type PoolStats } from './pool';
import type { Dispatch, PageviewRow, Store } from './store';

export class MysqlStore implements Store {
  readonly kind = 'mysql' as const;
  private readonly pool: MysqlPool;

  /** `opts.onConnect` is where per-connection session settings go (run on every new connection). */
  constructor(url: string, cfg: PoolConfig, opts: PoolOptions = {}) {
    this.pool = new MysqlPool(url, cfg, opts);
  }

  poolStats(): PoolStats {
    return this.pool.stats();
  }

  /** A pooled connection; pool and connect failures leave as classified StoreErrors. */
  private async acquire() {
    try {
      return await this.pool.acquire();
    } catch (err) {
      throw classifyMysqlError(err);
    }
  }

  async migrate(): Promise<number[]> {
    const conn = await this.acquire();
    try {
      return await applyMigrations(conn);
    } finally {
      conn.release();
    }
  }

  async insertBatch(rows: readonly PageviewRow[], dispatch?: Dispatch): Promise<void> {
    if (rows.length === 0) return;
    const sql = buildInsert(rows);
    const conn = await this.acquire();
    try {
      await (dispatch === undefined ? conn.query(sql) : dispatch(() => conn.query(sql)));
    } catch (err) {
      // From here on the INSERT may have reached the server: classified by what its failure proves (mysql-errors.ts).
      throw classifyMysqlError(err, 'sent');
    } finally {
      conn.release();
    }
  }

  async checkWritable(signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const conn = await this.acquire();
    try {
      // Read-only servers report @@read_only = 1; a writable one answers 0.
      const rows = await conn.query<Array<{ ro: number }>>('SELECT @@global.read_only AS ro');
      if (Number(rows[0]?.ro) !== 0) throw Object.assign(new Error('server is read-only'), { code: 'ER_OPTION_PREVENTS_STATEMENT' });
    } catch (err) {
      throw classifyMysqlError(err);
    } finally {
      conn.release();
    }
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
