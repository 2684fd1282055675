// Test helpers: build the app on a config from env-style overrides, listen on a free port, speak Twirp.
import { join } from 'node:path';
import protobuf from 'protobufjs';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../src/app';
import { loadConfig } from '../../src/config';

export const PUSH_PATH = '/twirp/stats.StatsService/Push';

export async function startApp(
  env: Record<string, string | undefined>,
  opts: Partial<AppOptions> = {},
  setup?: (app: FastifyInstance) => void,
): Promise<{ app: FastifyInstance; base: string }> {
  const config = loadConfig({ LOG_LEVEL: 'silent', ...env });
  const app = await buildApp({ config, defaultMetrics: false, ...opts });
  setup?.(app);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no address');
  return { app, base: `http://127.0.0.1:${addr.port}` };
}

let root: protobuf.Root | undefined;
export function statsProto(): protobuf.Root {
  root ??= protobuf.loadSync(join(__dirname, '..', '..', 'rpc', 'stats.proto'));
  return root;
}

export function encodePush(msg: { property?: string; section?: number; id?: number }): Uint8Array {
  const type = statsProto().lookupType('stats.PushRequest');
  return type.encode(type.create(msg)).finish();
}

export interface Answer {
  status: number;
  contentType: string;
  body: Buffer;
  json: any;
}

export async function post(
  base: string,
  body: string | Uint8Array,
  contentType = 'application/json',
  path = PUSH_PATH,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: contentType === '' ? headers : { 'content-type': contentType, ...headers },
    body,
  });
  const buf = Buffer.from(await res.arrayBuffer());
  const ct = res.headers.get('content-type') ?? '';
  let json: unknown;
  if (ct.startsWith('application/json')) json = JSON.parse(buf.toString('utf8'));
  return { status: res.status, contentType: ct, body: buf, json };
}

export function pushJson(base: string, msg: Record<string, unknown>): Promise<Answer> {
  return post(base, JSON.stringify(msg));
}

export async function countRows(sql: (s: string) => Promise<string[][]>, where = '1=1'): Promise<number> {
  const rows = await sql(`SELECT COUNT(*) FROM test.incoming WHERE ${where}`);
  return Number(rows[0]?.[0] ?? 0);
}

/** Values of one metric series from Prometheus text, e.g. metricValue(text, 'pageview_pushes_total', {result: 'accepted'}). */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have: Record<string, string> = {};
    for (const part of (m[3] ?? '').match(/\w+="[^"]*"/g) ?? []) {
      const i = part.indexOf('=');
      have[part.slice(0, i)] = part.slice(i + 2, -1);
    }
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) {
      sum += Number(m[4]);
      found = true;
    }
  }
  return found ? sum : Number.NaN;
}
