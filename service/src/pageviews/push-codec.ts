// Decoding PushRequest bodies. JSON follows protojson (https://protobuf.dev/programming-guides/json/): proto and
// lowerCamel names, unknown fields ignored, a known field given twice malformed (as protobuf-go's protojson), null =
// default, integers as numbers or as strings holding a JSON number
// of integral value ("7", "1e0", "7.0"), and the body must be valid UTF-8 (RFC 8259 section 8.1): invalid bytes are
// malformed, never replaced. Protobuf is the proto3 wire format (https://protobuf.dev/programming-guides/encoding/):
// unknown fields of every wire type, groups included (and known fields with a different wire type, as Go's decoder
// does), are skipped, last value wins; a varint that overflows 64 bits is malformed. Numbers outside uint32 are
// kept as they are (not truncated) so validation can refuse them with invalid_argument.
import { twirpError } from '../twirp/errors';

export interface PushFields {
  property: string;
  section: number;
  id: number;
}

type FieldName = keyof PushFields;

// json_name and proto name of each field (they coincide for these single-word names).
const JSON_NAMES: Record<string, FieldName> = { property: 'property', section: 'section', id: 'id' };

/** Decodes a JSON PushRequest: the plain form by a direct scan, anything else through JSON.parse. */
export function decodePushJson(body: Buffer): PushFields {
  return scanPushJson(body) ?? decodePushJsonGeneral(body);
}

/** The general decoder (JSON.parse, then protojson's field rules). */
export function decodePushJsonGeneral(body: Buffer): PushFields {
  let doc: unknown;
  let text: string;
  try {
    // A fatal decoder: Buffer#toString would turn invalid UTF-8 into U+FFFD and accept it.
    text = utf8.decode(body);
    doc = JSON.parse(text);
  } catch (err) {
    throw twirpError.malformed('the json request could not be decoded', err);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw twirpError.malformed('the json request could not be decoded: expected an object');
  }
  // JSON.parse keeps the last of repeated names; protojson refuses a field given twice, and two readers of one body
  // must not see different values (a filter in front reading the first, this service the last).
  const repeated = repeatedKnownField(text);
  if (repeated !== undefined) throw twirpError.malformed(`the json request could not be decoded: ${repeated} is given more than once`);
  const out: PushFields = { property: '', section: 0, id: 0 };
  const fields = doc as Record<string, unknown>;
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    const value = fields[key];
    const field = Object.hasOwn(JSON_NAMES, key) ? JSON_NAMES[key] : undefined;
    if (field === undefined || value === null) continue;
    if (field === 'property') {
      if (typeof value !== 'string') throw twirpError.malformed('the json request could not be decoded: property must be a string');
      out.property = value;
    } else {
      out[field] = jsonInteger(field, value);
    }
  }
  return out;
}

/**
 * The first known field named twice among the top-level members of `text`, which JSON.parse has accepted as an
 * object (so the walk can trust its syntax). Names are compared after unescaping, as JSON.parse does.
 */
function repeatedKnownField(text: string): FieldName | undefined {
  let seen = 0;
  let i = text.indexOf('{') + 1;
  const n = text.length;
  const skipWs = () => {
    while (i < n && isWs(text.charCodeAt(i))) i++;
  };
  /** Past the string starting at i (a quote); returns its raw text between the quotes. */
  const skipString = (): string => {
    const start = ++i;
    while (text.charCodeAt(i) !== QUOTE) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
    return text.slice(start, i++);
  };
  for (;;) {
    skipWs();
    if (text.charCodeAt(i) !== QUOTE) return undefined; // `}`: the end of an empty or finished object
    const raw = skipString();
    const name = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
    const field = Object.hasOwn(JSON_NAMES, name) ? JSON_NAMES[name] : undefined;
    if (field !== undefined) {
      const bit = FIELD_BITS[field];
      if ((seen & bit) !== 0) return field;
      seen |= bit;
    }
    skipWs();
    i++; // :
    // The value: strings skipped whole, nesting counted, up to the comma or brace that ends the member.
    let depth = 0;
    for (;;) {
      skipWs();
      const c = text.charCodeAt(i);
      if (c === QUOTE) skipString();
      else if (c === 0x7b || c === 0x5b) {
        depth++;
        i++;
      } else if (c === 0x7d || c === 0x5d) {
        if (depth === 0) return undefined; // the object's closing brace
        depth--;
        i++;
      } else if (c === 0x2c && depth === 0) {
        i++;
        break;
      } else i++;
      if (i >= n) return undefined;
    }
  }
}

