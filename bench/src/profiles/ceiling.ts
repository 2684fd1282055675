// --ceiling R for breakpoint profiles: the rate the steps climb to. Steps above R are left out; when the profile's
// top step is below R, steps are added (each x1.5 of the one before, the last exactly R) with the top step's
// duration, thresholds and in-flight cap, so "no limit found below R req/s" means what it says.
import type { Profile, StageSpec } from '../types';
import { defaultMaxConnections, defaultMaxInFlight } from './limits';

export class CeilingError extends Error {
  readonly code = 'BENCH_CEILING_INVALID';
}

const STEP = 1.5;
/** Most steps a ceiling adds (x1.5 each: from 1 req/s this reaches far beyond MAX_RATE). */
const MAX_ADDED = 40;

function rateOf(s: StageSpec): number {
  return Math.max(s.rate ?? 0, s.rampTo ?? 0);
}

/** Two significant digits: 1687.5 -> 1700. */
function round2(x: number): number {
  const p = 10 ** Math.max(0, Math.floor(Math.log10(x)) - 1);
  return Math.round(x / p) * p;
}

export function withCeiling(profile: Profile, ceiling: number): Profile {
  if (!profile.breakpoint) throw new CeilingError(`--ceiling applies to breakpoint profiles; ${profile.name} is not one (breakpoint: true)`);
  const steps = profile.stages.filter((s) => s.model === 'open');
  const measured = steps.filter((s) => s.thresholds.length > 0 || profile.thresholds.length > 0);
  if (measured.length === 0) throw new CeilingError(`--ceiling: ${profile.name} has no open-model step with thresholds to climb with`);
  // warm-ups (no thresholds of their own, profile without thresholds) stay whatever their rate
  const kept = profile.stages.filter((s) => s.model !== 'open' || !measured.includes(s) || rateOf(s) <= ceiling);
  const keptSteps = kept.filter((s) => measured.includes(s));
  const top = keptSteps[keptSteps.length - 1] ?? measured[0]!;
  const out = [...kept];
  let rate = keptSteps.length > 0 ? rateOf(top) : 0;
  const names = new Set(out.map((s) => s.name));
  for (let i = 0; i < MAX_ADDED && rate < ceiling; i++) {
    rate = Math.min(ceiling, rate > 0 ? round2(rate * STEP) : ceiling);
    let name = `rate-${rate}`;
    while (names.has(name)) name += '+';
    names.add(name);
    const maxInFlight = Math.max(top.maxInFlight ?? 0, defaultMaxInFlight(rate));
    const maxConnections = Math.max(top.maxConnections ?? 0, defaultMaxConnections(maxInFlight));
    const step: StageSpec = { ...top, name, rate, thresholds: [...top.thresholds], maxInFlight, maxConnections };
    delete step.rampTo;
    out.push(step);
  }
  return { ...profile, stages: out, ceiling } as Profile;
}
