/**
 * The five flows, in dependency order (ot-vulnerabilities and ot-alerts need the CIs ot-inventory
 * writes).
 */
export const FLOWS = [
  'ot-inventory',
  'ot-vulnerabilities',
  'cloud-tickets',
  'ticket-sync',
  'ot-alerts',
] as const;

/** One of Snowline's flows. */
export type Flow = (typeof FLOWS)[number];

/** True when `name` is a known flow. */
export function isFlow(name: string): name is Flow {
  return (FLOWS as readonly string[]).includes(name);
}

/** Which side of the integration a change is made on. */
export type Side = 'servicenow' | 'defender' | 'local';

/** How a flow run ended. `deferred` is a success: a rate limit moved the rest to `retryAt`. */
export type RunOutcome = 'ok' | 'deferred' | 'failed';

/**
 * What one flow did in one run: the `--json` summary every flow prints (later flows add keys,
 * e.g. ot-vulnerabilities' opened / closed / reopened / pending).
 */
export interface FlowSummary {
  outcome: RunOutcome;
  /** When a deferred run resumes (ISO 8601), else null. */
  retryAt: string | null;
  created: number;
  updated: number;
  unchanged: number;
  retired: number;
  resolved: number;
  deleted: number;
  errors: number;
  retries: number;
  requests: { servicenow: number; defender: number };
  durationMs: number;
  /**
   * The part of a flow split across workers this summary is of (`plan`, `sensor:<name>`,
   * `sweep`: docs/scale-out.md); absent for a whole flow.
   */
  part?: string;
  /**
   * The parts a split flow's plan part found to run next (ot-vulnerabilities from Resource Graph:
   * one per sensor Resource Graph lists); absent when the configuration names them.
   */
  parts?: readonly string[];
  /** Flow-specific counters. */
  [extra: string]: unknown;
}

/** The summary of one `snowline sync` (or demo) run across its flows. */
export interface SyncSummary {
  runId: string;
  jobs: Partial<Record<Flow, FlowSummary>>;
}

/** A summary with every counter at zero, to be filled in by a flow. */
export function emptyFlowSummary(): FlowSummary {
  return {
    outcome: 'ok',
    retryAt: null,
    created: 0,
    updated: 0,
    unchanged: 0,
    retired: 0,
    resolved: 0,
    deleted: 0,
    errors: 0,
    retries: 0,
    requests: { servicenow: 0, defender: 0 },
    durationMs: 0,
  };
}
