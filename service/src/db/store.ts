// The storage seam: the write path only knows this interface; MySQL and the embedded memory store implement it.
import type { PoolStats } from './pool';

export interface PageviewRow {
  property: string;
  section: number;
  id: number;
  remoteIp: string;
  /** When the Push was accepted, epoch milliseconds (stored as UTC DATETIME(3)). */
  stampMs: number;
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

export class StoreError extends Error {
  readonly code: string;
  readonly failure: StoreFailure;
  constructor(failure: StoreFailure, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'StoreError';
    this.failure = failure;
    this.code = code;
  }
}
