// One log line for every request slower than LOG_SLOW_REQUEST_MS or answered with an error, so a request the APM
// did not sample can still be found: the line carries the request's ECS `trace.id` (the request logger binds it,
// tracing.ts), which the bench prints beside its slowest and failed requests. Lines are bounded by
// LOG_REQUESTS_PER_SECOND; what the budget leaves out is counted and reported on the next line that goes out, so
// an outage at full request rate cannot turn into a log flood.

export interface RequestLogConfig {
  /** A request at least this slow (ms) is logged; errors are logged whatever their duration. */
  slowMs: number;
  /** Most lines a second; 0 = none. */
  perSecond: number;
}

interface LineLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
  info(obj: Record<string, unknown>, msg: string): void;
}

export class RequestLog {
  private windowStart = 0;
  private inWindow = 0;
  private suppressed = 0;

  constructor(private readonly cfg: RequestLogConfig) {}

  /** Whether a request of this duration and status gets a line (one comparison for the common fast 2xx). */
  wants(ms: number, status: number): boolean {
    return status >= 400 || ms >= this.cfg.slowMs;
  }

  /**
   * Logs one request; `log` is its request logger (so the line has its trace.id). The caller has checked wants().
   * 5xx and 429 (the service's own failures) and slow requests are warnings; other 4xx (the caller's mistakes) info.
   */
  write(log: LineLogger, method: string, route: string, status: number, twirpCode: string | null, ms: number, now = performance.now()): void {
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.inWindow = 0;
    }
    if (this.inWindow >= this.cfg.perSecond) {
      this.suppressed++;
      return;
    }
    this.inWindow++;
    const line: Record<string, unknown> = {
      'http.request.method': method,
      'url.path': route,
      'http.response.status_code': status,
      twirp_code: twirpCode ?? undefined,
      'event.duration': Math.round(ms * 1e6),
      duration_ms: Math.round(ms * 1000) / 1000,
    };
    if (this.suppressed > 0) {
      line.suppressed_lines = this.suppressed;
      this.suppressed = 0;
    }
    const failed = status >= 400;
    if (failed && status < 500 && status !== 429) log.info(line, 'request failed');
    else log.warn(line, failed ? 'request failed' : 'slow request');
  }
}
