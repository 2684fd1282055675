'use strict';
// Random bytes for the APM agent's trace and span ids, drawn from a pool that is refilled 4 KiB at a time.
//
// The agent takes every new id from `crypto.randomFillSync(buffer, offset, 8 or 24)` (its
// lib/tracecontext/traceparent.js): one call per transaction and one per span. Each call goes through OpenSSL's
// random generator on its own (locks, parameter lookups, a getpid() system call for fork detection): about 5 µs
// here, whatever the size, while filling 4 KiB costs about 9 µs. A traced Push makes several such calls, so
// drawing them from a pool removes a visible share of what tracing costs (service/perf/apm-overhead.ts).
// Node's own crypto.randomUUID() caches random bytes the same way.
//
// Ids only need to be unique and unpredictable enough not to collide; these bytes are still OpenSSL's, only
// fetched in bulk. Each byte is handed out once.
//
// The pool reaches the agent without replacing anything the rest of the process sees: the agent reads
// `randomFillSync` off the crypto module once, when its trace-context module loads. `loadAgentIdsFromPool()`
// swaps the pooled function in for exactly that require and restores crypto's own at once.
// `loadAgentTraceContext()` goes one step further and puts the service's TraceParent class (trace-parent.cjs, ids
// as hex strings from this pool) in place of the agent's, which costs more than its random bytes.

const crypto = require('node:crypto');

const POOL_BYTES = 4096;

/**
 * Random bytes served from a pool refilled `poolBytes` at a time: `fill(buffer, offset, size)` with
 * crypto.randomFillSync's arguments, and `hex(n)`, n bytes as lowercase hex. Each byte is handed out once.
 */
function randomPool(poolBytes = POOL_BYTES) {
  const fill = crypto.randomFillSync;
  const pool = Buffer.allocUnsafe(poolBytes);
  let next = poolBytes; // nothing drawn yet: the first request fills the pool
  const take = (n) => {
    if (next + n > poolBytes) {
      fill(pool);
      next = 0;
    }
    const at = next;
    next += n;
    return at;
  };
  return {
    fill(buffer, offset, size) {
      if (buffer instanceof Uint8Array) {
        const start = offset === undefined ? 0 : offset;
        const n = size === undefined ? buffer.length - start : size;
        if (Number.isInteger(start) && Number.isInteger(n) && start >= 0 && n >= 0 && start + n <= buffer.length && n <= poolBytes) {
          const at = take(n);
          // Ids are 8 to 24 bytes: a loop is cheaper than Buffer#copy's argument handling for so few.
          for (let i = 0; i < n; i++) buffer[start + i] = pool[at + i];
          return buffer;
        }
      }
      // Not a byte buffer (other views count offset and size in their own units), arguments out of range (crypto
      // raises its own error) or more than a pool: crypto's own function, with the arguments as given.
      return fill(buffer, offset, size);
    },
    hex(n) {
      if (!Number.isInteger(n) || n < 1 || n > poolBytes) throw new RangeError(`hex(${n}): expected 1 to ${poolBytes} bytes`);
      const at = take(n);
      return pool.toString('hex', at, at + n);
    },
  };
}

/** A randomFillSync(buffer, offset, size) that serves requests of up to POOL_BYTES from a refilled pool. */
function pooledRandomFill(poolBytes = POOL_BYTES) {
  const p = randomPool(poolBytes);
  return function pooledRandomFillSync(buffer, offset, size) {
    return p.fill(buffer, offset, size);
  };
}

/** The module of the agent that makes trace and span ids. */
const TRACEPARENT_MODULE = 'elastic-apm-node/lib/tracecontext/traceparent.js';

/**
 * Loads the agent's trace-context module with the pooled randomFillSync in place, then puts crypto's own back.
 * Call before the agent is required. Returns true when the module was loaded with the pool in place, false when it
 * was loaded already or is not where this agent version keeps it (then the agent keeps crypto's own function, and
 * the startup log line says `idsFromPool: false`). test/agent-ids.test.ts checks that the agent really draws from it.
 */
function loadAgentIdsFromPool(moduleId = TRACEPARENT_MODULE) {
  let resolved;
  try {
    resolved = require.resolve(moduleId);
  } catch {
    return false;
  }
  if (require.cache[resolved] !== undefined) return false;
  const original = crypto.randomFillSync;
  crypto.randomFillSync = pooledRandomFill();
  try {
    require(resolved);
  } finally {
    crypto.randomFillSync = original;
  }
  return true;
}

/**
 * Loads the agent's trace-context module as loadAgentIdsFromPool() does and, when `traceParent` is true and the
 * module's TraceParent is the one trace-parent.cjs knows, puts the service's class in its place before any other
 * part of the agent reads it (they take it from the module's exports when they load, after this). Returns what
 * is in place: `idsFromPool` (the agent's own class draws from the pool) and `traceParent`, `service` or `agent`.
 */
function loadAgentTraceContext({ traceParent = true, moduleId = TRACEPARENT_MODULE } = {}) {
  const idsFromPool = loadAgentIdsFromPool(moduleId);
  if (!idsFromPool || !traceParent) return { idsFromPool, traceParent: 'agent' };
  const mod = require.cache[require.resolve(moduleId)];
  const { makeTraceParent, looksLikeAgentTraceParent } = require('./trace-parent.cjs');
  if (mod === undefined || mod.exports === null || typeof mod.exports !== 'object' || !looksLikeAgentTraceParent(mod.exports.TraceParent)) {
    return { idsFromPool, traceParent: 'agent' };
  }
  const pool = randomPool();
  mod.exports.TraceParent = makeTraceParent(pool.hex);
  return { idsFromPool, traceParent: 'service' };
}

module.exports = { randomPool, pooledRandomFill, loadAgentIdsFromPool, loadAgentTraceContext, TRACEPARENT_MODULE, POOL_BYTES };
