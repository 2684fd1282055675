// A Twirp-shaped Push endpoint with known behaviour, for proving what the bench measures:
// a fixed latency, a deterministic error mix (Twirp error bodies), deliberate hang-ups and a one-off stall.
// It runs in the test's own process (node:http), listens on 127.0.0.1 only, and counts what it saw so a test
// can compare the client's figures with the server's.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
// The service's one code -> HTTP status table (the Twirp spec's), so the test server answers exactly as it would.
import { TWIRP_STATUS } from '../../../service/src/twirp/errors';

export interface TestServerOptions {
  /** Fixed delay before every answer, in ms (0 = answer at once). */
  latencyMs?: number;
  /**
   * Deterministic error mix: request number n (1-based, in arrival order) is answered with the first entry whose
   * `every` divides n. E.g. [{code:'unavailable', every: 10}] answers 10% of requests with a 503 Twirp error.
   */
  errors?: { code: string; every: number }[];
  /** Every Nth request (after the error mix is decided) gets its socket destroyed instead of an answer. */
  hangUpEvery?: number;
  /** Once, when request number `afterRequests` arrives, hold every answer until `ms` have passed. */
  stall?: { afterRequests: number; ms: number };
  /**
   * Stall for `ms` every `everyMs`: every answer due in a window [t0 + phaseMs + k·everyMs, +ms) is held until
   * the window's end, t0 being the first request's arrival (the coordinated-omission case of wrk2's README).
   * Requests that arrive in a window are counted in `counts.stalled`.
   */
  periodicStall?: { everyMs: number; ms: number; phaseMs: number };
  /**
   * Validate JSON bodies like the service does for the bench's invalid requests: a missing or empty `property`
   * is answered invalid_argument, an unparseable body malformed (only for requests the error mix left ok).
   */
  validate?: boolean;
  /** How many recent requests (headers and body) to keep for inspection (default 200, bounded). */
  keep?: number;
  /** Port on 127.0.0.1 (default 0: any free port). */
  port?: number;
}

export interface SeenRequest {
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface TestServerCounts {
  /** Push requests whose body was fully read. */
  requests: number;
  /** Answers by Twirp code, `ok` for 200. */
  byCode: Record<string, number>;
  byStatus: Record<string, number>;
  hangUps: number;
  /** requests that arrived during a periodic stall */
  stalled: number;
  connections: number;
  /** Request body bytes received. */
  bytesReceived: number;
  /** The most recent requests, oldest first (at most `keep`). */
  recent: SeenRequest[];
}

export interface TestServer {
  url: string;
  counts: TestServerCounts;
  close(): Promise<void>;
}

const PUSH_PATH = '/twirp/stats.StatsService/Push';

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const latencyMs = opts.latencyMs ?? 0;
  const errors = opts.errors ?? [];
  const keep = Math.max(0, Math.min(opts.keep ?? 200, 10_000));
  const counts: TestServerCounts = {
    requests: 0, byCode: {}, byStatus: {}, hangUps: 0, stalled: 0, connections: 0, bytesReceived: 0, recent: [],
  };
  let firstAt = -1;
  /** When the periodic stall holds a request arriving now until (performance.now() ms), or 0 when it does not. */
  const periodicHold = (now: number): number => {
    const ps = opts.periodicStall;
    if (!ps) return 0;
    if (firstAt < 0) firstAt = now;
    const t = now - firstAt - ps.phaseMs;
    if (t < 0) return 0;
    const into = t % ps.everyMs;
    return into < ps.ms ? now + (ps.ms - into) : 0;
  };
  let stallUntil = 0;
  const timers = new Set<NodeJS.Timeout>();

  const later = (ms: number, fn: () => void): void => {
    if (ms <= 0) return fn();
    const t = setTimeout(() => { timers.delete(t); fn(); }, ms);
    timers.add(t);
  };

  const answer = (res: http.ServerResponse, status: number, code: string, body: Buffer | string, type: string): void => {
    counts.byCode[code] = (counts.byCode[code] ?? 0) + 1;
    counts.byStatus[status] = (counts.byStatus[status] ?? 0) + 1;
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };

  const twirpError = (res: http.ServerResponse, code: string, msg: string): void => {
    answer(res, (TWIRP_STATUS as Record<string, number>)[code] ?? 500, code, JSON.stringify({ code, msg }), 'application/json');
  };

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== PUSH_PATH) {
        return twirpError(res, 'bad_route', `no handler for ${req.method} ${req.url}`);
      }
      const body = Buffer.concat(chunks);
      const n = ++counts.requests;
      counts.bytesReceived += body.length;
      if (keep > 0) {
        counts.recent.push({ headers: req.headers, body });
        if (counts.recent.length > keep) counts.recent.shift();
      }
      if (opts.stall && n === opts.stall.afterRequests) stallUntil = Date.now() + opts.stall.ms;

      const contentType = String(req.headers['content-type'] ?? '');
      let code = 'ok';
      for (const e of errors) {
        if (e.every > 0 && n % e.every === 0) { code = e.code; break; }
      }
      if (code === 'ok' && opts.validate && contentType.startsWith('application/json')) {
        try {
          const parsed = JSON.parse(body.toString('utf8')) as { property?: unknown };
          if (typeof parsed.property !== 'string' || parsed.property === '') code = 'invalid_argument';
        } catch {
          code = 'malformed';
        }
      }
      const hangUp = opts.hangUpEvery !== undefined && opts.hangUpEvery > 0 && n % opts.hangUpEvery === 0;
      const now = performance.now();
      const holdUntil = periodicHold(now);
      if (holdUntil > 0) counts.stalled++;
      const delay = Math.max(latencyMs, stallUntil - Date.now(), holdUntil - now);
      later(delay, () => {
        if (hangUp) {
          counts.hangUps++;
          req.socket.destroy();
          return;
        }
        if (code !== 'ok') return twirpError(res, code, `test server: ${code}`);
        if (contentType.startsWith('application/protobuf')) {
          answer(res, 200, 'ok', Buffer.alloc(0), 'application/protobuf');
        } else {
          answer(res, 200, 'ok', '{}', 'application/json');
        }
      });
    });
  });
  // Keep idle keep-alive connections open longer than any test stage, so a closed-model client never sees the
  // server close a connection it did not ask to close.
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 130_000;
  server.requestTimeout = 0;
  server.on('connection', () => { counts.connections++; });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    counts,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
