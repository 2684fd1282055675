// A profile as written (YAML or JSON) -> a validated Profile. Shape and bounds come from the shipped JSON schema
// (bench/profiles/profile.schema.json, compiled once with ajv); the rules that span fields stay here (a duration's
// bounds, ramps and caps that depend on the model, unique stage names, breakpoint profiles, threshold grammar).
// Every problem is reported at once, each with its path ("stages[2].rate: must be > 0 (got 0)"), the way k6's
// validateStages collects errors instead of stopping at one. What comes out is trusted downstream: thresholds
// are parsed objects, every open stage has its in-flight cap, every request field its value.
import Ajv2020, { type ErrorObject } from 'ajv/dist/2020';
import type { Model, Profile, RequestSpec, StageSpec, Threshold } from '../types';
import schema from '../../profiles/profile.schema.json';
import { parseThreshold } from '../metrics/thresholds';
import { describe, parseDuration } from './duration';
import { DEFAULT_TRACE_SAMPLE_RATE, MAX_CONNECTIONS, MAX_STAGE_MS, MAX_TIMEOUT_MS, defaultMaxConnections, defaultMaxInFlight } from './limits';

/**
 * What a profile sends when it says nothing: the seed's property `news`, which a service on its defaults accepts
 * (ALLOWED_PROPERTIES=news), so `npm run service` then `npm run bench -- --target ...` works on first contact; wide
 * section and id ranges spread the rows. A profile that wants many properties says so (`properties: 100`).
 */
export const DEFAULT_PROPERTIES: readonly string[] = ['news'];

export const DEFAULT_REQUEST: RequestSpec = {
  properties: [...DEFAULT_PROPERTIES],
  sections: 1000,
  ids: 1_000_000,
  invalidShare: 0,
  seed: 1,
  contentType: 'json',
  timeoutMs: 10_000,
  traceSampleRate: DEFAULT_TRACE_SAMPLE_RATE,
};

export class ProfileError extends Error {
  readonly code = 'BENCH_PROFILE_INVALID';
  constructor(readonly source: string, readonly problems: string[]) {
    super(`profile ${source} is invalid:\n  - ${problems.join('\n  - ')}`);
  }
}

export function defaultProperties(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `property-${String(i + 1).padStart(3, '0')}`);
}

const checkShape = new Ajv2020({ allErrors: true, verbose: true, strict: true, strictRequired: false, allowUnionTypes: true }).compile(schema);

/** What a value must be, by the schema location of a failed `type` or `pattern`, where the type alone says too little. */
const EXPECTED: Record<string, string> = {
  '#': 'an object with "stages"',
  '#/properties/name': 'a non-empty string',
  '#/properties/stages/items': 'an object with duration and connections or rate',
  '#/properties/stages/items/properties/name': 'a name of letters, digits, "_", "-", "." and ":"',
  '#/properties/request/properties/properties': 'a count (e.g. 100) or a list of names',
  '#/$defs/duration': 'a duration like "500ms", "30s", "2m", "1h"',
  '#/$defs/thresholds': 'a list of expressions like "p99 < 50ms"',
};
const TYPE_NOUN: Record<string, string> = {
  boolean: 'true or false', number: 'a number', integer: 'a whole number', string: 'a string', array: 'a list', object: 'an object',
};
const REQUIRED_HINT: Record<string, string> = { stages: ' (a list of stages)', duration: ' (e.g. "30s")' };
const STAGE = '#/properties/stages/items';

