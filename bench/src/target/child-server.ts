// Serving an HTTP server as a child process of the bench or a perf script: keep-alive long enough for any stage,
// print {"port": N} once listening, and exit on SIGTERM or when the parent goes away (its end closes our stdin).
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export function serveAsChild(server: Server): void {
  server.keepAliveTimeout = 120_000;
  server.headersTimeout = 130_000;
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
  });
  const stop = () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.resume();
}
