// The pageview service as a Fastify app that tests build without a port (app.inject) or with one (real sockets).
// main.ts owns the process; this file owns routes, hooks, the store, the group committer and the metrics registry,
// and closes what it opened in onClose (after the HTTP server stopped and in-flight requests finished).
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import Fastify, {
  LogController,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import type { Config } from './config';
import { createRequestContext } from './context/request-context';
import { MemoryStore } from './db/memory-store';
import { MysqlStore } from './db/mysql-store';
import type { Store } from './db/store';
import { StoreError } from './db/store';
import { GroupCommitter, type FlushFn, flushBatch } from './pageviews/group-commit';
import { makePushHandler } from './pageviews/push-handler';
import { resolveRemoteIp, trustFunction } from './pageviews/remote-ip';
import { ServiceMetrics } from './telemetry/metrics';
import { createLogger } from './telemetry/logging';
import { tracedFlush } from './telemetry/tracing/flush-trace';
import { requestTrace } from './telemetry/tracing/request-trace';
import { tracingPlugin } from './telemetry/tracing/tracing-plugin';
import { RequestLog } from './telemetry/request-log';
import { OPENMETRICS_CONTENT_TYPE, renderOpenMetrics, wantsOpenMetrics } from './telemetry/openmetrics';
import { windowName } from './telemetry/peak-windows';
import { TwirpError, twirpError } from './twirp/errors';
import { CONTENT_TYPES } from './twirp/content-type';
import { framingError } from './twirp/framing';
import { sendTwirpError } from './twirp/reply';

export const PUSH_ROUTE = '/twirp/stats.StatsService/Push';
const METRICS_ROUTE = '/metrics';
const READY_CHECK_TIMEOUT_MS = 2_000;
const SCHEMA_RETRY_MAX_MS = 5_000;

declare module 'fastify' {
  interface FastifyInstance {
    store: Store;
    committer: GroupCommitter;
    metrics: ServiceMetrics;
  }
  interface FastifyRequest {
    /** Counted in http_server_active_requests until it is answered (or its client went away). */
    active: boolean;
  }
}

export interface AppOptions {
  config: Config;
  /** A store to use instead of the one the config selects (tests). */
  store?: Store;
  /** The service's logger; defaults to createLogger(config) (tests pass one writing to a stream they read). */
  logger?: Logger;
  /** Register Node's default runtime metrics (default true). */
  defaultMetrics?: boolean;
  /** Replaces the flush step (the seam tracing wraps). */
  flush?: FlushFn;
}

export function createStore(config: Config, metrics: ServiceMetrics): Store {
  if (config.mysqlUrl !== undefined) return new MysqlStore(config.mysqlUrl, config.pool, { observer: metrics.poolObserver });
  return new MemoryStore(config.memoryStoreCapacity);
}

export async function buildApp(opts: AppOptions): Promise<FastifyInstance> {
  const { config } = opts;
  // Fastify gets no logger of its own, and the service's logger becomes its instance logger (`app.log`, which every
  // instance-level line of Fastify goes through) and the parent of every request's logger (the tracing plugin's child
  // logger factory, which Fastify calls for each request either way). With a logger of its own, Fastify also adds
  // 'finish' and 'error' listeners and a start time to every response, only to feed the access log that is off
  // here, and every request pays for them. The request duration is taken by the service itself (onRequest below).
  const logger = opts.logger ?? createLogger(config);
  const app = Fastify({
    // Per-request access logs cost a large share of throughput at this request size; errors are still logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.bodyLimitBytes,
    // Slow senders (https://nodejs.org/api/http.html#httpcreateserveroptions-requestlistener): Node cuts a request whose headers or whole body
    // took longer than these, but checks only every connectionsCheckingInterval (30 s by default), and
    // headersTimeout defaults to 60 s. All three together cut a dripping sender close to REQUEST_TIMEOUT_MS.
    requestTimeout: config.requestTimeoutMs,
    http: {
      headersTimeout: config.requestTimeoutMs,
      connectionsCheckingInterval: connectionCheckIntervalMs(config.requestTimeoutMs),
      // A missing Host is refused by framingError (a Twirp answer) rather than by Node's bodiless 400.
      requireHostHeader: false,
    },
    // Fastify's own 503 body is not a Twirp error: while closing, the hooks below answer instead.
    return503OnClosing: false,
    // What Node's parser and Fastify's router refuse before any route runs is answered as a Twirp error too.
    clientErrorHandler: twirpClientError,
    frameworkErrors: (err, request, reply) => {
      const target = `${request.method} ${request.raw.url ?? ''}`;
      sendTwirpError(request, reply, twirpError.badRoute(`the request path could not be routed: ${err.message}`, { twirp_invalid_route: target }));
    },
  });

  app.log = logger;
  // An Expect other than 100-continue: Node answers 417 with no body unless someone listens (and then no route sees
  // the request). Refused as a Twirp error instead; the connection closes, as its body may follow unread.
  app.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    const body = JSON.stringify(twirpError.malformed(`unsupported Expect header: ${JSON.stringify(req.headers.expect ?? '')}`).toJSON());
    res.writeHead(400, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' });
    res.end(body);
  });

  // Tracing first: its hooks apply to every route (service/src/telemetry/tracing/tracing-plugin.ts).
  await app.register(tracingPlugin);

  const metrics = new ServiceMetrics({ defaultMetrics: opts.defaultMetrics });
  const store = opts.store ?? createStore(config, metrics);
  const committer = new GroupCommitter(
    store,
    config.batch,
    {
      onFlush: (r) => {
        metrics.observeFlush(r);
        if (r.error !== undefined) {
          app.log.warn(
            { err: r.error, rows: r.rows, code: r.error.code, failure: r.error.failure, outcome: r.error.outcome },
            'flush failed',
          );
        } else if (r.rowErrors.length > 0) {
          const first = r.rowErrors[0]!;
          app.log.warn(
            { err: first, rows: r.rows, refused: r.rowErrors.length, code: first.code },
            'the database refused rows of a batch; only those failed, the rest is committed',
          );
        }
      },
      onEnqueue: metrics.observeBufferDepth,
      onCallbackError: (err) => app.log.error({ err }, 'answering a committed Push failed'),
    },
    opts.flush ?? tracedFlush(flushBatch),
  );
  metrics.bind({
    bufferDepth: () => committer.depth,
    bufferCapacity: () => committer.capacity,
    poolStats: () => store.poolStats(),
  });
  app.decorate('store', store);
  app.decorate('committer', committer);
  app.decorate('metrics', metrics);
  app.decorateRequest('twirpCode', null);
  app.decorateRequest('twirpError', null);
  app.decorateRequest('routeLabel', null);
  app.decorateRequest('ctx', null);
  app.decorateRequest('metricsRecorded', false);
  app.decorateRequest('startedAt', 0);
  app.decorateRequest('active', false);
  const requestLog = new RequestLog(config.requestLog);

  if (store.kind === 'memory') {
    app.log.warn(
      { store: 'memory', capacity: config.memoryStoreCapacity },
      'MYSQL_URL is not set: using the EMBEDDED IN-MEMORY STORE; pageviews are NOT durable and are lost on exit',
    );
  }

  // --- schema: applied at start; when MySQL is down, retried in the background while /readyz says 503.
  let schemaReady = false;
  let closing = false;
  let retryTimer: NodeJS.Timeout | undefined;
  const migrate = async (): Promise<void> => {
    await store.migrate();
    schemaReady = true;
  };
  const retrySchema = (delay: number): void => {
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (closing) return;
      migrate().then(
        () => app.log.info({ store: store.kind }, 'schema ready'),
        (err: unknown) => {
          app.log.warn({ err, retryInMs: Math.min(delay * 2, SCHEMA_RETRY_MAX_MS) }, 'schema migration failed; retrying');
          retrySchema(Math.min(delay * 2, SCHEMA_RETRY_MAX_MS));
        },
      );
    }, delay);
  };
  app.addHook('onReady', async () => {
    try {
      await migrate();
    } catch (err) {
      if (!(err instanceof StoreError) || err.failure !== 'unavailable') throw err;
      app.log.error({ err }, 'database unavailable at start; Push answers unavailable until it is reachable');
      retrySchema(250);
    }
  });

  // --- closing: refuse new work with proper answers and close each connection after its response.
  app.addHook('preClose', async () => {
    closing = true;
  });
  // --- metrics for every answered request except scrapes, counted exactly once, when the answer is sent: its
  // status and Twirp code are known then. Counting in onSend rather than onResponse also counts the Pushes whose
  // client hung up before the answer (they get no 'finish', so onResponse never runs for them): they were
  // committed all the same (withoutCancel), and /metrics must not report fewer Pushes than rows written. The
  // duration ends as the answer is handed to the socket.
  // Hooks on the hot path are callback-style: an async hook costs a promise and a microtask per request.
  app.addHook('onRequest', (request, reply, done) => {
    request.startedAt = performance.now();
    request.active = true;
    metrics.requestStarted();
    const framing = framingError(request.raw.rawHeaders, request.raw.httpVersion);
    if (framing !== undefined) {
      reply.header('connection', 'close');
      sendTwirpError(request, reply, framing);
      return;
    }
    done();
  });
  // A request whose client went away before it was handled never reaches onSend: it is no longer in flight.
  app.addHook('onRequestAbort', (request, done) => {
    leave(request);
    done();
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    recordRequest(request, reply);
    done(null, payload);
  });

  function leave(request: FastifyRequest): void {
    if (!request.active) return;
    request.active = false;
    metrics.requestEnded();
  }

  function recordRequest(request: FastifyRequest, reply: FastifyReply): void {
    leave(request);
    if (request.metricsRecorded) return;
    request.metricsRecorded = true;
    const route = request.routeLabel ?? request.routeOptions.url ?? 'unmatched';
    if (route === METRICS_ROUTE) return;
    const ms = performance.now() - request.startedAt;
    const status = reply.statusCode;
    const trace = requestTrace(request);
    metrics.observeRequest(request.method, route, status, request.twirpCode, ms / 1000, trace);
    if (route === PUSH_ROUTE) metrics.observePush(request.twirpCode ?? 'internal');
    if (requestLog.wants(ms, status)) requestLog.write(request.log, request.method, route, status, request.twirpCode, ms);
  }

  // --- Twirp routes: own body parsing (raw bytes of any content type) and an error handler that only speaks Twirp.
  const pushHandler = makePushHandler({
    committer,
    allowedProperties: new Set(config.allowedProperties),
    storeReady: () => schemaReady,
  });
  const trust = trustFunction(config.trustProxy);
  await app.register(async (twirp) => {
    twirp.removeAllContentTypeParsers();
    const rawBytes = (_req: FastifyRequest, body: Buffer, done: (err: null, body: Buffer) => void) => done(null, body);
    // The two Twirp content types by name, the rest through the catch-all (the handler answers bad_route for it):
    // Fastify remembers which parser a Content-Type header resolved to, except when it resolved to the catch-all,
    // and then parses the header anew on every request (0.85 µs a request in a profile of the Push route under wrk:
    // node --perf-basic-prof, perf record -g -e cpu-clock).
    for (const type of Object.values(CONTENT_TYPES)) twirp.addContentTypeParser(type, { parseAs: 'buffer' }, rawBytes);
    twirp.addContentTypeParser('*', { parseAs: 'buffer' }, rawBytes);

    // Each Twirp route labels its requests itself (route-level onRequest): asking Fastify for the matched route
    // (request.routeOptions) builds an options object on every call.
    const twirpRequest = (label: string) =>
      function onTwirpRequest(request: FastifyRequest, reply: FastifyReply, done: () => void): void {
        request.routeLabel = label;
        request.ctx = createRequestContext(request, reply, resolveRemoteIp(request, trust));
        if (closing) {
          sendTwirpError(request, reply, twirpError.unavailable('service is shutting down'));
          return;
        }
        done();
      };

    twirp.setErrorHandler((err, request, reply) => {
      const te = toTwirpError(err, config.bodyLimitBytes);
      // Store failures are logged once per flush (below); per request only at debug, so an outage cannot
      // turn into a log flood at full request rate.
      if (te.code === 'internal') request.log.error({ err }, 'internal error answering a Twirp request');
      else if (te.code === 'unavailable') request.log.debug({ err: te.cause ?? te }, 'Twirp request answered unavailable');
      return sendTwirpError(request, reply, te, err);
    });

    twirp.post(PUSH_ROUTE, { onRequest: twirpRequest(PUSH_ROUTE) }, pushHandler);
    twirp.all('/twirp/*', { onRequest: twirpRequest('unmatched') }, async (request) => {
      throw twirpError.badRoute(`no handler for ${request.method} ${request.url.split('?')[0]}`, {
        twirp_invalid_route: `${request.method} ${request.url.split('?')[0]}`,
      });
    });
  });

  // Unknown paths, and methods the router does not know, get a Twirp answer rather than Fastify's 404 body.
  app.setNotFoundHandler((request, reply) => {
    const target = `${request.method} ${request.url.split('?')[0]}`;
    sendTwirpError(request, reply, twirpError.badRoute(`no handler for ${target}`, { twirp_invalid_route: target }));
  });

  // --- health, readiness, metrics
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (request, reply) => {
    if (closing) return reply.code(503).send({ status: 'closing' });
    if (!schemaReady) return reply.code(503).send({ status: 'schema not ready' });
    const timeout = AbortSignal.timeout(READY_CHECK_TIMEOUT_MS);
    try {
      await raceSignal(store.checkWritable(timeout), timeout);
      return { status: 'ready', store: store.kind };
    } catch (err) {
      const e = err as { code?: string; message?: string };
      return reply.code(503).send({ status: 'not ready', store: store.kind, code: e.code ?? 'UNKNOWN' });
    }
  });

  // ?window=NAME: whose high-water marks this scrape reads (peak-windows.ts). OpenMetrics (with the request
  // duration's exemplars) for scrapers that ask for it, the text format 0.0.4 otherwise (openmetrics.ts).
  app.get(METRICS_ROUTE, async (request, reply) => {
    const window = windowName((request.query as Record<string, unknown> | undefined)?.window);
    if (window === undefined) {
      return reply.code(400).send({ error: 'window must be 1-64 characters of [A-Za-z0-9._:-]' });
    }
    metrics.prepareScrape(window);
    if (wantsOpenMetrics(request.headers.accept)) {
      const body = await renderOpenMetrics(metrics.registry);
      return reply.header('content-type', OPENMETRICS_CONTENT_TYPE).send(body);
    }
    const body = await metrics.registry.metrics();
    return reply.header('content-type', metrics.registry.contentType).send(body);
  });

  app.addHook('onClose', async () => {
    closing = true;
    if (retryTimer !== undefined) clearTimeout(retryTimer);
    // The HTTP server has stopped and in-flight requests are answered; flush what is left, then close the pool.
    await committer.close();
    await store.close();
  });

  return app;
}

