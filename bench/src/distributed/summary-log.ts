// How summary.json leaves a finished coordinator pod: framed in its log (gzip, base64, short lines between two
// marker lines), because a terminated container can no longer be exec'd into to copy a file, while its log
// stays readable until the Job's ttlSecondsAfterFinished. Short lines survive container runtimes that split
// long log lines.
import { gunzipSync, gzipSync } from 'node:zlib';

export const BEGIN = '----- BEGIN bench summary.json (gzip, base64) -----';
export const END = '----- END bench summary.json -----';

export function frameSummary(json: string): string {
  const b64 = gzipSync(Buffer.from(json, 'utf8')).toString('base64');
  const lines = b64.match(/.{1,76}/g) ?? [];
  return `${BEGIN}\n${lines.join('\n')}\n${END}\n`;
}

export class SummaryLogError extends Error {
  readonly code = 'BENCH_K8S_SUMMARY_MISSING';
}

/** summary.json from a log that contains one frame (the last one wins); throws when there is none or it is cut. */
export function extractSummary(log: string): string {
  const begin = log.lastIndexOf(BEGIN);
  if (begin === -1) throw new SummaryLogError('the coordinator\'s log has no summary (did it get as far as writing one?)');
  const end = log.indexOf(END, begin);
  if (end === -1) throw new SummaryLogError('the coordinator\'s log ends in the middle of its summary');
  const b64 = log.slice(begin + BEGIN.length, end).replace(/\s+/g, '');
  try {
    return gunzipSync(Buffer.from(b64, 'base64')).toString('utf8');
  } catch (e) {
    throw new SummaryLogError(`the summary in the coordinator's log does not decode: ${(e as Error).message}`);
  }
}
