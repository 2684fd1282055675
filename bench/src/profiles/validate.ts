// A profile as written (YAML or JSON) -> a validated Profile. Every problem is reported at once, each with its
// path ("stages[2].rate: must be > 0"), the way k6's validateStages collects errors instead of stopping at one.
// The field reference lives in bench/profiles/profile.schema.json (for editors) and the README.
import type { Model, Profile, RequestSpec, StageSpec } from '../types';
import { parseThreshold } from '../metrics/thresholds';
import { describe, parseDuration } from './duration';
import { defaultMaxInFlight } from '../executors/open';
import { DEFAULT_TRACE_SAMPLE_RATE } from '../request-builder';

/** Upper bounds that keep a typo from asking for something absurd; every one is far beyond this machine. */
export const LIMITS = {
  stages: 1000,
  stageMs: 24 * 3_600_000,
  connections: 10_000,
  rate: 1_000_000,
  maxInFlight: 10_000,
  timeoutMs: 10 * 60_000,
  properties: 100_000,
  keySpace: 2 ** 32 - 1,
} as const;

export const DEFAULT_REQUEST: RequestSpec = {
  properties: defaultProperties(100),
  sections: 1000,
  ids: 1_000_000,
  invalidShare: 0,
  seed: 1,
  contentType: 'json',
  timeoutMs: 10_000,
  traceSampleRate: DEFAULT_TRACE_SAMPLE_RATE,
};


const TOP_KEYS = ['$schema', 'name', 'description', 'stages', 'thresholds', 'abortOnFail', 'request', 'breakpoint'];
const STAGE_KEYS = ['name', 'duration', 'connections', 'rate', 'rampTo', 'maxInFlight', 'thresholds'];
const REQUEST_KEYS = ['properties', 'sections', 'ids', 'invalidShare', 'seed', 'contentType', 'timeout', 'traceSampleRate'];

export class ProfileError extends Error {
  readonly code = 'BENCH_PROFILE_INVALID';
  constructor(readonly source: string, readonly problems: string[]) {
    super(`profile ${source} is invalid:\n  - ${problems.join('\n  - ')}`);
  }
}

export function defaultProperties(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `property-${String(i + 1).padStart(3, '0')}`);
}

/** Validates a parsed document; `fallbackName` names the profile when the file does not. */
export function validateProfile(doc: unknown, fallbackName: string): { profile: Profile } | { errors: string[] } {
  const errors: string[] = [];
  const err = (path: string, msg: string) => errors.push(`${path}: ${msg}`);
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return { errors: [`(root): must be an object with "stages" (got ${describe(doc)})`] };
  }
  const d = doc as Record<string, unknown>;
  unknownKeys(d, TOP_KEYS, '', err);

  const name = d.name === undefined ? fallbackName : d.name;
  if (typeof name !== 'string' || name.trim() === '') err('name', 'must be a non-empty string');
  const description = d.description ?? '';
  if (typeof description !== 'string') err('description', 'must be a string');
  const abortOnFail = bool(d.abortOnFail, 'abortOnFail', err);
  const breakpoint = bool(d.breakpoint, 'breakpoint', err);
  const thresholds = thresholdList(d.thresholds, 'thresholds', err);
  const request = requestSpec(d.request, err);

  const stages: StageSpec[] = [];
  if (!Array.isArray(d.stages)) {
    err('stages', d.stages === undefined ? 'is required (a list of stages)' : `must be a list (got ${describe(d.stages)})`);
  } else if (d.stages.length === 0) {
    err('stages', 'must have at least one stage');
  } else if (d.stages.length > LIMITS.stages) {
    err('stages', `must have at most ${LIMITS.stages} stages (got ${d.stages.length})`);
  } else {
    const seen = new Map<string, number>();
    d.stages.forEach((raw, i) => {
      const s = stageSpec(raw, i, err);
      if (!s) return;
      const prev = seen.get(s.name);
      if (prev !== undefined) err(`stages[${i}].name`, `"${s.name}" is already the name of stages[${prev}]`);
      else seen.set(s.name, i);
      stages.push(s);
    });
  }
  if (breakpoint === true && Array.isArray(d.stages)) {
    if (stages.some((s) => s.model !== 'open')) err('breakpoint', 'a breakpoint profile needs open-model stages (rate) only');
    if (thresholds.length === 0 && stages.every((s) => s.thresholds.length === 0)) {
      err('breakpoint', 'a breakpoint profile needs thresholds: they decide which rates held');
    }
  }
  if (errors.length > 0) return { errors };
  return {
    profile: {
      name: (name as string).trim(),
      description: description as string,
      stages,
      thresholds,
      abortOnFail: abortOnFail ?? false,
      request,
      breakpoint: breakpoint ?? false,
    },
  };
}

