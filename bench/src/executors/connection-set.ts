// The open model's connections: up to `maxConnections` raw keep-alive TCP connections (node:net), one request at
// a time each, reused last-in first-out so a few hot connections carry a steady load and the rest stay idle.
// Requests are written as prebuilt bytes and answers read by a minimal parser (response-parser.ts) into one
// read buffer shared by every connection (net's `onread`): no HTTP client objects, header maps or per-read
// buffers on the hot path.
//
// Connections follow the demand (the owner's estimate of how many the load needs), and so does their use: at
// most `demand` connections carry a request at once, whatever more are open. The first `warm` open at once;
// beyond them an arrival that finds no usable connection waits in a FIFO, and only if waiters are still there
// a millisecond later (after that loop turn's answers were read) are more opened, at most `maxOpening` at a
// time. On a fast server a busy connection frees within that millisecond; when the client itself is starved of
// CPU (a shared machine, a GC pause), opening hundreds of sockets at once would cost both processes more CPU
// than the requests and feed the very stall it reacts to; and a server near its capacity answers many
// connections more slowly than a few, so connections left over from a burst stay idle. A wait shows in latency
// (measured from the intended start), not in service time. The queue holds intended start times only; the
// caller bounds it (queued + on the wire <= maxInFlight = its capacity).
import net from 'node:net';
import tls from 'node:tls';
import { ResponseParseError, ResponseParser, type ResponseHandler } from './response-parser';

/** What the connection set tells its owner (the open-model stage). */
export interface ConnectionOwner {
  /** `c` is free for the arrival intended at `intended` (performance.now() ms): write its request now. */
  start(c: Connection, intended: number): void;
  /** `c`'s socket connected: a request written before is on the wire from now. */
  connected(c: Connection): void;
  /** The request on `c` was answered (status, bytes, body on `c.parser`). */
  answered(c: Connection): void;
  /** The request on `c` was lost with its connection (`code`: a socket error code, ECONNRESET for a hang-up). */
  failed(c: Connection, code: string): void;
  /** An error on a connection with nothing in flight (counted by code only). */
  idleError(code: string): void;
}

export interface ConnectionSetOptions {
  host: string;
  port: number;
  /** https: TLS over each connection (certificates checked as node's defaults do) */
  tls?: boolean;
  maxConnections: number;
  /** connections being opened at once (default 16) */
  maxOpening?: number;
  /** connections opened at once on demand, before growth waits a millisecond (default 8); always usable */
  warm?: number;
  /**
   * How many connections the load needs now (Little's law: arrival rate x time a request holds a connection):
   * at most this many (and at least `warm`) carry a request at once. Asked at most once a millisecond while
   * arrivals come, and on each growth turn. Default: no limit.
   */
  demand?: () => number;
}

/** One keep-alive connection and the request it carries (at most one). */
export class Connection implements ResponseHandler {
  readonly parser = new ResponseParser(this);
  readonly socket: net.Socket;
  /** the request in flight, if any */
  busy = false;
  intended = 0;
  sentAt = 0;
  req: Buffer | null = null;
  connected = false;
  closed = false;
  /** counts against the set's cap on connections carrying a request */
  counted = false;
  /** when it last became idle (performance.now() ms) */
  idleSince = 0;
  /** the stage's in-flight list (ordered by intended start) */
  prev: Connection | null = null;
  next: Connection | null = null;
  private errCode: string | null = null;

  constructor(private readonly set: ConnectionSet, opts: ConnectionSetOptions, readBuffer: Buffer) {
    if (opts.tls) {
      // TLS decrypts into its own buffers: plain 'data' events
      this.socket = tls.connect({ host: opts.host, port: opts.port, servername: net.isIP(opts.host) ? undefined : opts.host });
      this.socket.setNoDelay(true);
      this.socket.on('data', (chunk: Buffer) => this.onRead(chunk.length, chunk));
      this.socket.on('secureConnect', () => this.onConnect());
    } else {
      this.socket = net.connect({
        host: opts.host,
        port: opts.port,
        noDelay: true,
        onread: { buffer: readBuffer, callback: (n: number, buf: Uint8Array) => this.onRead(n, buf as Buffer) },
      });
      this.socket.on('connect', () => this.onConnect());
    }
    this.socket.on('end', () => this.onEnd());
    this.socket.on('error', (err: NodeJS.ErrnoException) => { this.errCode ??= err.code ?? 'UNKNOWN'; });
    this.socket.on('close', () => this.onClose());
  }

