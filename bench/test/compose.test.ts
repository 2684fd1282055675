// The compose stack, checked with the real tools that can run here (no Docker engine does): Debian's
// docker-compose validates and resolves the file, promtool checks Prometheus' config, and the resolved model is
// checked for what the stack promises (services, healthchecks, start order, the service's env, mounts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { loadProfile, shippedProfileNames } from '../src/profiles';

const run = promisify(execFile);
const ROOT = join(__dirname, '..', '..');
const COMPOSE_FILE = join(ROOT, 'compose', 'docker-compose.yml');
const PROMETHEUS_CONFIG = join(ROOT, 'compose', 'prometheus', 'prometheus.yml');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[] | string;
  environment?: Record<string, string | null>;
  ports?: (string | { published: string | number; target: number; host_ip?: string })[];
  volumes?: (string | { type: string; source: string; target: string })[];
  depends_on?: Record<string, { condition: string }> | string[];
  healthcheck?: { test: string[] | string };
}

async function composeConfig(env: Record<string, string> = {}): Promise<{ services: Record<string, Service> }> {
  const { stdout } = await run('docker-compose', ['-f', COMPOSE_FILE, 'config'], {
    env: { ...process.env, ...env },
    timeout: 60_000,
  });
  return parseYaml(stdout) as { services: Record<string, Service> };
}

const EXPECTED = ['mysql', 'service', 'elasticsearch', 'kibana', 'apm-server', 'mysqld-exporter', 'prometheus', 'grafana'];

test('docker-compose config accepts the file and resolves the whole stack', async () => {
  const cfg = await composeConfig();
  assert.deepEqual(Object.keys(cfg.services).sort(), [...EXPECTED].sort());
  for (const [name, svc] of Object.entries(cfg.services)) {
    assert.ok(svc.healthcheck?.test, `${name} has a healthcheck`);
    for (const p of svc.ports ?? []) {
      const hostIp = typeof p === 'string' ? p.split(':')[0] : p.host_ip;
      assert.equal(hostIp, '127.0.0.1', `${name} publishes on 127.0.0.1 only: ${JSON.stringify(p)}`);
    }
    for (const v of svc.volumes ?? []) {
      const source = typeof v === 'string' ? v.split(':')[0]! : v.source;
      if (source.startsWith('/')) assert.ok(existsSync(source), `${name} mounts ${source}, which exists`);
    }
  }
});

test('start order: depends_on conditions wait for health, and the graph has no cycle', async () => {
  const { services } = await composeConfig();
  const deps = (s: Service): Record<string, string> =>
    Array.isArray(s.depends_on)
      ? Object.fromEntries(s.depends_on.map((d) => [d, 'service_started']))
      : Object.fromEntries(Object.entries(s.depends_on ?? {}).map(([k, v]) => [k, v.condition]));
  // The APM agent never blocks on its server, so the service waits for MySQL's health and APM's start only.
  assert.deepEqual(deps(services.service!), { mysql: 'service_healthy', 'apm-server': 'service_started' });
  assert.equal(deps(services['apm-server']!).elasticsearch, 'service_healthy');
  assert.equal(deps(services.kibana!).elasticsearch, 'service_healthy');
  assert.equal(deps(services['mysqld-exporter']!).mysql, 'service_healthy');
  assert.equal(deps(services.grafana!).prometheus, 'service_healthy');
  assert.equal(deps(services.grafana!).elasticsearch, 'service_healthy');
  assert.ok('service' in deps(services.prometheus!) && 'mysqld-exporter' in deps(services.prometheus!));
  // Every service a condition waits on has a healthcheck to satisfy it.
  for (const [name, s] of Object.entries(services)) {
    for (const [dep, cond] of Object.entries(deps(s))) {
      assert.ok(services[dep], `${name} depends on unknown ${dep}`);
      if (cond === 'service_healthy') assert.ok(services[dep]!.healthcheck, `${dep} needs a healthcheck for ${name}`);
    }
  }
  const visiting = new Set<string>();
  const done = new Set<string>();
  const visit = (n: string, path: string[]): void => {
    if (done.has(n)) return;
    assert.ok(!visiting.has(n), `dependency cycle: ${[...path, n].join(' -> ')}`);
    visiting.add(n);
    for (const d of Object.keys(deps(services[n]!))) visit(d, [...path, n]);
    visiting.delete(n);
    done.add(n);
  };
  for (const n of Object.keys(services)) visit(n, []);
});

