// The text of one multi-row INSERT, built directly instead of through mysql2's placeholder formatting. The values
// are already validated (property from the allow-list, integers within uint32, an address from the socket or a
// trusted header), so building is concatenation: integers as decimal text, strings quoted and escaped only when
// they hold a character MySQL treats specially, the stamp as a UTC DATETIME(3) literal computed once per
// millisecond. mysql2's generic formatter walks every value through type checks and regular expressions and
// costs about six times as much per row (service/perf/hot-path-costs.ts compares the two), a share of what a Push
// costs that this avoids.
//
// Escaping follows MySQL's string literal rules for the default sql_mode
// (https://dev.mysql.com/doc/refman/8.4/en/string-literals.html), the same characters mysql2 escapes:
// NUL, backspace, tab, newline, carriage return, Ctrl-Z, both quotes and backslash.
import type { PageviewRow } from './store';

export const INSERT_PREFIX = 'INSERT INTO incoming (property, property_section, property_id, remote_ip, stamp) VALUES ';

const SPECIAL = /[\0\b\t\n\r\x1a"'\\]/;
const SPECIAL_ALL = /[\0\b\t\n\r\x1a"'\\]/g;
const ESCAPES: Record<string, string> = {
  '\0': '\\0',
  '\b': '\\b',
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
  '\x1a': '\\Z',
  '"': '\\"',
  "'": "\\'",
  '\\': '\\\\',
};

/** A quoted MySQL string literal. */
export function sqlString(s: string): string {
  return SPECIAL.test(s) ? `'${s.replace(SPECIAL_ALL, (c) => ESCAPES[c]!)}'` : `'${s}'`;
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
 * Builds `INSERT ... VALUES (...),(...)` for `rows` (at least one). Rows of one batch share few distinct stamps,
 * properties and addresses, so each literal is computed once per run of equal values.
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
    sql += `${i === 0 ? '(' : ',('}${property},${sqlUint(r.section)},${sqlUint(r.id)},${ip},${stamp})`;
  }
  return sql;
}