  /** Writes a request (buffered by the socket until it connects). */
  write(req: Buffer): void {
    this.req = req;
    this.busy = true;
    this.socket.write(req);
  }

  /** Ends the connection now; the request on it (if any) is the caller's to account for. */
  destroy(): void {
    this.busy = false;
    this.closed = true;
    this.set.unmark(this);
    this.socket.destroy();
  }

  onResponse(): void {
    if (this.closed) return;
    if (!this.busy) {
      // an answer nobody asked for: the connection's framing can no longer be trusted
      this.set.protocolError(this, 'BENCH_BAD_RESPONSE');
      return;
    }
    this.set.answered(this);
  }

  private onRead(n: number, buf: Buffer): boolean {
    try {
      this.parser.execute(buf, n);
    } catch (e) {
      this.set.protocolError(this, e instanceof ResponseParseError ? e.code : 'BENCH_BAD_RESPONSE');
    }
    return true;
  }

  private onConnect(): void {
    this.connected = true;
    this.set.connected(this);
  }

  private onEnd(): void {
    // a body that runs until the close completes now; the socket then closes (no half-open)
    if (this.busy) this.parser.finish();
  }

  private onClose(): void {
    this.closed = true;
    this.set.closed(this, this.errCode);
  }
}

export class ConnectionSet {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private opening = 0;
  /** connections carrying a request now */
  private active = 0;
  /** most connections that may carry a request at once (the demand, refreshed on each growth turn) */
  private cap = Number.POSITIVE_INFINITY;
  private capAt = Number.NEGATIVE_INFINITY;
  private growImmediate: NodeJS.Immediate | null = null;
  /** most connections open at once since the set was made or adopted */
  private peakOpen = 0;
  private owner!: ConnectionOwner;
  private opts!: ConnectionSetOptions;
  private maxOpening = 16;
  private warm = 8;
  private growTimer: NodeJS.Timeout | null = null;
  private destroyed = false;
  /** one read buffer for every connection: a read is parsed before the next one lands */
  private readonly readBuffer = Buffer.allocUnsafe(64 * 1024);
  // FIFO of intended start times of arrivals waiting for a connection (a ring, never larger than its capacity)
  private ring = new Float64Array(0);
  private head = 0;
  private size = 0;

  /** how long requests hold a connection (it carries on with the connections to the next stage) */
  readonly hold = new HoldEstimate();

  constructor(owner: ConnectionOwner, opts: ConnectionSetOptions, queueCapacity: number) {
    this.configure(owner, opts, queueCapacity);
  }

  get connections(): number {
    return this.all.size;
  }

  /** Most connections that were open at once. */
  get peak(): number {
    return this.peakOpen;
  }

  get queued(): number {
    return this.size;
  }

  /** Intended start of the oldest waiting arrival (Infinity when none). */
  get oldestQueued(): number {
    return this.size > 0 ? this.ring[this.head] : Number.POSITIVE_INFINITY;
  }

  /** Hands the arrival a connection now if one is free or may be opened, else queues it (first come first served). */
  acquire(intended: number): void {
    if (this.destroyed) return;
    // the cap follows the demand, refreshed at most once a millisecond (arrival times are clock readings enough)
    if (intended - this.capAt >= 1) this.refreshCap(intended);
    const c = this.active < this.cap ? this.popIdle() ?? (this.all.size < this.warm ? this.open() : undefined) : undefined;
    if (c) return this.begin(c, intended);
    if (this.size === this.ring.length) throw new Error('connection queue over capacity'); // the caller's cap failed
    this.ring[(this.head + this.size) % this.ring.length] = intended;
    this.size++;
    this.scheduleGrowth();
  }

  /** Drops the oldest waiting arrival (its deadline passed); returns its intended start. */
  dropOldest(): number {
    const t = this.ring[this.head];
    this.head = (this.head + 1) % this.ring.length;
    this.size--;
    return t;
  }