const FIELD_BITS: Record<FieldName, number> = { property: 1, section: 2, id: 4 };

const QUOTE = 0x22;
const isWs = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;

/**
 * The direct scan: an object whose members are only the three known fields, property an ASCII string without
 * escapes, section and id plain non-negative decimal integers (at most 15 digits, no leading zero), in any order,
 * each at most once. That is every body the bench and ordinary clients send, and it
 * costs a fraction of JSON.parse plus the field walk. On anything else it returns undefined and the general decoder
 * decides, so both accept and refuse exactly the same bodies (service/test/push-codec.test.ts compares them).
 */
export function scanPushJson(b: Uint8Array): PushFields | undefined {
  const n = b.length;
  let i = 0;
  while (i < n && isWs(b[i]!)) i++;
  if (b[i] !== 0x7b) return undefined; // {
  i++;
  while (i < n && isWs(b[i]!)) i++;
  const out: PushFields = { property: '', section: 0, id: 0 };
  let seen = 0;
  if (b[i] === 0x7d) {
    i++;
  } else {
    for (;;) {
      // Key: a short lowercase name between quotes.
      if (b[i] !== QUOTE) return undefined;
      const keyStart = ++i;
      while (i < n && b[i]! >= 0x61 && b[i]! <= 0x7a) i++;
      if (b[i] !== QUOTE) return undefined;
      const keyLen = i - keyStart;
      i++;
      let field: FieldName;
      if (keyLen === 8 && b[keyStart] === 0x70 && matches(b, keyStart, 'property')) field = 'property';
      else if (keyLen === 7 && b[keyStart] === 0x73 && matches(b, keyStart, 'section')) field = 'section';
      else if (keyLen === 2 && b[keyStart] === 0x69 && b[keyStart + 1] === 0x64) field = 'id';
      else return undefined;
      // A repeated field: the general decoder refuses it.
      const bit = FIELD_BITS[field];
      if ((seen & bit) !== 0) return undefined;
      seen |= bit;
      while (i < n && isWs(b[i]!)) i++;
      if (b[i] !== 0x3a) return undefined; // :
      i++;
      while (i < n && isWs(b[i]!)) i++;
      if (field === 'property') {
        if (b[i] !== QUOTE) return undefined;
        const start = ++i;
        while (i < n && b[i]! >= 0x20 && b[i]! < 0x80 && b[i] !== QUOTE && b[i] !== 0x5c) i++;
        if (b[i] !== QUOTE) return undefined;
        out.property = latin1(b, start, i);
        i++;
      } else {
        const start = i;
        if (!isDigit(b[i] ?? -1)) return undefined;
        if (b[i] === 0x30 && isDigit(b[i + 1] ?? -1)) return undefined;
        let v = 0;
        while (i < n && isDigit(b[i]!)) v = v * 10 + (b[i++]! - 0x30);
        if (i - start > 15) return undefined;
        // Named stores: a keyed store with varying names (out[field]) goes megamorphic on this hot path.
        if (field === 'section') out.section = v;
        else out.id = v;
      }
      while (i < n && isWs(b[i]!)) i++;
      if (b[i] === 0x2c) {
        i++;
        while (i < n && isWs(b[i]!)) i++;
        continue;
      }
      if (b[i] !== 0x7d) return undefined;
      i++;
      break;
    }
  }
  while (i < n && isWs(b[i]!)) i++;
  return i === n ? out : undefined;
}

