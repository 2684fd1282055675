// `npm run bench -- report SUMMARY.json [--out FILE]` and
// `npm run bench -- compare BASE NEW [--html FILE] [--fail-on EXPR ...] [--min-effect X%]`.
// Exit codes as the bench's: 0 done (compare: no gate crossed), 99 a --fail-on gate crossed, 2 bad usage or a
// file that is not a readable summary (nothing written), 1 anything else.
import { rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseFlags, type FlagSpecs } from '../flags';
import { loadSummary, SummaryLoadError, type LoadedSummary } from './load-summary';
import { writeReport } from './write-report';
import { compareRuns } from './compare-runs';
import { describeFailOn, evaluateFailOn, parseFailOn, type FailOn } from './fail-on';
import { renderCompareHtml, renderCompareText } from './render-compare';

export interface CommandIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  env: NodeJS.ProcessEnv;
  /** where relative paths on the command line are resolved (the bench's Io has it) */
  cwd?: string;
}

const EXIT = { ok: 0, failure: 1, usage: 2, thresholds: 99 } as const;

export const REPORT_HELP = `Usage: npm run bench -- report SUMMARY.json [--out FILE]

Renders a run's summary.json as one self-contained HTML file (default: report.html beside the summary).
Every run writes one itself; this is for an existing run folder.
Exit codes: 0 written, 2 bad usage or not a readable summary (nothing written), 1 anything else.
`;

export const COMPARE_HELP = `Usage: npm run bench -- compare BASE NEW [--html FILE] [--fail-on EXPR ...] [--min-effect X%]

Compares two runs stage by stage (matched by name): achieved rate, p50, p99, error rate and rows per flush, each
with a verdict that accounts for noise: a bootstrap over each stage's per-second values gives a 95% interval
around the change, a Mann-Whitney rank test over the same seconds a p-value; "regression" or "improvement" when
the interval excludes no change, p < 0.05 and the change is at least --min-effect (default 10%; error rate: 0.1
percentage points), "within noise" otherwise.
BASE and NEW are summary.json files or run folders.

  --html FILE        also write the comparison as a self-contained HTML page with both runs' charts
  --fail-on EXPR     exit 99 when a stage's change crosses EXPR and is not noise (repeatable):
                     ${describeFailOn()}
                     e.g. --fail-on 'p99 > +10%' --fail-on 'achieved_rate < -5%' --fail-on 'error_rate > +0.5pp'
  --min-effect X%    smallest relative change that counts (default 10%: two runs of the same code on one
                     shared machine differ by several percent)
  --seed N           bootstrap seed (default 1)

Prints the table on stdout. Exit codes: 0 no gate crossed, 99 a gate crossed, 2 bad usage or an unreadable
summary, 1 anything else.
`;

function base(io: CommandIo): string {
  return io.cwd ?? (io.env.INIT_CWD || process.cwd());
}

/** A run folder means its summary.json. */
function summaryPath(io: CommandIo, p: string): string {
  const abs = resolve(base(io), p);
  return /\.json$/i.test(abs) ? abs : join(abs, 'summary.json');
}

function usage(io: CommandIo, problems: string[], help: string): number {
  io.stderr(`bench: ${problems.length} problem(s), nothing was done:\n${problems.map((p) => `  - ${p}`).join('\n')}\n\n${help}`);
  return EXIT.usage;
}

const REPORT_FLAGS = {
  out: { type: 'string', arg: 'FILE', help: 'where the page goes' },
  help: { type: 'boolean', short: 'h', help: 'this text' },
} as const satisfies FlagSpecs;

const COMPARE_FLAGS = {
  html: { type: 'string', arg: 'FILE', help: 'also write the comparison as a page' },
  'fail-on': { type: 'string', multiple: true, arg: 'EXPR', help: 'exit 99 when a change crosses EXPR' },
  'min-effect': { type: 'string', arg: 'X%', help: 'smallest relative change that counts' },
  seed: { type: 'string', arg: 'N', help: 'bootstrap seed' },
  help: { type: 'boolean', short: 'h', help: 'this text' },
} as const satisfies FlagSpecs;

