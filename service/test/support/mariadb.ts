// A throwaway MariaDB server for tests: its own data directory, its own free port, started and stopped by the
// test itself so fault tests can kill it and bring it back. Nothing here touches a MariaDB the machine runs.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { existsSync } from 'node:fs';

const run = promisify(execFile);

export interface MariaDbOptions {
  /** mariadbd's max_connections (MariaDB clamps it to at least 10); low values provoke ER_CON_COUNT_ERROR (1040). */
  maxConnections?: number;
  /** Extra mariadbd flags. */
  args?: string[];
}

function findBinary(names: string[]): string {
  for (const name of names) {
    for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin']) {
      const p = join(dir, name);
      if (existsSync(p)) return p;
    }
  }
  throw new Error(
    `none of ${names.join(', ')} found: install Debian's mariadb-server (apt-get install -y mariadb-server)`,
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'));
      srv.close(() => resolve(addr.port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export class MariaDb {
  readonly port: number;
  readonly dir: string;
  private child: ChildProcess | undefined;
  private readonly opts: MariaDbOptions;

  private constructor(dir: string, port: number, opts: MariaDbOptions) {
    this.dir = dir;
    this.port = port;
    this.opts = opts;
  }

  /** Bootstraps a fresh data directory and starts the server; resolves once it accepts connections. */
  static async start(opts: MariaDbOptions = {}): Promise<MariaDb> {
    const dir = await mkdtemp(join(tmpdir(), 'pvlab-mariadb-'));
    await mkdir(join(dir, 'data'));
    // Each server gets its own tmpdir: bootstraps running side by side in one /tmp have been seen to collide
    // (`Unknown table 'mysql.tmp_user_sys'`).
    await mkdir(join(dir, 'tmp'));
    const installDb = findBinary(['mariadb-install-db', 'mysql_install_db']);
    await run(
      installDb,
      [
        '--no-defaults',
        `--datadir=${join(dir, 'data')}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--user=root',
        '--innodb-log-file-size=16M',
        `--tmpdir=${join(dir, 'tmp')}`,
      ],
      { timeout: 60_000 },
    );
    const db = new MariaDb(dir, await freePort(), opts);
    await db.startServer();
    await db.sql('CREATE DATABASE IF NOT EXISTS test');
    return db;
  }

  /** `mysql://root@127.0.0.1:PORT/test` */
  get url(): string {
    return `mysql://root@127.0.0.1:${this.port}/test`;
  }

  /** The same database over the server's unix socket (mysql2 takes URL query parameters as connection options). */
  get socketUrl(): string {
    return `mysql://root@localhost/test?socketPath=${encodeURIComponent(join(this.dir, 'sock'))}`;
  }

  /** The server's process id while it runs (for CPU accounting in perf scripts). */
  get pid(): number | undefined {
    return this.running ? this.child?.pid : undefined;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  private async startServer(): Promise<void> {
    const mariadbd = findBinary(['mariadbd', 'mysqld']);
    const args = [
      '--no-defaults',
      `--datadir=${join(this.dir, 'data')}`,
      `--socket=${join(this.dir, 'sock')}`,
      `--pid-file=${join(this.dir, 'pid')}`,
      `--port=${this.port}`,
      '--bind-address=127.0.0.1',
      '--user=root',
      '--skip-name-resolve',
      '--skip-log-bin',
      '--innodb-buffer-pool-size=64M',
      '--innodb-log-file-size=16M',
      '--innodb-flush-log-at-trx-commit=1',
      `--tmpdir=${join(this.dir, 'tmp')}`,
      `--max-connections=${this.opts.maxConnections ?? 151}`,
      `--log-error=${join(this.dir, 'error.log')}`,
      ...(this.opts.args ?? []),
    ];
    const child = spawn(mariadbd, args, { stdio: 'ignore' });
    this.child = child;
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) {
        throw new Error(`mariadbd exited with ${child.exitCode}; see ${join(this.dir, 'error.log')}`);
      }
      if (await canConnect(this.port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    throw new Error(`mariadbd did not listen on ${this.port} within 60s`);
  }

  /** Runs SQL through the mariadb client as root; returns tab-separated rows without headers. */
  async sql(statement: string): Promise<string[][]> {
    const client = findBinary(['mariadb', 'mysql']);
    const { stdout } = await run(
      client,
      ['--no-defaults', '-h127.0.0.1', `-P${this.port}`, '-uroot', '-N', '-B', '-e', statement],
      { timeout: 30_000 },
    );
    return stdout
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => l.split('\t'));
  }

  /** Stops the server. `kill` = SIGKILL (a crash); otherwise a clean SIGTERM shutdown. */
  async stop(how: 'term' | 'kill' = 'term'): Promise<void> {
    const child = this.child;
    // A child killed by a signal has exitCode null and signalCode set: it has exited all the same.
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill(how === 'kill' ? 'SIGKILL' : 'SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }

  /** Starts the same server again on the same port and data directory. */
  async restart(): Promise<void> {
    await this.stop();
    await this.startServer();
  }

  /** Stops the server and removes its data directory. */
  async destroy(): Promise<void> {
    await this.stop('kill');
    await rm(this.dir, { recursive: true, force: true });
  }
}
