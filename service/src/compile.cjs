'use strict';
// Compiles service/src to CommonJS with a source map beside every file, into a cache keyed by the sources' hash.
//
// Why the service runs from compiled files: the APM agent builds an error's stack frames from V8's call sites and
// maps them through the source map named by the running file's `sourceMappingURL` comment, read from disk
// (https://www.elastic.co/guide/en/apm/agent/nodejs/current/source-maps.html). Under tsx the running file is the
// .ts source, which has no such comment, so every frame named the .ts file with the line of tsx's output (line 2
// of a comment, typically). Compiled files carry the comment, and the frames come out as the .ts file and line.
// Node's --enable-source-maps does not help: it maps the `stack` string, not the call sites the agent reads.
//
// The cache lives in node_modules/.cache (where tools keep build caches): the compiled files resolve their
// dependencies from the repository's node_modules like the sources do. Same sources, same directory: services
// started at once share one build, written to a temporary directory and renamed into place whole.
//
//   node service/src/compile.cjs   compiles (if needed) and prints the directory (the container image runs it)
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const SOURCE_DIR = path.join(REPO_ROOT, 'service', 'src');
const CACHE_DIR = path.join(REPO_ROOT, 'node_modules', '.cache', 'pageview-service');
/** Builds of other sources older than this are removed after a build (a service started from one may still run). */
const STALE_MS = 24 * 3600 * 1000;

/** Every .ts file under service/src, sorted (declaration files are types only). */
function sourceFiles(dir = SOURCE_DIR) {
  const out = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(full);
  }
  return out.sort();
}

function buildKey(files, esbuildVersion) {
  const hash = crypto.createHash('sha256').update(`esbuild ${esbuildVersion}\n`);
  for (const f of files) hash.update(`${path.relative(SOURCE_DIR, f)}\n`).update(fs.readFileSync(f)).update('\n');
  return hash.digest('hex').slice(0, 16);
}

/** Compiles when the sources changed; returns the directory holding main.js. */
function compileService() {
  const esbuild = require('esbuild');
  const files = sourceFiles();
  const outDir = path.join(CACHE_DIR, buildKey(files, esbuild.version));
  if (fs.existsSync(path.join(outDir, 'main.js'))) return outDir;
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const tmp = `${outDir}.tmp-${process.pid}`;
  esbuild.buildSync({
    entryPoints: files,
    outdir: tmp,
    outbase: SOURCE_DIR,
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    sourcemap: 'linked',
    logLevel: 'silent',
  });
  try {
    fs.renameSync(tmp, outDir);
  } catch (err) {
    // Another process put the same build in place first.
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!fs.existsSync(path.join(outDir, 'main.js'))) throw err;
  }
  removeStale(outDir);
  return outDir;
}

function removeStale(keep) {
  const now = Date.now();
  for (const name of fs.readdirSync(CACHE_DIR)) {
    const dir = path.join(CACHE_DIR, name);
    if (dir === keep) continue;
    try {
      if (now - fs.statSync(dir).mtimeMs > STALE_MS) fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // Gone already, or removed by another process meanwhile.
    }
  }
}

module.exports = { compileService, sourceFiles, CACHE_DIR };

if (require.main === module) {
  process.stdout.write(`${compileService()}\n`);
}
