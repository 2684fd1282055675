// A target that answers every Push at once (200 `{}` after reading the body), for `bench calibrate`: whatever
// limits the rate is the bench itself (and the machine it shares), not the server's work. It runs as a child
// process, so the bench's event loop is the bench's alone: prints {"port": N} once listening, exits on SIGTERM
// or when its parent goes away.
import http from 'node:http';
import { serveAsChild } from './child-server';

const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
    res.end('{}');
  });
});
serveAsChild(server);
