// Defensive reads of summary.json fields: a summary is data from another run (maybe another bench version), so a
// field of the wrong type is treated as missing, never trusted and never a crash.

export type Obj = Record<string, unknown>;

export function obj(v: unknown): Obj | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : null;
}

export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function objs(v: unknown): Obj[] {
  return arr(v).map(obj).filter((o): o is Obj => o !== null);
}

export function num(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

export function str(v: unknown): string | null {
  return typeof v === 'string' ? v : null;
}

/** A path of keys, e.g. at(stage, 'latency_ms', 'p99'). */
export function at(v: unknown, ...keys: string[]): unknown {
  let cur: unknown = v;
  for (const k of keys) {
    const o = obj(cur);
    if (!o) return undefined;
    cur = o[k];
  }
  return cur;
}

export function numAt(v: unknown, ...keys: string[]): number | null {
  return num(at(v, ...keys));
}

/** A Record<string, number> (counts by code); entries that are not finite numbers are left out. */
export function counts(v: unknown): Record<string, number> {
  const o = obj(v);
  const out: Record<string, number> = {};
  if (!o) return out;
  for (const [k, x] of Object.entries(o)) if (num(x) !== null) out[k] = x as number;
  return out;
}

export function timeMs(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : null;
}
