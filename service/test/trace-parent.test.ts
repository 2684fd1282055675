// The service's traceparent class against the agent's own, field by field: same parsing, same children, same
// strings, for valid headers, odd ones and none.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

interface TP {
  version: string;
  traceId: string;
  id: string;
  flags: string;
  parentId: string | undefined;
  recorded: boolean;
  toString(): string;
  child(): TP;
  ensureParentId(): string | undefined;
  setRecorded(value: boolean): void;
}
interface TPClass {
  startOrResume(childOf: unknown, conf: { transactionSampleRate: number }): TP;
  fromString(header: string): TP;
  FLAGS: { recorded: number };
}

const { makeTraceParent, looksLikeAgentTraceParent } = require('../src/telemetry/trace-parent.cjs') as {
  makeTraceParent(randomHex: (n: number) => string): TPClass;
  looksLikeAgentTraceParent(c: unknown): boolean;
};
const { randomPool } = require('../src/telemetry/agent-ids.cjs') as { randomPool(): { hex(n: number): string } };
// The agent's own class (this test process has no preload: the module is the agent's, untouched).
const Agent = (require('elastic-apm-node/lib/tracecontext/traceparent.js') as { TraceParent: TPClass }).TraceParent;
const Ours = makeTraceParent(randomPool().hex);

const fields = (t: TP) => ({ version: t.version, traceId: t.traceId, id: t.id, flags: t.flags, parentId: t.parentId, recorded: t.recorded, text: t.toString() });
const HEX16 = /^[0-9a-f]{16}$/;
const HEX32 = /^[0-9a-f]{32}$/;

const VALID = [
  '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
  '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00',
  'ff-ffffffffffffffffffffffffffffffff-ffffffffffffffff-ff',
  // A zero span id passes the agent's pattern; it makes no parent.
  '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
  '00-00000000000000000000000000000000-b7ad6b7169203331-03',
];
const ODD = [
  '',
  'garbage',
  '00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01', // upper case
  '00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033', // cut short
  '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-00f067aa0ba902b7', // longer: the rest lands in parentId
  '0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1', // odd digit counts
  '00-0af7651916cd43dd8448zz211c80319c-b7ad6b7169203331-01', // not hex halfway
];

describe('service TraceParent vs the agent TraceParent', () => {
  it('is recognised as a stand-in for the agent class, and nothing else is', () => {
    assert.equal(looksLikeAgentTraceParent(Agent), true);
    assert.equal(looksLikeAgentTraceParent(Ours), true);
    assert.equal(looksLikeAgentTraceParent(undefined), false);
    assert.equal(looksLikeAgentTraceParent(class {}), false);
    assert.equal(looksLikeAgentTraceParent({ startOrResume() {}, fromString() {}, FLAGS: { recorded: 1 } }), false);
  });

  it('fromString reads every header, valid or not, exactly as the agent does', () => {
    for (const h of [...VALID, ...ODD]) assert.deepEqual(fields(Ours.fromString(h)), fields(Agent.fromString(h)), h);
    assert.throws(() => Ours.fromString(undefined as unknown as string), TypeError);
    assert.throws(() => Agent.fromString(undefined as unknown as string), TypeError);
  });

  it('startOrResume continues a valid header: same trace, version and flags, the header span as parent, a new span id', () => {
    for (const h of VALID) {
      const a = Agent.startOrResume(h, { transactionSampleRate: 0 });
      const o = Ours.startOrResume(h, { transactionSampleRate: 0 });
      const { id: _a, text: _at, ...restA } = fields(a);
      const { id: _o, text: _ot, ...restO } = fields(o);
      assert.deepEqual(restO, restA, h);
      assert.match(o.id, HEX16);
      assert.equal(o.toString(), `${o.version}-${o.traceId}-${o.id}-${o.flags}`);
    }
  });

  it('startOrResume starts a new trace for anything else, sampled by the rate', () => {
    for (const childOf of [undefined, null, '', 'garbage', ODD[2], 42, {}]) {
      for (const rate of [0, 1]) {
        const a = Agent.startOrResume(childOf, { transactionSampleRate: rate });
        const o = Ours.startOrResume(childOf, { transactionSampleRate: rate });
        assert.equal(o.recorded, a.recorded, `${String(childOf)} at ${rate}`);
        assert.equal(o.flags, a.flags);
        assert.equal(o.version, '00');
        assert.equal(o.parentId, a.parentId);
        assert.equal(o.parentId, undefined);
        assert.match(o.traceId, HEX32);
        assert.match(o.id, HEX16);
      }
    }
  });

  it('children keep the trace and flags and name their parent; objects carrying a traceparent are continued too', () => {
    const root = Ours.startOrResume(undefined, { transactionSampleRate: 1 });
    const kid = root.child();
    assert.equal(kid.traceId, root.traceId);
    assert.equal(kid.flags, root.flags);
    assert.equal(kid.parentId, root.id);
    assert.notEqual(kid.id, root.id);
    const viaInstance = Ours.startOrResume(root, { transactionSampleRate: 0 });
    assert.equal(viaInstance.parentId, root.id);
    assert.equal(viaInstance.recorded, true, 'a child follows its parent, not the rate');
    const viaCarrier = Ours.startOrResume({ _context: kid }, { transactionSampleRate: 0 });
    assert.equal(viaCarrier.parentId, kid.id);
    // The agent's class continues its own instances the same way.
    const aRoot = Agent.startOrResume(undefined, { transactionSampleRate: 1 });
    assert.equal(Agent.startOrResume({ _context: aRoot }, { transactionSampleRate: 0 }).parentId, aRoot.id);
    // A header read by fromString with a zero span id makes a child without a parent, as the agent's does.
    const zero = VALID[3]!;
    assert.equal(Ours.fromString(zero).child().parentId, undefined);
    assert.equal(Agent.fromString(zero).child().parentId, undefined);
  });

  it('ensureParentId makes a parent id once and keeps it; setRecorded changes recorded, flags and the string', () => {
    const o = Ours.startOrResume(undefined, { transactionSampleRate: 0 });
    const p = o.ensureParentId();
    assert.match(p!, HEX16);
    assert.equal(o.ensureParentId(), p);
    assert.equal(o.parentId, p);
    const resumed = Ours.startOrResume(VALID[0], { transactionSampleRate: 0 });
    assert.equal(resumed.ensureParentId(), 'b7ad6b7169203331');
    for (const C of [Ours, Agent]) {
      const t = C.fromString('00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-02');
      t.setRecorded(true);
      assert.equal(t.recorded, true);
      assert.equal(t.toString(), '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-03');
      t.setRecorded(false);
      assert.equal(t.recorded, false);
    }
    assert.equal(Ours.FLAGS.recorded, Agent.FLAGS.recorded);
  });

  it('hands out distinct ids', () => {
    const ids = new Set<string>();
    const root = Ours.startOrResume(undefined, { transactionSampleRate: 1 });
    for (let i = 0; i < 5000; i++) ids.add(root.child().id);
    assert.equal(ids.size, 5000);
  });
});
