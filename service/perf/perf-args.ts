// What the measuring scripts share besides CPU accounting: strict option parsing (a typo is an error, not a
// silently clamped default) and the median they all report.

/** Bad command-line input: reported as one line without a stack, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The catch of a script's main(): a usage error is its message and exit 2, anything else its stack and exit 1. */
export function reportFailure(err: unknown): never {
  if (err instanceof UsageError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
}

/** A whole-number option from `min` to `max`; anything else throws an error naming the option and the range. */
export function wholeArg(name: string, raw: string | undefined, min: number, max: number): number {
  const text = (raw ?? '').trim();
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) {
    throw new UsageError(`--${name} ${JSON.stringify(raw ?? '')}: expected a whole number from ${min} to ${max}`);
  }
  return n;
}

/** The middle value (the mean of the two middle ones for an even count); NaN for no values. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * `--variant name:ENV=value,ENV2=value`: a name (anything before the first colon, not empty) and the settings a
 * variant adds to the environment. Scripts add their own rules on top.
 */
export function parseVariantSpec(spec: string): { name: string; env: Record<string, string> } {
  const colon = spec.indexOf(':');
  if (colon <= 0) throw new UsageError(`--variant ${JSON.stringify(spec)}: expected name:ENV=value[,ENV=value]`);
  const env: Record<string, string> = {};
  for (const pair of spec.slice(colon + 1).split(',').filter((p) => p !== '')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--variant ${JSON.stringify(spec)}: ${JSON.stringify(pair)} is not ENV=value`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { name: spec.slice(0, colon), env };
}
