// Group commit traced: a sampled request's wait for its flush, and the flush. One flush commits rows of many
// requests. A flush holding a sampled row is its own transaction (OTel batch-consumer shape: kind CONSUMER, linked
// to the sampled requests' commit-wait spans, labelled with its batch size), at most TRACE_FLUSHES_PER_SECOND of
// them; each linked commit-wait span carries the flush's trace and transaction id. A slow request leads to its
// flush (flush_trace_id), the flush back to its requests (links). A commit wait becomes a span only when its flush
// is traced, it failed, or it took TRACE_COMMIT_WAIT_MIN_MS.
import { context, ROOT_CONTEXT, SpanKind, trace, type Context as OtelContext, type Link, type Span } from '@opentelemetry/api';
import { contextKey, type Context as RequestContext } from '../../context/context';
import type { Dispatch } from '../../db/store';
import { apmState } from '../apm';
import { bridgeRoot, tracer, transactionOf, type AgentTransaction } from './agent-bridge';
import type { RequestTrace } from './request-trace';
import { errorCode, OtelTraceSpan } from './spans';
import { PerSecondBudget } from './token-bucket';

/**
 * A sampled request's wait for the flush that commits its row. Its `commit_wait` span is created only when it
 * tells something: the flush was traced (the flush links to it and it names the flush), the commit failed, or the
 * wait was long (TRACE_COMMIT_WAIT_MIN_MS). Otherwise the transaction only gets a `batch_size` label: a span event
 * per Push would cost about as much as the transaction itself (service/perf/apm-overhead.ts).
 */
export class CommitWait {
  private readonly start = performance.now();
  private span: Span | undefined;
  private rows: number | undefined;
  constructor(private readonly trace: RequestTrace) {}

  /** The span, created now with the wait's start time if it does not exist yet. */
  materialize(): Span {
    this.span ??= tracer.startSpan(
      'commit_wait',
      { kind: SpanKind.INTERNAL, startTime: this.start },
      this.trace.otelContext ?? ROOT_CONTEXT,
    );
    return this.span;
  }

  /** Called by the flush that took this row. */
  flushStarted(rows: number, flush: { traceId: string; transactionId: string | undefined } | undefined): void {
    this.rows = rows;
    if (flush === undefined) return;
    const span = this.materialize();
    span.setAttribute('flush_trace_id', flush.traceId);
    if (flush.transactionId !== undefined) span.setAttribute('flush_transaction_id', flush.transactionId);
    span.setAttribute('batch_size', rows);
  }

  end(error?: unknown): void {
    if (this.rows !== undefined && !this.trace.ended) this.trace.transaction?.setLabel('batch_size', this.rows, false);
    if (this.span === undefined) {
      // A client that left has an ended transaction: nothing to hang a new span on.
      if (this.trace.ended) return;
      if (error === undefined && performance.now() - this.start < commitWaitMinMs()) return;
    }
    const span = this.materialize();
    if (this.rows !== undefined) span.setAttribute('batch_size', this.rows);
    // The start was given in performance.now() time, so the end is too: the agent's own clock for an end without
    // a time is not the same clock, and a short wait could come out with a negative duration.
    new OtelTraceSpan(span).end(error, performance.now());
  }
}

function commitWaitMinMs(): number {
  const state = apmState();
  return state.active ? state.commitWaitMinMs : 0;
}

/** Starts the commit wait of a sampled request; undefined (nothing to carry) otherwise. */
export function startCommitWait(t: RequestTrace | undefined): CommitWait | undefined {
  if (t === undefined || t.otelContext === undefined || t.ended) return undefined;
  return new CommitWait(t);
}

/** One flush of the group committer. */
export interface FlushTrace {
  readonly recording: boolean;
  /** The flush transaction's ids when recording (also for log lines about this flush). */
  readonly traceId: string | undefined;
  readonly transactionId: string | undefined;
  /**
   * Issues the database call in the flush's context, so the agent's mysql2 span belongs to the flush: the store
   * calls it around the synchronous start of the INSERT (a Dispatch, service/src/db/store.ts).
   */
  readonly dispatch: Dispatch;
  end(error?: unknown): void;
}

const UNTRACED_FLUSH: FlushTrace = {
  recording: false,
  traceId: undefined,
  transactionId: undefined,
  // No context switch: request handlers never run inside a transaction's context (spans get explicit parents), so
  // a flush started from a Push's async context has no transaction to be wrongly attributed to. Entering a context
  // here would also switch on AsyncLocalStorage's promise hooks for the whole process when nothing is sampled.
  dispatch: (start) => start(),
  end() {},
};

