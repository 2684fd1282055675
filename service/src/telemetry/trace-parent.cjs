'use strict';
// The APM agent's W3C traceparent (version, trace id, span id, flags, parent id), as plain fields.
//
// The agent (lib/tracecontext/traceparent.js) keeps each traceparent in a 34-byte Buffer of its own
// (Buffer.alloc, a fresh ArrayBuffer every time) and gives the object six properties with
// Object.defineProperty, five of them lazy getters that slice the buffer into hex on first read. A transaction
// or span makes one, and its ids are read when it is encoded: with every request traced that was about a tenth
// of the service's main thread (node --cpu-prof, wrk -c100, service/perf/apm-overhead.ts), most of it in
// defineProperty, the getters, and Buffer slices and the garbage they leave. Side by side with every request
// traced, this class kept 0.64x of APM-off throughput where the agent's kept 0.43x, at 53 against 83 µs of CPU per
// request (service/perf/apm-overhead.ts --rounds 8 --seconds 5 --base off,full --variant
// "agent traceparent:ELASTIC_APM_TRANSACTION_SAMPLE_RATE=1.0,TRACE_REQUESTS_PER_SECOND=1000000,APM_TRACE_PARENT=agent").
//
// This class has the same interface (what the agent reads and calls: the fields above, `recorded`,
// `toString()`, `child()`, `ensureParentId()`, `setRecorded()`, the statics `startOrResume`, `fromString` and
// `FLAGS`) and holds the ids as hex strings, drawn from the pooled random bytes (agent-ids.cjs). Header parsing
// follows the agent's rules: `startOrResume` resumes only a valid lowercase header, `fromString` does not
// validate and reads what hex it can, as the agent's Buffer#write does. service/test/trace-parent.test.ts
// compares both classes field by field.

const FLAGS = { recorded: 0b00000001 };

const VALID_HEADER = /^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/;
/** Every span id this class holds is 16 lowercase hex digits (sliced from a valid header or made from bytes). */
const ZERO_ID = '0000000000000000';

/** Two hex digits of a byte. */
function hex2(byte) {
  return byte < 16 ? `0${byte.toString(16)}` : byte.toString(16);
}

/** A parent id that is all zeros is no parent id (the agent's rule). */
function parentOrUndefined(id) {
  return id === ZERO_ID ? undefined : id;
}

/** Makes the TraceParent class over `randomHex(bytes)`, a source of random bytes as lowercase hex. */
function makeTraceParent(randomHex) {
  class TraceParent {
    constructor(version, traceId, id, flags, parentId) {
      this.version = version;
      this.traceId = traceId;
      this.id = id;
      this._flags = flags;
      this.parentId = parentId;
    }

    get flags() {
      return hex2(this._flags);
    }

    get recorded() {
      return (this._flags & FLAGS.recorded) !== 0;
    }

    static startOrResume(childOf, conf) {
      if (childOf instanceof TraceParent) return childOf.child();
      if (childOf && childOf._context instanceof TraceParent) return childOf._context.child();
      if (VALID_HEADER.test(childOf)) {
        // The header's span id becomes the parent; this side gets a new one.
        return new TraceParent(
          childOf.slice(0, 2),
          childOf.slice(3, 35),
          randomHex(8),
          parseInt(childOf.slice(53, 55), 16),
          parentOrUndefined(childOf.slice(36, 52)),
        );
      }
      const sampled = Math.random() <= conf.transactionSampleRate;
      return new TraceParent('00', randomHex(16), randomHex(8), sampled ? FLAGS.recorded : 0, undefined);
    }

    /** The header as it is (no new span id), unvalidated: the hex that can be read is read, the rest is zeros. */
    static fromString(header) {
      const b = Buffer.alloc(34);
      b.write(header.replace(/-/g, ''), 'hex');
      return new TraceParent(
        b.toString('hex', 0, 1),
        b.toString('hex', 1, 17),
        b.toString('hex', 17, 25),
        b[25],
        parentOrUndefined(b.toString('hex', 26, 34)),
      );
    }

    ensureParentId() {
      if (this.parentId === undefined) this.parentId = parentOrUndefined(randomHex(8));
      return this.parentId;
    }

    child() {
      return new TraceParent(this.version, this.traceId, randomHex(8), this._flags, parentOrUndefined(this.id));
    }

    setRecorded(value) {
      if (value) this._flags |= FLAGS.recorded;
      else this._flags &= ~FLAGS.recorded;
    }

    toString() {
      return `${this.version}-${this.traceId}-${this.id}-${this.flags}`;
    }
  }
  TraceParent.FLAGS = FLAGS;
  return TraceParent;
}

/** Whether `Agent` is the agent's TraceParent as this file knows it: the statics it replaces. */
function looksLikeAgentTraceParent(Agent) {
  return (
    typeof Agent === 'function' &&
    typeof Agent.startOrResume === 'function' &&
    typeof Agent.fromString === 'function' &&
    Agent.FLAGS !== null &&
    typeof Agent.FLAGS === 'object' &&
    Agent.FLAGS.recorded === FLAGS.recorded &&
    typeof Agent.prototype.child === 'function' &&
    typeof Agent.prototype.ensureParentId === 'function' &&
    typeof Agent.prototype.setRecorded === 'function'
  );
}

module.exports = { makeTraceParent, looksLikeAgentTraceParent, FLAGS };
