// An output's requests to a remote server (Prometheus, Grafana) go through one of these: a bounded queue drained
// by a single sender in the background, one request at a time. `push` returns at once, so the runner's hot path
// never waits on the network; a server that is slow or down costs dropped items (counted by the caller's `drop`),
// never memory or a stalled run.

export interface BackgroundSenderOptions<T> {
  maxQueued: number;
  /** When the queue is full: drop the oldest item (the newest carries the freshest data) or refuse the new one. */
  whenFull: 'drop-oldest' | 'refuse-new';
  /** Sends one item; must settle (pass `signal` to fetch, with a timeout of its own) and report failures itself. */
  send(item: T, signal: AbortSignal): Promise<void>;
  /** Called for every item that will not be sent, with the reason. */
  drop(item: T, why: string): void;
}

export class BackgroundSender<T> {
  private readonly queue: T[] = [];
  private sending: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(private readonly opts: BackgroundSenderOptions<T>) {}

  /** Queues an item; `fullReason` is what `drop` is told when the queue is full. */
  push(item: T, fullReason: string): void {
    if (this.queue.length >= this.opts.maxQueued) {
      if (this.opts.whenFull === 'refuse-new') {
        this.opts.drop(item, fullReason);
        return;
      }
      while (this.queue.length >= this.opts.maxQueued) this.opts.drop(this.queue.shift()!, fullReason);
    }
    this.queue.push(item);
    this.pump();
  }

  private pump(): void {
    if (this.sending) return;
    this.sending = (async () => {
      while (this.queue.length > 0) {
        const item = this.queue.shift()!;
        if (this.abort.signal.aborted) this.opts.drop(item, 'stopped before it could be sent');
        else await this.opts.send(item, this.abort.signal);
      }
    })().finally(() => {
      this.sending = undefined;
      if (this.queue.length > 0) this.pump();
    });
  }

  /** Waits for the queue to drain, at most `ms`; then aborts the request in flight and drops what is left. */
  async drain(ms: number): Promise<void> {
    const drained = (async () => {
      while (this.sending) await this.sending;
    })();
    let deadline: NodeJS.Timeout | undefined;
    await Promise.race([drained, new Promise<void>((r) => (deadline = setTimeout(r, ms)))]);
    clearTimeout(deadline);
    this.abort.abort();
    await drained;
  }
}
