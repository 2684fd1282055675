// A capture server speaking the Elastic APM intake protocol, for tests and the overhead script: `GET /` answers the
// server information, `POST /intake/v2/events` takes gzip (or plain) ndjson and answers 202
// (https://www.elastic.co/guide/en/observability/current/apm-api-events.html). Modes let a test turn it into a
// server that is down (connections refused), stalled (accepts, never answers) or slow (answers after a delay).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { createGunzip } from 'node:zlib';

export type IntakeMode = 'ok' | 'stall' | 'slow';

export interface IntakeEvent {
  metadata?: Record<string, unknown>;
  transaction?: IntakeTransaction;
  span?: IntakeSpan;
  error?: IntakeError;
  metricset?: Record<string, unknown>;
}

export interface IntakeLink {
  trace_id: string;
  span_id: string;
}

export interface IntakeTransaction {
  id: string;
  trace_id: string;
  parent_id?: string;
  name: string;
  type: string;
  result: string;
  outcome: string;
  sampled?: boolean;
  context?: { tags?: Record<string, unknown> };
  otel?: { span_kind?: string; attributes?: Record<string, unknown> };
  links?: IntakeLink[];
  [key: string]: unknown;
}

export interface IntakeSpan {
  id: string;
  trace_id: string;
  transaction_id: string;
  parent_id: string;
  name: string;
  type: string;
  subtype?: string;
  context?: { db?: { statement?: string }; tags?: Record<string, unknown> };
  otel?: { span_kind?: string; attributes?: Record<string, unknown> };
  outcome?: string;
  [key: string]: unknown;
}

/** One stack frame of an error (https://github.com/elastic/apm-server/blob/main/docs/spec/v2/error.json). */
export interface IntakeFrame {
  filename?: string;
  abs_path?: string;
  lineno?: number;
  function?: string;
  context_line?: string;
  library_frame?: boolean;
}

export interface IntakeError {
  id: string;
  trace_id?: string;
  transaction_id?: string;
  parent_id?: string;
  exception?: { message?: string; type?: string; stacktrace?: IntakeFrame[] };
  context?: { tags?: Record<string, unknown> };
  [key: string]: unknown;
}

/** Most events kept; a test that needs more is doing something wrong, and memory stays bounded. */
const MAX_EVENTS = 200_000;

export class ApmIntake {
  readonly events: IntakeEvent[] = [];
  /** Intake requests seen, in any mode. */
  intakeRequests = 0;
  /** Events dropped because MAX_EVENTS was reached. */
  overflow = 0;
  /** Intake body bytes received (as sent, compressed). */
  bytes = 0;
  /** False: drain and count bytes only, parse nothing (for overhead measurements). */
  readonly capture: boolean;
  mode: IntakeMode = 'ok';
  /** Delay before answering in `slow` mode (ms). */
  slowMs = 2_000;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly stalled = new Set<ServerResponse>();
  private waiters: Array<() => void> = [];
  port = 0;

  private constructor(capture: boolean) {
    this.capture = capture;
    this.server = createServer((req, res) => this.onRequest(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  static async start(opts: { capture?: boolean } = {}): Promise<ApmIntake> {
    const intake = new ApmIntake(opts.capture ?? true);
    await new Promise<void>((resolve, reject) => {
      intake.server.once('error', reject);
      intake.server.listen(0, '127.0.0.1', () => resolve());
    });
    const addr = intake.server.address();
    if (addr === null || typeof addr === 'string') throw new Error('apm intake: no port');
    intake.port = addr.port;
    return intake;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  transactions(): IntakeTransaction[] {
    return this.events.flatMap((e) => (e.transaction ? [e.transaction] : []));
  }
  spans(): IntakeSpan[] {
    return this.events.flatMap((e) => (e.span ? [e.span] : []));
  }
  errors(): IntakeError[] {
    return this.events.flatMap((e) => (e.error ? [e.error] : []));
  }
  metadata(): Record<string, unknown>[] {
    return this.events.flatMap((e) => (e.metadata ? [e.metadata] : []));
  }

  clear(): void {
    this.events.length = 0;
  }

  /** Resolves when `predicate` holds over the captured events; rejects after `timeoutMs` with `what` in the message. */
  async waitFor(what: string, predicate: (intake: ApmIntake) => boolean, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`apm intake: timed out waiting for ${what} (${this.events.length} events captured)`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', this.url);
    if (req.method === 'GET' && url.pathname === '/') {
      // https://www.elastic.co/guide/en/observability/current/apm-api-info.html
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ build_date: '2024-01-01T00:00:00Z', build_sha: 'capture', version: '8.15.0' }));
      return;
    }
    if (url.pathname === '/config/v1/agents') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
      return;
    }
    if (req.method !== 'POST' || url.pathname !== '/intake/v2/events') {
      res.writeHead(404);
      res.end();
      req.resume();
      return;
    }
    this.intakeRequests += 1;
    if (this.mode !== 'stall') {
      req.on('data', (chunk: Buffer) => {
        this.bytes += chunk.length;
      });
    }
    if (!this.capture && this.mode === 'ok') {
      req.on('end', () => {
        res.writeHead(202);
        res.end();
      });
      return;
    }
    if (this.mode === 'stall') {
      // Never read the body, never answer: the agent's writes back up through TCP as against a hung server.
      req.removeAllListeners('data');
      req.pause();
      this.stalled.add(res);
      res.once('close', () => this.stalled.delete(res));
      return;
    }
    const input = req.headers['content-encoding'] === 'gzip' ? req.pipe(createGunzip()) : req;
    let text = '';
    input.setEncoding('utf8');
    input.on('data', (chunk: string) => {
      text += chunk;
      // Complete lines are parsed as they arrive: a long-lived intake request still shows its events.
      const nl = text.lastIndexOf('\n');
      if (nl >= 0) {
        this.ingest(text.slice(0, nl));
        text = text.slice(nl + 1);
      }
    });
    input.on('error', () => {
      res.writeHead(400);
      res.end();
    });
    input.on('end', () => {
      this.ingest(text);
      const answer = () => {
        if (res.destroyed) return;
        res.writeHead(202);
        res.end();
      };
      if (this.mode === 'slow') setTimeout(answer, this.slowMs).unref();
      else answer();
    });
  }

  private ingest(lines: string): void {
    for (const line of lines.split('\n')) {
      if (line.trim() === '') continue;
      if (this.events.length >= MAX_EVENTS) {
        this.overflow += 1;
        continue;
      }
      try {
        this.events.push(JSON.parse(line) as IntakeEvent);
      } catch {
        // A torn line is a protocol error on the sender's side; the test will see it as a missing event.
      }
    }
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Stops listening and drops every connection (also stalled ones). */
  async stop(): Promise<void> {
    for (const res of this.stalled) res.destroy();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
