// The ground truth for the generator comparisons (open-vs-wrk2.ts): an HTTP server that answers every Push after
// a fixed delay and records, per request, how long it held it (from the request's arrival, its head parsed, to
// the answer written) in a microsecond HDR histogram. Whatever a generator reports beyond that hold time is the
// generator's own (and the network's) doing. GET /__hold returns the histogram's figures and resets it.
// Run as a child process: prints {"port": N} once listening; exits on SIGTERM or when its stdin closes.
// Usage: node --import tsx bench/perf/hold-server.ts [--latency-ms 0]
import http from 'node:http';
import { serveAsChild } from '../src/target/child-server';
import * as hdr from 'hdr-histogram-js';

const i = process.argv.indexOf('--latency-ms');
const latencyMs = i === -1 ? 0 : Number(process.argv[i + 1]);
if (!(latencyMs >= 0 && latencyMs <= 60_000)) throw new Error('--latency-ms must be in 0..60000');

const build = () => hdr.build({ bitBucketSize: 32, useWebAssembly: false, lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
let hold = build();

const server = http.createServer((req, res) => {
  const t0 = performance.now();
  if (req.method === 'GET' && req.url === '/__hold') {
    const h = hold;
    hold = build();
    const at = (p: number) => Math.round(h.getValueAtPercentile(p)) / 1000;
    const body = JSON.stringify({ count: h.totalCount, p50_ms: at(50), p90_ms: at(90), p99_ms: at(99), p999_ms: at(99.9), max_ms: h.maxValue / 1000 });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  req.resume();
  req.on('end', () => {
    const answer = () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
      res.end('{}');
      hold.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
    };
    if (latencyMs > 0) setTimeout(answer, latencyMs);
    else answer();
  });
});
serveAsChild(server);
