import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { systemClock } from '../../src/domain/clock.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { createAllIfAbsent, createIfAbsent } from '../../src/store/correlation-lock.js';
import { CmdbReferences } from '../../src/sync/ot-inventory/references.js';
import { connectServiceNow, type ServiceNowConnection } from '../../src/servicenow/index.js';
import { encodeQuery, where } from '../../src/servicenow/query.js';
import { openStore, type Store } from '../../src/store/store.js';
import { createLogger } from '../../src/logging.js';
import { upsertEntityStates } from '../../src/store/models/entity-state.js';
import { startRun } from '../../src/store/models/runs.js';
import { otVulnerabilitiesFlow } from '../../src/sync/ot-vulnerabilities/flow.js';
import { createTestDatabase } from '../support/databases.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';

/**
 * Two workers (two store pools) create the same ticket, or the same companies and hardware
 * models, at once through the ServiceNow sandbox,
 * slowed down so that their searches overlap: the advisory lock on the correlation id lets
 * exactly one create it; the other finds it.
 */

const postgresUrl = inject('postgresUrl');

describe.skipIf(postgresUrl === null)('create-if-absent under pg_advisory_xact_lock', () => {
  let sandboxes: Sandboxes;
  let stores: Store[];
  let servicenow: ServiceNowConnection;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 10, seed: 9 });
    const url = await createTestDatabase(postgresUrl!, 'corr');
    stores = [await openStore(url), await openStore(url)];
    await stores[0]!.migrate();
    const config = sandboxes.config(':memory:').config.integrations[0]!.servicenow;
    servicenow = connectServiceNow(config, { clock: systemClock, counters: new RequestCounters() });
    await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', { latencyMs: 150 });
  });
  afterAll(async () => {
    await servicenow?.close();
    await Promise.all((stores ?? []).map((s) => s.close()));
    await sandboxes?.close();
  });

  const search = (correlationId: string) => async () => {
    const rows = await servicenow.client.listAll('incident', {
      query: encodeQuery({ where: [where('correlation_id', '=', correlationId)] }),
      fields: ['sys_id'],
    });
    return rows[0];
  };

  it('two concurrent writers: one creates, the other finds it; one incident', async () => {
    const correlationId = 'snowline:sandbox:race-1';
    const outcomes = await Promise.all(
      stores.map((store, i) =>
        createIfAbsent(store, correlationId, search(correlationId), () =>
          servicenow.client.create('incident', {
            short_description: `race from worker ${i}`,
            correlation_id: correlationId,
          }),
        ),
      ),
    );
    expect(outcomes.filter((o) => 'created' in o)).toHaveLength(1);
    expect(outcomes.filter((o) => 'existing' in o)).toHaveLength(1);
    await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', {});
    expect(await search(correlationId)()).toBeDefined();
    const all = await servicenow.client.listAll('incident', {
      query: encodeQuery({ where: [where('correlation_id', '=', correlationId)] }),
      fields: ['sys_id'],
    });
    expect(all).toHaveLength(1);
  });

  it('two parts of a split ot-inventory run create the same companies and models at once: each once', async () => {
    await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', { latencyMs: 100 });
    const vendors = ['Race Vendor A', 'Race Vendor B', 'Race Vendor C'];
    const modules = vendors.map((vendor) => ({ vendor, model: `${vendor} CPU 1` }));
    const created: string[] = [];
    const parts = stores.map(
      (store) =>
        new CmdbReferences(
          servicenow.client,
          false,
          async (_table, name) => void created.push(name),
          async (_table, name, why) => {
            throw new Error(`${name}: ${why}`);
          },
          (ids, search, create) => createAllIfAbsent(store, ids, search, create),
        ),
    );
    await Promise.all(
      parts.map(async (references) => {
        await references.ensureCompanies(vendors);
        await references.ensureModels(modules);
      }),
    );
    await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', {});
    // Each created once, by one part or the other; the other part adopted it.
    expect(created.sort()).toEqual([...vendors, ...modules.map((m) => m.model)].sort());
    const companies = await servicenow.client.listWhereIn('core_company', 'name', vendors, ['name']);
    expect(companies.map((c) => c.name).sort()).toEqual(vendors);
    const models = await servicenow.client.listWhereIn(
      'cmdb_model',
      'name',
      modules.map((m) => m.model),
      ['name'],
    );
    expect(models).toHaveLength(modules.length);
    // Both parts know every sys_id, whichever created it.
    const known = parts.map((p) => p.ids());
    const sorted = (ids: ReadonlyMap<string, string> | undefined) => [...(ids ?? new Map()).values()].sort();
    expect(sorted(known[0]!.companies)).toEqual(sorted(known[1]!.companies));
    expect(sorted(known[0]!.models)).toEqual(sorted(known[1]!.models));
    expect(sorted(known[0]!.companies)).toHaveLength(vendors.length);
  });

  it('two sensor parts of a split ot-vulnerabilities run, their devices one CI: one NVD entry, one detection, one item', async () => {
    // Two sensors see the same device; IRE made it one CI, which ot-inventory recorded for both keys.
    const ci = await servicenow.client.create('cmdb_ci_hardware', { name: 'race-shared-device' });
    await upsertEntityStates(
      stores[0]!.db,
      { integrationId: 'sandbox', flow: 'ot-inventory', entity: 'device' },
      ['race-a/1', 'race-b/1'].map((sourceKey) => ({
        sourceKey,
        remoteTable: 'cmdb_ci_hardware',
        remoteSysId: ci.sys_id,
        contentHash: 'x',
        lastSeenAt: new Date().toISOString(),
      })),
    );
    const integration = sandboxes.config(':memory:').config.integrations[0]!;
    const config = { ...integration.flows.otVulnerabilities!, source: 'sensor' as const };
    const cve = { id: 'CVE-2031-0001', score: 8.8, description: 'race', attackVector: 'NETWORK' };
    await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', { latencyMs: 100 });
    const summaries = await Promise.all(
      ['race-a', 'race-b'].map(async (sensor, i) => {
        const store = stores[i]!;
        const { summary } = await otVulnerabilitiesFlow.execute(
          {
            integrationId: 'sandbox',
            config,
            store,
            clock: systemClock,
            logger: createLogger({ level: 'silent' }),
            counters: new RequestCounters(),
            runId: await startRun(store.db, systemClock, {
              integrationId: 'sandbox',
              trigger: 'cli',
              dryRun: false,
            }),
            dryRun: false,
            part: `sensor:${sensor}`,
          },
          {
            source: {
              kind: 'sensor',
              incremental: false,
              async *deviceCves() {
                yield { items: [{ deviceKey: `${sensor}/1`, cves: [cve] }], problems: [] };
              },
            },
            servicenow: servicenow.client,
            sensors: ['race-a', 'race-b'],
          },
        );
        return summary;
      }),
    );
    await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', {});
    expect(summaries.map((s) => s.outcome)).toEqual(['ok', 'ok']);
    const entries = await servicenow.client.listWhereIn('sn_vul_nvd_entry', 'id', [cve.id], ['sys_id']);
    expect(entries).toHaveLength(1);
    const detections = await servicenow.client.listAll('sn_vul_detection', {
      query: encodeQuery({ where: [where('cmdb_ci', '=', ci.sys_id)] }),
      fields: ['sys_id', 'vulnerable_item'],
    });
    expect(detections).toHaveLength(1);
    const items = await servicenow.client.listAll('sn_vul_vulnerable_item', {
      query: encodeQuery({ where: [where('cmdb_ci', '=', ci.sys_id)] }),
      fields: ['sys_id'],
    });
    expect(items).toHaveLength(1);
  });
});
