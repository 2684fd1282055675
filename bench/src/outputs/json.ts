// Output `json`: summary.json in the run folder, and the same document on stdout with --json.
import { writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchEvent, Output, RunInfo, Summary } from '../types';

export interface JsonOutputOptions {
  /** The run folder; summary.json is written there. */
  dir: string;
  /** With --json: where the summary is printed (the CLI passes stdout). */
  print?: (text: string) => void;
}

export function jsonOutput(opts: JsonOutputOptions): Output {
  return {
    name: 'json',
    async start(_run: RunInfo) {},
    add(_event: BenchEvent) {},
    async stop(summary: Summary) {
      const text = JSON.stringify(summary, null, 2) + '\n';
      // Write then rename, so a reader never sees half a summary.
      const file = join(opts.dir, 'summary.json');
      await writeFile(`${file}.tmp`, text);
      await rename(`${file}.tmp`, file);
      opts.print?.(text);
    },
  };
}
