'use strict';
// The service's client for the Elastic APM intake API (https://www.elastic.co/guide/en/observability/current/apm-api-events.html),
// given to the agent as its transport (apm-preload.cjs). The agent still makes every transaction, span, error and
// metricset; this only encodes and sends them.
//
// Why not the agent's own HTTP client: with every request traced, encoding and sending cost more main-thread time
// than making the events (service/perf/apm-overhead.ts prints both clients side by side). The agent's client walks
// every event with a generic truncation pass that copies the event path by path, and streams each batch through a
// gzip stream into a long-lived request. Here an event is checked in place (a copy is made only on the path to a
// string that is too long, which the service's own events never have: their names and labels are bounded where
// they are made) and serialised once with JSON.stringify; a whole batch is compressed in one call on the libuv
// pool and sent as one POST.
//
// Bounds (the agent's settings, so ELASTIC_APM_* keep their meaning):
// - maxQueueSize events wait at most; beyond that, new events are dropped and counted (never unbounded memory);
// - a request carries at most apiRequestSize bytes before compression, and leaves at most SEND_INTERVAL_MS after its
//   first event (or at once when full); one request is in flight at a time;
// - serverTimeout bounds each request; after a failure the client backs off as the agents' transport spec says
//   (https://github.com/elastic/apm/blob/main/specs/agents/transport.md#transport-errors: min(n, 6)^2 s +-10%);
//   the events of a failed request are dropped, as the agent's client does: a retry could store them twice.
// Strings longer than the intake's keyword limit are cut (1024 characters; 10000 for statements and messages,
// the agent's longFieldMaxLength), as the APM server would otherwise refuse the event.

const http = require('node:http');
const https = require('node:https');
const zlib = require('node:zlib');
const os = require('node:os');
const fs = require('node:fs');

const KEYWORD_MAX = 1024;
/** Fields the intake takes as long text rather than keywords. */
const LONG_KEYS = new Set(['statement', 'message', 'body']);
const MAX_DEPTH = 20;
/** A batch leaves at most this long after its first event. */
const SEND_INTERVAL_MS = 1000;
/** How much of an error answer is kept for the log line. */
const MAX_ANSWER_BYTES = 16 * 1024;
/** Failures and drops are logged at most this often, with counts. */
const LOG_EVERY_MS = 30_000;

/** Cuts `s` to `max` UTF-16 units without splitting a surrogate pair. */
function cut(s, max) {
  const end = s.charCodeAt(max - 1);
  return s.slice(0, end >= 0xd800 && end <= 0xdbff ? max - 1 : max);
}

/**
 * `value` with every string within its limit. Returns `value` itself when nothing is too long (the usual case:
 * no allocation), otherwise a copy of the objects on the path to each long string; the input is never changed
 * (some of its objects belong to the agent's live state).
 */
function bounded(value, key, longMax, depth) {
  if (typeof value === 'string') {
    const max = LONG_KEYS.has(key) ? longMax : KEYWORD_MAX;
    return value.length > max ? cut(value, max) : value;
  }
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  let out = value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const v = value[i];
      const b = bounded(v, key, longMax, depth + 1);
      if (b !== v) {
        if (out === value) out = value.slice();
        out[i] = b;
      }
    }
    return out;
  }
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const v = value[k];
    const b = bounded(v, k, longMax, depth + 1);
    if (b !== v) {
      if (out === value) out = { ...value };
      out[k] = b;
    }
  }
  return out;
}

/** The intake's delay before the next request after `failures` failures in a row, in ms. */
function backoffMs(failures, random = Math.random) {
  if (failures <= 0) return 0;
  const base = Math.min(failures, 6) ** 2 * 1000;
  return Math.round(base * (0.9 + 0.2 * random()));
}

