import type { Clock } from '../../domain/clock.js';
import type { Flow, FlowSummary } from '../../domain/flows.js';
import type { PlanAction, PlanActionKind } from '../../domain/plan.js';
import type { EntityStateUpdate } from '../../store/models/entity-state.js';
import { ledgerEntryFor, type LedgerEntry } from '../../store/models/ledger.js';
import type { LinkUpdate } from '../../store/models/links.js';
import { commitRecords } from '../../store/models/records.js';
import type { Store } from '../../store/store.js';

/** The summary counters a decision can count toward. */
export type DecisionCounter = 'created' | 'updated' | 'retired' | 'resolved' | 'deleted' | 'errors';

/** The counters every flow summary carries, derived from the decisions recorded. */
export type DecisionCounts = Pick<FlowSummary, DecisionCounter>;

/**
 * Which counter a decision counts toward, by its kind: what every flow uses unless it says
 * otherwise (cloud-tickets, for instance, counts tickets as created and assignments apart).
 */
export function defaultCounter(action: Pick<PlanAction, 'action'>): DecisionCounter | undefined {
  const byKind: Partial<Record<PlanActionKind, DecisionCounter>> = {
    create: 'created',
    update: 'updated',
    revive: 'updated',
    reopen: 'updated',
    retire: 'retired',
    resolve: 'resolved',
    delete: 'deleted',
    error: 'errors',
  };
  return byKind[action.action];
}

/** What a decision leaves behind in the store besides its ledger event. */
export interface DecisionRecords {
  /** Entity states per entity kind (`device`, `ticket`, `governanceAssignment`…). */
  readonly states?: Readonly<Record<string, readonly EntityStateUpdate[]>>;
  readonly links?: readonly LinkUpdate[];
}

/** How the ledger event of a decision differs from the plain plan action. */
export interface EventDetail {
  /** The remote id written (defaults to the action's target id). */
  readonly remoteId?: string | null;
  readonly detail?: unknown;
}

/** How often the recorder commits: after this many queued records, or this long after the first. */
export interface CommitBatch {
  readonly records: number;
  readonly intervalMs: number;
}

/** Options of a {@link Recorder}. */
export interface RecorderOptions {
  readonly flow: Flow;
  readonly integrationId: string;
  readonly runId: string | null;
  readonly store: Store;
  readonly clock: Clock;
  /** Read and plan only: nothing is written, every decision is kept as the plan. */
  readonly dryRun: boolean;
  /**
   * Keep every decision in {@link Recorder.plan} in a real run too: only for an explicit request
   * whose output is the plan (a ticket created by hand through the API or CLI). A flow run never
   * does: its decisions are in the ledger, and holding one action per entity of a large estate
   * in memory as well would grow with the estate.
   */
  readonly keepPlan?: boolean;
  /** Which counter a decision counts toward; {@link defaultCounter} when omitted. */
  readonly countAs?: (action: PlanAction) => DecisionCounter | undefined;
  /** When to commit; the store's setting (`store.commitBatch`) when omitted. */
  readonly commitBatch?: CommitBatch;
}

/**
 * The one place where a flow's decisions become a plan, a ledger and entity state.
 *
 * Every decision goes through {@link decide}: it is counted (the summary's created / updated /
 * retired / resolved / deleted / errors come from here, never from hand-kept counters), kept in
 * the plan when the run is dry (or the caller asked for the plan), and — in a real run, after its
 * remote write succeeded — queued with the entity states and links it leaves behind. Queued
 * records are committed in batches, in one fenced transaction each ({@link commitRecords}),
 * when the batch is full or old enough, before any read of the flow's own state that depends on
 * them ({@link flush}), and at the end of the run. A crash loses at most the last batch of
 * records, never a remote write: every write is idempotent on replay (IRE, correlation ids,
 * assignment keys), so the next run finds what was written and records it then.
 *
 * @example
 * await recorder.decide(
 *   { flow, side: 'servicenow', action: 'create', entity: 'ticket', key, reason, target },
 *   { states: { ticket: [state] }, links: [link] },
 * );
 * await recorder.flush(); // before advancing a watermark past what was decided
 */
export class Recorder {
  /** The decisions of a dry run (or of a run that asked to keep them); empty otherwise. */
  readonly plan: PlanAction[] = [];
  private readonly counts: DecisionCounts = {
    created: 0,
    updated: 0,
    retired: 0,
    resolved: 0,
    deleted: 0,
    errors: 0,
  };
  private readonly tallies = new Map<string, number>();
  private readonly keepsPlan: boolean;
  private readonly batch: CommitBatch;
  /** Queued entity states per entity kind, one merged update per key (a later update wins field by field). */
  private states = new Map<string, Map<string, EntityStateUpdate>>();
  private links: LinkUpdate[] = [];
  private events: LedgerEntry[] = [];
  private queued = 0;
  private firstQueuedAt: number | undefined;
  private committing: Promise<void> = Promise.resolve();
  /** Why an entity is decided about again (the verification pass found its record gone), by entity and key. */
  private readonly repairs = new Map<string, string>();