/** "/stages/2/rate" -> "stages[2].rate"; the root is "(root)". */
function dotted(pointer: string, child?: string): string {
  const parts = pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (child !== undefined) parts.push(child);
  if (parts.length === 0) return '(root)';
  return parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** ajv's errors as our messages: one per problem, none for the alternatives a combinator tried. */
function shapeProblems(errors: ErrorObject[]): { path: string; msg: string }[] {
  const combinators = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf').map((e) => `${e.schemaPath}/`);
  const typeFailed = new Set(errors.filter((e) => e.keyword === 'type').map((e) => e.instancePath));
  const out: { path: string; msg: string }[] = [];
  for (const e of errors) {
    if (combinators.some((c) => e.schemaPath.startsWith(c))) continue;
    if (e.keyword === 'if') continue; // its `then`/`else` errors say what is wrong
    if (e.keyword !== 'type' && typeFailed.has(e.instancePath)) continue;
    const got = `(got ${describe(e.data)})`;
    const gotNumber = `(got ${String(e.data)})`;
    const at = e.schemaPath.slice(0, e.schemaPath.lastIndexOf('/'));
    const p = e.params as Record<string, unknown>;
    let path = dotted(e.instancePath);
    let msg: string;
    switch (e.keyword) {
      case 'type': {
        const types = [p.type as string].flat().join(',').split(',');
        msg = typeof e.data === 'number' && types.includes('integer') && Number.isFinite(e.data)
          ? `must be a whole number ${gotNumber}`
          : `must be ${EXPECTED[at] ?? types.map((t) => TYPE_NOUN[t] ?? t).join(' or ')} ${got}`;
        break;
      }
      case 'pattern': msg = `must be ${EXPECTED[at] ?? `a string matching ${String(p.pattern)}`} ${got}`; break;
      case 'additionalProperties': {
        path = dotted(e.instancePath, p.additionalProperty as string);
        const allowed = Object.keys((e.parentSchema as { properties: object }).properties).filter((k) => k !== '$schema');
        msg = `unknown field (allowed: ${allowed.join(', ')})`;
        break;
      }
      case 'required':
        path = dotted(e.instancePath, p.missingProperty as string);
        msg = `is required${REQUIRED_HINT[p.missingProperty as string] ?? ''}`;
        break;
      case 'minimum': msg = `must be >= ${String(p.limit)} ${gotNumber}`; break;
      case 'maximum': msg = `must be <= ${String(p.limit)} ${gotNumber}`; break;
      case 'exclusiveMinimum': msg = `must be > ${String(p.limit)} ${gotNumber}`; break;
      case 'minItems': msg = p.limit === 1 ? 'must not be empty' : `must have at least ${String(p.limit)} entries`; break;
      case 'maxItems': msg = `must have at most ${String(p.limit)} entries (got ${(e.data as unknown[]).length})`; break;
      case 'minLength': msg = `must be a non-empty string ${got}`; break;
      case 'enum': msg = `must be ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(' or ')} ${got}`; break;
      case 'oneOf':
        msg = e.schemaPath === `${STAGE}/oneOf`
          ? p.passingSchemas === null
            ? 'needs connections (closed model) or rate (open model, requests per second)'
            : 'has both connections (closed model) and rate (open model): pick one'
          : e.message ?? 'must match exactly one of its forms';
        break;
      default: msg = e.message ?? e.keyword;
    }
    out.push({ path, msg });
  }
  return out;
}

type Doc = Record<string, unknown>;

/** Validates a parsed document; `fallbackName` names the profile when the file does not. */
export function validateProfile(doc: unknown, fallbackName: string): { profile: Profile } | { errors: string[] } {
  const problems = checkShape(doc) ? [] : shapeProblems(checkShape.errors ?? []);
  const bad = (path: string) => problems.some((q) => q.path === path || q.path.startsWith(`${path}.`) || q.path.startsWith(`${path}[`));
  const crossField: { path: string; msg: string }[] = [];
  const err = (path: string, msg: string) => { if (!bad(path)) crossField.push({ path, msg }); };
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return { errors: render(problems) };
  const d = doc as Doc;

  const durationMs = (v: unknown, path: string, maxMs: number): number | undefined => {
    if (typeof v !== 'string' || bad(path)) return undefined;
    const r = parseDuration(v);
    if ('error' in r) err(path, r.error);
    else if (r.ms <= 0) err(path, `must be > 0 (got ${JSON.stringify(v)})`);
    else if (r.ms > maxMs) err(path, `must be at most ${maxMs / 60_000}m (got ${JSON.stringify(v)})`);
    else return r.ms;
    return undefined;
  };
  const thresholds = (v: unknown, path: string): Threshold[] => {
    if (!Array.isArray(v)) return [];
    const out: Threshold[] = [];
    v.forEach((expr, i) => {
      if (typeof expr !== 'string') return; // the schema said so
      const t = parseThreshold(expr);
      if ('error' in t) err(`${path}[${i}]`, t.error);
      else out.push(t);
    });
    return out;
  };

  const profileThresholds = thresholds(d.thresholds, 'thresholds');
  const req = (typeof d.request === 'object' && d.request !== null ? d.request : {}) as Doc;
  const timeoutMs = durationMs(req.timeout, 'request.timeout', MAX_TIMEOUT_MS);

  const rawStages = Array.isArray(d.stages) ? d.stages : [];
  const stages: (StageSpec | undefined)[] = rawStages.map((raw, i) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return undefined;
    const s = raw as Doc;
    const p = `stages[${i}]`;
    const model: Model = s.connections !== undefined ? 'closed' : 'open';
    const ms = durationMs(s.duration, `${p}.duration`, MAX_STAGE_MS);
    if (model === 'closed' && typeof s.rampTo === 'number' && !(Number.isInteger(s.rampTo) && s.rampTo >= 1 && s.rampTo <= MAX_CONNECTIONS)) {
      // An arrival rate may ramp down to 0 (as k6's ramping-arrival-rate allows); a connection count may not.
      err(`${p}.rampTo`, `a closed stage ramps to a whole number of connections from 1 to ${MAX_CONNECTIONS} (got ${s.rampTo})`);
    }
    if (model === 'closed' && s.maxInFlight !== undefined) {
      err(`${p}.maxInFlight`, 'applies to open-model (rate) stages only; a closed stage has exactly `connections` in flight');
    }
    if (model === 'closed' && s.maxConnections !== undefined) {
      err(`${p}.maxConnections`, 'applies to open-model (rate) stages only; a closed stage sets `connections`');
    }
    const ts = thresholds(s.thresholds, `${p}.thresholds`);
    if (ms === undefined) return undefined;
    const spec: StageSpec = { name: typeof s.name === 'string' ? s.name : `stage-${i + 1}`, durationMs: ms, model, thresholds: ts };
    if (model === 'closed') spec.connections = s.connections as number;
    else {
      spec.rate = s.rate as number;
      spec.maxInFlight = (s.maxInFlight as number | undefined) ?? defaultMaxInFlight(Math.max(spec.rate, (s.rampTo as number | undefined) ?? 0));
      spec.maxConnections = (s.maxConnections as number | undefined) ?? defaultMaxConnections(spec.maxInFlight);
    }
    if (s.rampTo !== undefined) spec.rampTo = s.rampTo as number;
    return spec;
  });

  const seen = new Map<string, number>();
  stages.forEach((s, i) => {
    if (!s || bad(`stages[${i}]`) || crossField.some((q) => q.path.startsWith(`stages[${i}]`))) return;
    const prev = seen.get(s.name);
    if (prev !== undefined) err(`stages[${i}].name`, `"${s.name}" is already the name of stages[${prev}]`);
    else seen.set(s.name, i);
  });
  if (d.breakpoint === true && rawStages.length > 0) {
    if (rawStages.some((s) => typeof s === 'object' && s !== null && (s as Doc).connections !== undefined)) {
      err('breakpoint', 'a breakpoint profile needs open-model stages (rate) only');
    }
    if (profileThresholds.length === 0 && rawStages.every((s) => !Array.isArray((s as Doc | null)?.thresholds) || ((s as Doc).thresholds as unknown[]).length === 0)) {
      err('breakpoint', 'a breakpoint profile needs thresholds: they decide which rates held');
    }
  }

  const all = [...problems, ...crossField];
  if (all.length > 0) return { errors: render(all) };
  return {
    profile: {
      name: ((d.name as string | undefined) ?? fallbackName).trim(),
      description: (d.description as string | undefined) ?? '',
      stages: stages as StageSpec[],
      thresholds: profileThresholds,
      abortOnFail: (d.abortOnFail as boolean | undefined) ?? false,
      request: requestSpec(req, timeoutMs),
      breakpoint: (d.breakpoint as boolean | undefined) ?? false,
    },
  };
}

/** A valid `request` object with the defaults filled in. */
function requestSpec(r: Doc, timeoutMs: number | undefined): RequestSpec {
  const out: RequestSpec = { ...DEFAULT_REQUEST };
  if (typeof r.properties === 'number') out.properties = defaultProperties(r.properties);
  else if (Array.isArray(r.properties)) out.properties = r.properties as string[];
  for (const k of ['sections', 'ids', 'invalidShare', 'traceSampleRate', 'seed', 'contentType'] as const) {
    if (r[k] !== undefined) (out as unknown as Doc)[k] = r[k];
  }
  if (timeoutMs !== undefined) out.timeoutMs = timeoutMs;
  return out;
}

/** "path: message" lines, in document order (stages[2] before stages[10]), each problem once. */
function render(problems: { path: string; msg: string }[]): string[] {
  const key = (path: string) => path.split(/[.[\]]+/).filter(Boolean).map((s) => (/^\d+$/.test(s) ? s.padStart(8, '0') : s)).join('\u0000');
  const lines = [...problems].sort((a, b) => (key(a.path) < key(b.path) ? -1 : key(a.path) > key(b.path) ? 1 : 0))
    .map((q) => `${q.path}: ${q.msg}`);
  return [...new Set(lines)];
}
