// A cause per stage: every rule looks at the stage's evidence and says one sentence or nothing. The order is the
// order a reader needs them in: the service gone, then why requests failed, then why they were slow or dropped,
// then the bench's own limits.
import type { Diagnosis, Rule, StageEvidence } from './evidence';
import { serviceStopped } from './service-stopped';
import { tooManyConnections } from './mysql-too-many-connections';
import { bufferFull } from './buffer-full';
import { slowFlush } from './slow-flush';
import { droppedArrivals } from './dropped-arrivals';
import { generatorSaturated } from './generator-saturated';

export const RULES: readonly Rule[] = [serviceStopped, tooManyConnections, bufferFull, slowFlush, droppedArrivals, generatorSaturated];

export function diagnose(e: StageEvidence): Diagnosis[] {
  const out: Diagnosis[] = [];
  for (const rule of RULES) {
    try {
      const d = rule(e);
      if (d) out.push(d);
    } catch {
      // a rule that trips over odd evidence says nothing rather than breaking the run's summary
    }
  }
  return out;
}

export type { Diagnosis, StageEvidence } from './evidence';
