// The storage seam: the write path only knows this interface; MySQL and the embedded memory store implement it.
import type { PoolStats } from './pool';

export interface PageviewRow {
  property: string;
  section: number;
  id: number;
  remoteIp: string;
  /** When the Push was accepted, epoch milliseconds (stored as UTC DATETIME(3)). */
  stampMs: number;
  /**
   * The Push's Idempotency-Key (validate.ts bounds it): a second row with the same key is not stored, and the Push
   * that carried it is answered as committed. Undefined = no key (NULL in the column, never a duplicate).
   */
  idempotencyKey?: string | undefined;
}

/**
 * Runs the synchronous start of a database call: the moment a call is issued is all the agent's mysql2
 * instrumentation needs to see the flush's trace context (it makes its span and binds the callback then), so
 * tracing enters that context only around it (service/src/telemetry/tracing/flush-trace.ts).
 */
export type Dispatch = <T>(start: () => T) => T;

export interface Store {
  readonly kind: 'mysql' | 'memory';
  /** Applies pending schema migrations (idempotent). */
  migrate(): Promise<unknown>;
  /** Commits every row or none; rejects with a StoreError. `dispatch` wraps the issuing of the INSERT. */
  insertBatch(rows: readonly PageviewRow[], dispatch?: Dispatch): Promise<void>;
  /** Resolves when a write would be accepted now (readiness). */
  checkWritable(signal?: AbortSignal): Promise<void>;
  /** Pool counts, when the store has a pool. */
  poolStats(): PoolStats | undefined;
  close(): Promise<void>;
}

/** Why a store operation failed, in the terms a client can act on. */
export type StoreFailure = 'unavailable' | 'resource_exhausted' | 'internal';

/**
 * What a failed write left behind. `not_stored`: the database refused the statement or it never left the service
 * (nothing was written, a retry cannot duplicate). `unknown`: the statement was sent and no answer came in time, or
 * the connection died before the answer (the rows may be committed).
 */
export type WriteOutcome = 'not_stored' | 'unknown';

export interface StoreErrorOptions {
  cause?: unknown;
  /** Default `not_stored`. */
  outcome?: WriteOutcome;
  /**
   * The database refused the statement for a value in one of its rows (too long for its column, a character the
   * column cannot hold...): the other rows of the batch may be fine on their own (group-commit.ts isolates them).
   */
  rowRefused?: boolean;
}

export class StoreError extends Error {
  readonly code: string;
  readonly failure: StoreFailure;
  readonly outcome: WriteOutcome;
  readonly rowRefused: boolean;
  constructor(failure: StoreFailure, code: string, message: string, options: StoreErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StoreError';
    this.failure = failure;
    this.code = code;
    this.outcome = options.outcome ?? 'not_stored';
    this.rowRefused = options.rowRefused ?? false;
  }

  /**
   * The Twirp code a Push failed by this error is answered with. An unknown outcome is `deadline_exceeded` (in
   * gRPC's sense: the change may have happened), never `unavailable`, which promises nothing was done.
   */
  get twirpCode(): StoreFailure | 'deadline_exceeded' {
    return this.outcome === 'unknown' ? 'deadline_exceeded' : this.failure;
  }
}