class RecordingFlush implements FlushTrace {
  readonly recording = true;
  readonly traceId: string;
  readonly transactionId: string | undefined;
  constructor(
    private readonly span: Span,
    private readonly otelContext: OtelContext,
    private readonly transaction: AgentTransaction | undefined,
  ) {
    const sc = span.spanContext();
    this.traceId = sc.traceId;
    this.transactionId = transaction?.ids['transaction.id'] ?? sc.spanId;
  }
  readonly dispatch: Dispatch = <T>(start: () => T): T => context.with(this.otelContext, start);
  end(error?: unknown): void {
    const code = error === undefined ? undefined : (errorCode(error) ?? 'error');
    if (this.transaction !== undefined) {
      this.transaction.result = code ?? 'ok';
      this.transaction.setOutcome(error === undefined ? 'success' : 'failure');
    }
    this.span.end();
  }
}

/**
 * Starts the trace of one flush of `rows` rows. It records only when at least one waiting request is sampled:
 * unsampled traffic never pays for flush transactions. Each sampled wait is labelled with the flush's ids and the
 * batch size; the flush links to each sampled wait (at most `MAX_FLUSH_LINKS`).
 */
export function startFlush(waits: Iterable<CommitWait | undefined>, rows: number): FlushTrace {
  const sampled: CommitWait[] = [];
  for (const w of waits) if (w !== undefined) sampled.push(w);
  const state = apmState();
  if (sampled.length === 0 || !state.active) return UNTRACED_FLUSH;
  if (!flushBudget.take(state.flushesPerSecond)) {
    // Over the flush budget: the waits still say how big their batch was, and that its flush was not traced.
    for (const w of sampled) w.flushStarted(rows, undefined);
    return UNTRACED_FLUSH;
  }
  // Links need span contexts, so the linked waits get their spans now (the flush is traced: they tell something).
  const links: Link[] = sampled.slice(0, MAX_FLUSH_LINKS).map((w) => ({ context: w.materialize().spanContext() }));
  const span = tracer.startSpan(
    'pageviews.flush',
    {
      root: true,
      kind: SpanKind.CONSUMER,
      links,
      // OTel messaging attributes make the bridge type this transaction `messaging`: the buffer is an in-process
      // queue and a flush is a batch receive (https://opentelemetry.io/docs/specs/semconv/messaging/messaging-spans/).
      attributes: {
        'messaging.system': 'pageviews-buffer',
        'messaging.operation': 'process',
        'messaging.batch.message_count': rows,
      },
    },
    ROOT_CONTEXT,
  );
  const otelContext = trace.setSpan(bridgeRoot(), span);
  const transaction = transactionOf(otelContext);
  transaction?.setLabel('batch_size', rows, false);
  transaction?.setLabel('sampled_requests', sampled.length, false);
  const flush = new RecordingFlush(span, otelContext, transaction);
  for (const w of sampled) w.flushStarted(rows, flush);
  return flush;
}

/**
 * Flush transactions do not scale down with the sample rate: at 10% sampling and 20 rows per batch almost every
 * flush holds a sampled row. They are bounded per second (TRACE_FLUSHES_PER_SECOND, apm-options.cjs).
 */
const flushBudget = new PerSecondBudget();

/** Span links per flush transaction: enough to find the requests, bounded so a huge batch stays a small event. */
export const MAX_FLUSH_LINKS = 64;

/** Where a Push's commit wait rides along with its row into the group committer (the row's request context). */
export const COMMIT_WAIT = contextKey<CommitWait>('commit-wait');

/**
 * Wraps the group committer's flush step: the flush gets its own transaction when one of its rows came from a
 * sampled request, and the database call runs in that transaction's context. Without the agent it is the plain
 * flush.
 */
export function tracedFlush<B extends { readonly ctx: RequestContext }, S>(
  inner: (batch: readonly B[], store: S, dispatch?: Dispatch) => Promise<void>,
): (batch: readonly B[], store: S) => Promise<void> {
  return async (batch, store) => {
    if (!apmState().active) return inner(batch, store);
    const flush = startFlush(
      batch.map((p) => p.ctx.value(COMMIT_WAIT)),
      batch.length,
    );
    try {
      await inner(batch, store, flush.dispatch);
    } catch (err) {
      flush.end(err);
      throw err;
    }
    flush.end();
  };
}

