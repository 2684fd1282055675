// Output `json`: summary.json in the run folder, and the same document on stdout with --json. Once the summary is
// written, report.html is rendered from the file beside it (bench/src/report/), so every run folder has one.
import { writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { BenchEvent, Output, RunInfo, Summary } from '../types';
import { writeReport } from '../report/write-report';

export interface JsonOutputOptions {
  /** The run folder; summary.json is written there. */
  dir: string;
  /** With --json: where the summary is printed (the CLI passes stdout). */
  print?: (text: string) => void;
  /** Render report.html from the written summary (default true). */
  report?: boolean;
}

export function jsonOutput(opts: JsonOutputOptions): Output {
  return {
    name: 'json',
    writesSummary: true,
    async start(_run: RunInfo) {},
    add(_event: BenchEvent) {},
    async stop(summary: Summary) {
      const text = JSON.stringify(summary, null, 2) + '\n';
      // Write then rename, so a reader never sees half a summary.
      const file = join(opts.dir, 'summary.json');
      await writeFile(`${file}.tmp`, text);
      await rename(`${file}.tmp`, file);
      opts.print?.(text);
      // After the summary is safely written: a report that fails to render costs the report, never the summary
      // (the output set turns the error into a run warning).
      if (opts.report !== false) {
        try {
          await writeReport(file);
        } catch (e) {
          throw new Error(`summary.json written, report.html not: ${(e as Error).message}`);
        }
      }
    },
  };
}
