/**
 * Drift between Snowline's store and the platforms: is the instance still the one the store
 * describes, and is every record the store says a flow wrote still there?
 *
 * A ServiceNow clone replaces the target's data and keeps its URL, and clone data preservers keep
 * instance-specific settings (ServiceNow/ServiceNowDocs
 * markdown/platform-administration/system-clone-landing.md, data-preservation.md): nothing read
 * from the instance says it was cloned. So Snowline reads back its own records instead.
 *
 * - The **store check** runs at the start of every flow run: a sample of what the flow owns (the
 *   newest written, which a restore from an earlier backup loses first, and some drawn at
 *   random) is read back by sys_id. When the whole newest sample is gone, or more than half of
 *   the sample, the store describes another instance (a clone, a restore, a new sandbox, a bulk
 *   delete): the flow's state is forgotten as if the store were new, and the run reconciles in
 *   full (IRE identifies CIs, tickets are found by correlation id, assignments by their keys).
 *   A record or two deleted by a person is not a clone; the verification pass repairs those.
 * - The **verification pass** (`snowline sync --verify`, `flows.<flow>.verify.schedule`) reads
 *   back every record the flow owns (sys_id only, 100 per request) and forgets the entities whose
 *   record is gone, so the run sends them again; each such decision says why.
 */
import type { ServiceNowClient } from '../../servicenow/client.js';
import {
  forgetEntities,
  forgetFlowState,
  forgetEntityKind,
  forgetWatermarks,
  ownedRecordPages,
  sampleOwnedRecords,
  type OwnedRecord,
} from '../../store/models/owned.js';
import type { FlowContext } from './flow.js';

/** What a flow owns on ServiceNow, for the store check and the verification pass. */
export interface OwnedRecords {
  /** Entity kinds whose records the store check samples at the start of every run. */
  readonly check: readonly string[];
  /**
   * Entity kinds whose records the verification pass reads back in full and sends again when
   * gone. A kind the flow already compares with the instance on every run (cloud-tickets reads
   * all its tickets by correlation id) is left out: the flow decides about those itself.
   */
  readonly verify: readonly string[];
  /** True when the flow keeps assessment links, forgotten with its state (cloud-tickets). */
  readonly links?: boolean;
  /**
   * What else the verification pass forgets when a record is gone, so the run does read and send
   * it again: `watermarks` (an incremental source would not deliver an unchanged record again),
   * `entities` (kinds whose hashes cover the gone records: ot-vulnerabilities' per-device CVE lists).
   */
  readonly onMissing?: {
    readonly watermarks?: boolean;
    /** Watermark scopes that record a fact, not a read position, and stay. */
    readonly keepWatermarks?: readonly string[];
    readonly entities?: readonly string[];
  };
}

/** What the store check and the verification pass found, in the flow's summary. */
export interface DriftReport {
  /**
   * `verified`: the sample is on the instance; `unverified`: it is not, and the run reconciled in
   * full; `empty`: the store holds nothing of this flow yet (a first run reconciles in full anyway).
   */
  storeCheck?: 'verified' | 'unverified' | 'empty';
  /** Records read back by the verification pass, and those gone from the instance. */
  verification?: { checked: number; missing: number };
}

/** How many records the store check reads back: the newest written, and some drawn at random. */
export const STORE_CHECK_SAMPLE = { newest: 10, random: 10 } as const;

/**
 * The table to read a record back from: a CI from `cmdb_ci`, since the instance may have moved it
 * to another class since (reclassification keeps its sys_id); anything else from its own table.
 */
function readTable(table: string): string {
  return table.startsWith('cmdb_ci') ? 'cmdb_ci' : table;
}

/** The sys_ids of these records that are still on the instance. */
async function present(servicenow: ServiceNowClient, records: readonly OwnedRecord[]): Promise<Set<string>> {
  const byTable = new Map<string, string[]>();
  for (const r of records) {
    const table = readTable(r.table);
    const sysIds = byTable.get(table) ?? [];
    sysIds.push(r.sysId);
    byTable.set(table, sysIds);
  }
  const found = new Set<string>();
  for (const [table, sysIds] of byTable) {
    for (const row of await servicenow.listWhereIn(table, 'sys_id', sysIds, ['sys_id']))
      found.add(row.sys_id);
  }
  return found;
}

