// Twirp errors: the one table that maps a Twirp error code to its HTTP status.
// Spec: https://twitchtv.github.io/twirp/docs/spec_v7.html#error-codes (service/test/twirp-errors.test.ts checks
// this table against the spec's list).

export const TWIRP_STATUS = {
  canceled: 408,
  unknown: 500,
  invalid_argument: 400,
  malformed: 400,
  deadline_exceeded: 408,
  not_found: 404,
  bad_route: 404,
  already_exists: 409,
  permission_denied: 403,
  unauthenticated: 401,
  resource_exhausted: 429,
  failed_precondition: 412,
  aborted: 409,
  out_of_range: 400,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
  dataloss: 500,
} as const;

export type TwirpCode = keyof typeof TWIRP_STATUS;

export function isTwirpCode(code: unknown): code is TwirpCode {
  return typeof code === 'string' && Object.hasOwn(TWIRP_STATUS, code);
}

/** An error that is safe to send to a client as it is: code, message and string-valued meta. */
export class TwirpError extends Error {
  readonly code: TwirpCode;
  readonly meta: Record<string, string> | undefined;

  constructor(code: TwirpCode, msg: string, meta?: Record<string, string>, options?: { cause?: unknown }) {
    super(msg, options);
    this.name = 'TwirpError';
    this.code = code;
    this.meta = meta;
  }

  get status(): number {
    return TWIRP_STATUS[this.code];
  }

  /** The spec's JSON error body; never includes the cause (no stack, no SQL). */
  toJSON(): { code: TwirpCode; msg: string; meta?: Record<string, string> } {
    return this.meta === undefined
      ? { code: this.code, msg: this.message }
      : { code: this.code, msg: this.message, meta: this.meta };
  }
}

export const twirpError = {
  badRoute: (msg: string, meta?: Record<string, string>) => new TwirpError('bad_route', msg, meta),
  malformed: (msg: string, cause?: unknown) => new TwirpError('malformed', msg, undefined, { cause }),
  invalidArgument: (argument: string, msg: string) => new TwirpError('invalid_argument', msg, { argument }),
  unavailable: (msg: string, cause?: unknown) => new TwirpError('unavailable', msg, undefined, { cause }),
  resourceExhausted: (msg: string) => new TwirpError('resource_exhausted', msg),
  internal: (msg: string, cause?: unknown) => new TwirpError('internal', msg, undefined, { cause }),
};