function matches(b: Uint8Array, at: number, word: string): boolean {
  for (let k = 0; k < word.length; k++) if (b[at + k] !== word.charCodeAt(k)) return false;
  return true;
}

/** ASCII bytes (the scan admits nothing else) as a string. */
function latin1(b: Uint8Array, start: number, end: number): string {
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return buf.toString('latin1', start, end);
}

/** A JSON number (RFC 8259 section 6), the form protojson accepts inside a string for an integer field. */
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function jsonInteger(field: string, value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && JSON_NUMBER.test(value)) {
    const n = Number(value);
    if (Number.isInteger(n)) return n;
  }
  throw twirpError.malformed(`the json request could not be decoded: ${field} must be an integer`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Field numbers are 1 to 2^29-1 (https://protobuf.dev/programming-guides/proto3/#assigning). */
const MAX_FIELD_NUMBER = 2 ** 29 - 1;
/** Nesting of skipped groups, as protobuf-go's default recursion limit. */
const MAX_GROUP_DEPTH = 10_000;

export function decodePushProtobuf(body: Uint8Array): PushFields {
  const out: PushFields = { property: '', section: 0, id: 0 };
  let pos = 0;
  const fail = (why: string): never => {
    throw twirpError.malformed(`the protobuf request could not be decoded: ${why}`);
  };
  // Varints up to 64 bits; returned as a double (exact up to 2^53, ample for range checks on uint32). The tenth
  // byte holds only bit 63: anything above 1 there overflows 64 bits (protobuf-go refuses it the same way).
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= body.length) fail('truncated varint');
      const b = body[pos++]!;
      if (i === 9 && b > 1) fail('varint overflows 64 bits');
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return result;
      scale *= 128;
    }
    return fail('varint longer than 10 bytes');
  };
  const skip = (n: number): void => {
    if (n > body.length - pos) fail('truncated field');
    pos += n;
  };
  let fieldNo = 0;
  let wireType = 0;
  const tag = (): void => {
    const key = varint();
    fieldNo = Math.floor(key / 8);
    wireType = key % 8;
    if (fieldNo === 0 || fieldNo > MAX_FIELD_NUMBER) fail(`field number ${fieldNo} out of range`);
  };
  /** Skips a group whose start tag was just read: everything up to its end tag, nested groups included. */
  const skipGroup = (start: number): void => {
    const open = [start];
    while (open.length > 0) {
      if (pos >= body.length) fail('truncated group');
      tag();
      if (wireType === 0) varint();
      else if (wireType === 1) skip(8);
      else if (wireType === 2) skip(varint());
      else if (wireType === 5) skip(4);
      else if (wireType === 3) {
        if (open.length >= MAX_GROUP_DEPTH) fail('groups nested too deeply');
        open.push(fieldNo);
      } else if (wireType === 4) {
        if (open.pop() !== fieldNo) fail('mismatched end group');
      } else fail(`unsupported wire type ${wireType}`);
    }
  };
  while (pos < body.length) {
    tag();
    if (wireType === 2) {
      const len = varint();
      if (len > body.length - pos) fail('truncated length-delimited field');
      if (fieldNo === 1) {
        try {
          out.property = utf8.decode(body.subarray(pos, pos + len));
        } catch {
          fail('property is not valid UTF-8');
        }
      }
      pos += len;
    } else if (wireType === 0) {
      const v = varint();
      if (fieldNo === 2) out.section = v;
      else if (fieldNo === 3) out.id = v;
    } else if (wireType === 1) {
      skip(8);
    } else if (wireType === 5) {
      skip(4);
    } else if (wireType === 3) {
      skipGroup(fieldNo);
    } else if (wireType === 4) {
      fail('end group without a start');
    } else {
      fail(`unsupported wire type ${wireType}`);
    }
  }
  return out;
}
