// Structured logs (pino): secrets redacted, and the ECS trace fields (`trace.id`, `transaction.id`,
// https://www.elastic.co/guide/en/ecs/current/ecs-tracing.html) on every line of a traced request, so a log line
// leads to its APM trace. The fields are bound once per request by the tracing plugin's child logger factory (tracing/tracing-plugin.ts).
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

/** What a line shows of a Fastify request or reply (the fields of Fastify's own serializers; never headers). */
const serializers = {
  req(req: { method?: string; url?: string; host?: string; ip?: string; socket?: { remotePort?: number } }) {
    return { method: req.method, url: req.url, host: req.host, remoteAddress: req.ip, remotePort: req.socket?.remotePort };
  },
  res(reply: { statusCode?: number }) {
    return { statusCode: reply.statusCode };
  },
  err: pino.stdSerializers.err,
};

/** pino options for the service's logger. */
export function loggerOptions(config: { logLevel: string }): LoggerOptions {
  return {
    level: config.logLevel,
    base: { service: 'pageview' },
    redact: { paths: [...REDACT_PATHS], censor },
    serializers,
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

type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
type LogFn = (...args: unknown[]) => void;

/** What Fastify needs of a request's logger (FastifyBaseLogger) and what pino callers commonly read. */
interface ChildCapable {
  level: string;
  isLevelEnabled(level: string): boolean;
  child(bindings: Record<string, unknown>, options?: Record<string, unknown>): ChildCapable;
  bindings?(): Record<string, unknown>;
}

/**
 * A request's logger whose pino child is made on its first enabled line. Fastify makes a child logger for every
 * request, and pino serialises (and redacts) the bindings into a child at creation: about 0.6 µs per request here,
 * for a logger that a request answered without error never writes to. Lines go out exactly as through the child;
 * a level disabled on the parent costs one comparison.
 */
/** Whether an object has an enumerable key, without the array Object.keys() makes (this runs per request). */
function hasKeys(o: Record<string, unknown>): boolean {
  for (const _ in o) return true;
  return false;
}

export class LazyChildLogger {
  private real: ChildCapable | undefined;

  /** `moreBindings` (a traced request's trace fields) join `childBindings` when the child is made. */
  constructor(
    private readonly parent: ChildCapable,
    private readonly childBindings: Record<string, unknown>,
    private readonly childOptions: Record<string, unknown> = {},
    private readonly moreBindings?: Record<string, unknown>,
  ) {
    // A child with its own level or serializers must exist before anyone asks it for its level.
    if (hasKeys(childOptions)) this.real = parent.child(this.allBindings(), childOptions);
  }

  private allBindings(): Record<string, unknown> {
    return this.moreBindings === undefined ? this.childBindings : { ...this.childBindings, ...this.moreBindings };
  }

  private get logger(): ChildCapable {
    return (this.real ??= this.parent.child(this.allBindings(), this.childOptions));
  }

  private enabled(level: LevelName): boolean {
    const l = this.real ?? this.parent;
    // Loggers other than pino (Fastify's null logger, say) need not tell: then the child decides.
    return typeof l.isLevelEnabled !== 'function' || l.isLevelEnabled(level);
  }

  private write(level: LevelName, args: unknown[]): void {
    if (this.enabled(level)) ((this.logger as unknown as Record<LevelName, LogFn>)[level]).apply(this.logger, args);
  }

  get level(): string {
    return (this.real ?? this.parent).level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  isLevelEnabled(level: string): boolean {
    return this.enabled(level as LevelName);
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  silent(): void {}

  child(bindings: Record<string, unknown>, options?: Record<string, unknown>): ChildCapable {
    return this.logger.child(bindings, options);
  }

  bindings(): Record<string, unknown> {
    return this.logger.bindings?.() ?? { ...this.allBindings() };
  }
}
