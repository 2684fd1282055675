// Runs the bench CLI as a user would, on a profile the test writes, and returns its exit code, output and the
// summary.json of its run folder (a temporary one, removed by `cleanup`).
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli, type CliRun } from './run-cli';
import type { RunSummary } from '../../src/run';

export interface BenchRun extends CliRun {
  summary: RunSummary | undefined;
  dir: string;
}

const dirs: string[] = [];

export async function benchRun(
  profile: Record<string, unknown>, args: string[] = [], env: NodeJS.ProcessEnv = {}, killAfterMs = 180_000,
): Promise<BenchRun> {
  const dir = await mkdtemp(join(tmpdir(), 'pvlab-bench-run-'));
  dirs.push(dir);
  const file = join(dir, 'profile.json');
  await writeFile(file, JSON.stringify(profile));
  const out = join(dir, 'out');
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
  if (env.MYSQL_URL === undefined) delete childEnv.MYSQL_URL;
  // no warm-up unless asked: these runs are about their one stage, and a warm-up would only add load before it
  const warmup = args.includes('--warmup') ? [] : ['--warmup', '0'];
  const r = await runCli(['--profile', file, '--out', out, '--quiet', ...warmup, ...args], childEnv, killAfterMs);
  let summary: RunSummary | undefined;
  try {
    summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as RunSummary;
  } catch {
    summary = undefined;
  }
  return { ...r, summary, dir: out };
}

export async function cleanup(): Promise<void> {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
}
