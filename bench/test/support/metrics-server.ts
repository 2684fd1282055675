// A /metrics endpoint whose text a test sets as it goes (what the service would expose), counting the scrapes.
import { createServer, type Server } from 'node:http';

export interface MetricsServer {
  url: string;
  /** The text the next scrapes get. */
  text: string;
  /** Hold every answer this long (a slow target). */
  delayMs: number;
  scrapes: number;
  /** The `window` query parameter of the last scrape (the bench's peak window). */
  window: string | null;
  close(): Promise<void>;
}

export async function startMetricsServer(text = ''): Promise<MetricsServer> {
  const m = { url: '', text, delayMs: 0, scrapes: 0, window: null } as MetricsServer;
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/metrics') { res.writeHead(404).end(); return; }
    m.scrapes++;
    m.window = u.searchParams.get('window');
    const body = m.text;
    const t = setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(body), m.delayMs);
    res.on('close', () => clearTimeout(t));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  m.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  m.close = () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); });
  return m;
}
