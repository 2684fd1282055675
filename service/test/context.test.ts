// withoutCancel follows Go's context.WithoutCancel: values pass through, cancellation and deadline do not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { background, contextKey, withCancel, withTimeout, withValue, withoutCancel } from '../src/context/context';

const USER = contextKey<string>('user');
const OTHER = contextKey<number>('other');

test('values are inherited; unknown keys are undefined', () => {
  const ctx = withValue(withValue(background(), USER, 'ann'), OTHER, 7);
  assert.equal(ctx.value(USER), 'ann');
  assert.equal(ctx.value(OTHER), 7);
  assert.equal(background().value(USER), undefined);
});

test('withoutCancel keeps values but is never aborted when its parent is', () => {
  const { ctx: parent, cancel } = withCancel(withValue(background(), USER, 'ann'));
  const detached = withoutCancel(parent);
  cancel(new Error('client went away'));
  assert.equal(parent.signal.aborted, true);
  assert.equal(detached.signal.aborted, false);
  assert.equal(detached.value(USER), 'ann');
});

test('withoutCancel drops the deadline', async () => {
  const { ctx: parent, cancel } = withTimeout(background(), 5);
  assert.ok(parent.deadline !== undefined);
  const detached = withoutCancel(parent);
  assert.equal(detached.deadline, undefined);
  // The deadline's timer is unref'd (a deadline must not keep a process alive): hold the loop open meanwhile.
  const keepAlive = setTimeout(() => undefined, 10_000);
  await new Promise<void>((r) => parent.signal.addEventListener('abort', () => r(), { once: true }));
  clearTimeout(keepAlive);
  assert.equal(parent.signal.reason.name, 'TimeoutError');
  assert.equal(detached.signal.aborted, false);
  cancel();
});

test('a cancellable child of a withoutCancel context is cancelled only by its own cancel', () => {
  const { ctx: parent, cancel: cancelParent } = withCancel(background());
  const { ctx: child, cancel: cancelChild } = withCancel(withoutCancel(parent));
  cancelParent();
  assert.equal(child.signal.aborted, false);
  cancelChild('done');
  assert.equal(child.signal.aborted, true);
  assert.equal(child.signal.reason, 'done');
});

test('cancelling a parent cancels its withCancel children', () => {
  const { ctx: parent, cancel } = withCancel(background());
  const { ctx: child } = withCancel(withValue(parent, USER, 'x'));
  cancel('stop');
  assert.equal(child.signal.aborted, true);
  assert.equal(child.value(USER), 'x');
});
