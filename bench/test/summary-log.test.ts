// summary.json framed in the coordinator's log comes back byte for byte from a log with other lines around it
// (and from the last frame when there are two); a missing or cut frame is a clear error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BEGIN, extractSummary, frameSummary, SummaryLogError } from '../src/distributed/summary-log';

test('a framed summary survives a noisy log; a missing or cut one is an error', () => {
  const summary = JSON.stringify({ run_id: 'r', stages: Array.from({ length: 200 }, (_, i) => ({ name: `s${i}`, p99: i / 7 })), text: 'é ✓' }, null, 2);
  const frame = frameSummary(summary);
  assert.ok(frame.split('\n').every((l) => l.length <= 76 || l.startsWith('-----')), 'short lines only');
  const log = `{"level":30,"msg":"bench run starting"}\n${frameSummary('{"old":true}')}Stage 1/2 ...\n${frame}{"level":30,"msg":"bench run finished"}\n`;
  assert.equal(extractSummary(log), summary);
  assert.throws(() => extractSummary('no frame here\n'), SummaryLogError);
  assert.throws(() => extractSummary(frame.slice(0, frame.length - 40)), /middle of its summary/);
  assert.throws(() => extractSummary(`${BEGIN}\n!!!!\n----- END bench summary.json -----\n`), SummaryLogError);
});
