// Decoding PushRequest bodies. JSON follows protojson (https://protobuf.dev/programming-guides/json/): proto and
// lowerCamel names, unknown fields ignored, null = default, integers as numbers or decimal strings. Protobuf is
// the proto3 wire format (https://protobuf.dev/programming-guides/encoding/): unknown fields (and known fields
// with a different wire type, as Go's decoder does) are skipped, last value wins. Numbers outside uint32 are
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

export function decodePushJson(body: Buffer): PushFields {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw twirpError.malformed('the json request could not be decoded', err);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw twirpError.malformed('the json request could not be decoded: expected an object');
  }
  const out: PushFields = { property: '', section: 0, id: 0 };
  for (const [key, value] of Object.entries(doc as Record<string, unknown>)) {
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

function jsonInteger(field: string, value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) return Number(value);
  throw twirpError.malformed(`the json request could not be decoded: ${field} must be an integer`);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodePushProtobuf(body: Uint8Array): PushFields {
  const out: PushFields = { property: '', section: 0, id: 0 };
  let pos = 0;
  const fail = (why: string): never => {
    throw twirpError.malformed(`the protobuf request could not be decoded: ${why}`);
  };
  // Varints up to 64 bits; returned as a double (exact up to 2^53, ample for range checks on uint32).
  const varint = (): number => {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= body.length) fail('truncated varint');
      const b = body[pos++]!;
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
  while (pos < body.length) {
    const key = varint();
    const fieldNo = Math.floor(key / 8);
    const wireType = key % 8;
    if (fieldNo === 0) fail('field number 0');
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
    } else {
      fail(`unsupported wire type ${wireType}`);
    }
  }
  return out;
}
