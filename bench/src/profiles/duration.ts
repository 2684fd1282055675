// Durations as people write them in profiles and flags: "500ms", "30s", "2m", "1h", and compounds like "1m30s"
// (the Go time.ParseDuration / k6 spelling). A bare number is rejected on purpose: "30" could mean s or ms.
const UNIT_MS: Record<string, number> = { us: 0.001, 'µs': 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const PART = /(\d+(?:\.\d+)?)(us|µs|ms|s|m|h)/gy;

/** Parses a duration to milliseconds; returns an error message instead of throwing. */
export function parseDuration(input: unknown): { ms: number } | { error: string } {
  if (typeof input !== 'string') return { error: `must be a duration string like "30s" (got ${describe(input)})` };
  const text = input.trim();
  if (text === '') return { error: 'must be a duration like "30s" (got an empty string)' };
  PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  let m: RegExpExecArray | null;
  while ((m = PART.exec(text)) !== null) {
    total += Number(m[1]) * UNIT_MS[m[2]!]!;
    consumed = PART.lastIndex;
  }
  if (consumed !== text.length) {
    return { error: `must be a duration like "500ms", "30s", "2m", "1h" (got ${JSON.stringify(input)})` };
  }
  return { ms: total };
}

/** Short human form for tables: 1.5s, 250ms, 2m0s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${round(ms)}ms`;
  if (ms < 60_000) return `${round(ms / 1000)}s`;
  const m = Math.floor(ms / 60_000);
  const s = round((ms - m * 60_000) / 1000);
  return `${m}m${s}s`;
}

function round(n: number): string {
  return String(Math.round(n * 100) / 100);
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}