/**
 * How often Node looks for requests over their time: a tenth of the timeout, at most a second, so a slow sender is
 * cut at most that much after REQUEST_TIMEOUT_MS. The check walks the open connections, a few microseconds for
 * thousands of them.
 */
export function connectionCheckIntervalMs(requestTimeoutMs: number): number {
  return Math.max(50, Math.min(1_000, Math.floor(requestTimeoutMs / 10)));
}

/**
 * Node's 'clientError': the request could not be parsed or did not arrive in time, so no route has it. Answered
 * as a Twirp error on the raw socket (the same steps as Fastify's default handler), then the connection closes.
 */
function twirpClientError(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  let te: TwirpError;
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    // The request never arrived whole, so nothing was done with it: a retry is safe.
    te = new TwirpError('deadline_exceeded', 'the request was not received in time (REQUEST_TIMEOUT_MS); nothing was stored');
  } else if (err.code === 'HPE_HEADER_OVERFLOW') {
    te = twirpError.malformed('the request headers are too large');
  } else {
    te = twirpError.malformed('the request could not be parsed as HTTP/1.1');
  }
  this.log.debug({ err, code: err.code }, 'client error');
  if (socket.writable) {
    const body = JSON.stringify(te.toJSON());
    socket.write(
      `HTTP/1.1 ${te.status} ${STATUS_CODES[te.status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/** Maps anything thrown on a Twirp route to a Twirp error; never exposes internals. */
export function toTwirpError(err: unknown, bodyLimit: number): TwirpError {
  if (err instanceof TwirpError) return err;
  const e = err as { code?: string; statusCode?: number };
  switch (e.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new TwirpError('malformed', `request body is larger than ${bodyLimit} bytes`, {
        body_limit_bytes: String(bodyLimit),
      });
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return twirpError.badRoute('unexpected Content-Type');
    default:
      if (typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
        return twirpError.malformed('the request could not be read', err);
      }
      return twirpError.internal('internal error', err);
  }
}

function raceSignal<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
