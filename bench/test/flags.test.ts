// Flags on node:util parseArgs, with every problem collected instead of the first one thrown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flagHelp, parseFlags, type FlagSpecs } from '../src/flags';

const SPECS = {
  out: { type: 'string', arg: 'DIR', help: 'run folder' },
  json: { type: 'boolean', help: 'print JSON' },
  set: { type: 'string', multiple: true, arg: 'PATH=VALUE', help: 'set a field' },
  verbose: { type: 'boolean', short: 'v', help: 'say more' },
} as const satisfies FlagSpecs;

test('values by kind: strings, inline values, repeatable lists, booleans, short names', () => {
  const r = parseFlags(['--out', 'a b', '--set=x=1', '--set', 'y=-2', '--json', '-v'], SPECS);
  assert.deepEqual(r.errors, []);
  assert.deepEqual(r.values, { out: 'a b', set: ['x=1', 'y=-2'], json: true, verbose: true });
  assert.deepEqual(parseFlags([], SPECS), { values: {}, positionals: [], errors: [] });
});

test('a command that takes arguments gets them in order, its flag problems still all at once', () => {
  const r = parseFlags(['base.json', '--json', 'new.json', '--bogus', '--out'], SPECS, { positionals: true });
  assert.deepEqual(r.positionals, ['base.json', 'new.json']);
  assert.deepEqual(r.values, { json: true });
  assert.deepEqual(r.errors, ['unknown flag --bogus (see --help)', '--out needs a value (DIR)']);
});

test('every problem at once, and a flag taken for a missing value is still read as a flag', () => {
  const r = parseFlags(['stray', '--bogus', '-q', '--out', '--json', '--json=yes', '--out=x', '--out=y', '--set', '--', 'after'], SPECS);
  assert.deepEqual(r.errors, [
    'unexpected argument "stray" (flags start with --; see --help)',
    'unknown flag --bogus (see --help)',
    'unknown flag -q (see --help)',
    '--out needs a value (DIR)',
    '--json takes no value',
    '--out given more than once',
    '--set needs a value (PATH=VALUE)',
    'unexpected argument "after" (flags start with --; see --help)',
  ]);
  // "--json" after "--out" was read as the flag it is, not as the folder's name
  assert.equal(r.values.json, true);
  assert.equal(r.values.out, 'x');
});

test('--help lines come from the same table', () => {
  const lines = flagHelp(SPECS);
  assert.equal(lines.length, Object.keys(SPECS).length + 1);
  assert.match(lines[0]!, /^ {2}--out DIR +run folder$/);
  assert.match(lines[2]!, /--set PATH=VALUE +set a field \(repeatable\)$/);
  assert.match(lines[3]!, /-v, --verbose +say more$/);
  assert.match(lines[4]!, /-h, --help +this text$/);
});
