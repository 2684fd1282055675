// A TCP proxy of the test's own between the service and MariaDB, to make the database slow or unreachable for
// real: every chunk from the server to the client is held `delayMs` (so each round trip takes that much longer,
// in order), and `block()` refuses new connections and cuts the open ones. Listens on 127.0.0.1 only.
import { createServer, connect, type Server, type Socket } from 'node:net';

export class DelayProxy {
  delayMs: number;
  private blocked = false;
  private readonly sockets = new Set<Socket>();
  private server!: Server;
  port = 0;

  private constructor(private readonly targetPort: number, delayMs: number) {
    this.delayMs = delayMs;
  }

  static async start(targetPort: number, delayMs = 0): Promise<DelayProxy> {
    const p = new DelayProxy(targetPort, delayMs);
    p.server = createServer((client) => p.accept(client));
    await new Promise<void>((res) => p.server.listen(0, '127.0.0.1', () => res()));
    p.port = (p.server.address() as { port: number }).port;
    return p;
  }

  /** mysql://root@127.0.0.1:PORT/test through the proxy */
  get url(): string {
    return `mysql://root@127.0.0.1:${this.port}/test`;
  }

  private accept(client: Socket): void {
    if (this.blocked) {
      client.destroy();
      return;
    }
    const upstream = connect({ port: this.targetPort, host: '127.0.0.1' });
    this.sockets.add(client);
    this.sockets.add(upstream);
    // chunks from the server leave in order, each no earlier than delayMs after it arrived
    let releaseAt = 0;
    upstream.on('data', (chunk) => {
      const at = Math.max(Date.now() + this.delayMs, releaseAt);
      releaseAt = at;
      const wait = at - Date.now();
      if (wait <= 0) client.write(chunk);
      else setTimeout(() => { if (!client.destroyed) client.write(chunk); }, wait);
    });
    client.on('data', (chunk) => upstream.write(chunk));
    const close = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    client.on('close', close);
    upstream.on('close', () => setTimeout(close, Math.max(0, releaseAt - Date.now())));
    client.on('error', close);
    upstream.on('error', close);
  }

  /** Refuse new connections and cut the open ones (the database "went away"). */
  block(): void {
    this.blocked = true;
    for (const s of this.sockets) s.destroy();
  }

  unblock(): void {
    this.blocked = false;
  }

  async close(): Promise<void> {
    this.block();
    await new Promise<void>((res) => this.server.close(() => res()));
  }
}
