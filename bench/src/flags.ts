// Command-line flags on node:util parseArgs, for every bench command. parseArgs in strict mode stops at the first
// problem; the bench reports every problem at once (nothing runs, exit 2), so it parses leniently and then checks
// each token against the command's flag table itself. The same table prints the command's --help.
import { parseArgs } from 'node:util';

export interface FlagSpec {
  type: 'string' | 'boolean';
  /** a string flag that may be given more than once (the values in order) */
  multiple?: boolean;
  short?: string;
  /** what the value is, for --help ("URL", "N") */
  arg?: string;
  help: string;
}

export type FlagSpecs = Record<string, FlagSpec>;

export type FlagValues<T extends FlagSpecs> = {
  [K in keyof T]?: T[K]['type'] extends 'boolean' ? true : T[K]['multiple'] extends true ? string[] : string;
};

/**
 * Parses argv against `specs`; every problem is collected (unknown flags, missing values, strays), none stops it.
 * Arguments that are not flags are problems too, unless `positionals` is set: then they are returned in order.
 */
export function parseFlags<T extends FlagSpecs>(
  argv: string[], specs: T, opts: { positionals?: boolean } = {},
): { values: FlagValues<T>; positionals: string[]; errors: string[] } {
  const errors: string[] = [];
  const positionals: string[] = [];
  const values: Record<string, string | true | string[]> = {};
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, s]) => [name, { type: s.type, ...(s.short ? { short: s.short } : {}) }]),
  );
  let rest = argv;
  parsing: while (rest.length > 0) {
    const { tokens } = parseArgs({ args: rest, options, strict: false, allowPositionals: true, tokens: true });
    for (const t of tokens) {
      if (t.kind === 'positional') {
        if (opts.positionals) positionals.push(t.value);
        else errors.push(`unexpected argument "${t.value}" (flags start with --; see --help)`);
        continue;
      }
      if (t.kind === 'option-terminator') continue;
      const spec = specs[t.name];
      if (!spec) {
        errors.push(`unknown flag ${t.rawName} (see --help)`);
        continue;
      }
      if (spec.type === 'boolean') {
        if (t.value !== undefined) errors.push(`--${t.name} takes no value`);
        values[t.name] = true;
        continue;
      }
      if (t.value === undefined || (!t.inlineValue && t.value.startsWith('--'))) {
        errors.push(`--${t.name} needs a value (${spec.arg ?? 'a value'})`);
        // parseArgs took the next flag as this one's value: read on from that flag
        if (t.value !== undefined) {
          rest = rest.slice(t.index + 1);
          continue parsing;
        }
        continue;
      }
      if (spec.multiple) values[t.name] = [...((values[t.name] as string[] | undefined) ?? []), t.value];
      else if (t.name in values) errors.push(`--${t.name} given more than once`);
      else values[t.name] = t.value;
    }
    rest = [];
  }
  return { values: values as FlagValues<T>, positionals, errors };
}

/** The flag table as --help lines (cli.ts answers -h and --help for every command). */
export function flagHelp(specs: FlagSpecs): string[] {
  const line = (flag: string, help: string) => `  ${flag.padEnd(30)} ${help}`;
  return [
    ...Object.entries(specs).map(([name, s]) =>
      line(`${s.short ? `-${s.short}, ` : ''}--${name}${s.arg ? ` ${s.arg}` : ''}`, `${s.help}${s.multiple ? ' (repeatable)' : ''}`)),
    line('-h, --help', 'this text'),
  ];
}
