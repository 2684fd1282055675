// Logger options in one place (Fastify's pino logger). Kept minimal here; ECS fields and trace correlation are
// added by the observability layer.
import type { LoggerOptions } from 'pino';

export function loggerOptions(config: { logLevel: string }): LoggerOptions {
  return {
    level: config.logLevel,
    base: { service: 'pageview' },
  };
}