export async function reportCommand(argv: string[], io: CommandIo): Promise<number> {
  const r = parseFlags(argv, REPORT_FLAGS, { positionals: true });
  if (r.values.help) {
    io.stdout(REPORT_HELP);
    return EXIT.ok;
  }
  if (r.positionals.length !== 1) r.errors.push(`report takes one summary.json (got ${r.positionals.length})`);
  if (r.errors.length > 0) return usage(io, r.errors, REPORT_HELP);
  const file = summaryPath(io, r.positionals[0]!);
  const out = typeof r.values.out === 'string' ? resolve(base(io), r.values.out) : join(dirname(file), 'report.html');
  try {
    await writeReport(file, out);
  } catch (e) {
    if (e instanceof SummaryLoadError) return usage(io, [`${e.message} [${e.code}]`], REPORT_HELP);
    io.stderr(`bench report: ${(e as Error).message}\n`);
    return EXIT.failure;
  }
  io.stdout(`${out}\n`);
  return EXIT.ok;
}

function percent(v: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
  return m ? Number(m[1]) / 100 : null;
}

export async function compareCommand(argv: string[], io: CommandIo): Promise<number> {
  const r = parseFlags(argv, COMPARE_FLAGS, { positionals: true });
  if (r.values.help) {
    io.stdout(COMPARE_HELP);
    return EXIT.ok;
  }
  const problems: string[] = r.errors;
  if (r.positionals.length !== 2) problems.push(`compare takes two summaries, BASE and NEW (got ${r.positionals.length})`);
  const gates: FailOn[] = [];
  for (const e of r.values['fail-on'] ?? []) {
    const g = parseFailOn(e);
    if ('error' in g) problems.push(`--fail-on ${g.error}`);
    else gates.push(g);
  }
  let minEffect: number | undefined;
  if (typeof r.values['min-effect'] === 'string') {
    const v = percent(r.values['min-effect']);
    if (v === null || v >= 10) problems.push(`--min-effect must be a percentage like 5% (got "${r.values['min-effect']}")`);
    else minEffect = v;
  }
  let seed: number | undefined;
  if (typeof r.values.seed === 'string') {
    if (!/^\d{1,10}$/.test(r.values.seed)) problems.push(`--seed must be a whole number (got "${r.values.seed}")`);
    else seed = Number(r.values.seed);
  }
  const loaded: LoadedSummary[] = [];
  if (r.positionals.length === 2) {
    for (const p of r.positionals) {
      try {
        loaded.push(await loadSummary(summaryPath(io, p)));
      } catch (e) {
        if (e instanceof SummaryLoadError) problems.push(`${e.message} [${e.code}]`);
        else throw e;
      }
    }
  }
  if (problems.length > 0 || loaded.length !== 2) return usage(io, problems, COMPARE_HELP);
  const [a, b] = loaded as [LoadedSummary, LoadedSummary];
  for (const g of gates) {
    if (g.stage !== null && !a.doc.stages.some((s) => s.name === g.stage)) problems.push(`--fail-on "${g.expr}": the base run has no stage ${g.stage}`);
  }
  if (problems.length > 0) return usage(io, problems, COMPARE_HELP);
  const cmp = compareRuns(a, b, { ...(minEffect !== undefined ? { minEffect } : {}), ...(seed !== undefined ? { seed } : {}) });
  const results = evaluateFailOn(gates, cmp);
  io.stdout(renderCompareText(cmp, results));
  if (typeof r.values.html === 'string') {
    const out = resolve(base(io), r.values.html);
    try {
      const tmp = `${out}.${process.pid}.tmp`;
      await writeFile(tmp, renderCompareHtml(cmp, a, b, results));
      await rename(tmp, out);
      io.stderr(`comparison written to ${out}\n`);
    } catch (e) {
      io.stderr(`bench compare: cannot write ${out}: ${(e as Error).message}\n`);
      return EXIT.failure;
    }
  }
  return results.some((x) => x.crossed) ? EXIT.thresholds : EXIT.ok;
}