function userAgent(conf, agentVersion) {
  const bad = /[^\t \x21-\x27\x2a-\x5b\x5d-\x7e\x80-\xff]/g;
  const parts = [conf.serviceName, conf.serviceVersion].filter(Boolean).map((p) => String(p).replace(bad, '_'));
  return `apm-agent-nodejs/${agentVersion}` + (parts.length > 0 ? ` (${parts.join(' ')})` : '');
}

class IntakeClient {
  /**
   * @param {object} conf the agent's normalised configuration (serverUrl, secretToken, apiKey, verifyServerCert,
   *   serverCaCertFile, serverTimeout and apiRequestSize in s and bytes, maxQueueSize, longFieldMaxLength,
   *   service fields, globalLabels, logger)
   * @param {{ agentVersion: string, intervalMs?: number, now?: () => number }} opts
   */
  constructor(conf, opts) {
    this._conf = { ...conf };
    this._log = conf.logger;
    this._agentVersion = opts.agentVersion;
    this._intervalMs = opts.intervalMs ?? SEND_INTERVAL_MS;
    this._now = opts.now ?? (() => Date.now());
    const base = String(conf.serverUrl);
    this._url = new URL('intake/v2/events', base.endsWith('/') ? base : `${base}/`);
    const tls = this._url.protocol === 'https:';
    this._lib = tls ? https : http;
    const agentOpts = { keepAlive: true, maxSockets: 1 };
    if (tls) {
      agentOpts.rejectUnauthorized = conf.verifyServerCert !== false;
      if (conf.serverCaCertFile) agentOpts.ca = fs.readFileSync(conf.serverCaCertFile);
    }
    this._httpAgent = new this._lib.Agent(agentOpts);
    this._headers = {
      'content-type': 'application/x-ndjson',
      'content-encoding': 'gzip',
      accept: 'application/json',
      'user-agent': userAgent(conf, this._agentVersion),
    };
    if (conf.secretToken) this._headers.authorization = `Bearer ${conf.secretToken}`;
    else if (conf.apiKey) this._headers.authorization = `ApiKey ${conf.apiKey}`;
    this._maxEvents = Math.max(1, Number(conf.maxQueueSize) || 1024);
    this._maxBytes = Math.max(1024, Number(conf.apiRequestSize) || 768 * 1024);
    this._timeoutMs = Math.max(1, Number(conf.serverTimeout) || 30) * 1000;
    this._longMax = Math.max(KEYWORD_MAX, Number(conf.longFieldMaxLength) || 10000);
    this._metadataFilters = [];
    this._extraMetadata = undefined;
    this._metadataLine = undefined;

    this._queue = [];
    this._queueBytes = 0;
    this._timer = undefined;
    this._inFlight = false;
    this._failures = 0;
    this._retryAt = 0;
    this._destroyed = false;
    /** Events queued and events done with (sent, or lost with their request), for flush() waiters. */
    this._enqueued = 0;
    this._settled = 0;
    this._waiters = [];
    this._stats = { sent: 0, dropped: 0, failed: 0, requests: 0, failedRequests: 0 };
    this._lastLog = 0;
    this._unlogged = { dropped: 0, failed: 0 };
  }

  // --- what the agent calls (its own HTTP client has the same methods) ---

  config(conf) {
    Object.assign(this._conf, conf);
    this._metadataLine = undefined;
  }
  addMetadataFilter(fn) {
    this._metadataFilters.push(fn);
    this._metadataLine = undefined;
  }
  setExtraMetadata(metadata) {
    this._extraMetadata = metadata;
    this._metadataLine = undefined;
  }
  lambdaStart() {}
  lambdaShouldRegisterTransactions() {
    return false;
  }
  lambdaRegisterTransaction() {}
  /** APM Server 8+ drops unsampled transactions; this service's agent only makes sampled ones anyway. */
  supportsKeepingUnsampledTransaction() {
    return false;
  }
  sendTransaction(payload, cb) {
    this._add('transaction', payload, cb);
  }
  sendSpan(payload, cb) {
    this._add('span', payload, cb);
  }
  sendError(payload, cb) {
    this._add('error', payload, cb);
  }
  sendMetricSet(payload, cb) {
    this._add('metricset', payload, cb);
  }
  /** Sends what is queued now; `cb` runs once those events are sent or lost (a down server: after its timeout). */
  flush(opts, cb) {
    if (typeof opts === 'function') cb = opts;
    if (typeof cb !== 'function') cb = () => {};
    if (this._destroyed || this._enqueued === this._settled) {
      process.nextTick(cb);
      return;
    }
    this._waiters.push({ upTo: this._enqueued, cb });
    this._send(true);
  }
  destroy() {
    this._destroyed = true;
    this._clearTimer();
    this._httpAgent.destroy();
    this._queue = [];
    this._queueBytes = 0;
    this._settled = this._enqueued;
    this._wake();
  }
  _getStats() {
    return { ...this._stats, queued: this._queue.length };
  }

