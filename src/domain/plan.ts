import type { Flow, Side } from './flows.js';

/**
 * What a flow decides to do to one entity. `skip` and `error` are decisions too: they are
 * recorded so that every record a source delivered is accounted for. `adopt` takes over a record
 * another tool made (Defender's own ServiceNow integration, say) without writing to it.
 */
export type PlanActionKind =
  'create' | 'update' | 'adopt' | 'retire' | 'revive' | 'resolve' | 'reopen' | 'delete' | 'skip' | 'error';

/** One field that changes, with its value before and after (strings, as ServiceNow stores them). */
export interface FieldChange {
  readonly field: string;
  readonly from: string | null;
  readonly to: string | null;
}

/** One decision of a plan: what, where, on which entity, and why. */
export interface PlanAction {
  readonly flow: Flow;
  readonly side: Side;
  readonly action: PlanActionKind;
  /** Kind of entity in the users' words: `sensor`, `site`, `device`, `connection`, `detection`, `ticket`, `governanceAssignment`. */
  readonly entity: string;
  /** The stable key of the entity on its source side (e.g. the Defender device id, the assessment id). */
  readonly key: string;
  /** Where the change lands: a ServiceNow table (and sys_id once known), or a Defender resource id. */
  readonly target?: { readonly table?: string; readonly id?: string };
  /** Why: a sentence a person can read in the dashboard or `--dry-run` output. */
  readonly reason: string;
  /** For updates: the fields that change. */
  readonly changes?: readonly FieldChange[];
}

/**
 * The one plan type. `--dry-run`, the API and the dashboard show it; a real run executes it,
 * and the ledger events of that run equal it (see {@link planActionKey}).
 */
export interface Plan {
  readonly integrationId: string;
  readonly createdAt: string;
  readonly actions: readonly PlanAction[];
}

/** Per-action counts of a plan, in the order a person reads them. */
export type PlanCounts = Record<PlanActionKind, number>;

/**
 * Counts the actions of a plan by kind.
 *
 * @example
 * countPlan(plan).create // number of records that would be created
 */
export function countPlan(plan: Pick<Plan, 'actions'>): PlanCounts {
  const counts: PlanCounts = {
    create: 0,
    update: 0,
    adopt: 0,
    retire: 0,
    revive: 0,
    resolve: 0,
    reopen: 0,
    delete: 0,
    skip: 0,
    error: 0,
  };
  for (const action of plan.actions) counts[action.action] += 1;
  return counts;
}

/**
 * The identity of a decision, independent of when it was made: the same string for a plan
 * action and for the ledger event recording its execution. Comparing the multisets of these
 * keys is how tests check that a run did exactly what its dry run said.
 */
export function planActionKey(
  action: Pick<PlanAction, 'flow' | 'side' | 'action' | 'entity' | 'key'>,
): string {
  return [action.flow, action.side, action.action, action.entity, action.key].join('\u241f');
}