  /** Drops every waiting arrival; returns how many there were. */
  dropAll(): number {
    const n = this.size;
    this.size = 0;
    this.head = 0;
    return n;
  }

  /** `c` ended its request well (at `now`) and stays open: give it to the next waiter, or keep it idle. */
  release(c: Connection, now = performance.now()): void {
    this.unmark(c);
    if (this.destroyed || c.closed) return;
    if (this.size > 0 && this.active < this.cap) return this.begin(c, this.dropOldest());
    c.idleSince = now;
    this.idle.push(c);
    if (this.size > 0) this.scheduleGrowth();
  }

  /**
   * Between stages: nothing is queued or in flight (the stage ended them); the idle connections stay open for
   * the next stage (ConnectionCarry), with nobody to tell about them meanwhile.
   */
  park(): void {
    this.owner = PARKED;
    this.dropAll();
    this.clearGrowth();
  }

  /**
   * The next stage takes the parked set over: its owner, options and queue. Idle connections beyond its cap, or
   * idle for `maxIdleMs` (a server may close an idle keep-alive connection just as a request is written on it:
   * Node's own default keepAliveTimeout is 5 s), are closed; the rest carry the first requests at once.
   */
  adopt(owner: ConnectionOwner, opts: ConnectionSetOptions, queueCapacity: number, maxIdleMs: number): void {
    this.configure(owner, opts, queueCapacity);
    const now = performance.now();
    const keep: Connection[] = [];
    for (const c of this.idle) {
      if (c.closed) continue;
      if (keep.length < opts.maxConnections && now - c.idleSince <= maxIdleMs) keep.push(c);
      else c.destroy();
    }
    this.idle.length = 0;
    this.idle.push(...keep);
    this.peakOpen = this.all.size;
  }

  destroy(): void {
    this.destroyed = true;
    this.clearGrowth();
    this.dropAll();
    for (const c of this.all) c.destroy();
    this.all.clear();
    this.idle.length = 0;
  }

  // from the connections
  connected(c: Connection): void {
    this.opening--;
    this.owner.connected(c);
    this.scheduleGrowth();
  }

  answered(c: Connection): void {
    this.owner.answered(c);
  }

  protocolError(c: Connection, code: string): void {
    const busy = c.busy;
    c.destroy();
    if (busy) this.owner.failed(c, code);
    else this.owner.idleError(code);
  }

  closed(c: Connection, code: string | null): void {
    if (!c.connected) this.opening--;
    this.all.delete(c);
    this.unmark(c);
    if (c.busy) {
      c.busy = false;
      this.owner.failed(c, code ?? 'ECONNRESET');
    } else if (code !== null && !this.destroyed && c.connected) {
      this.owner.idleError(code);
    }
    if (!this.destroyed) {
      if (this.opening < 0) this.opening = 0;
      this.scheduleGrowth();
    }
  }

  /** Owner, options and an empty queue of `queueCapacity`; the cap starts at `warm` until the demand is asked. */
  private configure(owner: ConnectionOwner, opts: ConnectionSetOptions, queueCapacity: number): void {
    this.owner = owner;
    this.opts = opts;
    this.maxOpening = opts.maxOpening ?? 16;
    this.warm = opts.warm ?? 8;
    if (this.ring.length !== Math.max(1, queueCapacity)) this.ring = new Float64Array(Math.max(1, queueCapacity));
    this.cap = opts.demand === undefined ? Number.POSITIVE_INFINITY : this.warm;
    this.capAt = Number.NEGATIVE_INFINITY;
  }

  private clearGrowth(): void {
    if (this.growTimer) clearTimeout(this.growTimer);
    if (this.growImmediate) clearImmediate(this.growImmediate);
    this.growTimer = null;
    this.growImmediate = null;
  }

  private begin(c: Connection, intended: number): void {
    c.counted = true;
    this.active++;
    this.owner.start(c, intended);
  }

  /** `c` no longer carries a request (released, destroyed or closed): it stops counting against the cap. */
  unmark(c: Connection): void {
    if (!c.counted) return;
    c.counted = false;
    this.active--;
  }

