// A throwaway MariaDB whose every answer is held by a proxy of the test's own, for the file's tests: set up once
// before them, torn down (with the bench runs' folders) after them.
import { after, before } from 'node:test';
import { MariaDb } from '../../../service/test/support/mariadb';
import { DelayProxy } from './delay-proxy';
import { cleanup } from './bench-run';

/** `url` is the MYSQL_URL through the proxy, valid once the file's `before` hooks ran. */
export function slowDatabase(holdMs: number): { readonly url: string } {
  let db: MariaDb | undefined;
  let proxy: DelayProxy | undefined;
  before(async () => {
    db = await MariaDb.start();
    proxy = await DelayProxy.start(db.port, holdMs);
  });
  after(async () => {
    await cleanup();
    await proxy?.close();
    await db?.destroy();
  });
  return {
    get url(): string {
      if (!proxy) throw new Error('slowDatabase: the database is not started yet (use it inside a test)');
      return proxy.url;
    },
  };
}
