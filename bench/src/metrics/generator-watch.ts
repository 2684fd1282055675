// The load generator watches itself (issue 17): a stage's figures are only the service's if the bench kept up.
// Per stage it records its own event-loop delay (perf_hooks.monitorEventLoopDelay), GC pauses (a 'gc'
// PerformanceObserver), how busy its event loop was (performance.eventLoopUtilization) and, in the open model,
// the schedule lag (how late each arrival was written after its slot, recorded by the stage recorder). From
// these it states the stage's latency floor (the delay the generator itself can add at p99) and whether it was
// saturated (then the stage's latency says more about the bench than the service, and the summary says so).
import { monitorEventLoopDelay, performance, PerformanceObserver, type EventLoopUtilization, type IntervalHistogram } from 'node:perf_hooks';
import type { LatencyHistogram } from './latency-histogram';

export interface GeneratorStats {
  event_loop_delay_ms: { p50: number; p99: number; max: number };
  gc_pause_ms: { total: number; max: number; count: number };
  /** open model only: arrivals written this late after their slot */
  schedule_lag_ms: { p50: number; p99: number; max: number } | null;
  /** share of the stage the bench's event loop was busy (0..1) */
  loop_utilization: number;
  /** the delay the generator itself adds at p99 (ms): a p99 near it is the bench's, not the service's */
  latency_floor_ms: number;
  saturated: boolean;
  /** why it counts as saturated (empty when not) */
  saturated_because: string[];
}

/** Arrivals written later than this at p99 mean the open model could not keep its schedule. */
export const SATURATED_LAG_P99_MS = 5;
/** An event loop busy more than this share of the stage has no headroom left for the schedule. */
export const SATURATED_UTILIZATION = 0.9;
/** The loop itself stalling this long at p99 (closed model: requests wait for the bench, not the server). */
export const SATURATED_LOOP_DELAY_P99_MS = 20;

/** The loop-delay timer's resolution (ms): fine enough to see a stall, coarse enough to cost nothing. */
const RESOLUTION_MS = 20;

export class GeneratorWatch {
  private readonly loop: IntervalHistogram;
  private readonly gc: PerformanceObserver;
  private gcTotal = 0;
  private gcMax = 0;
  private gcCount = 0;
  private readonly elu0: EventLoopUtilization;
  private stopped: GeneratorStats | null = null;

  constructor() {
    this.loop = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    this.loop.enable();
    this.gc = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        this.gcTotal += e.duration;
        this.gcCount++;
        if (e.duration > this.gcMax) this.gcMax = e.duration;
      }
    });
    this.gc.observe({ entryTypes: ['gc'] });
    this.elu0 = performance.eventLoopUtilization();
  }

  /** Ends the watch and judges the stage; `lag` is the open model's schedule-lag histogram. Idempotent. */
  stop(lag: LatencyHistogram | null): GeneratorStats {
    if (this.stopped) return this.stopped;
    this.loop.disable();
    this.gc.disconnect();
    const elu = performance.eventLoopUtilization(this.elu0);
    // the histogram holds the time between its timer's runs (ns), so the delay is what exceeds the resolution
    const ns = (v: number) => round3(Math.max(0, v / 1e6 - RESOLUTION_MS));
    const delay = this.loop.count > 0
      ? { p50: ns(this.loop.percentile(50)), p99: ns(this.loop.percentile(99)), max: ns(this.loop.max) }
      : { p50: 0, p99: 0, max: 0 };
    const lagMs = lag && lag.count > 0
      ? { p50: lag.percentileMs(50), p99: lag.percentileMs(99), max: lag.summary().max }
      : lag ? { p50: 0, p99: 0, max: 0 } : null;
    const why: string[] = [];
    if (lagMs && lagMs.p99 > SATURATED_LAG_P99_MS) why.push(`schedule lag p99 ${lagMs.p99} ms > ${SATURATED_LAG_P99_MS} ms`);
    if (elu.utilization > SATURATED_UTILIZATION) why.push(`event loop busy ${Math.round(elu.utilization * 100)}% of the stage`);
    if (delay.p99 > SATURATED_LOOP_DELAY_P99_MS) why.push(`event-loop delay p99 ${delay.p99} ms > ${SATURATED_LOOP_DELAY_P99_MS} ms`);
    this.stopped = {
      event_loop_delay_ms: delay,
      gc_pause_ms: { total: round3(this.gcTotal), max: round3(this.gcMax), count: this.gcCount },
      schedule_lag_ms: lagMs,
      loop_utilization: Math.round(elu.utilization * 1000) / 1000,
      // a request can be written late (the lag) and its answer read late (the loop's own delay)
      latency_floor_ms: round3((lagMs ? lagMs.p99 : 0) + delay.p99),
      saturated: why.length > 0,
      saturated_because: why,
    };
    this.loop.reset();
    return this.stopped;
  }
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
