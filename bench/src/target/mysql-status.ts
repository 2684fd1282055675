// MySQL's own view of a stage (MYSQL_URL): the connection limit and how close the server came to it, read before
// and after the stage. `max_connections` against the service's pool size is the reference failure's cause (error
// 1040, ER_CON_COUNT_ERROR, arrives at handshake); `Max_used_connections` is the server's high-water mark since it
// started, `Connection_errors_max_connections` and `Aborted_connects` count refusals (deltas over the stage).
import type { Pool, RowDataPacket } from 'mysql2/promise';

export interface MysqlStatusReading {
  max_connections: number;
  threads_connected: number;
  max_used_connections: number;
  aborted_connects: number;
  connection_errors_max_connections: number;
}

/** What a stage's evidence holds: the limit, the high-water mark, and refusals during the stage (deltas). */
export type MysqlStageStatus = MysqlStatusReading;

const STATUS = ['Threads_connected', 'Max_used_connections', 'Aborted_connects', 'Connection_errors_max_connections'];

export class MysqlStatus {
  constructor(private readonly pool: Pool) {}

  async read(): Promise<MysqlStatusReading> {
    const [vars] = await this.pool.query<RowDataPacket[]>({ sql: "SHOW GLOBAL VARIABLES LIKE 'max_connections'", timeout: 5000 });
    const [status] = await this.pool.query<RowDataPacket[]>({
      sql: `SHOW GLOBAL STATUS WHERE Variable_name IN (${STATUS.map(() => '?').join(',')})`,
      values: STATUS,
      timeout: 5000,
    });
    const v = (rows: RowDataPacket[], name: string) => {
      const row = rows.find((r) => String(r.Variable_name).toLowerCase() === name.toLowerCase());
      return row === undefined ? 0 : Number(row.Value);
    };
    return {
      max_connections: v(vars, 'max_connections'),
      threads_connected: v(status, 'Threads_connected'),
      max_used_connections: v(status, 'Max_used_connections'),
      aborted_connects: v(status, 'Aborted_connects'),
      connection_errors_max_connections: v(status, 'Connection_errors_max_connections'),
    };
  }
}

/** The stage's view from a reading before and one after (counters as deltas; a restart counts from zero). */
export function mysqlStageStatus(before: MysqlStatusReading | null, after: MysqlStatusReading): MysqlStageStatus {
  const d = (a: number, b: number) => (b >= a ? b - a : b);
  return {
    max_connections: after.max_connections,
    threads_connected: after.threads_connected,
    max_used_connections: after.max_used_connections,
    aborted_connects: before ? d(before.aborted_connects, after.aborted_connects) : after.aborted_connects,
    connection_errors_max_connections: before
      ? d(before.connection_errors_max_connections, after.connection_errors_max_connections)
      : after.connection_errors_max_connections,
  };
}
