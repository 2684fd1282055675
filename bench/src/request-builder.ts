// Builds Push requests: bodies drawn from a wide, seeded key space (so no cache can flatter the service and two
// runs with the same seed send the same sequence), an optional share of deliberately invalid requests, and the
// headers every request carries: a fresh W3C `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header),
// `x-bench-run`, `x-bench-stage`, and an `Idempotency-Key` of its own (a random prefix per builder and a counter), so
// the rows of a run can be checked for duplicates (target/mysql-rows.ts). `nextRaw()` gives the whole HTTP/1.1 request as one buffer for clients that
// write to sockets themselves (the closed-model executor through autocannon); `next()` gives body and headers.
import crypto from 'node:crypto';
import path from 'node:path';
import protobuf from 'protobufjs';
import type { RequestSpec } from './types';

/** The Twirp route every executor drives. */
export const PUSH_PATH = '/twirp/stats.StatsService/Push';
import { checkSegment, segmentSeed, type Segment } from './segment';

export interface BuiltRequest {
  body: Buffer;
  headers: Record<string, string>;
  traceId: string;
  invalid: boolean;
}

export interface RequestBuilderOptions {
  runId: string;
  stage: string;
  /** distributed runs: this worker's keys come from its own stream, seeded from (seed, index) */
  segment?: Segment;
}

const PROTO_PATH = path.join(__dirname, '..', '..', 'service', 'rpc', 'stats.proto');
let pushRequestType: protobuf.Type | null = null;
function pushRequest(): protobuf.Type {
  pushRequestType ??= protobuf.loadSync(PROTO_PATH).lookupType('stats.PushRequest');
  return pushRequestType;
}

/** Random ids come from a pooled crypto buffer: one syscall per ~170 requests instead of one per request. */
class IdSource {
  private pool = Buffer.alloc(4096);
  private pos = this.pool.length;
  /** `bytes` random bytes as lower-case hex at `at` in `out` (never all zero: invalid in W3C trace context). */
  writeHex(out: Buffer, at: number, bytes: number): void {
    for (;;) {
      if (this.pos + bytes > this.pool.length) {
        crypto.randomFillSync(this.pool);
        this.pos = 0;
      }
      const from = this.pos;
      this.pos += bytes;
      let any = 0;
      for (let i = 0; i < bytes; i++) {
        const b = this.pool[from + i];
        any |= b;
        out[at + 2 * i] = HEX_PAIRS[2 * b];
        out[at + 2 * i + 1] = HEX_PAIRS[2 * b + 1];
      }
      if (any !== 0) return;
    }
  }

  hex(bytes: number): string {
    if (this.pos + bytes > this.pool.length) {
      crypto.randomFillSync(this.pool);
      this.pos = 0;
    }
    const from = this.pos;
    this.pos += bytes;
    let zero = true;
    for (let i = from; i < this.pos; i++) {
      if (this.pool[i] !== 0) { zero = false; break; }
    }
    // all-zero ids are invalid in W3C trace context
    return zero ? this.hex(bytes) : this.pool.toString('hex', from, this.pos);
  }
}

