// A TCP proxy in front of a test's own server that holds every new connection for a while before it connects
// through: a slow handshake (a far or overloaded database) on demand, without touching the server.
import { createServer, connect, type Server, type Socket } from 'node:net';

export class DelayProxy {
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on a free loopback port; each accepted connection waits `delayMs`, then is piped to `targetPort`. */
  static async start(targetPort: number, delayMs: number): Promise<DelayProxy> {
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      sockets.add(client);
      client.once('close', () => sockets.delete(client));
      client.on('error', () => client.destroy());
      const timer = setTimeout(() => {
        const upstream = connect(targetPort, '127.0.0.1');
        sockets.add(upstream);
        upstream.once('close', () => {
          sockets.delete(upstream);
          client.destroy();
        });
        upstream.on('error', () => upstream.destroy());
        client.once('close', () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
      }, delayMs);
      client.once('close', () => clearTimeout(timer));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const proxy = new DelayProxy(server, (server.address() as { port: number }).port);
    (proxy as unknown as { sockets: Set<Socket> }).sockets = sockets;
    return proxy;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
