// `npm run db:migrate`: applies pending migrations to MYSQL_URL and exits (0 = done, 1 = failed, 2 = bad usage).
import { ConfigError, loadConfig } from '../config';
import { MysqlStore } from './mysql-store';

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (config.mysqlUrl === undefined) {
    process.stderr.write('MYSQL_URL is not set: the embedded store needs no migration\n');
    return 2;
  }
  const store = new MysqlStore(config.mysqlUrl, config.pool);
  try {
    const applied = await store.migrate();
    process.stdout.write(applied.length === 0 ? 'schema up to date\n' : `applied migrations: ${applied.join(', ')}\n`);
    return 0;
  } catch (err) {
    const e = err as Error & { code?: string };
    process.stderr.write(`migration failed: ${e.code ?? ''} ${e.message}\n`);
    return 1;
  } finally {
    await store.close();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  },
);