  // --- queueing ---

  _add(kind, payload, cb) {
    if (cb) process.nextTick(cb);
    if (this._destroyed) return;
    if (this._queue.length >= this._maxEvents) {
      this._stats.dropped += 1;
      this._unlogged.dropped += 1;
      this._maybeLog(undefined);
      return;
    }
    let line;
    try {
      let json = JSON.stringify(payload);
      // A string is never longer than its JSON text, so an event whose whole text is within the keyword limit holds
      // no string to cut (nearly every transaction): only longer events are walked.
      if (json.length > KEYWORD_MAX) {
        const b = bounded(payload, kind, this._longMax, 0);
        if (b !== payload) json = JSON.stringify(b);
      }
      line = `{"${kind}":${json}}\n`;
    } catch (err) {
      // A cycle or a BigInt: the agent's own events have neither; drop the event rather than the batch.
      this._stats.dropped += 1;
      this._log?.warn?.({ err: { message: err.message } }, `APM intake: could not encode a ${kind}; dropped`);
      return;
    }
    this._queue.push(line);
    this._queueBytes += line.length;
    this._enqueued += 1;
    if (this._queueBytes >= this._maxBytes || this._queue.length >= this._maxEvents) this._send(false);
    else if (this._timer === undefined && !this._inFlight) this._arm(this._intervalMs);
  }

  _arm(delayMs) {
    this._clearTimer();
    this._timer = setTimeout(() => {
      this._timer = undefined;
      this._send(false);
    }, delayMs);
    this._timer.unref();
  }

  _clearTimer() {
    if (this._timer !== undefined) clearTimeout(this._timer);
    this._timer = undefined;
  }

  _metadata() {
    if (this._metadataLine !== undefined) return this._metadataLine;
    const c = this._conf;
    let md = {
      service: {
        name: c.serviceName,
        version: c.serviceVersion || undefined,
        environment: c.environment,
        runtime: { name: process.release.name, version: process.versions.node },
        language: { name: 'javascript' },
        agent: { name: 'nodejs', version: this._agentVersion },
        framework: c.frameworkName || c.frameworkVersion ? { name: c.frameworkName, version: c.frameworkVersion } : undefined,
        node: c.serviceNodeName ? { configured_name: c.serviceNodeName } : undefined,
      },
      process: { pid: process.pid, ppid: process.ppid, title: process.title, argv: process.argv },
      system: {
        architecture: process.arch,
        platform: process.platform,
        detected_hostname: os.hostname(),
        configured_hostname: c.hostname || undefined,
      },
      labels: c.globalLabels && Object.keys(c.globalLabels).length > 0 ? c.globalLabels : undefined,
    };
    if (this._extraMetadata) md = { ...md, ...this._extraMetadata };
    for (const f of this._metadataFilters) md = f(md) || md;
    this._metadataLine = `{"metadata":${JSON.stringify(bounded(md, 'metadata', this._longMax, 0))}}\n`;
    return this._metadataLine;
  }

  // --- sending ---

