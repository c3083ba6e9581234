/**
 * Drift between the store and the platforms (docs/reliability.md, "When the store and the
 * platforms disagree"): for every flow, a store that describes another instance (a clone, a
 * restore from backup), a lost store, and records deleted on the instance all end in the clean
 * run's state on both sides, with no duplicate, and the run after writes nothing.
 */
import Database from 'better-sqlite3';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import type { Flow, FlowSummary } from '../../src/domain/flows.js';
import { openStore } from '../../src/store/store.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { createDefenderSources } from '../../src/sources/index.js';
import { signInPerson, startSandboxes, writeCounts, type Sandboxes } from '../support/sandboxes.js';
import { runOnce, type RunOnceOptions } from '../support/sync.js';
import {
  caseConfig,
  cleanRun,
  canonicalState,
  duplicateKeys,
  expectOk,
  FLOW_CASES,
  prepareCase,
  reliabilityDevices,
  resetSandboxes,
  SCENARIO_TIMEOUT_MS,
  syncInProcess,
  type CanonicalState,
  type FlowCase,
} from './support.js';

const dir = mkdtempSync(join(tmpdir(), 'snowline-rel-drift-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One run of `flows` in this process (`snowline sync [--verify] [--dry-run]`), its summary and plan. */
async function runOnceAt(loaded: LoadedConfig, flows: readonly Flow[], options: RunOnceOptions = {}) {
  const store = await openStore(loaded.config.store.url);
  try {
    await store.migrate();
    return await runOnce(loaded, store, { ...options, only: flows });
  } finally {
    await store.close();
  }
}

/** The summaries of {@link runOnceAt}. */
async function sync(
  loaded: LoadedConfig,
  flows: readonly Flow[],
  options: RunOnceOptions = {},
): Promise<Partial<Record<Flow, FlowSummary>>> {
  return (await runOnceAt(loaded, flows, options)).summary.jobs;
}

/** Equal to the clean run's state, without a duplicate, and nothing left to write after. */
async function expectConverged(
  sandboxes: Sandboxes,
  flowCase: FlowCase,
  loaded: LoadedConfig,
  clean: Awaited<ReturnType<typeof cleanRun>>,
  options: { tables?: readonly string[] } = {},
): Promise<void> {
  const only = (state: CanonicalState): CanonicalState =>
    options.tables
      ? {
          ...state,
          servicenow: Object.fromEntries(options.tables.map((t) => [t, state.servicenow[t]!])),
        }
      : state;
  const after = only(await canonicalState(sandboxes, flowCase));
  clean = { ...clean, state: only(clean.state) };
  expect(duplicateKeys(after)).toEqual([]);
  expect(after.orphanAssignments).toEqual([]);
  expect(after).toEqual(clean.state);
  const before = await writeCounts(sandboxes);
  await expectOk(syncInProcess(loaded, [flowCase.flow]));
  expect(await writeCounts(sandboxes), 'writes of the run after').toEqual(before);
}

describe.each(FLOW_CASES)('$flow when the store and the platforms disagree', (flowCase) => {
  let sandboxes: Sandboxes;
  let clean: Awaited<ReturnType<typeof cleanRun>>;
  const flows = [...flowCase.before, flowCase.flow];
  const store = (name: string) => join(dir, `${flowCase.flow}-${name}.sqlite`);

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: reliabilityDevices(), seed: 37 });
    clean = await cleanRun(sandboxes, flowCase, store('clean'));
  }, SCENARIO_TIMEOUT_MS);
  afterAll(async () => sandboxes?.close());

  it(
    'store deleted: a run with a new store ends in the clean state',
    async () => {
      const fresh = caseConfig(sandboxes, flowCase, store('fresh'));
      await expectOk(syncInProcess(fresh, flows));
      await expectConverged(sandboxes, flowCase, fresh, clean);
    },
    SCENARIO_TIMEOUT_MS,
  );

  /**
   * The instance's data replaced by `data` after the flow and its prerequisites ran, then what a
   * run after it does: the prerequisites, what people change (the flow's input) and the flow.
   */
  async function replacedThenRun(loaded: LoadedConfig, data: unknown): Promise<void> {
    await sandboxes.control('servicenow', 'POST', '/_sandbox/import', data);
    const jobs = flowCase.before.length > 0 ? await expectOk(sync(loaded, flowCase.before)) : {};
    await flowCase.prepare?.(sandboxes, loaded);
    Object.assign(jobs, await expectOk(sync(loaded, [flowCase.flow])));
    for (const flow of flows) expect(jobs[flow]!.storeCheck, flow).toBe('unverified');
  }

  it(
    'instance cloned over (same URL, another instance’s data): the store check sees it and the run reconciles in full',
    async () => {
      // The source of the clone: an instance where Snowline never ran (production, say).
      await resetSandboxes(sandboxes);
      const production = await sandboxes.control('servicenow', 'GET', '/_sandbox/export');
      const loaded = caseConfig(sandboxes, flowCase, store('cloned'));
      await prepareCase(sandboxes, flowCase, loaded);
      await expectOk(syncInProcess(loaded, [flowCase.flow]));

      await replacedThenRun(loaded, production);
      await expectConverged(sandboxes, flowCase, loaded, clean);
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'instance restored from a backup taken before the flow ran: the store check sees it and the run reconciles in full',
    async () => {
      await resetSandboxes(sandboxes);
      const loaded = caseConfig(sandboxes, flowCase, store('instance-restored'));
      // The backup holds the prerequisites' records; ticket-sync's is taken before them: the
      // records its store check samples are cloud-tickets' tickets, and a restore that keeps them
      // but loses ticket-sync's work notes is not seen (docs/reliability.md says so).
      if (flowCase.prepare) await resetSandboxes(sandboxes);
      let backup = await sandboxes.control('servicenow', 'GET', '/_sandbox/export');
      await prepareCase(sandboxes, flowCase, loaded);
      if (!flowCase.prepare) backup = await sandboxes.control('servicenow', 'GET', '/_sandbox/export');
      await expectOk(syncInProcess(loaded, [flowCase.flow]));

      await sandboxes.control('servicenow', 'POST', '/_sandbox/import', backup);
      const restored = flowCase.prepare ? flows : [flowCase.flow];
      const jobs = flowCase.prepare ? await expectOk(sync(loaded, flowCase.before)) : {};
      await flowCase.prepare?.(sandboxes, loaded);
      Object.assign(jobs, await expectOk(sync(loaded, [flowCase.flow])));
      for (const flow of restored) expect(jobs[flow]!.storeCheck, flow).toBe('unverified');
      await expectConverged(sandboxes, flowCase, loaded, clean);
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'store restored from a backup taken before the flow ran: no duplicate, nothing lost',
    async () => {
      await resetSandboxes(sandboxes);
      const loaded = caseConfig(sandboxes, flowCase, store('store-restored'));
      await expectOk(syncInProcess(loaded, [])); // the store exists (migrated) before anything ran
      await prepareCase(sandboxes, flowCase, loaded);
      // SQLite's online backup, as docs/operations.md says to take one ("Backing up the store").
      const live = new Database(loaded.config.store.url);
      await live.backup(store('store-backup'));
      live.close();
      await expectOk(syncInProcess(loaded, [flowCase.flow]));

      copyFileSync(store('store-backup'), loaded.config.store.url);
      rmSync(`${loaded.config.store.url}-wal`, { force: true });
      rmSync(`${loaded.config.store.url}-shm`, { force: true });
      await expectOk(syncInProcess(loaded, [flowCase.flow]));
      await expectConverged(sandboxes, flowCase, loaded, clean);
    },
    SCENARIO_TIMEOUT_MS,
  );
});

