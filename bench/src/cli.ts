// `npm run bench -- [command] [flags]`: finds the command, runs it, exits with its code. A command is one file,
// bench/src/commands/<name>.ts, exporting `command` (see command.ts); without a name the command is `run`, so
// `npm run bench -- --profile smoke` runs a profile. `--help` after a command is that command's help; without one
// it is run's help and the list of commands.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, usageError, type Command, type Io } from './command';

const COMMANDS_DIR = join(__dirname, 'commands');
export const DEFAULT_COMMAND = 'run';

export function commandNames(): string[] {
  return readdirSync(COMMANDS_DIR).filter((f) => /^[a-z][a-z0-9-]*\.ts$/.test(f)).map((f) => f.slice(0, -3)).sort();
}

/** Loads bench/src/commands/<name>.ts (only when that command runs, so one command's dependencies never slow another). */
export function loadCommand(name: string): Command {
  const mod = require(join(COMMANDS_DIR, name)) as { command?: Command };
  if (mod.command?.name !== name) throw new Error(`bench/src/commands/${name}.ts must export \`command\` named "${name}"`);
  return mod.command;
}

function commandList(): string {
  const rows = commandNames().map((n) => `  ${n.padEnd(12)} ${loadCommand(n).summary}`);
  return `\nCommands (npm run bench -- <command> --help for each):\n${rows.join('\n')}\n`;
}

/** The whole CLI as a function returning the exit code, so tests can call it in-process or as a child. */
export async function main(argv: string[], io: Io, signal?: AbortSignal): Promise<number> {
  const first = argv[0];
  const named = first !== undefined && !first.startsWith('-');
  if (named && !commandNames().includes(first)) {
    return usageError(io, undefined, [`unknown command "${first}" (commands: ${commandNames().join(', ')}; see --help)`]);
  }
  const name = named ? first : DEFAULT_COMMAND;
  const command = loadCommand(name);
  const rest = named ? argv.slice(1) : argv;
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout(command.help() + (named ? '' : commandList()));
    return EXIT.ok;
  }
  return command.run(rest, io, signal);
}

if (require.main === module) {
  const ac = new AbortController();
  let interrupts = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    interrupts++;
    if (interrupts === 1) {
      process.stderr.write(`\nbench: ${sig}: ending the current stage and writing the summary (again to quit now)\n`);
      ac.abort();
    } else {
      process.exit(EXIT.failure);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  main(process.argv.slice(2), {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    stderrIsTTY: process.stderr.isTTY === true,
    columns: process.stderr.columns,
    env: process.env,
    // `npm run` runs in the package root; relative paths mean the directory the user typed the command in.
    cwd: process.env.INIT_CWD || process.cwd(),
  }, ac.signal).then(
    (code) => {
      process.exitCode = code;
      // Undici keep-alive sockets or a stray timer in an output must not keep a finished run alive.
      setTimeout(() => process.exit(code), 2000).unref();
    },
    (e: unknown) => {
      process.stderr.write(`bench: ${(e as Error)?.stack ?? String(e)}\n`);
      process.exit(EXIT.failure);
    },
  );
}