type Err = (path: string, msg: string) => void;

function unknownKeys(o: Record<string, unknown>, allowed: string[], prefix: string, err: Err): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) err(`${prefix}${k}`, `unknown field (allowed: ${allowed.filter((a) => a !== '$schema').join(', ')})`);
  }
}

function bool(v: unknown, path: string, err: Err): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') {
    err(path, `must be true or false (got ${describe(v)})`);
    return undefined;
  }
  return v;
}

function thresholdList(v: unknown, path: string, err: Err): string[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    err(path, `must be a list of expressions like "p99 < 50ms" (got ${describe(v)})`);
    return [];
  }
  const out: string[] = [];
  v.forEach((e, i) => {
    const t = parseThreshold(e);
    if ('error' in t) err(`${path}[${i}]`, t.error);
    else out.push(t.expr);
  });
  return out;
}

function num(
  v: unknown, path: string, err: Err,
  o: { integer?: boolean; min?: number; minExclusive?: number; max?: number },
): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    err(path, `must be a number (got ${describe(v)})`);
    return undefined;
  }
  let ok = true;
  if (o.integer && !Number.isInteger(v)) { err(path, `must be a whole number (got ${v})`); ok = false; }
  if (o.minExclusive !== undefined && !(v > o.minExclusive)) { err(path, `must be > ${o.minExclusive} (got ${v})`); ok = false; }
  if (o.min !== undefined && v < o.min) { err(path, `must be >= ${o.min} (got ${v})`); ok = false; }
  if (o.max !== undefined && v > o.max) { err(path, `must be <= ${o.max} (got ${v})`); ok = false; }
  return ok ? v : undefined;
}

function duration(v: unknown, path: string, err: Err, maxMs: number): number | undefined {
  if (v === undefined) return undefined;
  const r = parseDuration(v);
  if ('error' in r) {
    err(path, r.error);
    return undefined;
  }
  if (r.ms <= 0) { err(path, `must be > 0 (got ${JSON.stringify(v)})`); return undefined; }
  if (r.ms > maxMs) { err(path, `must be at most ${maxMs / 60_000}m (got ${JSON.stringify(v)})`); return undefined; }
  return r.ms;
}

