// The open model's connections: up to `maxConnections` undici Clients (one request at a time each), reused
// last-in first-out so a few hot connections carry a steady load and the rest stay idle.
// Growth is patient. The first `warm` connections open on demand; beyond them an arrival that finds no idle
// connection waits in a FIFO, and only if waiters are still there a millisecond later are more connections
// opened (at most `maxOpening` at a time). On a fast server a busy connection frees within that millisecond;
// when the client itself is starved of CPU (a shared machine, a GC pause), opening hundreds of sockets at once
// would cost both processes more CPU than the requests and feed the very stall it reacts to. A wait shows in
// latency (measured from the intended start), not in service time. The caller bounds the queue
// (queued + running <= maxInFlight).
import { Client } from 'undici';

export interface Waiter {
  /** set by the caller when the request ended while still queued (timeout, abort): it is skipped */
  done: boolean;
  use(client: Client): void;
}

export interface ConnectionSetOptions {
  maxConnections: number;
  /** connections being opened at once (default 16) */
  maxOpening?: number;
  /** connections opened at once on demand, before growth becomes patient (default 8) */
  warm?: number;
  client?: Client.Options;
}

export class ConnectionSet {
  private readonly idle: Client[] = [];
  private readonly all = new Set<Client>();
  private readonly opening = new Set<Client>();
  private queue: Waiter[] = [];
  private head = 0;
  private readonly maxOpening: number;
  private readonly warm: number;
  private growTimer: NodeJS.Timeout | null = null;
  private destroyed = false;

  constructor(private readonly origin: string, private readonly opts: ConnectionSetOptions) {
    this.maxOpening = opts.maxOpening ?? 16;
    this.warm = opts.warm ?? 8;
  }

  get connections(): number {
    return this.all.size;
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  /** Hands `w` a connection now if one is free or may be opened, else when one frees (first come first served). */
  acquire(w: Waiter): void {
    if (this.destroyed) return;
    const c = this.idle.pop() ?? (this.all.size < this.warm ? this.open() : undefined);
    if (c) return w.use(c);
    this.queue.push(w);
    this.scheduleGrowth();
  }

  /** The request on `c` ended (answered or failed): give `c` to the next waiter, or keep it idle. */
  release(c: Client): void {
    if (this.destroyed || !this.all.has(c)) return;
    const w = this.next();
    if (w) w.use(c);
    else this.idle.push(c);
  }

  async destroy(): Promise<void> {
    this.destroyed = true;
    if (this.growTimer) clearTimeout(this.growTimer);
    this.growTimer = null;
    this.queue = [];
    this.head = 0;
    const all = [...this.all];
    this.all.clear();
    this.idle.length = 0;
    await Promise.allSettled(all.map((c) => c.destroy()));
  }

  private next(): Waiter | undefined {
    while (this.head < this.queue.length) {
      const w = this.queue[this.head++];
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.head = 0;
      }
      if (!w.done) return w;
    }
    return undefined;
  }

  private open(): Client | undefined {
    if (this.all.size >= this.opts.maxConnections || this.opening.size >= this.maxOpening) return undefined;
    const c = new Client(this.origin, { ...this.opts.client, pipelining: 1 });
    const opened = (): void => {
      if (this.opening.delete(c)) this.scheduleGrowth();
    };
    c.on('connect', opened);
    c.on('connectionError', opened);
    this.all.add(c);
    this.opening.add(c);
    return c;
  }

  private scheduleGrowth(): void {
    if (this.growTimer || this.destroyed || this.queued === 0) return;
    this.growTimer = setTimeout(() => {
      this.growTimer = null;
      this.pump();
      this.scheduleGrowth();
    }, 1);
  }

  /** Serves waiters from idle connections, then from new ones (within the caps). */
  private pump(): void {
    while (this.head < this.queue.length) {
      const c = this.idle.pop() ?? this.open();
      if (!c) return;
      const w = this.next();
      if (!w) {
        this.idle.push(c);
        return;
      }
      w.use(c);
    }
  }
}
