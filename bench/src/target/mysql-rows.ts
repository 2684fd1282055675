// Rows written to `incoming` during a stage, counted in MySQL itself (MYSQL_URL). Between stages the target is
// idle, so "rows with an id above the stage's starting maximum" is exact and cheap (a primary-key range scan),
// unlike COUNT(*) over a table that grows by millions of rows in a soak. Over the bench's reconnecting pool
// (mysql-pool.ts): a count that fails while the database is down is a warning for that stage, and the next stage
// counts again.
import type { Pool, RowDataPacket } from 'mysql2/promise';
import { benchDbPool } from './mysql-pool';

export class RowCounter {
  constructor(readonly pool: Pool, private readonly ownsPool = false) {}

  /** A counter on a pool of its own, connected (the connection is checked now, so a wrong URL fails at once). */
  static async connect(url: string, timeoutMs = 5000): Promise<RowCounter> {
    const pool = benchDbPool(url, timeoutMs);
    try {
      await pool.query('SELECT 1');
    } catch (e) {
      await pool.end().catch(() => undefined);
      throw e;
    }
    return new RowCounter(pool, true);
  }

  /** The current highest id (0 for an empty table): the mark a stage's count starts from. */
  async mark(): Promise<number> {
    const [rows] = await this.pool.query<RowDataPacket[]>({ sql: 'SELECT COALESCE(MAX(id), 0) AS m FROM incoming', timeout: 10_000 });
    return Number(rows[0]?.m ?? 0);
  }

  async countSince(mark: number): Promise<number> {
    const [rows] = await this.pool.query<RowDataPacket[]>({ sql: 'SELECT COUNT(*) AS n FROM incoming WHERE id > ?', values: [mark], timeout: 30_000 });
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Rows since `mark` that carry an idempotency key, and how many distinct keys they hold: the difference is rows
   * stored twice for one Push (the bench sends a key of its own with every request). Undefined when the table has
   * no idempotency_key column (a service from before migration 2).
   */
  async keysSince(mark: number): Promise<{ keyed: number; distinct: number } | undefined> {
    try {
      const [rows] = await this.pool.query<RowDataPacket[]>({
        sql: 'SELECT COUNT(idempotency_key) AS keyed, COUNT(DISTINCT idempotency_key) AS n FROM incoming WHERE id > ?',
        values: [mark],
        timeout: 30_000,
      });
      return { keyed: Number(rows[0]?.keyed ?? 0), distinct: Number(rows[0]?.n ?? 0) };
    } catch (e) {
      if ((e as { code?: string }).code === 'ER_BAD_FIELD_ERROR') return undefined;
      throw e;
    }
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.end().catch(() => undefined);
  }
}
