// After a stage: wait (bounded) until the target's own counts have caught up with what the client saw.
import type { StageResult } from '../types';
import { diffSnapshots, scrapeMetrics, total, type ServerSnapshot } from './server-metrics';
import type { RowCounter } from './mysql-rows';

export interface SettleOptions {
  /** Base URL of the target. */
  target: string;
  /** Counts rows in `incoming` (MYSQL_URL). */
  rows?: RowCounter;
  /** At most this long (default 5 s). */
  settleMs?: number;
  /** The bench's peak window on the service (server-timeline.ts): every scrape here reads and restarts it. */
  window?: string;
  /** Each scrape, so the caller can fold the window's peaks into the stage's (none may be lost). */
  onSnap?: (snap: ServerSnapshot) => void;
}

/**
 * The server records a request once it has answered it, a hair after the client may have seen the answer, and
 * requests the client gave up on (timeouts, connections cut at the stage's end) may still be in a flush. So
 * re-scrape (bounded by settleMs) until the server has answered at least every request the client saw answered
 * and then either every request sent or nothing changed for three scrapes in a row; with MYSQL_URL, also until
 * the rows counted match the server's pageview_rows_committed_total (the row count is taken after the scrape, so
 * a write that lands in between shows up as rows ahead of the counter).
 */
export async function settle(
  opts: SettleOptions, before: ServerSnapshot, mark: number | null, client: StageResult,
): Promise<{ snap: ServerSnapshot; rows?: number; rowsError?: string }> {
  const deadline = Date.now() + (opts.settleMs ?? 5000);
  let prev: string | null = null;
  let stable = 0;
  for (;;) {
    const snap = await scrapeMetrics(opts.target, 3000, opts.window);
    opts.onSnap?.(snap);
    let rows: number | undefined;
    let rowsError: string | undefined;
    if (opts.rows && mark !== null) {
      try {
        rows = await opts.rows.countSince(mark);
      } catch (e) {
        rowsError = (e as Error).message;
      }
    }
    const d = diffSnapshots(before, snap);
    const answered = total(d.pushes ?? d.http);
    const accepted = (d.pushes ?? d.http ?? {}).ok ?? 0;
    const committed = d.counters.rows_committed;
    const key = `${answered}/${accepted}/${rows ?? ''}/${committed ?? ''}`;
    stable = key === prev ? stable + 1 : 0;
    prev = key;
    const caughtUp = answered >= client.counts.completed;
    const allAccounted = answered >= client.counts.sent;
    const rowsMatch = rows === undefined || (committed !== undefined ? rows === committed : d.pushes === null || rows >= accepted);
    if (caughtUp && rowsMatch && (allAccounted || stable >= 2)) return { snap, rows, rowsError };
    if (Date.now() >= deadline) return { snap, rows, rowsError };
    await new Promise((r) => setTimeout(r, 150));
  }
}