  constructor(private readonly options: RecorderOptions) {
    this.keepsPlan = options.dryRun || options.keepPlan === true;
    this.batch = options.commitBatch ?? options.store.commitBatch;
  }

  /** True when nothing is written: the run only reads and plans. */
  get dryRun(): boolean {
    return this.options.dryRun;
  }

  /**
   * Records one decision: counts it, keeps it in the plan when the plan is kept and, in a real
   * run, queues its ledger event with the records it leaves behind (committed in batches).
   */
  async decide(planned: PlanAction, records: DecisionRecords = {}, event: EventDetail = {}): Promise<void> {
    const repair = this.repairs.get(`${planned.entity}\u241f${planned.key}`);
    if (repair) this.repairs.delete(`${planned.entity}\u241f${planned.key}`);
    const action = repair ? { ...planned, reason: `${repair}: ${planned.reason}` } : planned;
    const counter = (this.options.countAs ?? defaultCounter)(action);
    if (counter) this.counts[counter] += 1;
    const tally = `${action.entity}\u241f${action.action}`;
    this.tallies.set(tally, (this.tallies.get(tally) ?? 0) + 1);
    if (this.keepsPlan) this.plan.push(action);
    if (this.options.dryRun) return;
    const entry = ledgerEntryFor(action, event.remoteId);
    this.events.push(event.detail === undefined ? entry : { ...entry, detail: event.detail });
    this.queued += 1;
    this.queue(records);
    await this.flushIfDue();
  }

  /**
   * Says why the next decision about this entity is made: the verification pass forgot it because
   * its record is gone from the instance, and the decision (the flow sending it again) says so.
   */
  noteRepair(entity: string, key: string, reason: string): void {
    this.repairs.set(`${entity}\u241f${key}`, reason);
  }

  /**
   * Records state that is not a decision of its own (an entity seen again unchanged, a memory
   * updated between decisions). Nothing in a dry run.
   */
  async save(records: DecisionRecords): Promise<void> {
    if (this.options.dryRun) return;
    this.queue(records);
    await this.flushIfDue();
  }

  /**
   * Commits everything queued. Call it before reading back state this run recorded, and before
   * advancing a watermark past what was decided; the kernel calls it at the end of every run.
   */
  async flush(): Promise<void> {
    // Commits run one after another: a later batch may update what an earlier one inserted.
    const run = this.committing.then(() => this.commit());
    this.committing = run.catch(() => undefined);
    await run;
  }

  /**
   * The state queued for one entity and not committed yet (undefined when none): reads of the
   * flow's own state overlay it, so a run always reads what it recorded, committed or not.
   */
  pendingState(entity: string, sourceKey: string): EntityStateUpdate | undefined {
    return this.states.get(entity)?.get(sourceKey);
  }

  /** The standard counters of the run, from the decisions recorded. */
  decisionCounts(): DecisionCounts {
    return { ...this.counts };
  }

  /** How many decisions of this kind on this entity were recorded. */
  tally(entity: string, action: PlanActionKind): number {
    return this.tallies.get(`${entity}\u241f${action}`) ?? 0;
  }

  private queue(records: DecisionRecords): void {
    for (const [entity, updates] of Object.entries(records.states ?? {})) {
      const byKey = this.states.get(entity) ?? new Map<string, EntityStateUpdate>();
      this.states.set(entity, byKey);
      for (const update of updates) {
        const earlier = byKey.get(update.sourceKey);
        byKey.set(update.sourceKey, earlier ? mergeUpdate(earlier, update) : update);
        this.queued += 1;
      }
    }
    for (const link of records.links ?? []) {
      this.links.push(link);
      this.queued += 1;
    }
    if (this.queued > 0 && this.firstQueuedAt === undefined) this.firstQueuedAt = Date.now();
  }

  private async flushIfDue(): Promise<void> {
    if (this.queued === 0) return;
    const old = this.firstQueuedAt !== undefined && Date.now() - this.firstQueuedAt >= this.batch.intervalMs;
    if (this.queued >= this.batch.records || old) await this.flush();
  }

  private async commit(): Promise<void> {
    if (this.queued === 0) return;
    const states = [...this.states].map(([entity, byKey]) => ({
      ref: { integrationId: this.options.integrationId, flow: this.options.flow, entity },
      updates: [...byKey.values()],
    }));
    const links = this.links;
    const events = this.events;
    this.states = new Map();
    this.links = [];
    this.events = [];
    this.queued = 0;
    this.firstQueuedAt = undefined;
    await commitRecords(
      this.options.store.db,
      this.options.clock,
      { integrationId: this.options.integrationId, runId: this.options.runId },
      { states, links, events },
    );
  }
}

/** Two updates of one entity state as one: the later one's set fields over the earlier one's. */
function mergeUpdate(earlier: EntityStateUpdate, later: EntityStateUpdate): EntityStateUpdate {
  const merged: Record<string, unknown> = { ...earlier };
  for (const [field, value] of Object.entries(later)) if (value !== undefined) merged[field] = value;
  return merged as unknown as EntityStateUpdate;
}
