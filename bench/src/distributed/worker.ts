// A worker: dials the coordinator, gets the profile and its segment (index k of N), answers the clock pings,
// checks it can reach the target, reports ready, then runs each stage when told, at the absolute time it is
// told (the coordinator's clock converted to its own), with the real executors on its segment. It streams its
// intervals and ticks and ends each stage with its own result. It never judges thresholds, never scrapes and
// never prints a table: the coordinator does all of that once, on the merged data.
//
// Everything is bounded: the connect (retried until `connectTimeoutMs`), the target check, silence from the
// coordinator (`idleTimeoutMs`), the send buffer (past `maxBufferedBytes` the worker gives up rather than grow
// without end), and the wait for a start time.
import { hostname } from 'node:os';
import WebSocket from 'ws';
import { request } from 'undici';
import type { Profile, StageResult, StageSpec } from '../types';
import type { StageContext } from '../executors/stage-context';
import { runClosedStage } from '../executors/closed';
import { runOpenStage } from '../executors/open';
import { ConnectionCarry } from '../executors/connection-set';
import { encodeInterval } from '../metrics/interval';
import { validateProfile } from '../profiles/validate';
import { DEFAULT_WARMUP_MS, MAX_WARMUP_MS, runWarmup, warmupStage, type WarmupSummary } from '../warmup';
import { checkSegment, type Segment } from '../segment';
import { clockNow, waitUntil } from './clock-sync';
import {
  MAX_MESSAGE_BYTES, PROTOCOL_VERSION, parseCoordinatorMessage, ProtocolError,
  type CoordinatorMessage, type WorkerMessage, type WorkerTick,
} from './protocol';

export type StageRunner = (stage: StageSpec, ctx: StageContext) => Promise<StageResult>;

export interface WorkerOptions {
  /** ws://host:port of the coordinator */
  url: string;
  /** the segment index (JOB_COMPLETION_INDEX, or given by a local coordinator); null = the coordinator assigns one */
  index: number | null;
  /** the name the summary gives this worker (default: the host name) */
  host?: string;
  /** the target as this worker reaches it, when it differs from the coordinator's (default: the coordinator's) */
  target?: string;
  connectTimeoutMs?: number;
  /** silence from the coordinator (no message, no ping) after which the worker gives up (default 30 s) */
  idleTimeoutMs?: number;
  maxBufferedBytes?: number;
  /** Defaults to the real executors. */
  executors?: { closed: StageRunner; open: StageRunner };
  signal?: AbortSignal;
  log?: (obj: Record<string, unknown>, msg: string) => void;
}

export class WorkerError extends Error {
  constructor(readonly code: 'BENCH_WORKER_CONNECT' | 'BENCH_WORKER_REJECTED' | 'BENCH_WORKER_FAILED', message: string) {
    super(message);
  }
}

const TARGET_CHECK_MS = 5_000;

/** Connects, retrying (the coordinator may start after its workers, as Kubernetes pods do) until the deadline. */
async function connect(url: string, deadline: number, signal?: AbortSignal): Promise<WebSocket> {
  let last = '';
  while (Date.now() < deadline && !signal?.aborted) {
    const left = deadline - Date.now();
    const ws = new WebSocket(url, { handshakeTimeout: Math.max(100, Math.min(5_000, left)), maxPayload: MAX_MESSAGE_BYTES, perMessageDeflate: false });
    try {
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.removeAllListeners('error');
      return ws;
    } catch (e) {
      last = (e as Error).message;
      ws.terminate();
      await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, deadline - Date.now()))));
    }
  }
  throw new WorkerError('BENCH_WORKER_CONNECT', `could not connect to the coordinator at ${url} in time${last ? ` (last error: ${last})` : ''}`);
}

/** Any HTTP answer means the target is reachable; a refused connection or a timeout means it is not. */
async function checkTarget(target: string): Promise<void> {
  const res = await request(new URL('/healthz', target), { method: 'GET', headersTimeout: TARGET_CHECK_MS, bodyTimeout: TARGET_CHECK_MS, signal: AbortSignal.timeout(TARGET_CHECK_MS) });
  await res.body.dump();
}

