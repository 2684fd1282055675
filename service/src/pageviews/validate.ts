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