test('the service container: built from the repo, npm run service, the env it needs', async () => {
  const { services } = await composeConfig();
  const svc = services.service!;
  assert.ok(svc.build, 'built, not pulled');
  const dockerfile = join(svc.build.context, svc.build.dockerfile);
  assert.ok(existsSync(dockerfile), dockerfile);
  const text = readFileSync(dockerfile, 'utf8');
  assert.match(text, /^CMD \["npm", "run", "service"\]$/m);
  for (const m of text.matchAll(/^COPY (.+) \S+$/gm)) {
    for (const src of m[1]!.split(/\s+/)) assert.ok(existsSync(join(svc.build.context, src)), `COPY source ${src} exists`);
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: Record<string, string>;
    dependencies: Record<string, string>;
  };
  assert.ok(pkg.scripts.service, 'package.json has the service script');
  assert.ok(pkg.dependencies.tsx, 'tsx is a runtime dependency (the image installs --omit=dev)');
  const env = svc.environment ?? {};
  assert.equal(String(env.PORT), '8080');
  assert.equal(env.HOST, '0.0.0.0');
  assert.match(env.MYSQL_URL ?? '', /^mysql:\/\/[^:]+:[^@]+@mysql:3306\/\w+$/);
  assert.equal(env.ELASTIC_APM_SERVER_URL, 'http://apm-server:8200');
  // The service accepts only ALLOWED_PROPERTIES: every shipped profile's properties must be among them.
  const allowed = new Set((env.ALLOWED_PROPERTIES ?? '').split(','));
  for (const name of shippedProfileNames()) {
    const { profile } = loadProfile(name);
    const refused = profile.request.properties.filter((p) => !allowed.has(p));
    assert.deepEqual(refused, [], `profile ${name} pushes properties the compose service refuses`);
  }
  const mysqlEnv = services.mysql!.environment ?? {};
  const url = new URL(env.MYSQL_URL!);
  assert.equal(url.username, mysqlEnv.MYSQL_USER);
  assert.equal(url.password, mysqlEnv.MYSQL_PASSWORD);
  assert.equal(url.pathname.slice(1), mysqlEnv.MYSQL_DATABASE);
});

test('MySQL 8 with max_connections set (and overridable), Elastic 8.15 or later, Prometheus with the receiver on', async () => {
  const { services } = await composeConfig();
  assert.match(services.mysql!.image ?? '', /^(mysql|percona\/percona-server):8/);
  assert.ok((services.mysql!.command as string[]).includes('--max-connections=151'));
  const low = await composeConfig({ MYSQL_MAX_CONNECTIONS: '50' });
  assert.ok((low.services.mysql!.command as string[]).includes('--max-connections=50'));
  for (const name of ['elasticsearch', 'kibana', 'apm-server']) {
    const m = /:(\d+)\.(\d+)\.\d+$/.exec(services[name]!.image ?? '');
    assert.ok(m, `${name} has a pinned version`);
    assert.ok(Number(m[1]) > 8 || (Number(m[1]) === 8 && Number(m[2]) >= 15), `${name} is 8.15 or later`);
  }
  const versions = new Set(['elasticsearch', 'kibana', 'apm-server'].map((n) => services[n]!.image!.split(':').pop()));
  assert.equal(versions.size, 1, 'Elasticsearch, Kibana and APM Server share one version');
  assert.equal(services.elasticsearch!.environment!['discovery.type'], 'single-node');
  const promCmd = services.prometheus!.command as string[];
  assert.ok(promCmd.includes('--web.enable-remote-write-receiver'));
  const exporterCmd = (services['mysqld-exporter']!.command as string[]).join(' ');
  assert.match(exporterCmd, /--mysqld\.address=mysql:3306/);
  const init = readFileSync(join(ROOT, 'compose', 'mysql', 'init', '01-exporter.sql'), 'utf8');
  assert.match(init, /CREATE USER IF NOT EXISTS 'exporter'/);
  // ... with the reserved connection, so a full server (1040) is still observed.
  assert.match(init, /GRANT CONNECTION_ADMIN ON \*\.\* TO 'exporter'/);
  assert.match(exporterCmd, /--mysqld\.username=exporter/);
});

test('promtool accepts the Prometheus config, whose targets are compose services on their ports', async () => {
  const { stdout } = await run('promtool', ['check', 'config', PROMETHEUS_CONFIG], { timeout: 60_000 });
  assert.match(stdout, /SUCCESS/);
  const cfg = parseYaml(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as {
    scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  };
  const jobs = Object.fromEntries(cfg.scrape_configs.map((j) => [j.job_name, j.static_configs.flatMap((s) => s.targets)]));
  // The dashboards select the service by job="pageview-service".
  assert.deepEqual(jobs['pageview-service'], ['service:8080']);
  assert.deepEqual(jobs['mysqld-exporter'], ['mysqld-exporter:9104']);
  const { services } = await composeConfig();
  assert.equal(String(services.service!.environment!.PORT), '8080');
  assert.ok(services['mysqld-exporter']!.ports!.some((p) => (typeof p === 'string' ? /:9104(\/tcp)?$/.test(p) : p.target === 9104)));
});

test('promtool refuses a broken config (the check above can fail)', async () => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const dir = await mkdtemp(join(tmpdir(), 'pvlab-promtool-'));
  try {
    const broken = readFileSync(PROMETHEUS_CONFIG, 'utf8').replace('scrape_interval: 5s', 'scrape_interval: soon');
    await writeFile(join(dir, 'prometheus.yml'), broken);
    await assert.rejects(run('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { timeout: 60_000 }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
