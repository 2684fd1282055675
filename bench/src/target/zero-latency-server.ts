// A target that answers every Push at once (200 `{}` after reading the body), for `bench calibrate`: whatever
// limits the rate is the bench itself (and the machine it shares), not the server's work. It runs as a child
// process, so the bench's event loop is the bench's alone: prints {"port": N} once listening, exits on SIGTERM
// or when its parent goes away.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
    res.end('{}');
  });
});
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
// the parent's end closes our stdin: never outlive it
process.stdin.on('end', stop);
process.stdin.resume();
