// Numbers in diagnosis sentences: milliseconds to three significant digits at most ("136 ms", "1.4 ms", "0.25 ms").
export function ms(v: number): string {
  if (!Number.isFinite(v)) return '-';
  if (v >= 100) return `${Math.round(v)} ms`;
  if (v >= 10) return `${Math.round(v * 10) / 10} ms`;
  if (v >= 1) return `${Math.round(v * 100) / 100} ms`;
  return `${Math.round(v * 1000) / 1000} ms`;
}

export function pct(part: number, whole: number): string {
  if (whole <= 0) return '-';
  const p = (part / whole) * 100;
  return `${p >= 10 || p === 0 ? Math.round(p) : Math.round(p * 10) / 10}%`;
}

/** Seconds: two decimals below 10 s ("1.94 s"), one above ("12.4 s"). */
export function seconds(s: number): string {
  return s < 10 ? `${Math.round(s * 100) / 100} s` : `${Math.round(s * 10) / 10} s`;
}
