// `npm run bench -- calibrate`: this machine's open- and closed-model capacity for one bench process (calibrate.ts).
import { EXIT, usageError, type Command } from '../command';
import { parseFlags, flagHelp, type FlagSpecs } from '../flags';
import { parseDuration } from '../profiles/duration';
import { calibrate, CALIBRATE_DEFAULTS, formatCalibration, formatProbe } from '../calibrate';

const FLAGS = {
  duration: { type: 'string', arg: 'D', help: `length of each probe (default ${CALIBRATE_DEFAULTS.probeMs / 1000}s, 1s..60s)` },
  p99: { type: 'string', arg: 'D', help: `the p99 a held open-model rate stays below (default ${CALIBRATE_DEFAULTS.p99FloorMs}ms)` },
  connections: { type: 'string', arg: 'N', help: `closed-model connections (default ${CALIBRATE_DEFAULTS.connections})` },
  probes: { type: 'string', arg: 'N', help: `open-model probes after the first, a bisection (default ${CALIBRATE_DEFAULTS.probes}, at most 20)` },
  json: { type: 'boolean', help: 'print the calibration as JSON on stdout (the table goes to stderr)' },
} as const satisfies FlagSpecs;

const HELP = [
  'Usage: npm run bench -- calibrate [--duration D] [--p99 D] [--connections N] [--probes N] [--json]',
  '',
  'Finds how much load one bench process can honestly send on this machine: against a built-in target that',
  'answers at once (in its own process), the closed model\'s rate, then the highest open-model rate held within',
  '1% of its target with nothing dropped and p99 below the floor. Takes about (probes + 3) x duration.',
  '',
  'Options:',
  ...flagHelp(FLAGS),
].join('\n') + '\n';

export const command: Command = {
  name: 'calibrate',
  summary: 'find the rate one bench process can honestly send on this machine (open and closed model)',
  help: () => HELP,
  async run(argv, io, signal) {
    const { values: v, errors } = parseFlags(argv, FLAGS);
    const o = { ...CALIBRATE_DEFAULTS };
    const ms = (flag: string, raw: string | undefined, min: number, max: number): number | undefined => {
      if (raw === undefined) return undefined;
      const d = parseDuration(raw);
      if ('error' in d) errors.push(`--${flag} ${d.error}`);
      else if (d.ms < min || d.ms > max) errors.push(`--${flag} must be from ${min}ms to ${max / 1000}s (got "${raw}")`);
      else return d.ms;
      return undefined;
    };
    const int = (flag: string, raw: string | undefined, min: number, max: number): number | undefined => {
      if (raw === undefined) return undefined;
      const n = Number(raw);
      if (!/^\d+$/.test(raw.trim()) || n < min || n > max) errors.push(`--${flag} must be a whole number from ${min} to ${max} (got "${raw}")`);
      else return n;
      return undefined;
    };
    o.probeMs = ms('duration', v.duration, 1000, 60_000) ?? o.probeMs;
    o.p99FloorMs = ms('p99', v.p99, 1, 10_000) ?? o.p99FloorMs;
    o.connections = int('connections', v.connections, 1, 10_000) ?? o.connections;
    o.probes = int('probes', v.probes, 0, 20) ?? o.probes;
    if (errors.length > 0) return usageError(io, 'calibrate', errors);
    const table = v.json ? io.stderr : io.stdout;
    table(`calibrating: ${o.probes + 2} probes of ${o.probeMs / 1000}s after a ${o.warmupMs / 1000}s warm-up\n`);
    const c = await calibrate({ ...o, signal, onProbe: (p) => io.stderr(`${formatProbe(p)}\n`) });
    table(formatCalibration(c));
    if (v.json) io.stdout(`${JSON.stringify(c, null, 2)}\n`);
    return signal?.aborted ? EXIT.failure : EXIT.ok;
  },
};