/**
 * The store check of one flow run (see the module comment). In a dry run the finding is in the
 * plan and nothing is forgotten.
 */
export async function checkStore(
  context: FlowContext<unknown>,
  servicenow: ServiceNowClient,
  owned: OwnedRecords,
): Promise<DriftReport['storeCheck']> {
  const scope = { integrationId: context.integrationId, flow: context.flow, entities: owned.check };
  const sample = await sampleOwnedRecords(context.store.db, scope, STORE_CHECK_SAMPLE);
  const all = [...sample.newest, ...sample.random];
  if (all.length === 0) return 'empty';
  const found = await present(servicenow, all);
  const gone = (records: readonly OwnedRecord[]) => records.filter((r) => !found.has(r.sysId));
  const newestGone = gone(sample.newest);
  const allGone = gone(all);
  const unverified =
    (sample.newest.length > 0 && newestGone.length === sample.newest.length) ||
    allGone.length * 2 > all.length;
  if (!unverified) return 'verified';
  const examples = allGone
    .slice(0, 3)
    .map((r) => `${r.table} ${r.sysId}`)
    .join(', ');
  await context.recorder.decide({
    flow: context.flow,
    side: 'servicenow',
    action: 'skip',
    entity: 'store',
    key: context.flow,
    reason: `the instance is not the one the store describes: ${allGone.length} of ${all.length} sampled records ${context.flow} wrote are gone (${examples}; ${newestGone.length} of the ${sample.newest.length} newest) — a clone, a restore, a new instance or a bulk delete; ${
      context.dryRun
        ? 'a real run forgets what the store says of this flow and reconciles in full'
        : 'what the store said of this flow is forgotten and this run reconciles in full'
    }`,
  });
  if (!context.dryRun) {
    await context.recorder.flush();
    await forgetFlowState(
      context.store.db,
      { integrationId: context.integrationId, flow: context.flow },
      {
        links: owned.links === true,
      },
    );
  }
  return 'unverified';
}

/**
 * The verification pass of one flow run (see the module comment): every record of the verified
 * kinds is read back; one that is gone is forgotten, so the flow's run sends it again, and the
 * flow's decision about it carries the reason. A dry run plans that decision instead.
 */
export async function verifyOwned(
  context: FlowContext<unknown>,
  servicenow: ServiceNowClient,
  owned: OwnedRecords,
): Promise<NonNullable<DriftReport['verification']>> {
  const scope = { integrationId: context.integrationId, flow: context.flow, entities: owned.verify };
  let checked = 0;
  const missing: OwnedRecord[] = [];
  for await (const page of ownedRecordPages(context.store.db, scope)) {
    checked += page.length;
    const found = await present(servicenow, page);
    for (const r of page) if (!found.has(r.sysId)) missing.push(r);
  }
  for (const r of missing) {
    const reason = `verification: ${r.table} ${r.sysId} is gone from the instance (deleted there); sent again`;
    if (context.dryRun) {
      await context.recorder.decide({
        flow: context.flow,
        side: 'servicenow',
        action: 'create',
        entity: r.entity,
        key: r.sourceKey,
        target: { table: r.table },
        reason,
      });
    } else context.recorder.noteRepair(r.entity, r.sourceKey, reason);
  }
  if (!context.dryRun && missing.length > 0) {
    const ref = { integrationId: context.integrationId, flow: context.flow };
    if (owned.onMissing?.watermarks)
      await forgetWatermarks(context.store.db, ref, owned.onMissing.keepWatermarks ?? []);
    for (const entity of owned.onMissing?.entities ?? [])
      await forgetEntityKind(context.store.db, { ...ref, entity });
    for (const entity of owned.verify) {
      const keys = missing.filter((r) => r.entity === entity).map((r) => r.sourceKey);
      if (keys.length > 0)
        await forgetEntities(
          context.store.db,
          { integrationId: context.integrationId, flow: context.flow, entity },
          keys,
        );
    }
  }
  return { checked, missing: missing.length };
}
