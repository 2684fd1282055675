// Structured logs (pino): secrets redacted, and the ECS trace fields (`trace.id`, `transaction.id`,
// https://www.elastic.co/guide/en/ecs/current/ecs-tracing.html) on every line of a traced request, so a log line
// leads to its APM trace. The fields are bound once per request by tracing.ts's child logger factory.
import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

/** Paths whose values never reach a log line. URL-valued ones keep their shape with the password masked. */
export const REDACT_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["proxy-authorization"]',
  'headers.cookie',
  'password',
  '*.password',
  'secretToken',
  '*.secretToken',
  'apiKey',
  '*.apiKey',
  'mysqlUrl',
  '*.mysqlUrl',
  'MYSQL_URL',
  '*.MYSQL_URL',
  'url',
  '*.url',
];

const URL_KEYS = new Set(['mysqlUrl', 'MYSQL_URL', 'url']);

export const REDACTED = '[redacted]';

/** `mysql://user:secret@host/db` -> `mysql://user:***@host/db`; anything unparsable is kept only if it has no '@'. */
export function redactUrl(value: string): string {
  try {
    const u = new URL(value);
    if (u.password === '' && u.username === '') return value;
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return value.includes('@') ? REDACTED : value;
  }
}

function censor(value: unknown, path: string[]): unknown {
  const key = path[path.length - 1] ?? '';
  if (URL_KEYS.has(key)) return typeof value === 'string' ? redactUrl(value) : value;
  return REDACTED;
}

/** pino options for the service's logger (Fastify's `logger` option). */
export function loggerOptions(config: { logLevel: string }): LoggerOptions {
  return {
    level: config.logLevel,
    base: { service: 'pageview' },
    redact: { paths: [...REDACT_PATHS], censor },
  };
}

/** A logger with the service's options; tests pass a destination stream to read the lines back. */
export function createLogger(config: { logLevel: string }, destination?: DestinationStream): Logger {
  const options = loggerOptions(config);
  return destination === undefined ? pino(options) : pino(options, destination);
}

/** The ECS fields that tie a line to its trace; `transaction.id` only when a transaction was opened. */
export function traceLogFields(t: { traceId: string; transactionId: string | undefined }): Record<string, string> {
  return t.transactionId === undefined
    ? { 'trace.id': t.traceId }
    : { 'trace.id': t.traceId, 'transaction.id': t.transactionId };
}
