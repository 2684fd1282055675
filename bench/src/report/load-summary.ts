// Reads a summary.json for the report and the comparison: the one place that decides whether a file is a summary
// this bench can read. Everything downstream trusts the result's top-level shape and treats every deeper field as
// optional, because summaries from older benches (or from runs that ended early) lack fields that newer ones have.
import { readFile } from 'node:fs/promises';
import { SCHEMA_VERSION } from '../types';

/** Stable codes of the ways a file is not a readable summary. */
export const SUMMARY_ERRORS = {
  unreadable: 'SUMMARY_UNREADABLE',
  notJson: 'SUMMARY_NOT_JSON',
  notSummary: 'SUMMARY_NOT_A_SUMMARY',
  schema: 'SUMMARY_SCHEMA_UNSUPPORTED',
} as const;

export class SummaryLoadError extends Error {
  constructor(readonly code: (typeof SUMMARY_ERRORS)[keyof typeof SUMMARY_ERRORS], readonly file: string, message: string) {
    super(`${file}: ${message}`);
  }
}

/** A summary as the report reads it: the top level checked, everything else as written (see types.ts). */
export interface SummaryDoc {
  schema_version: number;
  run_id: string;
  stages: Record<string, unknown>[];
  [key: string]: unknown;
}

export interface LoadedSummary {
  doc: SummaryDoc;
  /** Where it came from (a path, or a name given by the caller). */
  source: string;
  /** What the reader noticed and the report should say (an older schema, ...). */
  notes: string[];
}

/** The first schema_version; summaries written before the field existed are read as this one. */
export const OLDEST_SCHEMA_VERSION = 1;

export function parseSummary(text: string, source: string): LoadedSummary {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new SummaryLoadError(SUMMARY_ERRORS.notJson, source, `not JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SummaryLoadError(SUMMARY_ERRORS.notSummary, source, 'not a bench summary (expected a JSON object)');
  }
  const o = raw as Record<string, unknown>;
  const notes: string[] = [];
  let version: number;
  if (o.schema_version === undefined) {
    version = OLDEST_SCHEMA_VERSION;
    notes.push(`no schema_version: read as version ${OLDEST_SCHEMA_VERSION} (a summary from before the field existed); fields added since are missing`);
  } else if (typeof o.schema_version !== 'number' || !Number.isInteger(o.schema_version) || o.schema_version < OLDEST_SCHEMA_VERSION) {
    throw new SummaryLoadError(SUMMARY_ERRORS.schema, source, `schema_version ${JSON.stringify(o.schema_version)} is not a version this bench knows (it reads ${OLDEST_SCHEMA_VERSION} to ${SCHEMA_VERSION})`);
  } else if (o.schema_version > SCHEMA_VERSION) {
    throw new SummaryLoadError(SUMMARY_ERRORS.schema, source, `schema_version ${o.schema_version} is newer than this bench reads (${OLDEST_SCHEMA_VERSION} to ${SCHEMA_VERSION}); update the bench to read it`);
  } else {
    version = o.schema_version;
  }
  const problems: string[] = [];
  if (typeof o.run_id !== 'string' || o.run_id === '') problems.push('run_id must be a non-empty string');
  if (!Array.isArray(o.stages)) problems.push('stages must be an array');
  else o.stages.forEach((s, i) => {
    if (s === null || typeof s !== 'object' || Array.isArray(s)) problems.push(`stages[${i}] must be an object`);
    else if (typeof (s as Record<string, unknown>).name !== 'string') problems.push(`stages[${i}].name must be a string`);
  });
  if (problems.length > 0) {
    throw new SummaryLoadError(SUMMARY_ERRORS.notSummary, source, `not a bench summary: ${problems.join('; ')}`);
  }
  return { doc: { ...o, schema_version: version } as SummaryDoc, source, notes };
}

export async function loadSummary(file: string): Promise<LoadedSummary> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new SummaryLoadError(SUMMARY_ERRORS.unreadable, file, `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  return parseSummary(text, file);
}
