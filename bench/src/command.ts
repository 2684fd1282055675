// What a bench command is: `npm run bench -- <command> [flags]`. Each command is one file,
// bench/src/commands/<name>.ts, exporting `command`; cli.ts finds it by name (no name = `run`). A command gets its
// own arguments and the process's streams, and returns the exit code; it never exits the process itself.
import pino from 'pino';

/** Exit codes, the k6 convention: 0 every threshold held, 99 a threshold failed, 2 bad usage, 1 anything else. */
export const EXIT = { ok: 0, failure: 1, usage: 2, thresholds: 99 } as const;

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stderrIsTTY: boolean;
  columns?: number;
  env: NodeJS.ProcessEnv;
  /** Where relative paths on the command line are resolved (`npm run` runs in the package root). */
  cwd: string;
}

export interface Command {
  /** the file's name */
  name: string;
  /** one line for `npm run bench -- --help` */
  summary: string;
  /** the whole --help text of the command */
  help(): string;
  /** `argv` is what follows the command's name; `signal` aborts on the first SIGINT/SIGTERM. */
  run(argv: string[], io: Io, signal?: AbortSignal): Promise<number>;
}

/** Usage problems, all at once, on stderr: exit 2 and nothing was run. */
export function usageError(io: Io, command: string | undefined, problems: string[]): number {
  io.stderr(`bench${command ? ` ${command}` : ''}: ${problems.length} problem(s), nothing was run:\n${problems.map((e) => `  - ${e}`).join('\n')}\nSee --help.\n`);
  return EXIT.usage;
}

/**
 * The commands' log lines: pino JSON on stderr when it is not a terminal (machines read it), one readable line
 * ("bench info: service started target=...") on a terminal.
 */
export function commandLogger(io: Io, level: 'info' | 'warn'): pino.Logger {
  return pino({ base: undefined, level }, io.stderrIsTTY ? readableLines(io) : { write: (line: string) => io.stderr(line) });
}

function readableLines(io: Io): pino.DestinationStream {
  const names: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
  return {
    write(line: string) {
      try {
        const { level, time: _t, msg, ...rest } = JSON.parse(line) as Record<string, unknown>;
        const fields = Object.entries(rest).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ');
        io.stderr(`bench ${names[level as number] ?? level}: ${String(msg)}${fields ? `  ${fields}` : ''}\n`);
      } catch {
        io.stderr(line);
      }
    },
  };
}
