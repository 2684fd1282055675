// PushRequest validation as the reference stats service does it: a known property of at most 32 bytes, section
// and id at least 1 and within uint32. Errors are invalid_argument with meta.argument naming the field.
import { twirpError } from '../twirp/errors';
import type { PushFields } from './push-codec';

export const MAX_PROPERTY_BYTES = 32;
const UINT32_MAX = 0xffff_ffff;

export function validatePush(fields: PushFields, allowed: ReadonlySet<string>): PushFields {
  const { property, section, id } = fields;
  if (property.length === 0) throw twirpError.invalidArgument('property', 'property is required');
  if (Buffer.byteLength(property, 'utf8') > MAX_PROPERTY_BYTES) {
    throw twirpError.invalidArgument('property', `property must be at most ${MAX_PROPERTY_BYTES} bytes`);
  }
  if (!allowed.has(property)) throw twirpError.invalidArgument('property', 'property is not an allowed property');
  checkId('section', section);
  checkId('id', id);
  return fields;
}

function checkId(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw twirpError.invalidArgument(name, `${name} must be at least 1`);
  if (v > UINT32_MAX) throw twirpError.invalidArgument(name, `${name} must fit in uint32 (at most ${UINT32_MAX})`);
}

/** The Idempotency-Key header's bounds; the column is VARCHAR(128) ascii_bin (migrations.ts). */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
// UUIDs, ULIDs, hex, base64 and base64url, and prefixed forms such as `order:123`: all plain SQL text too.
const KEY_CHARS = /^[A-Za-z0-9._~:+/=-]+$/;

/**
 * The Push's idempotency key, from its Idempotency-Key header: a token, or the same token as a Structured Field
 * string (`"..."`, the form of draft-ietf-httpapi-idempotency-key-header). Absent = undefined; anything else that
 * is not 1 to 128 of the characters above is invalid_argument (two headers arrive joined by a comma and are refused
 * so too).
 */
export function idempotencyKeyOf(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  let v = typeof header === 'string' ? header : header.join(', ');
  if (v.length >= 2 && v.charCodeAt(0) === 0x22 && v.charCodeAt(v.length - 1) === 0x22) v = v.slice(1, -1);
  if (v.length === 0 || v.length > MAX_IDEMPOTENCY_KEY_LENGTH || !KEY_CHARS.test(v)) {
    throw twirpError.invalidArgument(
      'idempotency_key',
      `the Idempotency-Key header must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters of A-Z a-z 0-9 . _ ~ : + / = -`,
    );
  }
  return v;
}
