// A TCP proxy of the test's own between the service and its database, to fail the write path at a chosen point:
// `pass` forwards both ways; `hold` forwards what the service sends but keeps the database's answers (the INSERT
// arrives and commits, its OK never comes back: a hang after the write was sent); `cut` forwards what the service
// sends, then closes both sides `cutAfterMs` later, before any answer is passed on (the connection dies mid-commit);
// `refuse` closes every new connection at once. `dropAll()` closes the open connections.
import { createServer, connect, type Server, type Socket } from 'node:net';

export type FaultMode = 'pass' | 'hold' | 'cut' | 'refuse';

export class FaultProxy {
  mode: FaultMode = 'pass';
  cutAfterMs = 50;
  /** Bytes from the service forwarded while the mode was `hold` or `cut` (proof the write left). */
  sentDuringFault = 0;
  private readonly sockets = new Set<Socket>();
  private server!: Server;
  port = 0;

  static async start(targetPort: number): Promise<FaultProxy> {
    const proxy = new FaultProxy();
    proxy.server = createServer((client) => proxy.accept(client, targetPort));
    await new Promise<void>((resolve, reject) => {
      proxy.server.once('error', reject);
      proxy.server.listen(0, '127.0.0.1', () => resolve());
    });
    proxy.port = (proxy.server.address() as { port: number }).port;
    return proxy;
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.once('close', () => this.sockets.delete(s));
    s.on('error', () => s.destroy());
  }

  private accept(client: Socket, targetPort: number): void {
    this.track(client);
    if (this.mode === 'refuse') {
      client.destroy();
      return;
    }
    const upstream = connect(targetPort, '127.0.0.1');
    this.track(upstream);
    const both = () => {
      client.destroy();
      upstream.destroy();
    };
    client.once('close', both);
    upstream.once('close', both);
    client.on('data', (chunk: Buffer) => {
      if (this.mode === 'hold' || this.mode === 'cut') this.sentDuringFault += chunk.length;
      upstream.write(chunk);
      if (this.mode === 'cut') setTimeout(both, this.cutAfterMs);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.mode === 'pass' || this.mode === 'refuse') client.write(chunk);
      // hold / cut: the answer is dropped; the service waits for it until its query timeout.
    });
  }

  dropAll(): void {
    for (const s of this.sockets) s.destroy();
  }

  get url(): string {
    return `mysql://root@127.0.0.1:${this.port}/test`;
  }

  async stop(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