  private popIdle(): Connection | undefined {
    let c = this.idle.pop();
    while (c !== undefined && c.closed) c = this.idle.pop();
    return c;
  }

  private open(): Connection | undefined {
    if (this.all.size >= this.opts.maxConnections || this.opening >= this.maxOpening) return undefined;
    const c = new Connection(this, this.opts, this.readBuffer);
    this.all.add(c);
    this.opening++;
    if (this.all.size > this.peakOpen) this.peakOpen = this.all.size;
    return c;
  }

  private scheduleGrowth(): void {
    if (this.growTimer || this.growImmediate || this.destroyed || this.size === 0) return;
    this.growTimer = setTimeout(() => {
      this.growTimer = null;
      // after the I/O of this loop turn: answers that came in meanwhile are read first (they free connections and
      // update the demand), so a stall of the bench's own is not mistaken for a server holding requests
      this.growImmediate = setImmediate(() => {
        this.growImmediate = null;
        if (this.destroyed) return;
        this.pump();
        this.scheduleGrowth();
      });
    }, 1);
  }

  private refreshCap(now: number): void {
    this.capAt = now;
    if (this.opts.demand !== undefined) this.cap = Math.max(this.warm, Math.ceil(this.opts.demand()));
  }

  /**
   * Serves waiters from idle connections, then from new ones, as many as the load needs (`demand`). After the
   * bench itself stalled (a GC pause, the machine's other work) every arrival of the stall is due at once, and the
   * connections already open drain that backlog within milliseconds on a fast server; opening hundreds more would
   * cost both sides more CPU than the requests, and a server near its capacity serves many connections more
   * slowly than a few (measured with wrk2 on a zero-latency server at 48k req/s: p99 78 ms on 100 connections,
   * 315 ms and 28% fewer answers on 1000).
   */
  private pump(): void {
    this.refreshCap(performance.now());
    while (this.size > 0 && this.active < this.cap) {
      const c = this.popIdle() ?? this.open();
      if (!c) return;
      this.begin(c, this.dropOldest());
    }
  }
}

/** What a parked set tells nobody: it carries no request, and an idle connection's error belongs to no stage. */
const PARKED: ConnectionOwner = { start() {}, connected() {}, answered() {}, failed() {}, idleError() {} };

/**
 * How long a request holds a connection (write to answer, ms): a moving average, and the shortest hold over the
 * last one to two windows: the server's time for a request it does not queue, which no backlog inflates (a
 * backlog makes the server queue, but some request still meets it idle).
 */
export class HoldEstimate {
  meanMs = 1;
  private minNow = Number.POSITIVE_INFINITY;
  private minBefore = Number.POSITIVE_INFINITY;
  private windowEnds = 0;

  record(heldMs: number, now: number): void {
    this.meanMs += (heldMs - this.meanMs) * 0.05;
    if (now >= this.windowEnds) {
      this.minBefore = this.minNow;
      this.minNow = heldMs;
      this.windowEnds = now + HOLD_WINDOW_MS;
    } else if (heldMs < this.minNow) this.minNow = heldMs;
  }

  get minMs(): number {
    return Math.min(this.minNow, this.minBefore);
  }
}

/** The shortest hold is taken over the last one to two of these windows (ms). */
const HOLD_WINDOW_MS = 500;

/**
 * The open model's connections from one stage to the next of a run (k6's VUs and wrk's connections live for the
 * whole test): a stage starts on the connections its predecessor left open, to the same endpoint, instead of
 * opening them all again while its first arrivals are due. Whoever runs the stages closes it at the end.
 */
export class ConnectionCarry {
  private set: ConnectionSet | null = null;
  private key = '';

  /** The parked set for `key`, if one was kept (it is the caller's now); a set for another endpoint is closed. */
  take(key: string): ConnectionSet | null {
    const s = this.set;
    this.set = null;
    if (s !== null && this.key === key) return s;
    s?.destroy();
    return null;
  }

  /** Parks `set` (its stage is over) for the next stage to `key`. */
  keep(key: string, set: ConnectionSet): void {
    this.close();
    set.park();
    this.set = set;
    this.key = key;
  }

  close(): void {
    this.set?.destroy();
    this.set = null;
  }
}