describe('the verification pass and deleted records', () => {
  let sandboxes: Sandboxes;
  const [inventory, vulnerabilities, tickets] = ['ot-inventory', 'ot-vulnerabilities', 'cloud-tickets'].map(
    (flow) => FLOW_CASES.find((c) => c.flow === flow)!,
  ) as [FlowCase, FlowCase, FlowCase];

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: reliabilityDevices(), seed: 41 });
  });
  afterAll(async () => sandboxes?.close());

  /** Deletes records on the instance as an admin would (the Table API, basic auth). */
  async function deleteOnInstance(loaded: LoadedConfig, table: string, sysIds: readonly string[]) {
    const admin = await signInPerson(sandboxes, loaded.config.integrations[0]!.servicenow, {
      user_name: 'drift.admin',
      password: 'Drift-admin-pw-1',
      roles: ['admin'],
    });
    try {
      for (const sysId of sysIds) expect(await admin.client.delete(table, sysId)).toBe(true);
    } finally {
      await admin.close();
    }
  }

  /**
   * Deletes a record as a CMDB admin does with the CMDB Data Manager's Delete and 'Delete CMDB
   * Related Entry' policies: the record, the dependent CIs and related entries that point at it
   * (relations, key values, OT entities, NICs and their IP addresses), recursively; what is left
   * would be orphans ("A CI in a related table can, for example, become orphan if the referenced
   * CI in the CMDB is deleted": ServiceNow/ServiceNowDocs
   * markdown/servicenow-platform/configuration-management-database-cmdb/cmdb-data-management.md).
   */
  function deleteWithRelated(sysId: string): void {
    const { instance } = sandboxes.servicenow.control;
    const roots = [...new Set(instance.schema.names().map((t) => instance.schema.root(t)))];
    const doomed = new Set([sysId]);
    const rows = roots.flatMap((root) => [...instance.store.scan(root)]);
    for (let grew = true; grew;) {
      grew = false;
      for (const row of rows) {
        if (doomed.has(row.values.sys_id ?? '')) continue;
        const refers = [...instance.schema.fields(row.table)].some(
          ([field, def]) => def.type === 'reference' && doomed.has(row.values[field] ?? ''),
        );
        // Relations name their CIs as parent and child; a key value or OT entity by reference.
        if (refers) {
          doomed.add(row.values.sys_id!);
          grew = true;
        }
      }
    }
    for (const row of rows) if (doomed.has(row.values.sys_id ?? '')) instance.delete(row);
  }

  /** The sys_ids of `table`'s records in the sandbox, in key order. */
  async function sysIds(table: string, keyPrefix = ''): Promise<string[]> {
    const rows = (await sandboxes.control('servicenow', 'GET', `/_sandbox/dump?tables=${table}&keep=sys_id`))
      .tables[table] as Record<string, string>[];
    return rows.filter((r) => r._key!.startsWith(keyPrefix)).map((r) => r.sys_id!);
  }

  // Deleting a CI leaves the records of related tables that point at it (relations, key values,
  // OT entities) to a 'Delete CMDB Related Entry' policy: "A CI in a related table can, for
  // example, become orphan if the referenced CI in the CMDB is deleted" (ServiceNow/ServiceNowDocs
  // markdown/servicenow-platform/configuration-management-database-cmdb/cmdb-data-management.md).
  // So for CIs the CMDB itself is compared; the orphans are the platform's to clean.
  for (const [flowCase, entity] of [
    [inventory, 'device'],
    [vulnerabilities, 'detection'],
  ] as const) {
    it(
      `${flowCase.flow}: records deleted on the instance are sent again by the next verification, not by a plain run`,
      async () => {
        const clean = await cleanRun(sandboxes, flowCase, join(dir, `verify-${flowCase.flow}-clean.sqlite`));
        const loaded = caseConfig(sandboxes, flowCase, join(dir, `verify-${flowCase.flow}.sqlite`));
        await resetSandboxes(sandboxes);
        await prepareCase(sandboxes, flowCase, loaded);
        await expectOk(syncInProcess(loaded, [flowCase.flow]));
        const owned = (await ownedRecords(loaded, flowCase.flow, entity)).slice(0, 2);
        expect(owned).toHaveLength(2);
        for (const r of owned) deleteWithRelated(r.sysId);
        const gone = owned.map((r) => r.sysId);

        // A plain run trusts its hashes (two of many records gone is no clone): nothing is sent.
        const plain = await expectOk(sync(loaded, [flowCase.flow]));
        expect(plain[flowCase.flow]!.storeCheck).toBe('verified');
        expect(plain[flowCase.flow]!.created).toBe(0);

        // The dry run shows the repairs, each with its reason, and writes nothing.
        const writes = await writeCounts(sandboxes);
        const planned = await runOnceAt(loaded, [flowCase.flow], { verify: true, dryRun: true });
        expect(await writeCounts(sandboxes)).toEqual(writes);
        const repairs = planned.plan.actions.filter((a) => a.reason.startsWith('verification:'));
        expect(repairs.map((a) => a.action)).toEqual(['create', 'create']);

        const verified = await expectOk(sync(loaded, [flowCase.flow], { verify: true }));
        expect(verified[flowCase.flow]!.verification).toMatchObject({ missing: 2 });
        expect(verified[flowCase.flow]!.created).toBe(2);
        const reasons = await ledgerReasons(loaded, flowCase.flow, 'verification:');
        expect(reasons).toHaveLength(2);
        for (const id of gone) expect(reasons.some((r) => r.includes(id))).toBe(true);
        await expectConverged(sandboxes, flowCase, loaded, clean);
      },
      SCENARIO_TIMEOUT_MS,
    );
  }

  it(
    'cloud-tickets: a deleted ticket is opened again (onTicketDeleted: recreate), and the decision says why',
    async () => {
      const clean = await cleanRun(sandboxes, tickets, join(dir, 'deleted-ticket-clean.sqlite'));
      const loaded = caseConfig(sandboxes, tickets, join(dir, 'deleted-ticket.sqlite'));
      await resetSandboxes(sandboxes);
      await expectOk(syncInProcess(loaded, ['cloud-tickets']));
      const [ticket] = await sysIds('incident');
      await deleteOnInstance(loaded, 'incident', [ticket!]);

      const jobs = await expectOk(sync(loaded, ['cloud-tickets']));
      expect(jobs['cloud-tickets']!.created).toBe(1);
      expect(await ledgerReasons(loaded, 'cloud-tickets', 'onTicketDeleted: recreate')).toHaveLength(1);
      // The new ticket has a new correlation id (the next generation of its group); otherwise the
      // instance holds what a clean run leaves, assignments pointing at the new ticket.
      const after = await canonicalState(sandboxes, tickets);
      expect(duplicateKeys(after)).toEqual([]);
      expect(after.orphanAssignments).toEqual([]);
      expect(after.servicenow.incident).toHaveLength(clean.state.servicenow.incident!.length);
      expect(after.assignments).toHaveLength(clean.state.assignments.length);
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'cloud-tickets: a deleted ticket is kept as a person’s decision with onTicketDeleted: record',
    async () => {
      await resetSandboxes(sandboxes);
      const defaults = sandboxes.config(':memory:').config.integrations[0]!.flows as Record<string, unknown>;
      const loaded = sandboxes.config(join(dir, 'deleted-ticket-record.sqlite'), {
        cloudTickets: { ...(defaults.cloudTickets as object), onTicketDeleted: 'record' },
      });
      await expectOk(syncInProcess(loaded, ['cloud-tickets']));
      const before = await sysIds('incident');
      await deleteOnInstance(loaded, 'incident', [before[0]!]);

      for (let run = 0; run < 2; run++) {
        const jobs = await expectOk(sync(loaded, ['cloud-tickets']));
        expect(jobs['cloud-tickets']!.created, `run ${run + 1}`).toBe(0);
        expect(jobs['cloud-tickets']!.storeCheck, `run ${run + 1}`).toBe('verified');
      }
      expect(await sysIds('incident')).toHaveLength(before.length - 1);
      expect(await ledgerReasons(loaded, 'cloud-tickets', 'onTicketDeleted: record')).toHaveLength(1);
    },
    SCENARIO_TIMEOUT_MS,
  );

  it(
    'cloud-tickets: a governance assignment removed in Defender is written again by the next verification while its ticket is open',
    async () => {
      const clean = await cleanRun(sandboxes, tickets, join(dir, 'assignment-clean.sqlite'));
      const loaded = caseConfig(sandboxes, tickets, join(dir, 'assignment.sqlite'));
      await resetSandboxes(sandboxes);
      await expectOk(syncInProcess(loaded, ['cloud-tickets']));
      const [assignment] = (
        await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments')
      ).governanceAssignments as { id: string }[];
      const parsed =
        /^(.*)\/providers\/Microsoft\.Security\/assessments\/([^/]+)\/governanceAssignments\/([^/]+)$/i.exec(
          assignment!.id,
        )!;
      const defender = createDefenderSources(loaded.config.integrations[0]!.defender, {
        clock: systemClock,
        counters: new RequestCounters(),
      });
      try {
        await defender.arm.deleteGovernanceAssignment(parsed[1]!, parsed[2]!, parsed[3]!);
      } finally {
        await defender.close();
      }

      const plain = await expectOk(sync(loaded, ['cloud-tickets']));
      expect(plain['cloud-tickets']!.assignmentsWritten).toBe(0);
      const verified = await expectOk(sync(loaded, ['cloud-tickets'], { verify: true }));
      expect(verified['cloud-tickets']!.verification).toMatchObject({ missing: 1 });
      expect(verified['cloud-tickets']!.assignmentsWritten).toBe(1);
      expect(await ledgerReasons(loaded, 'cloud-tickets', 'is gone from Defender')).toHaveLength(1);
      await expectConverged(sandboxes, tickets, loaded, clean);
    },
    SCENARIO_TIMEOUT_MS,
  );
});

/** Records the store says a flow wrote, of one entity kind, in key order. */
async function ownedRecords(
  loaded: LoadedConfig,
  flow: Flow,
  entity: string,
): Promise<{ table: string; sysId: string }[]> {
  const store = await openStore(loaded.config.store.url);
  try {
    const rows = await store.db
      .selectFrom('entity_state')
      .select(['remote_table', 'remote_sys_id'])
      .where('flow', '=', flow)
      .where('entity', '=', entity)
      .where('remote_sys_id', 'is not', null)
      .orderBy('source_key')
      .execute();
    return rows.map((r) => ({ table: r.remote_table!, sysId: r.remote_sys_id! }));
  } finally {
    await store.close();
  }
}

/** The ledger reasons of a flow that contain `text`. */
async function ledgerReasons(loaded: LoadedConfig, flow: Flow, text: string): Promise<string[]> {
  const store = await openStore(loaded.config.store.url);
  try {
    const rows = await store.db
      .selectFrom('ledger_event')
      .select('reason')
      .where('flow', '=', flow)
      .where('reason', 'like', `%${text}%`)
      .execute();
    return rows.map((r) => r.reason);
  } finally {
    await store.close();
  }
}
