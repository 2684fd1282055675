// Versioned, idempotent schema migrations. Each runs once, recorded in schema_migrations; a named lock keeps
// concurrent starts from applying the same step twice. Append new steps; never edit an applied one.

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'create incoming',
    // The seed schema of the reference stats service, with remote_ip sized for IPv6 text.
    sql: `CREATE TABLE IF NOT EXISTS incoming (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
      property VARCHAR(32) NOT NULL,
      property_section INT UNSIGNED NOT NULL,
      property_id INT UNSIGNED NOT NULL,
      remote_ip VARCHAR(255) NOT NULL,
      stamp DATETIME(3) NOT NULL,
      PRIMARY KEY (id)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
  },
  {
    version: 2,
    name: 'incoming idempotency key',
    // The Push's Idempotency-Key header (validate.ts: 1 to 128 of A-Z a-z 0-9 . _ ~ : + / = -). Nullable: Pushes
    // without a key store NULL, and a unique index holds any number of NULLs. A binary collation, so keys that
    // differ only in case are different keys (the default collation would fold them together).
    sql: `ALTER TABLE incoming
      ADD COLUMN idempotency_key VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NULL,
      ADD UNIQUE KEY incoming_idempotency_key (idempotency_key)`,
  },
];

export const MIGRATIONS_TABLE_SQL = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INT UNSIGNED NOT NULL PRIMARY KEY,
  name VARCHAR(200) NOT NULL,
  applied_at DATETIME(3) NOT NULL
) ENGINE=InnoDB`;

export const MIGRATION_LOCK = 'pageview_schema_migrations';
export const MIGRATION_LOCK_TIMEOUT_S = 30;

/** Minimal query surface migrations need (a pooled connection). */
export interface Queryable {
  query<T = unknown>(sql: string, values?: unknown): Promise<T>;
}

/** Applies every pending migration; returns the versions applied now (empty when up to date). */
export async function applyMigrations(conn: Queryable, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  const locked = await conn.query<Array<{ ok: number | null }>>('SELECT GET_LOCK(?, ?) AS ok', [
    MIGRATION_LOCK,
    MIGRATION_LOCK_TIMEOUT_S,
  ]);
  if (locked[0]?.ok !== 1) throw new Error(`could not take the migration lock within ${MIGRATION_LOCK_TIMEOUT_S}s`);
  try {
    await conn.query(MIGRATIONS_TABLE_SQL);
    const rows = await conn.query<Array<{ version: number }>>('SELECT version FROM schema_migrations');
    const done = new Set(rows.map((r) => Number(r.version)));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await conn.query(m.sql);
      await conn.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, UTC_TIMESTAMP(3))', [
        m.version,
        m.name,
      ]);
      applied.push(m.version);
    }
    return applied;
  } finally {
    await conn.query('SELECT RELEASE_LOCK(?)', [MIGRATION_LOCK]).catch(() => undefined);
  }
}
