// Somewhere for the Elastic APM agent to send to during --apm-ab when ELASTIC_APM_SERVER_URL is not set: accepts
// the intake API (POST /intake/v2/events -> 202) and discards it, answers the server-information endpoint
// (GET / -> a version, which the agent asks for first) and central config (GET /config/v1/agents -> {}).
// The point is that the agent does its full work (serialise, compress, send); only the storage is missing.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ApmSink {
  url: string;
  /** Intake requests and bytes received so far. */
  stats: { intakeRequests: number; bytes: number };
  close(): Promise<void>;
}

export async function startApmSink(): Promise<ApmSink> {
  const stats = { intakeRequests: 0, bytes: 0 };
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    // Counted on arrival: the agent streams one intake request for up to apiRequestTime before ending it.
    if (req.method === 'POST' && path === '/intake/v2/events') stats.intakeRequests++;
    req.on('data', (c: Buffer) => { stats.bytes += c.length; });
    req.on('end', () => {
      if (req.method === 'POST' && path === '/intake/v2/events') {
        res.writeHead(202).end();
      } else if (req.method === 'GET' && path === '/') {
        res.writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ build_date: '2024-01-01T00:00:00Z', build_sha: 'bench-sink', version: '8.15.0' }));
      } else if (path === '/config/v1/agents') {
        res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300', etag: '"bench"' }).end('{}');
      } else {
        res.writeHead(404).end();
      }
    });
  });
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(0, '127.0.0.1', () => res());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}