/** sfc32: small, fast, well-distributed, seedable (PractRand-clean); plenty for drawing keys. */
function sfc32(seed: number): () => number {
  let a = 0x9e3779b9, b = 0x243f6a88, c = 0xb7e15162, d = (seed >>> 0) ^ 0xdeadbeef;
  const next = (): number => {
    a >>>= 0; b >>>= 0; c >>>= 0; d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

/** FNV-1a, to give each stage its own (still seeded) sequence. */
function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Header values must not carry CR, LF or other control characters (header injection, broken framing). */
function headerValue(v: string): string {
  // eslint-disable-next-line no-control-regex
  return v.replace(/[\u0000-\u001f\u007f]/g, '_').slice(0, 256);
}

export class RequestBuilder {
  readonly contentType: string;
  private readonly random: () => number;
  private readonly ids = new IdSource();
  private readonly jsonProps: string[];
  /** Its own seeded stream, so the sampling decision does not change which bodies a seed draws. */
  private readonly sampleRandom: () => number;
  private readonly traceSampleRate: number;
  private readonly runId: string;
  private readonly stage: string;
  private rawHost = '';
  private rawHeadBuf: Buffer | null = null;
  private jsonPrefixes: Buffer[] | null = null;
  private jsonInvalidPrefix: Buffer | null = null;
  /** Byte offset of the traceparent value in the buffer `nextRaw` returned last (its trace id starts 3 bytes in). */
  lastTraceOffset = 0;
  /** Idempotency keys: unique per builder (random prefix) and per request (counter). */
  private readonly keyPrefix: string;
  /** "\r\nIdempotency-Key: <prefix>-" as bytes; the counter in base 36 follows it. */
  private readonly keyHead: Buffer;
  private keySeq = 0;

  /** `spec` comes from a validated profile (profiles/validate.ts) and is taken as it is. */
  constructor(private readonly spec: RequestSpec, opts: RequestBuilderOptions) {
    this.contentType = spec.contentType === 'protobuf' ? 'application/protobuf' : 'application/json';
    const seed = segmentSeed(spec.seed, checkSegment(opts.segment));
    this.random = sfc32(seed ^ hash32(opts.stage));
    this.jsonProps = spec.properties.map((p) => JSON.stringify(p));
    this.sampleRandom = sfc32(seed ^ hash32(`traceparent:${opts.stage}`));
    this.traceSampleRate = spec.traceSampleRate;
    this.runId = headerValue(opts.runId);
    this.stage = headerValue(opts.stage);
    if (spec.contentType === 'protobuf') pushRequest();
    this.keyPrefix = this.ids.hex(8);
    this.keyHead = Buffer.from(`\r\nIdempotency-Key: ${this.keyPrefix}-`);
  }

  /** The next request's Idempotency-Key: 16 hex digits, a dash, the request's number in base 36. */
  private nextKey(): string {
    return `${this.keyPrefix}-${(this.keySeq++).toString(36)}`;
  }

  /** The key header (without its line end) at `at`, for the next request; returns the offset after it. */
  private writeKey(buf: Buffer, at: number): number {
    buf.set(this.keyHead, at);
    return writeBase36(buf, at + this.keyHead.length, this.keySeq++);
  }

  /** Bytes writeKey will write for the next request. */
  private keyBytes(): number {
    return this.keyHead.length + base36Count(this.keySeq);
  }

  /** Draws the next body. Invalid requests have an empty `property` (the service must answer invalid_argument). */
  private nextBody(): { body: Buffer; invalid: boolean } {
    const r = this.random;
    const invalid = this.spec.invalidShare > 0 && r() < this.spec.invalidShare;
    const pi = Math.floor(r() * this.spec.properties.length);
    const section = 1 + Math.floor(r() * this.spec.sections);
    const id = 1 + Math.floor(r() * this.spec.ids);
    if (this.spec.contentType === 'protobuf') {
      const property = invalid ? '' : this.spec.properties[pi];
      return { body: Buffer.from(pushRequest().encode({ property, section, id }).finish()), invalid };
    }
    return { body: Buffer.from(this.jsonBody(invalid, pi, section, id)), invalid };
  }

  private jsonBody(invalid: boolean, pi: number, section: number, id: number): string {
    return `{"property":${invalid ? '""' : this.jsonProps[pi]},"section":${section},"id":${id}}`;
  }

  private traceparent(): { traceId: string; value: string } {
    const traceId = this.ids.hex(16);
    const flags = this.traceSampleRate >= 1 || this.sampleRandom() < this.traceSampleRate ? '01' : '00';
    return { traceId, value: `00-${traceId}-${this.ids.hex(8)}-${flags}` };
  }

  next(): BuiltRequest {
    const { body, invalid } = this.nextBody();
    const tp = this.traceparent();
    return {
      body,
      invalid,
      traceId: tp.traceId,
      headers: {
        'content-type': this.contentType,
        traceparent: tp.value,
        'x-bench-run': this.runId,
        'x-bench-stage': this.stage,
        'idempotency-key': this.nextKey(),
      },
    };
  }

  /**
   * The whole HTTP/1.1 request (keep-alive) as one buffer, for `host` (e.g. "127.0.0.1:8080"): the fixed head
   * (built once per host), the traceparent written as hex straight from the pooled random bytes, the length and
   * the body. For JSON the body is assembled from prebuilt pieces per property and the drawn integers, in the
   * same draws and order as `next()`; no intermediate string is made.
   */
  nextRaw(host: string): Buffer {
    // the traceparent follows the fixed head, so `lastTraceOffset` locates it in the buffer without a search
    if (host !== this.rawHost) this.prepareRaw(host);
    const headBytes = this.rawHeadBuf!;
    this.lastTraceOffset = headBytes.length;
    if (this.spec.contentType === 'json') {
      const r = this.random;
      const invalid = this.spec.invalidShare > 0 && r() < this.spec.invalidShare;
      const pi = Math.floor(r() * this.spec.properties.length);
      const section = 1 + Math.floor(r() * this.spec.sections);
      const id = 1 + Math.floor(r() * this.spec.ids);
      const prefix = invalid ? this.jsonInvalidPrefix! : this.jsonPrefixes![pi];
      const bodyLen = prefix.length + digitCount(section) + JSON_ID.length + digitCount(id) + 1;
      const total = headBytes.length + TRACEPARENT_LEN + this.keyBytes() + CL_HEAD.length + digitCount(bodyLen) + 4 + bodyLen;
      const buf = Buffer.allocUnsafe(total);
      buf.set(headBytes, 0);
      let at = this.writeKey(buf, this.writeTraceparent(buf, headBytes.length));
      buf.set(CL_HEAD, at);
      at = writeUint(buf, at + CL_HEAD.length, bodyLen);
      buf[at++] = 13; buf[at++] = 10; buf[at++] = 13; buf[at++] = 10;
      buf.set(prefix, at);
      at = writeUint(buf, at + prefix.length, section);
      buf.set(JSON_ID, at);
      at = writeUint(buf, at + JSON_ID.length, id);
      buf[at] = 0x7d; // }
      return buf;
    }
    const { body } = this.nextBody();
    const total = headBytes.length + TRACEPARENT_LEN + this.keyBytes() + CL_HEAD.length + digitCount(body.length) + 4 + body.length;
    const buf = Buffer.allocUnsafe(total);
    buf.set(headBytes, 0);
    let at = this.writeKey(buf, this.writeTraceparent(buf, headBytes.length));
    buf.set(CL_HEAD, at);
    at = writeUint(buf, at + CL_HEAD.length, body.length);
    buf[at++] = 13; buf[at++] = 10; buf[at++] = 13; buf[at++] = 10;
    buf.set(body, at);
    return buf;
  }

  private prepareRaw(host: string): void {
    this.rawHost = host;
    this.rawHeadBuf = Buffer.from(`POST ${PUSH_PATH} HTTP/1.1\r\nHost: ${headerValue(host)}\r\nConnection: keep-alive\r\n` +
      `Content-Type: ${this.contentType}\r\nx-bench-run: ${this.runId}\r\nx-bench-stage: ${this.stage}\r\ntraceparent: `);
    this.jsonPrefixes = this.jsonProps.map((p) => Buffer.from(`{"property":${p},"section":`));
    this.jsonInvalidPrefix = Buffer.from('{"property":"","section":');
  }

  /** "00-<32 hex trace id>-<16 hex parent id>-0x" at `at`; returns the offset after it. */
  private writeTraceparent(buf: Buffer, at: number): number {
    buf[at] = 48; buf[at + 1] = 48; buf[at + 2] = 45; // 00-
    this.ids.writeHex(buf, at + 3, 16);
    buf[at + 35] = 45;
    this.ids.writeHex(buf, at + 36, 8);
    buf[at + 52] = 45;
    buf[at + 53] = 48;
    buf[at + 54] = this.traceSampleRate >= 1 || this.sampleRandom() < this.traceSampleRate ? 49 : 48;
    return at + TRACEPARENT_LEN;
  }
}

const TRACEPARENT_LEN = 55;
const CL_HEAD = Buffer.from('\r\nContent-Length: ');
const JSON_ID = Buffer.from(',"id":');
/** byte -> its two lower-case hex digits (ASCII) */
const HEX_PAIRS = (() => {
  const t = new Uint8Array(512);
  const d = '0123456789abcdef';
  for (let i = 0; i < 256; i++) {
    t[2 * i] = d.charCodeAt(i >> 4);
    t[2 * i + 1] = d.charCodeAt(i & 15);
  }
  return t;
})();

function digitCount(n: number): number {
  let d = 1;
  while (n >= 10) { n = Math.floor(n / 10); d++; }
  return d;
}

const BASE36 = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');

function base36Count(n: number): number {
  let d = 1;
  while (n >= 36) { n = Math.floor(n / 36); d++; }
  return d;
}

/** Writes the non-negative integer `n` in base 36 (as Number#toString(36)) at `at`; returns the offset after it. */
function writeBase36(buf: Buffer, at: number, n: number): number {
  const end = at + base36Count(n);
  let i = end;
  do {
    const q = Math.floor(n / 36);
    buf[--i] = BASE36[n - q * 36]!;
    n = q;
  } while (n > 0);
  return end;
}

/** Writes the non-negative integer `n` in decimal at `at`; returns the offset after it. */
function writeUint(buf: Buffer, at: number, n: number): number {
  const end = at + digitCount(n);
  let i = end;
  do {
    const q = Math.floor(n / 10);
    buf[--i] = 48 + (n - q * 10);
    n = q;
  } while (n > 0);
  return end;
}

/** The trace id (32 hex) of a traceparent value that starts at `offset` in `buf` ("00-<trace id>-<parent>-<flags>"). */
export function traceIdAt(buf: Buffer, offset: number): string {
  return buf.toString('latin1', offset + 3, offset + 35);
}

/** Whether the traceparent value at `offset` in `buf` has the sampled flag (its flags byte's lowest bit). */
export function sampledAt(buf: Buffer, offset: number): boolean {
  // flags are the last two hex digits: "-0x"; odd x = sampled
  const c = buf[offset + 54];
  return c !== undefined && (parseInt(String.fromCharCode(c), 16) & 1) === 1;
}
