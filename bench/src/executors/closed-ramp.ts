// How the closed model ramps connections. autocannon has a fixed connection count per instance and no stages,
// so a ramp from c0 to c1 is a staircase of autocannon instances: one base instance holds min(c0, c1) for the
// whole stage, and the |c1 - c0| extra connections are split into up to `maxSteps` instances that start
// (ramp up) or stop (ramp down) at evenly spaced times, each at the middle of its slice so the time-averaged
// connection count matches the linear ramp. Instances run side by side, so a step never drops or reconnects
// the connections already open (restarting one instance per step would).
export interface ClosedStep {
  connections: number;
  startMs: number;
  stopMs: number;
}

/** At most one step per second of stage and at most `maxSteps` (default 20) steps. */
export function closedRampPlan(c0: number, c1: number | undefined, durationMs: number, maxSteps = 20): ClosedStep[] {
  const to = c1 ?? c0;
  const base = Math.min(c0, to);
  const plan: ClosedStep[] = [];
  if (base > 0) plan.push({ connections: base, startMs: 0, stopMs: durationMs });
  const delta = Math.abs(to - c0);
  if (delta === 0) return plan;
  const steps = Math.max(1, Math.min(delta, maxSteps, Math.floor(durationMs / 1000)));
  for (let i = 0; i < steps; i++) {
    const connections = Math.floor(delta / steps) + (i < delta % steps ? 1 : 0);
    const at = Math.round((durationMs * (i + 0.5)) / steps);
    plan.push(to > c0 ? { connections, startMs: at, stopMs: durationMs } : { connections, startMs: 0, stopMs: at });
  }
  return plan;
}

/** Connections the plan has open at time t (for tests and the live line). */
export function connectionsAt(plan: ClosedStep[], tMs: number): number {
  let n = 0;
  for (const s of plan) if (tMs >= s.startMs && tMs < s.stopMs) n += s.connections;
  return n;
}