function stageSpec(raw: unknown, i: number, err: Err): StageSpec | undefined {
  const p = `stages[${i}]`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    err(p, `must be an object with duration and connections or rate (got ${describe(raw)})`);
    return undefined;
  }
  const s = raw as Record<string, unknown>;
  let problems = 0;
  const counting: Err = (path, msg) => { problems++; err(path, msg); };
  unknownKeys(s, STAGE_KEYS, `${p}.`, counting);
  const name = s.name === undefined ? `stage-${i + 1}` : s.name;
  if (typeof name !== 'string' || name.trim() === '') counting(`${p}.name`, 'must be a non-empty string');
  else if (!/^[\w.:-]+$/.test(name)) counting(`${p}.name`, `may only use letters, digits, "_", "-", "." and ":" (got ${JSON.stringify(name)})`);
  const durationMs = s.duration === undefined
    ? (counting(`${p}.duration`, 'is required (e.g. "30s")'), undefined)
    : duration(s.duration, `${p}.duration`, counting, LIMITS.stageMs);

  let model: Model | undefined;
  if (s.connections !== undefined && s.rate !== undefined) {
    counting(p, 'has both connections (closed model) and rate (open model): pick one');
  } else if (s.connections !== undefined) {
    model = 'closed';
  } else if (s.rate !== undefined) {
    model = 'open';
  } else {
    counting(p, 'needs connections (closed model) or rate (open model, requests per second)');
  }
  const connections = num(s.connections, `${p}.connections`, counting, { integer: true, min: 1, max: LIMITS.connections });
  const rate = num(s.rate, `${p}.rate`, counting, { minExclusive: 0, max: LIMITS.rate });
  let rampTo: number | undefined;
  if (s.rampTo !== undefined) {
    rampTo = model === 'closed'
      ? num(s.rampTo, `${p}.rampTo`, counting, { integer: true, min: 1, max: LIMITS.connections })
      // An arrival rate may ramp down to 0, as k6's ramping-arrival-rate allows.
      : num(s.rampTo, `${p}.rampTo`, counting, { min: 0, max: LIMITS.rate });
  }
  let maxInFlight: number | undefined;
  if (s.maxInFlight !== undefined) {
    if (model === 'closed') counting(`${p}.maxInFlight`, 'applies to open-model (rate) stages only; a closed stage has exactly `connections` in flight');
    else maxInFlight = num(s.maxInFlight, `${p}.maxInFlight`, counting, { integer: true, min: 1, max: LIMITS.maxInFlight });
  }
  const thresholds = thresholdList(s.thresholds, `${p}.thresholds`, counting);
  if (problems > 0 || model === undefined || durationMs === undefined) return undefined;
  const spec: StageSpec = { name: (name as string), durationMs, model, thresholds };
  if (model === 'closed') spec.connections = connections;
  else {
    spec.rate = rate;
    // Without a cap of its own: one second of arrivals at the peak rate, within 100..1000 (the executor's rule).
    spec.maxInFlight = maxInFlight ?? defaultMaxInFlight(Math.max(rate ?? 0, rampTo ?? 0));
  }
  if (rampTo !== undefined) spec.rampTo = rampTo;
  return spec;
}

function requestSpec(raw: unknown, err: Err): RequestSpec {
  const out: RequestSpec = { ...DEFAULT_REQUEST };
  if (raw === undefined) return out;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    err('request', `must be an object (got ${describe(raw)})`);
    return out;
  }
  const r = raw as Record<string, unknown>;
  unknownKeys(r, REQUEST_KEYS, 'request.', err);
  if (typeof r.properties === 'number') {
    const n = num(r.properties, 'request.properties', err, { integer: true, min: 1, max: LIMITS.properties });
    if (n !== undefined) out.properties = defaultProperties(n);
  } else if (Array.isArray(r.properties)) {
    if (r.properties.length === 0) err('request.properties', 'must not be empty');
    else if (r.properties.length > LIMITS.properties) err('request.properties', `must have at most ${LIMITS.properties} names`);
    r.properties.forEach((v, i) => {
      if (typeof v !== 'string' || v === '') err(`request.properties[${i}]`, `must be a non-empty string (got ${describe(v)})`);
    });
    out.properties = r.properties as string[];
  } else if (r.properties !== undefined) {
    err('request.properties', `must be a count (e.g. 100) or a list of names (got ${describe(r.properties)})`);
  }
  out.sections = num(r.sections, 'request.sections', err, { integer: true, min: 1, max: LIMITS.keySpace }) ?? out.sections;
  out.ids = num(r.ids, 'request.ids', err, { integer: true, min: 1, max: LIMITS.keySpace }) ?? out.ids;
  out.invalidShare = num(r.invalidShare, 'request.invalidShare', err, { min: 0, max: 1 }) ?? out.invalidShare;
  out.traceSampleRate = num(r.traceSampleRate, 'request.traceSampleRate', err, { min: 0, max: 1 }) ?? out.traceSampleRate;
  out.seed = num(r.seed, 'request.seed', err, { integer: true, min: 0, max: 2 ** 32 - 1 }) ?? out.seed;
  if (r.contentType !== undefined) {
    if (r.contentType !== 'json' && r.contentType !== 'protobuf') {
      err('request.contentType', `must be "json" or "protobuf" (got ${describe(r.contentType)})`);
    } else out.contentType = r.contentType;
  }
  out.timeoutMs = duration(r.timeout, 'request.timeout', err, LIMITS.timeoutMs) ?? out.timeoutMs;
  return out;
}
