// Typed access to the Elastic APM agent started by apm-preload.cjs. This module never requires the agent: when the
// service runs without the preload (or without ELASTIC_APM_SERVER_URL) nothing here loads, patches or connects.
import type { Agent } from 'elastic-apm-node';

const GLOBAL_KEY = Symbol.for('pageview-stress-lab.apm');

export interface ApmActive {
  readonly active: true;
  readonly agent: Agent;
  /** The edge sample rate: the share of requests without a traceparent that open a transaction. */
  readonly sampleRate: number;
  /** Decode/validate spans shorter than this are not recorded (ms); 0 records all. */
  readonly spanMinDurationMs: number;
  /** A commit wait whose flush was not traced gets a span only when it failed or took at least this long (ms). */
  readonly commitWaitMinMs: number;
  /** Most flush transactions per second (a flush is traced only when it holds a sampled request's row). */
  readonly flushesPerSecond: number;
  /** Most transactions per second that the edge sample rate opens (incoming sampled traceparents are not counted). */
  readonly requestsPerSecond: number;
  readonly serviceName: string;
  readonly serviceVersion: string;
  readonly environment: string;
}

export interface ApmInactive {
  readonly active: false;
  readonly reason: string;
}

export type ApmState = ApmActive | ApmInactive;

const NOT_PRELOADED: ApmInactive = {
  active: false,
  reason: 'the APM preload was not loaded (start with node -r ./service/src/telemetry/apm-preload.cjs)',
};

/** What the preload decided; read once per call (cheap: one global lookup). */
export function apmState(): ApmState {
  const state = (globalThis as Record<symbol, unknown>)[GLOBAL_KEY] as ApmState | undefined;
  return state ?? NOT_PRELOADED;
}

/** The running agent, or undefined when APM is off. */
export function apmAgent(): Agent | undefined {
  const state = apmState();
  return state.active ? state.agent : undefined;
}

/**
 * A line for the startup log: whether APM is on and why not. A server URL without the preload is a mistake worth
 * a warning, because the agent cannot be loaded late (it must patch mysql2 before anything requires it).
 */
export function apmStartupReport(env: Record<string, string | undefined> = process.env): {
  level: 'info' | 'warn';
  fields: Record<string, unknown>;
  msg: string;
} {
  const state = apmState();
  if (state.active) {
    return {
      level: 'info',
      fields: {
        apm: {
          service: state.serviceName,
          version: state.serviceVersion,
          environment: state.environment,
          sampleRate: state.sampleRate,
          spanMinDurationMs: state.spanMinDurationMs,
          commitWaitMinMs: state.commitWaitMinMs,
          flushesPerSecond: state.flushesPerSecond,
          requestsPerSecond: state.requestsPerSecond,
        },
      },
      msg: 'Elastic APM agent active',
    };
  }
  const urlSet = (env.ELASTIC_APM_SERVER_URL ?? '').trim() !== '';
  if (urlSet && state === NOT_PRELOADED) {
    return { level: 'warn', fields: { apm: { active: false } }, msg: `ELASTIC_APM_SERVER_URL is set but ${state.reason}` };
  }
  return { level: 'info', fields: { apm: { active: false } }, msg: `Elastic APM off: ${state.reason}` };
}

/**
 * Flushes what the agent holds, bounded in time, so a clean shutdown does not lose the last transactions and a
 * dead APM server cannot hold the shutdown.
 */
export async function flushApm(timeoutMs = 2_000): Promise<void> {
  const agent = apmAgent();
  if (agent === undefined) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, timeoutMs);
    timer.unref();
    agent.flush(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
