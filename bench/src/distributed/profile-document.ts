// A validated Profile written back in the profile file's own form (durations as "1500ms", every default spelled
// out), so the profile a coordinator resolved (overrides applied) can travel to workers and into a Kubernetes
// ConfigMap and be validated again on arrival by the same loader as any profile file: one parser, one validator.
import type { Profile } from '../types';

export interface ProfileDocument {
  name: string;
  description: string;
  abortOnFail: boolean;
  breakpoint: boolean;
  thresholds: string[];
  request: Record<string, unknown>;
  stages: Record<string, unknown>[];
}

export function profileDocument(p: Profile): ProfileDocument {
  const request: Record<string, unknown> = {
    properties: [...p.request.properties],
    sections: p.request.sections,
    ids: p.request.ids,
    invalidShare: p.request.invalidShare,
    seed: p.request.seed,
    contentType: p.request.contentType,
    timeout: `${p.request.timeoutMs}ms`,
  };
  if (p.request.traceSampleRate !== undefined) request.traceSampleRate = p.request.traceSampleRate;
  return {
    name: p.name,
    description: p.description,
    abortOnFail: p.abortOnFail,
    breakpoint: p.breakpoint,
    thresholds: p.thresholds.map((t) => t.expr),
    request,
    stages: p.stages.map((s) => {
      const out: Record<string, unknown> = { name: s.name, duration: `${s.durationMs}ms` };
      if (s.model === 'closed') out.connections = s.connections;
      else out.rate = s.rate;
      if (s.rampTo !== undefined) out.rampTo = s.rampTo;
      if (s.model === 'open' && s.maxInFlight !== undefined) out.maxInFlight = s.maxInFlight;
      if (s.model === 'open' && s.maxConnections !== undefined) out.maxConnections = s.maxConnections;
      out.thresholds = s.thresholds.map((t) => t.expr);
      return out;
    }),
  };
}
