// Command-line overrides, applied to the profile document before validation so an override that makes the
// profile invalid is reported exactly like a bad file (with its path). The rules, also in `--help`:
//   --duration D     every stage lasts D
//   --connections N  every stage becomes closed-model with N connections (rampTo, maxInFlight, maxConnections removed)
//   --rate R         every stage becomes open-model at R req/s (rampTo removed, maxInFlight kept)
//   --seed, --timeout, --invalid-share, --content-type  set request.seed / timeout / invalidShare / contentType
//   --set PATH=VALUE any single field, e.g. --set stages[1].rampTo=800 or --set request.sections=10 (VALUE is YAML)
import { parse as parseYaml } from 'yaml';

export interface ProfileOverrides {
  duration?: string;
  connections?: number;
  rate?: number;
  maxInFlight?: number;
  maxConnections?: number;
  seed?: number;
  timeout?: string;
  invalidShare?: number;
  contentType?: string;
  set?: string[];
}

/** Returns a new document with overrides applied, plus problems with `--set` paths (nothing is applied then). */
export function applyOverrides(doc: unknown, o: ProfileOverrides): { doc: unknown; errors: string[] } {
  const errors: string[] = [];
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return { doc, errors };
  const out = structuredClone(doc) as Record<string, unknown>;
  const stages = Array.isArray(out.stages) ? (out.stages as unknown[]) : [];
  for (const st of stages) {
    if (st === null || typeof st !== 'object' || Array.isArray(st)) continue;
    const s = st as Record<string, unknown>;
    if (o.duration !== undefined) s.duration = o.duration;
    if (o.connections !== undefined) {
      s.connections = o.connections;
      delete s.rate;
      delete s.rampTo;
      delete s.maxInFlight;
      delete s.maxConnections;
    }
    if (o.rate !== undefined) {
      s.rate = o.rate;
      delete s.connections;
      delete s.rampTo;
    }
    if (o.maxInFlight !== undefined && s.connections === undefined) s.maxInFlight = o.maxInFlight;
    if (o.maxConnections !== undefined && s.connections === undefined) s.maxConnections = o.maxConnections;
  }
  const req = (out.request && typeof out.request === 'object' ? out.request : (out.request = {})) as Record<string, unknown>;
  if (o.seed !== undefined) req.seed = o.seed;
  if (o.timeout !== undefined) req.timeout = o.timeout;
  if (o.invalidShare !== undefined) req.invalidShare = o.invalidShare;
  if (o.contentType !== undefined) req.contentType = o.contentType;
  for (const assignment of o.set ?? []) {
    const e = setPath(out, assignment);
    if (e) errors.push(`--set ${assignment}: ${e}`);
  }
  return { doc: out, errors };
}

const SEGMENT = /^([A-Za-z_$][\w$]*)((?:\[\d+\])*)$/;

function setPath(root: Record<string, unknown>, assignment: string): string | undefined {
  const eq = assignment.indexOf('=');
  if (eq <= 0) return 'expected PATH=VALUE, e.g. stages[0].rate=200';
  const path = assignment.slice(0, eq).trim();
  let value: unknown;
  try {
    value = parseYaml(assignment.slice(eq + 1));
  } catch (e) {
    return `cannot read the value: ${(e as Error).message.split('\n')[0]}`;
  }
  const keys: (string | number)[] = [];
  for (const part of path.split('.')) {
    const m = SEGMENT.exec(part);
    if (!m) return `"${path}" is not a field path (use names, dots and [index])`;
    keys.push(m[1]!);
    for (const idx of m[2]!.matchAll(/\[(\d+)\]/g)) keys.push(Number(idx[1]));
  }
  let cur: unknown = root;
  for (let i = 0; i < keys.length - 1; i++) {
    const k = keys[i]!;
    const next = (cur as Record<string | number, unknown>)[k];
    if (typeof keys[i + 1] === 'number') {
      if (!Array.isArray(next)) return `${keys.slice(0, i + 1).join('.')} is not a list`;
      if ((keys[i + 1] as number) >= next.length) return `${keys.slice(0, i + 1).join('.')} has only ${next.length} entries`;
      cur = next;
    } else if (next === undefined && typeof k === 'string') {
      cur = (cur as Record<string, unknown>)[k] = {};
    } else if (next === null || typeof next !== 'object') {
      return `${String(k)} is not an object`;
    } else cur = next;
  }
  (cur as Record<string | number, unknown>)[keys[keys.length - 1]!] = value;
  return undefined;
}
