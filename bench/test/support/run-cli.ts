// Runs the bench CLI as a child process, as a user would, and collects its exit code and output. Bounded: a CLI
// that hangs is killed after `killAfterMs` (and the calling test then fails on the exit code).
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const ROOT = resolve(__dirname, '../../..');

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `env` is the child's whole environment (compose it from process.env as the test needs). */
export function runCli(args: string[], env: NodeJS.ProcessEnv, killAfterMs = 180_000): Promise<CliRun> {
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/src/cli.ts', ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const killer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    child.on('error', rej);
    child.on('close', (code) => {
      clearTimeout(killer);
      res({ code, stdout, stderr });
    });
  });
}