  /** Starts a request with what is queued, unless one is in flight or the client backs off (`force`: flush). */
  _send(force) {
    if (this._destroyed || this._inFlight || this._queue.length === 0) return;
    const wait = this._retryAt - this._now();
    if (wait > 0 && !force) {
      if (this._timer === undefined) this._arm(wait);
      return;
    }
    this._clearTimer();
    // Take at most maxBytes; what is left goes in the next request, right after this one.
    let n = 0;
    let bytes = 0;
    while (n < this._queue.length && (n === 0 || bytes + this._queue[n].length <= this._maxBytes)) bytes += this._queue[n++].length;
    const lines = n === this._queue.length ? this._queue : this._queue.slice(0, n);
    this._queue = n === this._queue.length ? [] : this._queue.slice(n);
    this._queueBytes -= bytes;
    this._inFlight = true;
    const body = this._metadata() + lines.join('');
    zlib.gzip(body, { level: zlib.constants.Z_BEST_SPEED }, (err, gz) => {
      if (err) return this._done(lines.length, err);
      this._post(gz, lines.length);
    });
  }

  _post(gz, events) {
    let finished = false;
    const finish = (err) => {
      if (finished) return;
      finished = true;
      this._done(events, err);
    };
    const req = this._lib.request(this._url, {
      method: 'POST',
      agent: this._httpAgent,
      headers: { ...this._headers, 'content-length': gz.length },
      timeout: this._timeoutMs,
    });
    req.on('response', (res) => {
      const chunks = [];
      let size = 0;
      res.on('data', (c) => {
        if (size < MAX_ANSWER_BYTES) chunks.push(c);
        size += c.length;
      });
      res.on('end', () => {
        if (res.statusCode >= 200 && res.statusCode < 300) return finish(undefined);
        const text = Buffer.concat(chunks).toString('utf8').slice(0, MAX_ANSWER_BYTES);
        const e = new Error(`APM Server answered ${res.statusCode}: ${text}`);
        e.code = res.statusCode;
        finish(e);
      });
      res.on('error', finish);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from the APM Server within ${this._timeoutMs} ms`)));
    req.on('error', finish);
    req.end(gz);
  }

  _done(events, err) {
    this._inFlight = false;
    this._settled += events;
    this._stats.requests += 1;
    if (err === undefined) {
      this._failures = 0;
      this._retryAt = 0;
      this._stats.sent += events;
    } else {
      this._failures += 1;
      this._retryAt = this._now() + backoffMs(this._failures);
      this._stats.failed += events;
      this._stats.failedRequests += 1;
      this._unlogged.failed += events;
      this._maybeLog(err);
    }
    this._wake();
    if (this._queue.length === 0 || this._destroyed) return;
    // Waiting flushes go now; otherwise a full batch goes now, a partial one when its interval is up.
    const force = this._waiters.length > 0;
    if (force || this._queueBytes >= this._maxBytes || this._queue.length >= this._maxEvents || err !== undefined) this._send(force);
    else this._arm(this._intervalMs);
  }

  _wake() {
    if (this._waiters.length === 0) return;
    const ready = this._waiters.filter((w) => w.upTo <= this._settled);
    if (ready.length === 0) return;
    this._waiters = this._waiters.filter((w) => w.upTo > this._settled);
    for (const w of ready) w.cb();
  }

  _maybeLog(err) {
    const now = this._now();
    if (now - this._lastLog < LOG_EVERY_MS && this._lastLog !== 0) return;
    this._lastLog = now;
    const { dropped, failed } = this._unlogged;
    this._unlogged = { dropped: 0, failed: 0 };
    this._log?.warn?.(
      { err: err && { message: err.message, code: err.code }, droppedEvents: dropped, lostEvents: failed, retryInMs: Math.max(0, this._retryAt - now) },
      'APM intake: events not delivered (queue full or APM Server unreachable); counts since the last such line',
    );
  }
}

module.exports = { IntakeClient, bounded, backoffMs, KEYWORD_MAX, SEND_INTERVAL_MS };
