import type { Flow } from '../../domain/flows.js';
import type { RunTrigger } from '../../store/models/runs.js';
import type { RunResult } from './runner.js';

/** A request to run (or dry-run) flows of one integration, from the scheduler, the API or the dashboard. */
export interface RunRequest {
  readonly integrationId: string;
  /** Flows to run, always in dependency order; every enabled flow when omitted. */
  readonly flows?: readonly Flow[];
  /** Read and plan only: nothing is written anywhere. */
  readonly dryRun: boolean;
  /** A verification run: each flow first reads back what it owns (src/sync/kernel/drift.ts). */
  readonly verify?: boolean;
  readonly trigger: RunTrigger;
}

/**
 * What became of a {@link RunRequest}: run here and finished (a dry run always is, so its plan
 * can be shown), or handed to the job queue for a worker (scale-out on PostgreSQL).
 */
export type RunTicket =
  | { readonly kind: 'done'; readonly result: RunResult }
  | { readonly kind: 'queued'; readonly jobIds: readonly string[] };

/**
 * Where runs go. The single-process runtime runs them in-process, one run of a flow at a time
 * per integration; the scale-out runtime sends them to pg-boss for `snowline worker` processes.
 * The scheduler, the HTTP API and the dashboard only know this interface.
 */
export interface RunDispatcher {
  dispatch(request: RunRequest): Promise<RunTicket>;
  /** Stops taking work and waits for what is in flight to finish or checkpoint. */
  close(): Promise<void>;
}
