// Imports in bench/src run one way: from the entry point down to the shared types, never back up. Each module
// (a top-level file, or a folder as a whole) has a place in ORDER and imports only modules below it; a module
// not yet in ORDER may import anything, as long as no file ends up importing itself through others.
// Type-only imports (`import type`) are erased at run time and left out: the shared shapes in types.ts may name a
// type defined beside the code that makes it (metrics/interval.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const SRC = resolve(__dirname, '..', 'src');

/** Bottom first. */
const ORDER = [
  'types', 'flags', 'git-commit', 'segment', 'metrics', 'profiles', 'request-builder', 'executors', 'target', 'diagnosis',
  'report', 'outputs', 'run', 'distributed', 'apm-ab', 'command', 'commands', 'cli',
];

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : f.endsWith('.ts') ? [p] : [];
  });
}

/** "executors" for bench/src/executors/open.ts, "run" for bench/src/run.ts; null outside bench/src. */
function moduleOf(file: string): string | null {
  const rel = relative(SRC, file);
  if (rel.startsWith('..')) return null;
  const [first, ...rest] = rel.split(sep);
  return rest.length > 0 ? first! : first!.replace(/\.(ts|json)$/, '');
}

interface Edge { from: string; to: string; file: string; target: string; spec: string }

/** Every relative value import in bench/src: by module (from, to) and by file (file, target). */
function imports(): Edge[] {
  const out: Edge[] = [];
  for (const file of files(SRC)) {
    const text = readFileSync(file, 'utf8');
    const statements = text.matchAll(/(?:^|\n)\s*(?:import|export)(\s+type)?\b[^;]*?\bfrom\s+'(\.{1,2}\/[^']+)'|(?:require|import)\(\s*'(\.{1,2}\/[^']+)'/g);
    for (const m of statements) {
      if (m[1]) continue;
      const spec = (m[2] ?? m[3])!;
      const abs = resolve(dirname(file), spec);
      const to = moduleOf(abs);
      if (to === null) continue;
      out.push({ from: moduleOf(file)!, to, file: relative(SRC, file), target: relative(SRC, abs.endsWith('.json') ? abs : `${abs}.ts`), spec });
    }
  }
  return out;
}

function edges(): Edge[] {
  return imports().filter((e) => e.from !== e.to);
}

test('every import in bench/src points down the module order', () => {
  const wrong = edges()
    .filter((e) => ORDER.includes(e.from) && ORDER.includes(e.to) && ORDER.indexOf(e.to) > ORDER.indexOf(e.from))
    .map((e) => `${e.file} imports ${e.spec} (${e.to} sits above ${e.from})`);
  assert.deepEqual(wrong, []);
});

test('no file imports itself through others (the import graph has no cycle)', () => {
  const next = new Map<string, Set<string>>();
  for (const e of imports()) next.set(e.file, (next.get(e.file) ?? new Set()).add(e.target));
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (m: string, path: string[]): void => {
    if (state.get(m) === 'done') return;
    if (state.get(m) === 'open') {
      cycles.push([...path.slice(path.indexOf(m)), m].join(' -> '));
      return;
    }
    state.set(m, 'open');
    for (const n of next.get(m) ?? []) visit(n, [...path, m]);
    state.set(m, 'done');
  };
  for (const m of next.keys()) visit(m, []);
  assert.deepEqual(cycles, []);
});

test('the order names every module there is, and the check sees imports', () => {
  const modules = new Set(files(SRC).map((f) => moduleOf(f)!));
  for (const m of ORDER) assert.ok(modules.has(m), `${m} is in ORDER but not in bench/src`);
  // a known edge, so an import syntax the pattern misses cannot pass the tests above by seeing nothing
  assert.ok(edges().some((e) => e.from === 'executors' && e.to === 'request-builder'));
  assert.ok(edges().some((e) => e.from === 'cli' && e.to === 'command'));
});
