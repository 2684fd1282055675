// The text of one multi-row INSERT, built directly instead of through mysql2's placeholder formatting. The values
// are already validated (property from the allow-list, integers within uint32, an address from the socket or a
// trusted header), so building is concatenation: integers as decimal text, strings quoted and escaped only when
// they hold a character MySQL treats specially, the stamp as a UTC DATETIME(3) literal computed once per
// millisecond. mysql2's generic formatter walks every value through type checks and regular expressions and
// costs about six times as much per row (service/perf/hot-path-costs.ts compares the two), a share of what a Push
// costs that this avoids.
//
// Strings are written so that they mean the same in every sql_mode: a value of printable ASCII other than the quote
// and the backslash goes between single quotes as it is (no escape needed, none interpreted), anything else as a
// hexadecimal literal with a character set introducer, `_utf8mb4 X'6e657773'`
// (https://mariadb.com/kb/en/hexadecimal-literals/, https://dev.mysql.com/doc/refman/8.4/en/charset-introducer.html).
// Backslash escapes depend on the session: with NO_BACKSLASH_ESCAPES a backslash is an ordinary character, so an
// escaped quote ends the literal early and an escaped backslash is stored twice. The introducer makes the literal a
// utf8mb4 string whatever character_set_connection is, so the column receives exactly the value's UTF-8 bytes.
import type { PageviewRow } from './store';

export const INSERT_COLUMNS = 'property, property_section, property_id, remote_ip, stamp, idempotency_key';
export const INSERT_PREFIX = `INSERT INTO incoming (${INSERT_COLUMNS}) VALUES `;
/**
 * A row whose idempotency key is already stored (or appears earlier in the same statement) changes nothing, and the
 * statement still succeeds for every row: the Push that carried it is a retry of one that was committed.
 * (INSERT IGNORE would also turn a value too long for its column into a warning and store it truncated.)
 */
export const INSERT_SUFFIX = ' ON DUPLICATE KEY UPDATE id = id';

/** Printable ASCII except the quote and the backslash: the same text in every sql_mode between single quotes. */
const PLAIN = /^[\x20-\x26\x28-\x5b\x5d-\x7e]*$/;

/** A string literal that means the same in every sql_mode and connection character set. */
export function sqlString(s: string): string {
  if (PLAIN.test(s)) return `'${s}'`;
  return `_utf8mb4 X'${Buffer.from(s, 'utf8').toString('hex')}'`;
}

/** A non-negative integer as SQL text; anything else is refused (the caller validated it, so this is a bug). */
export function sqlUint(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new TypeError(`not a non-negative integer: ${String(n)}`);
  return String(n);
}

const pad2 = (n: number): string => (n < 10 ? `0${n}` : String(n));
const pad3 = (n: number): string => (n < 10 ? `00${n}` : n < 100 ? `0${n}` : String(n));

/** Epoch milliseconds as a quoted UTC DATETIME(3) literal: '2026-12-01 18:30:15.123'. */
export function sqlDatetime(ms: number): string {
  const d = new Date(ms);
  const y = d.getUTCFullYear();
  if (!Number.isFinite(y) || y < 1000 || y > 9999) throw new RangeError(`timestamp out of DATETIME range: ${ms}`);
  return `'${y}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(
    d.getUTCMinutes(),
  )}:${pad2(d.getUTCSeconds())}.${pad3(d.getUTCMilliseconds())}'`;
}

/**
 * Builds `INSERT ... VALUES (...),(...) ON DUPLICATE KEY UPDATE id = id` for `rows` (at least one). Rows of one batch
 * share few distinct stamps, properties and addresses, so each literal is computed once per run of equal values.
 */
export function buildInsert(rows: readonly PageviewRow[]): string {
  if (rows.length === 0) throw new RangeError('buildInsert needs at least one row');
  let sql = INSERT_PREFIX;
  let lastMs = Number.NaN;
  let stamp = '';
  let lastProperty: string | undefined;
  let property = '';
  let lastIp: string | undefined;
  let ip = '';
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    if (r.stampMs !== lastMs) {
      lastMs = r.stampMs;
      stamp = sqlDatetime(lastMs);
    }
    if (r.property !== lastProperty) {
      lastProperty = r.property;
      property = sqlString(lastProperty);
    }
    if (r.remoteIp !== lastIp) {
      lastIp = r.remoteIp;
      ip = sqlString(lastIp);
    }
    const key = r.idempotencyKey === undefined ? 'NULL' : sqlString(r.idempotencyKey);
    sql += `${i === 0 ? '(' : ',('}${property},${sqlUint(r.section)},${sqlUint(r.id)},${ip},${stamp},${key})`;
  }
  return sql + INSERT_SUFFIX;
}
