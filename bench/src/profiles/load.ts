// `--profile NAME|PATH` -> the parsed document. A bare name is looked up in bench/profiles/ (.yaml, .yml, .json);
// anything with a slash or a file extension is a path. YAML is a superset of JSON, so one parser reads both.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';

export const PROFILES_DIR = resolve(__dirname, '..', '..', 'profiles');
const EXTENSIONS = ['.yaml', '.yml', '.json'];

export class ProfileLoadError extends Error {
  readonly code = 'BENCH_PROFILE_LOAD';
}

export function shippedProfileNames(dir = PROFILES_DIR): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => EXTENSIONS.includes(extname(f)) && !f.endsWith('.schema.json'))
    .map((f) => basename(f, extname(f)))
    .sort();
}

export function looksLikePath(nameOrPath: string): boolean {
  return nameOrPath.includes('/') || nameOrPath.includes('\\') || EXTENSIONS.includes(extname(nameOrPath));
}

export function resolveProfilePath(nameOrPath: string, dir = PROFILES_DIR): string {
  if (looksLikePath(nameOrPath)) {
    const p = resolve(nameOrPath);
    if (!existsSync(p)) throw new ProfileLoadError(`profile file ${p} does not exist`);
    return p;
  }
  if (!/^[\w.-]+$/.test(nameOrPath)) throw new ProfileLoadError(`"${nameOrPath}" is not a profile name`);
  for (const ext of EXTENSIONS) {
    const p = join(dir, nameOrPath + ext);
    if (existsSync(p)) return p;
  }
  throw new ProfileLoadError(
    `no profile named "${nameOrPath}" in ${dir} (shipped: ${shippedProfileNames(dir).join(', ') || 'none'}); pass a path to use your own file`,
  );
}

/** Reads and parses a profile file; the name defaults to the file's base name. */
export function readProfileDocument(path: string): { doc: unknown; fallbackName: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ProfileLoadError(`cannot read profile ${path}: ${(e as Error).message}`);
  }
  try {
    return { doc: parseYaml(text, { prettyErrors: true, maxAliasCount: 100 }), fallbackName: basename(path, extname(path)) };
  } catch (e) {
    const msg = e instanceof YAMLParseError ? e.message.split('\n')[0] : (e as Error).message;
    throw new ProfileLoadError(`cannot parse profile ${path}: ${msg}`);
  }
}
