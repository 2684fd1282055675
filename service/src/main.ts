// The process: config, app, listen, signals, drain. SIGTERM/SIGINT stop accepting, answer in-flight requests,
// flush the write buffer and close the pool, then exit 0; past DRAIN_TIMEOUT_MS the process exits 1.
import { buildApp } from './app';
import { ConfigError, loadConfig, type Config } from './config';
import { apmStartupReport, flushApm } from './telemetry/apm';

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  const app = await buildApp({ config });
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    app.log.info({ signal, drainTimeoutMs: config.drainTimeoutMs }, 'stopping: draining requests and the write buffer');
    const timer = setTimeout(() => {
      app.log.error(
        { drainTimeoutMs: config.drainTimeoutMs, bufferDepth: app.committer.depth },
        'drain did not finish in time; exiting',
      );
      process.exit(1);
    }, config.drainTimeoutMs);
    timer.unref();
    app.close().then(
      async () => {
        app.log.info({ signal }, 'stopped cleanly');
        // The last transactions of the drain reach the APM server; bounded, so a dead server cannot hold the exit.
        await flushApm();
        process.exit(0);
      },
      (err: unknown) => {
        app.log.error({ err }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);

  try {
    await app.listen({ port: config.port, host: config.host });
  } catch (err) {
    app.log.fatal({ err }, 'could not start');
    await app.close().catch(() => undefined);
    process.exit(1);
  }
  app.log.info(
    { store: app.store.kind, batch: config.batch, pool: config.mysqlUrl ? config.pool : undefined },
    'pageview service started',
  );
  const apm = apmStartupReport();
  app.log[apm.level](apm.fields, apm.msg);
}

main().catch((err: unknown) => {
  process.stderr.write(`fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
