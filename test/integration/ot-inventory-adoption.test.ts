import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow } from '../../src/servicenow/index.js';
import { stringValue } from '../../src/servicenow/values.js';
import { queryLedger } from '../../src/store/models/ledger.js';
import { openStore } from '../../src/store/store.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { syncOnce } from '../support/sync.js';

/**
 * CIs ServiceNow Discovery wrote before Snowline's first run (the sandbox's pre-load: same serial
 * number or MAC as a Defender device, Discovery's own name, and a static reconciliation rule that
 * ranks Discovery's source above Snowline's for `name` on Hardware). ot-inventory must adopt each
 * (IRE identifies it by serial or MAC: c_IdentifyReconcileAPI.md, ire.md), never duplicate it; IRE
 * keeps Discovery's name (r_ReconciliationRulesPrinciples.md), and the run says why Snowline's name
 * is not applied.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-adopt-'));
let sandboxes: Sandboxes;
let loaded: LoadedConfig;
const storeUrl = join(dir, 'store.sqlite');
beforeAll(async () => {
  sandboxes = await startSandboxes({ devices: 400, seed: 5, discovered: true });
  loaded = sandboxes.config(storeUrl, { otInventory: { source: 'sensor', sensorValidation: 'auto' } });
});
afterAll(async () => {
  await sandboxes?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('ot-inventory over a CMDB Discovery populated first', () => {
  it('adopts every CI Discovery wrote, keeps its name, and reports the reconciliation rule', async () => {
    const discovered = sandboxes.ready.discovered ?? [];
    expect(discovered.length).toBeGreaterThan(5);
    const result = (await syncOnce(loaded, storeUrl)).summary.jobs['ot-inventory']!;
    expect(result.outcome, String(result.error)).toBe('ok');

    const { client, close } = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    try {
      // Snowline's source key of each device (sensor source: `<integration>:device:<sensor>/<id>`) → its CI.
      const sources = await client.listAll('sys_object_source', {
        query: 'name=Snowline^idSTARTSWITHsandbox:device:',
        fields: ['id', 'target_sys_id'],
        pageSize: 1000,
      });
      const ciOf = new Map(sources.map((r) => [stringValue(r.id)!, stringValue(r.target_sys_id)!]));
      const cis = await client.listAll('cmdb_ci_hardware', { fields: ['sys_id', 'name'], pageSize: 1000 });
      const nameOf = new Map(cis.map((c) => [c.sys_id, stringValue(c.name)]));
      for (const d of discovered) {
        const ci = [...ciOf.entries()].find(([id]) => id.endsWith(`/${d.deviceId}`))?.[1];
        expect(ci, `device ${d.deviceId} written by Snowline`).toBe(d.sysId);
        expect(nameOf.get(d.sysId)).toBe(d.name);
      }
      // One CI per source key, and no two keys on one CI.
      expect(new Set(ciOf.values()).size).toBe(ciOf.size);
    } finally {
      await close();
    }

    const store = await openStore(storeUrl);
    try {
      const ledger = await queryLedger(store.db, { integrationId: 'sandbox', entity: 'reconciliation-rule' });
      expect(ledger.map((e) => [e.action, e.entity_key])).toEqual([['skip', 'cmdb_ci_hardware.name']]);
      expect(ledger[0]!.reason).toMatch(
        /^reconciliation rule on cmdb_ci_hardware: ServiceNow \(priority 10\) outranks Snowline on name of /,
      );
      const adopted = (await queryLedger(store.db, { integrationId: 'sandbox', entity: 'device' })).filter(
        (e) => e.reason.startsWith('adopted: IRE matched an existing'),
      );
      expect(adopted.length).toBe(discovered.length);
    } finally {
      await store.close();
    }
  });
});
