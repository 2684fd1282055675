// How the service process is started: the one list of node arguments behind package.json's `service` script (a
// test checks that they agree), the bench when it starts the service itself, the tests and the perf scripts.
export const APM_PRELOAD = './service/src/telemetry/apm-preload.cjs';
/** Compiles service/src with source maps (cached) and runs its main.js: APM stack frames then name the .ts lines. */
export const SERVICE_MAIN = 'service/src/start.cjs';

/**
 * A young generation of up to 32 MB per semi-space instead of V8's 16 MB: traced requests allocate a lot that dies
 * within a request (the APM agent's transaction objects live until the commit is answered), and with the larger
 * space fewer of them survive into the old generation. Measured on the Push route with MySQL at 100% APM sampling
 * (node --cpu-prof, wrk -t2 -c100 for 8 s after a 4 s warm-up): garbage collection took 10.1% of the main thread's
 * samples at 16 MB, 7.6% at 32 MB, 7.4% at 64 MB; with APM off, 2% at 16 MB.
 */
export const SERVICE_V8_FLAGS: readonly string[] = ['--max-semi-space-size=32'];

/** `node` arguments that start the service, from the repository root. */
export function serviceNodeArgs(opts: { preload?: boolean } = {}): string[] {
  return [...SERVICE_V8_FLAGS, ...(opts.preload === false ? [] : ['-r', APM_PRELOAD]), SERVICE_MAIN];
}