/** Runs one worker to the end; resolves with what happened (the CLI turns it into an exit code). */
export async function runWorker(o: WorkerOptions): Promise<{ ok: true } | { ok: false; error: string }> {
  const log = o.log ?? (() => {});
  const executors = o.executors ?? { closed: runClosedStage, open: runOpenStage };
  const connectTimeoutMs = o.connectTimeoutMs ?? 60_000;
  const idleTimeoutMs = o.idleTimeoutMs ?? 30_000;
  const maxBuffered = o.maxBufferedBytes ?? 64 * 1024 * 1024;
  let ws: WebSocket;
  try {
    ws = await connect(o.url, Date.now() + connectTimeoutMs, o.signal);
  } catch (e) {
    return { ok: false, error: (e as Error).message };
  }
  log({ url: o.url }, 'connected to the coordinator');

  return await new Promise((resolve) => {
    let profile: Profile | null = null;
    let segment: Segment | null = null;
    let target = '';
    let runId = '';
    let t0Local: number | null = null;
    let finished = false;
    let current: { index: number; ac: AbortController } | null = null;
    /** stages are run one after another, in the order the coordinator asks for them */
    let queue: Promise<void> = Promise.resolve();
    const aborted = new Set<number>();
    // open-model connections from the warm-up to the last stage (connection-set.ts)
    const carry = new ConnectionCarry();

    const finish = (r: { ok: true } | { ok: false; error: string }) => {
      if (finished) return;
      finished = true;
      clearTimeout(idle);
      current?.ac.abort();
      carry.close();
      o.signal?.removeEventListener('abort', onSignal);
      if (r.ok) ws.close(1000, 'done');
      else ws.terminate();
      resolve(r);
    };
    const send = (m: WorkerMessage) => {
      if (finished || ws.readyState !== WebSocket.OPEN) return;
      if (ws.bufferedAmount > maxBuffered) {
        finish({ ok: false, error: `the coordinator is not reading: ${ws.bufferedAmount} bytes wait to be sent (limit ${maxBuffered})` });
        return;
      }
      ws.send(JSON.stringify(m));
    };
    const fail = (error: string) => {
      send({ type: 'failed', message: error });
      // let the failure reach the coordinator before the connection goes
      setTimeout(() => finish({ ok: false, error }), 200).unref();
    };
    let idle = setTimeout(() => finish({ ok: false, error: `no word from the coordinator for ${idleTimeoutMs} ms` }), idleTimeoutMs);
    const heard = () => {
      clearTimeout(idle);
      idle = setTimeout(() => finish({ ok: false, error: `no word from the coordinator for ${idleTimeoutMs} ms` }), idleTimeoutMs);
    };
    const onSignal = () => finish({ ok: false, error: 'interrupted' });
    o.signal?.addEventListener('abort', onSignal, { once: true });

    const runStage = async (index: number, atMs: number): Promise<void> => {
      if (!profile || !segment || t0Local === null) return fail(`stage ${index} asked for before the start time`);
      const spec = profile.stages[index];
      if (!spec) return fail(`stage ${index} does not exist in the profile`);
      const ac = new AbortController();
      current = { index, ac };
      if (aborted.has(index)) ac.abort();
      try {
        await waitUntil(t0Local + atMs, ac.signal);
        send({ type: 'stage-started', stage: index, at: clockNow() });
        let intervals = 0;
        const ctx: StageContext = {
          target,
          request: profile.request,
          runId,
          stage: { index, name: spec.name, model: spec.model, durationMs: spec.durationMs },
          signal: ac.signal,
          segment,
          carry,
          onInterval: (iv) => {
            intervals++;
            send({ type: 'interval', interval: encodeInterval(iv) });
          },
          onTick: (s) => {
            const tick: WorkerTick = {
              elapsedMs: s.elapsedMs, counts: s.counts, inFlight: s.inFlight, achievedRate: s.achievedRate, targetRate: s.targetRate,
              buckets: s.latencyBuckets.map((b) => b.count), sumSeconds: s.latencySumSeconds, count: s.latencyCount,
            };
            send({ type: 'tick', stage: index, tick });
          },
        };
        const result = await (spec.model === 'closed' ? executors.closed : executors.open)(spec, ctx);
        send({ type: 'stage-end', stage: index, intervals, result });
      } catch (e) {
        fail(`stage ${spec.name}: ${(e as Error).message}`);
      } finally {
        current = null;
      }
    };

    const onMessage = async (m: CoordinatorMessage) => {
      switch (m.type) {
        case 'reject':
          return finish({ ok: false, error: `the coordinator refused this worker: ${m.message}` });
        case 'welcome': {
          if (m.v !== PROTOCOL_VERSION) return fail(`protocol version ${m.v} is not this worker's (${PROTOCOL_VERSION})`);
          const v = validateProfile(m.profile, m.profile.name ?? 'profile');
          if ('errors' in v) return fail(`the coordinator's profile is invalid here: ${v.errors.join('; ')}`);
          try {
            segment = checkSegment({ index: m.index, count: m.count });
          } catch (e) {
            return fail((e as Error).message);
          }
          profile = v.profile;
          runId = m.runId;
          target = o.target ?? m.target;
          log({ index: m.index, count: m.count, profile: profile.name, target }, 'joined the run');
          const t = clockNow();
          try {
            await checkTarget(target);
          } catch (e) {
            return fail(`cannot reach the target ${target}: ${(e as Error).message}`);
          }
          // a fresh process measures its own start unless it sends for a while first (warmup.ts): do it now, so
          // that every worker is warm when the one start time comes
          let warmup: WarmupSummary | null = null;
          const first = profile.stages[0];
          const warmMs = Math.min(m.warmupMs ?? DEFAULT_WARMUP_MS, MAX_WARMUP_MS);
          if (first && warmMs > 0) {
            const spec = warmupStage(first, warmMs);
            const ac = new AbortController();
            current = { index: -1, ac };
            try {
              warmup = await runWarmup(spec, {
                target, request: profile.request, runId, segment,
                stage: { index: -1, name: spec.name, model: spec.model, durationMs: spec.durationMs },
                signal: ac.signal, onTick: () => {}, carry,
              }, spec.model === 'closed' ? executors.closed : executors.open);
            } catch (e) {
              log({ err: (e as Error).message }, 'warm-up failed; the first stage starts cold');
            } finally {
              current = null;
            }
          }
          return send({ type: 'ready', warmupMs: Math.round((clockNow() - t) * 1000) / 1000, warmup });
        }
        case 'ping':
          return send({ type: 'pong', seq: m.seq, at: clockNow() });
        case 'start':
          t0Local = m.t0 + m.offsetMs;
          return;
        case 'stage':
          queue = queue.then(() => runStage(m.stage, m.atMs));
          return;
        case 'abort-stage':
          aborted.add(m.stage);
          if (current?.index === m.stage) current.ac.abort();
          return;
        case 'done':
          await queue;
          return finish({ ok: true });
      }
    };

    ws.on('message', (data, isBinary) => {
      heard();
      if (isBinary) return fail('binary message from the coordinator');
      let m: CoordinatorMessage;
      try {
        m = parseCoordinatorMessage(data.toString());
      } catch (e) {
        return fail(e instanceof ProtocolError ? `protocol error: ${e.message}` : (e as Error).message);
      }
      void onMessage(m);
    });
    ws.on('ping', heard);
    ws.on('close', (code, reason) => finish({ ok: false, error: `the coordinator closed the connection (${code}${reason.length ? ` ${reason.toString()}` : ''})` }));
    ws.on('error', (e) => finish({ ok: false, error: `connection to the coordinator failed: ${e.message}` }));
    send({ type: 'hello', v: PROTOCOL_VERSION, index: o.index, host: o.host ?? hostname(), pid: process.pid });
  });
}
