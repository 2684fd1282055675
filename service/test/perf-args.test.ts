import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { UsageError, median, wholeArg } from '../perf/perf-args';

test('wholeArg takes whole numbers in range and names the option and range otherwise', () => {
  assert.equal(wholeArg('rounds', '7', 1, 20), 7);
  assert.equal(wholeArg('rounds', ' 20 ', 1, 20), 20);
  for (const bad of ['0', '21', '2.5', '-3', 'x', '', '1e1', undefined]) {
    assert.throws(() => wholeArg('rounds', bad, 1, 20), (err: unknown) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /^--rounds .*: expected a whole number from 1 to 20$/);
      return true;
    }, String(bad));
  }
});

test('median of odd and even counts, NaN for none, input left unsorted', () => {
  const xs = [5, 1, 3];
  assert.equal(median(xs), 3);
  assert.deepEqual(xs, [5, 1, 3]);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

test('a measuring script given a bad option exits 2 with one line and starts nothing', () => {
  const res = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, '..', 'perf', 'apm-overhead.ts'), '--seconds', '0'], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(res.status, 2);
  assert.equal(res.stderr.trim(), '--seconds "0": expected a whole number from 1 to 120');
  assert.equal(res.stdout, '');
});
