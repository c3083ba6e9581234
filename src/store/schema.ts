import type { Generated, Insertable, Selectable } from 'kysely';

/*
 * Table types of the state store. Both SQLite and PostgreSQL hold the same shapes: times are
 * ISO 8601 UTC text (sortable, identical on both), booleans are 0/1 integers, structured
 * values are JSON text. Every table carries integration_id from the first migration so that
 * several integrations share one store without ever seeing each other's rows.
 */

/** One run of one or more flows for one integration. */
export interface RunTable {
  id: string;
  integration_id: string;
  /** What started it: `cli`, `schedule`, `api`, `demo`, `webhook`, `resume`. */
  trigger: string;
  dry_run: number;
  /** `running`, `ok`, `deferred`, `failed`. */
  status: string;
  started_at: string;
  finished_at: string | null;
  retry_at: string | null;
  /** The {@link SyncSummary} as JSON, once finished. */
  summary: string | null;
  error: string | null;
  worker: string | null;
}

/** What one flow did within a run: the counters of its summary. */
export interface RunFlowTable {
  run_id: string;
  integration_id: string;
  flow: string;
  outcome: string;
  created: number;
  updated: number;
  unchanged: number;
  retired: number;
  resolved: number;
  deleted: number;
  errors: number;
  retries: number;
  requests_servicenow: number;
  requests_defender: number;
  duration_ms: number;
  retry_at: string | null;
  /** Flow-specific counters, JSON. */
  extra: string | null;
}

/** One synced entity: where it lives on the remote side and the hash of what was last written. */
export interface EntityStateTable {
  integration_id: string;
  flow: string;
  /** Kind of entity: `sensor`, `device`, `detection`, `ticket`… */
  entity: string;
  /** Stable key on the source side. */
  source_key: string;
  remote_table: string | null;
  remote_sys_id: string | null;
  /** Hash of the content last written; an equal hash means nothing to send. */
  content_hash: string | null;
  last_seen_at: string | null;
  last_written_at: string | null;
  retired_at: string | null;
  /** Flow-specific state, JSON (e.g. a ticket's last known state and owner). */
  data: string | null;
}

/** Append-only record of every decision and write on either side. */
export interface LedgerEventTable {
  id: Generated<number>;
  run_id: string | null;
  integration_id: string;
  flow: string;
  side: string;
  action: string;
  entity: string;
  entity_key: string;
  remote_id: string | null;
  reason: string;
  worker: string | null;
  partition_key: string | null;
  lease_epoch: number | null;
  at: string;
  /** Extra detail, JSON (changed fields, error code…). */
  detail: string | null;
}

/** An assessment linked to the ticket that covers it and the governance assignment that points at the ticket. */
export interface LinkTable {
  integration_id: string;
  assessment_id: string;
  subscription_id: string | null;
  ticket_table: string | null;
  ticket_sys_id: string | null;
  ticket_number: string | null;
  correlation_id: string | null;
  governance_assignment_id: string | null;
  /** 1 for a ticket adopted from Defender's own ServiceNow integration (found by sys_id, not correlation id). */
  adopted: Generated<number>;
  created_at: string;
  updated_at: string;
}

/** How far a flow has read an incremental source (per scope: a sensor, a table, a console). */
export interface WatermarkTable {
  integration_id: string;
  flow: string;
  scope: string;
  value: string;
  updated_at: string;
}

/** Work that could not be done yet: a run deferred by a rate limit (with its checkpoint), pending records. */
export interface DeferredWorkTable {
  id: string;
  integration_id: string;
  flow: string;
  partition_key: string;
  kind: string;
  payload: string | null;
  not_before: string;
  attempts: number;
  created_at: string;
  updated_at: string;
}

/** Counts the dashboard charts over time, taken once per finished run (see the dashboard_snapshot migration). */
export interface DashboardSnapshotTable {
  integration_id: string;
  run_id: string;
  taken_at: string;
  /** The counts, JSON. */
  data: string;
}

/** The store's tables, as Kysely sees them. */
export interface Database {
  run: RunTable;
  run_flow: RunFlowTable;
  entity_state: EntityStateTable;
  ledger_event: LedgerEventTable;
  link: LinkTable;
  watermark: WatermarkTable;
  deferred_work: DeferredWorkTable;
  dashboard_snapshot: DashboardSnapshotTable;
  ledger_retention: LedgerRetentionTable;
  run_scratch: RunScratchTable;
}

/** A scratch row of one flow run (`src/store/models/scratch.ts`); gone when the run ends. */
export interface RunScratchTable {
  scratch_id: string;
  integration_id: string;
  flow: string;
  kind: string;
  key: string;
  seq: Generated<number>;
  sort_key: string | null;
  data: string | null;
  created_at: string;
}

/** The one row that says before when ledger events may be pruned (the database refuses the rest). */
export interface LedgerRetentionTable {
  id: number;
  prune_before: string;
}

export type RunRow = Selectable<RunTable>;
export type RunFlowRow = Selectable<RunFlowTable>;
export type EntityStateRow = Selectable<EntityStateTable>;
export type LedgerEventRow = Selectable<LedgerEventTable>;
export type NewLedgerEvent = Insertable<LedgerEventTable>;
export type LinkRow = Selectable<LinkTable>;
export type WatermarkRow = Selectable<WatermarkTable>;
export type DeferredWorkRow = Selectable<DeferredWorkTable>;
