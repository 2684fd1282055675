// A small request context after Go's context package: immutable values plus a cancellation signal and an
// optional deadline. withoutCancel() follows Go's context.WithoutCancel (https://pkg.go.dev/context#WithoutCancel):
// the child sees every value of its parent, but is never cancelled and has no deadline. The write path runs under
// it so that a client hanging up cannot cancel a Push whose body has arrived.

export interface ContextKey<T> {
  readonly name: string;
  /** Phantom field: ties the key to its value type. */
  readonly __type?: T;
}

export function contextKey<T>(name: string): ContextKey<T> {
  return Object.freeze({ name }) as ContextKey<T>;
}

export interface Context {
  /** Aborts when the context is cancelled (or its deadline passes). */
  readonly signal: AbortSignal;
  /** Epoch milliseconds, or undefined when the context has no deadline. */
  readonly deadline: number | undefined;
  value<T>(key: ContextKey<T>): T | undefined;
}

// A signal that never aborts: its controller is dropped on purpose.
const NEVER: AbortSignal = new AbortController().signal;

class RootContext implements Context {
  readonly signal = NEVER;
  readonly deadline = undefined;
  value<T>(_key: ContextKey<T>): T | undefined {
    return undefined;
  }
}

const ROOT = new RootContext();

/** The empty root: no values, never cancelled, no deadline (Go's context.Background). */
export function background(): Context {
  return ROOT;
}

class ValueContext implements Context {
  constructor(
    private readonly parent: Context,
    private readonly key: ContextKey<unknown>,
    private readonly val: unknown,
  ) {}
  get signal(): AbortSignal {
    return this.parent.signal;
  }
  get deadline(): number | undefined {
    return this.parent.deadline;
  }
  value<T>(key: ContextKey<T>): T | undefined {
    if (key === (this.key as ContextKey<unknown>)) return this.val as T;
    return this.parent.value(key);
  }
}

export function withValue<T>(parent: Context, key: ContextKey<T>, val: T): Context {
  return new ValueContext(parent, key as ContextKey<unknown>, val);
}

class CancelContext implements Context {
  readonly signal: AbortSignal;
  constructor(
    private readonly parent: Context,
    signal: AbortSignal,
    readonly deadline: number | undefined,
  ) {
    this.signal = signal;
  }
  value<T>(key: ContextKey<T>): T | undefined {
    return this.parent.value(key);
  }
}

/** A child cancelled by `cancel(reason)` or when its parent is cancelled. */
export function withCancel(parent: Context): { ctx: Context; cancel: (reason?: unknown) => void } {
  const controller = new AbortController();
  const signal = parent.signal === NEVER ? controller.signal : AbortSignal.any([parent.signal, controller.signal]);
  const ctx = new CancelContext(parent, signal, parent.deadline);
  return { ctx, cancel: (reason?: unknown) => controller.abort(reason) };
}

/**
 * A child that is cancelled after `ms` milliseconds (or earlier by its parent or `cancel`). The timer is unref'd
 * and cleared by `cancel`, so callers must call `cancel` when done (as in Go).
 */
export function withTimeout(parent: Context, ms: number): { ctx: Context; cancel: (reason?: unknown) => void } {
  const controller = new AbortController();
  const deadline = Math.min(Date.now() + ms, parent.deadline ?? Number.POSITIVE_INFINITY);
  const timer = setTimeout(
    () => controller.abort(new DOMException('context deadline exceeded', 'TimeoutError')),
    Math.max(0, deadline - Date.now()),
  );
  timer.unref();
  const signal = parent.signal === NEVER ? controller.signal : AbortSignal.any([parent.signal, controller.signal]);
  const ctx = new CancelContext(parent, signal, deadline);
  return {
    ctx,
    cancel: (reason?: unknown) => {
      clearTimeout(timer);
      controller.abort(reason);
    },
  };
}

class WithoutCancelContext implements Context {
  readonly signal = NEVER;
  readonly deadline = undefined;
  constructor(private readonly parent: Context) {}
  value<T>(key: ContextKey<T>): T | undefined {
    return this.parent.value(key);
  }
}

/** Go's context.WithoutCancel: same values as `parent`, never aborted, no deadline. */
export function withoutCancel(parent: Context): Context {
  return new WithoutCancelContext(parent);
}
