// The commit the bench ran from, for summary.json: a report or a comparison of two runs is only as useful as
// knowing which code produced each. Read once per process; null outside a git checkout or without git.
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

const REPO_ROOT = resolve(__dirname, '..', '..');
let cached: string | null | undefined;

export function gitCommit(): string | null {
  if (cached !== undefined) return cached;
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], {
      cwd: REPO_ROOT, encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    cached = /^[0-9a-f]{40,64}$/.test(out) ? out : null;
  } catch {
    cached = null;
  }
  return cached;
}
