import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/domain/clock.js';
import { openStore } from '../../src/store/store.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow } from '../../src/servicenow/index.js';
import { referenceValue, stringValue } from '../../src/servicenow/values.js';
import { ciNameOf } from '../support/estate.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { SCENARIO_TIMEOUT_MS, syncInProcess } from './support.js';

/**
 * Injection end to end (issue #25), for the Defender values ot-inventory looks up by name: a
 * device's vendor in `core_company` (batched in an IN list; a name with a comma asked alone with
 * `=`) and its modules' models in `cmdb_model` (through `listWhereIn`). Vendor and module names
 * made of query syntax are set through the Defender sandbox's control API and go through the real
 * flow against the ServiceNow sandbox, whose parser reads `^^` as the instance does: each device
 * is linked to exactly the company whose name is its vendor (found, or created with that name),
 * each module to exactly the model whose name is its model, or to none; the companies and models
 * already there are neither linked by a name that is not theirs nor created a second time.
 */
const dir = mkdtempSync(join(tmpdir(), 'snowline-rel-inj-values-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The devices ot-inventory writes: those on connected sensors out of learning mode. */
function fedDevices(sandboxes: Sandboxes): Sandboxes['estate']['devices'][number][] {
  const fed = new Set(
    sandboxes.estate.sensors.filter((s) => s.connected && !s.learningMode).map((s) => s.id),
  );
  return sandboxes.estate.devices.filter((d) => fed.has(d.sensorId));
}

/** Companies and models in the instance before the run: the victims every hostile name aims at. */
const COMPANIES = ['Victim Corp', 'Acme, Inc.', 'o^brien GmbH', 'Zoë Ñandú Industrie'];
const MODELS = ['Victim Module', 'Acme, Module', 'o^brien CPU'];

/**
 * Vendor names, and the name of the one company each device must be linked to (null: none). The
 * flow trims a vendor; existing names come after hostile ones so that a hostile name that broke
 * its IN list would leave them unfound (and created a second time).
 */
const VENDORS: readonly [vendor: string, company: string | null][] = [
  ['Nobody^ORname=Victim Corp', 'Nobody^ORname=Victim Corp'],
  ['Victim Corp', 'Victim Corp'],
  ['Nobody^NQname=Victim Corp', 'Nobody^NQname=Victim Corp'],
  ['o^brien GmbH', 'o^brien GmbH'],
  ['^NQname=Victim Corp', '^NQname=Victim Corp'],
  ['Acme, Inc.', 'Acme, Inc.'],
  ['Nobody^NQnameSTARTSWITHVictim', 'Nobody^NQnameSTARTSWITHVictim'],
  ['Zoë Ñandú Industrie', 'Zoë Ñandú Industrie'],
  ['Nobody^ORDERBYname', 'Nobody^ORDERBYname'],
  ['=Victim Corp', '=Victim Corp'],
  ['LIKEVictim', 'LIKEVictim'],
  ['STARTSWITHVictim', 'STARTSWITHVictim'],
  ['Nobody,Victim Corp', 'Nobody,Victim Corp'],
  ['Victim Corp,Nobody^NQname=Acme, Inc.', 'Victim Corp,Nobody^NQname=Acme, Inc.'],
  ['Nobody\n^NQname=Victim Corp', 'Nobody\n^NQname=Victim Corp'],
  ['Zoë^ORname=Victim Corp', 'Zoë^ORname=Victim Corp'],
  ['  Victim Corp\n', 'Victim Corp'],
  ['javascript:gs.getUserID()', null],
];

/** Module models (no vendor from the console), and the model each module must be linked to. */
const MODULE_MODELS: readonly [model: string, linked: string | null][] = [
  ['Nobody^ORname=Victim Module', 'Nobody^ORname=Victim Module'],
  ['Victim Module', 'Victim Module'],
  ['Nobody^NQname=Victim Module', 'Nobody^NQname=Victim Module'],
  ['o^brien CPU', 'o^brien CPU'],
  ['Nobody,Victim Module', 'Nobody,Victim Module'],
  ['Acme, Module', 'Acme, Module'],
  ['=Victim Module', '=Victim Module'],
  ['LIKEVictim', 'LIKEVictim'],
  ['STARTSWITHVictim', 'STARTSWITHVictim'],
  ['Nobody\n^NQname=Victim Module', 'Nobody\n^NQname=Victim Module'],
  ['Zoë^ORname=Victim Module', 'Zoë^ORname=Victim Module'],
  ['javascript:gs.getUserID()', null],
];

describe('vendor and module names made of query syntax, through ot-inventory', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 60, seed: 83 });
  });
  afterAll(async () => sandboxes?.close());

  it(
    'links each device and module to exactly the company or model of its name, or to none',
    async () => {
      const seeded = (
        await sandboxes.control('servicenow', 'POST', '/_sandbox/seed', {
          core_company: COMPANIES.map((name) => ({ name, manufacturer: 'true' })),
          cmdb_hardware_product_model: MODELS.map((name) => ({ name })),
        })
      ).result as Record<string, string[]>;
      const victimCompanies = new Map(COMPANIES.map((name, i) => [name, seeded.core_company![i]!]));
      const victimModels = new Map(MODELS.map((name, i) => [name, seeded.cmdb_hardware_product_model![i]!]));

      // Devices the flow writes, those with modules first.
      const fed = fedDevices(sandboxes).sort((a, b) => b.modules.length - a.modules.length || a.id - b.id);
      const withModules = fed.filter((d) => d.modules.length > 0);
      expect(fed.length).toBeGreaterThanOrEqual(VENDORS.length);
      // Module models fill the slots of the devices with modules, in order.
      const moduleModelsOf = new Map<number, string[]>();
      const slots = withModules.flatMap((d) => d.modules.map(() => d));
      expect(slots.length).toBeGreaterThanOrEqual(MODULE_MODELS.length);
      for (const [i, [model]] of MODULE_MODELS.entries())
        moduleModelsOf.set(slots[i]!.id, [...(moduleModelsOf.get(slots[i]!.id) ?? []), model]);
      const vendorOf = new Map<string, string>();
      const moduleModelsByCi = new Map<string, string[]>();
      for (const [i, [vendor]] of VENDORS.entries()) {
        const device = fed[i]!;
        const moduleModels = moduleModelsOf.get(device.id);
        vendorOf.set(ciNameOf(device), vendor);
        if (moduleModels) moduleModelsByCi.set(ciNameOf(device), moduleModels);
        await sandboxes.control('defender', 'PATCH', `/_sandbox/devices/${device.id}`, {
          vendor,
          ...(moduleModels ? { moduleModels } : {}),
        });
      }
      expect([...moduleModelsByCi.values()].flat()).toHaveLength(MODULE_MODELS.length);

      const loaded = sandboxes.config(join(dir, 'store.sqlite'), {
        otInventory: { source: 'console', sensorValidation: 'auto', batchSize: 25 },
      });
      const summary = (await syncInProcess(loaded, ['ot-inventory']))['ot-inventory']!;
      expect(summary.outcome, JSON.stringify(summary)).toBe('ok');

      const { client, close } = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
        clock: systemClock,
        counters: new RequestCounters(),
      });
      try {
        const companies = await client.listAll('core_company', { fields: ['sys_id', 'name'] });
        const companyName = new Map(companies.map((c) => [c.sys_id, stringValue(c.name) ?? '']));
        const models = await client.listAll('cmdb_model', { fields: ['sys_id', 'name'] });
        const modelName = new Map(models.map((m) => [m.sys_id, stringValue(m.name) ?? '']));
        const count = (names: Map<string, string>, name: string) =>
          [...names.values()].filter((n) => n === name).length;

        // Each device: the company of exactly its vendor's name, or none.
        // A device named by its IP is written under its MAC, as its network adapter is.
        const cis = (
          await client.listAll('cmdb_ci', { fields: ['sys_id', 'name', 'manufacturer', 'sys_class_name'] })
        ).filter((ci) => stringValue(ci.sys_class_name) !== 'cmdb_ci_network_adapter');
        const checked = new Set<string>();
        for (const ci of cis) {
          const vendor = vendorOf.get(stringValue(ci.name) ?? '');
          if (vendor === undefined) continue;
          const company = VENDORS.find(([v]) => v === vendor)![1];
          const manufacturer = referenceValue(ci.manufacturer);
          expect(
            { vendor, company: manufacturer ? companyName.get(manufacturer) : null },
            `vendor ${JSON.stringify(vendor)}`,
          ).toEqual({ vendor, company });
          if (company !== null) expect(count(companyName, company), `companies named ${company}`).toBe(1);
          checked.add(vendor);
        }
        // Every vendor went through the flow: none was left out by a failure.
        expect([...checked].sort()).toEqual(VENDORS.map(([v]) => v).sort());
        // The companies already there: still one each, under their own sys_id.
        for (const [name, sysId] of victimCompanies) expect(companyName.get(sysId), name).toBe(name);

        // Each module: the model of exactly its name, or none.
        const ciName = new Map(cis.map((ci) => [ci.sys_id, stringValue(ci.name) ?? '']));
        const modules = await client.listAll('cmdb_ci_ot_control_module', {
          fields: ['sys_id', 'model_number', 'model_id'],
        });
        const owns = await client.listAll('cmdb_rel_ci', { fields: ['parent', 'child'] });
        const deviceOfModule = new Map(
          owns.map((r) => [referenceValue(r.child) ?? '', ciName.get(referenceValue(r.parent) ?? '') ?? '']),
        );
        const checkedModels = new Set<string>();
        for (const module of modules) {
          const model = stringValue(module.model_number) ?? '';
          const modelId = referenceValue(module.model_id);
          // No module anywhere is linked to a model of another name.
          if (modelId) expect(modelName.get(modelId), `module model ${JSON.stringify(model)}`).toBe(model);
          const hostile = moduleModelsByCi.get(deviceOfModule.get(module.sys_id) ?? '') ?? [];
          if (!hostile.includes(model)) continue;
          const linked = MODULE_MODELS.find(([m]) => m === model)![1];
          expect(
            { model, linked: modelId ? modelName.get(modelId) : null },
            `module model ${JSON.stringify(model)}`,
          ).toEqual({ model, linked });
          if (linked !== null) expect(count(modelName, linked), `models named ${linked}`).toBe(1);
          checkedModels.add(model);
        }
        expect([...checkedModels].sort()).toEqual(MODULE_MODELS.map(([m]) => m).sort());
        for (const [name, sysId] of victimModels) expect(modelName.get(sysId), name).toBe(name);
      } finally {
        await close();
      }
    },
    SCENARIO_TIMEOUT_MS,
  );
});

/**
 * The ticket of an assessment that Defender for Cloud's own ServiceNow integration already
 * ticketed is found by the assignment's `ticketLink` sys_id, else by `ticketNumber` (an int32 by
 * contract, refused otherwise by ARM and by Snowline's model; looked up with `ENDSWITH`, only exact
 * digits kept). Links made of query syntax, and numbers that only end other tickets' numbers,
 * adopt no ticket; the ticket an assignment truly names is adopted.
 */
describe("an adopted assignment's ticketNumber and ticketLink, through cloud-tickets", () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 60, seed: 84 });
  });
  afterAll(async () => sandboxes?.close());

  it(
    'adopts exactly the ticket the assignment names, or none',
    async () => {
      const storePath = join(dir, 'tickets.sqlite');
      const loaded = sandboxes.config(storePath, {
        cloudTickets: { rules: [{ name: 'every-unhealthy', when: {}, table: 'incident', grouping: 'none' }] },
      });
      const { client, close } = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
        clock: systemClock,
        counters: new RequestCounters(),
      });
      const store = await openStore(storePath);
      try {
        // Tickets Defender's integration made: two that assignments name, one every hostile value aims at.
        const seeded = (
          await sandboxes.control('servicenow', 'POST', '/_sandbox/seed', {
            incident: [
              { short_description: 'named by number' },
              { short_description: 'named by sys_id' },
              // A number no other ticket ends with: a number that only ends it finds it alone.
              { short_description: 'victim', number: 'INC7770123' },
            ],
          })
        ).result.incident as string[];
        const [byNumber, bySysId, victim] = await Promise.all(
          seeded.map(async (sysId) => ({
            sysId,
            number: stringValue((await client.get('incident', sysId, ['number']))?.number) ?? '',
          })),
        );
        const digits = (number: string) => Number(number.replace(/\D/g, ''));
        const host = sandboxes.servicenow.url;
        const unknownSysId = 'f'.repeat(32);
        const CASES: readonly [ticketNumber: number, ticketLink: string, adopted: string | null][] = [
          [digits(byNumber!.number), host, byNumber!.sysId],
          [999_999_999, `${host}/incident.do?sys_id=${bySysId!.sysId}`, bySysId!.sysId],
          [770_123, host, null],
          [123, `${host}/incident.do`, null],
          [0, `${host}/incident.do?sys_id=^NQnumber=${victim!.number}`, null],
          [999_999_999, `${host}/incident.do?sys_id=${unknownSysId}^ORsys_id=${victim!.sysId}`, null],
          [999_999_999, `${host}/incident.do?sys_id=${unknownSysId}^NQsys_id=${victim!.sysId}`, null],
          [
            999_999_999,
            `${host}/nav_to.do?uri=incident.do%3Fsys_id%3D%5ENQnumber%3D${victim!.number}%2Cnumber%3D${victim!.number}`,
            null,
          ],
          [999_999_999, `${host}/incident.do?sys_id=\n^NQnumberLIKE${victim!.number}&ë=ñ`, null],
          [
            999_999_999,
            `${host}/incident.do?sysparm_query=numberSTARTSWITHINC^ORnumber=${victim!.number}`,
            null,
          ],
        ];

        const assessments = (await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=assessments'))
          .assessments as { id: string; resourceId: string; code: string }[];
        const unhealthy = assessments
          .filter((a) => a.code === 'Unhealthy' && !/^\/subscriptions\/[^/]+$/i.test(a.resourceId))
          .map((a) => a.id)
          .sort();
        expect(unhealthy.length).toBeGreaterThanOrEqual(CASES.length);
        for (const [i, [ticketNumber, ticketLink]] of CASES.entries())
          await sandboxes.control('defender', 'POST', '/_sandbox/servicenow-integration/assignments', {
            assessmentId: unhealthy[i],
            properties: {
              owner: 'ana@contoso.com',
              remediationDueDate: '2030-01-31T00:00:00Z',
              isGracePeriod: true,
              additionalData: { ticketNumber, ticketLink, ticketStatus: 'New' },
            },
          });

        const summary = (await syncInProcess(loaded, ['cloud-tickets']))['cloud-tickets']!;
        expect(summary.outcome, JSON.stringify(summary)).toBe('ok');

        const links = await store.db.selectFrom('link').selectAll().execute();
        for (const [i, [ticketNumber, ticketLink, adopted]] of CASES.entries()) {
          const link = links.find((l) => l.assessment_id.toLowerCase() === unhealthy[i]!.toLowerCase());
          expect(
            { ticketNumber, ticketLink, adopted: link?.adopted ? link.ticket_sys_id : null },
            `assignment ${i}`,
          ).toEqual({ ticketNumber, ticketLink, adopted });
        }
        // No other ticket of Snowline's adopted anything: the victim is nobody's.
        expect(links.filter((l) => l.ticket_sys_id === victim!.sysId)).toEqual([]);
      } finally {
        await store.close();
        await close();
      }
    },
    SCENARIO_TIMEOUT_MS,
  );
});

/**
 * A device's CVE ids reach `sn_vul_nvd_entry` lookups (`listWhereIn` by id) in ot-vulnerabilities.
 * Ids made of query syntax are refused before any query (an id is `CVE-YYYY-NNNN…`, trimmed and
 * upper-cased); the device's real CVEs, and an id with spaces around it, still go through.
 */
describe('CVE ids made of query syntax, through ot-vulnerabilities', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 60, seed: 85 });
  });
  afterAll(async () => sandboxes?.close());

  it(
    'looks up and links exactly the CVE ids that are CVE ids',
    async () => {
      /** CVE ids a device reports, and the entry each must give (null: none). */
      const CVES: readonly [reported: string, entry: string | null][] = [
        ['CVE-2031-0002', 'CVE-2031-0002'],
        [' cve-2031-0008 ', 'CVE-2031-0008'],
        ['CVE-2031-0003^NQidSTARTSWITHCVE', null],
        ['CVE-2031-0004^ORid=CVE-2031-0002', null],
        ['CVE-2031-0005,CVE-2031-0002', null],
        ['CVE-2031-0006\n^NQid=CVE-2031-0002', null],
        ['=CVE-2031-0002', null],
        ['LIKECVE', null],
        ['STARTSWITHCVE-2031', null],
        ['CVE-2031-0007ë', null],
        ['javascript:gs.getUserID()', null],
      ];
      const device = fedDevices(sandboxes).find((d) => !/^\d+\.\d+\.\d+\.\d+$/.test(d.name))!;
      for (const [cveId] of CVES)
        await sandboxes.control('defender', 'POST', `/_sandbox/devices/${device.id}/cves`, {
          cveId,
          score: '9.8',
        });

      const loaded = sandboxes.config(join(dir, 'cves.sqlite'), {
        otInventory: { source: 'console', sensorValidation: 'auto', batchSize: 25 },
        otVulnerabilities: { source: 'console', batchSize: 25 },
      });
      expect((await syncInProcess(loaded, ['ot-inventory']))['ot-inventory']!.outcome).toBe('ok');
      const summary = (await syncInProcess(loaded, ['ot-vulnerabilities']))['ot-vulnerabilities']!;
      expect(summary.outcome, JSON.stringify(summary)).toBe('ok');

      const { client, close } = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
        clock: systemClock,
        counters: new RequestCounters(),
      });
      try {
        const entries = await client.listAll('sn_vul_nvd_entry', { fields: ['sys_id', 'id'] });
        const entryId = new Map(entries.map((e) => [e.sys_id, stringValue(e.id) ?? '']));
        // Every entry is a CVE id, one entry per id.
        for (const id of entryId.values()) expect(id).toMatch(/^CVE-\d{4}-\d{4,}$/);
        expect(new Set(entryId.values()).size).toBe(entryId.size);
        const [ci] = (
          await client.listAll('cmdb_ci', {
            query: `name=${ciNameOf(device)}^sys_class_name!=cmdb_ci_network_adapter`,
            fields: ['sys_id'],
          })
        ).map((r) => r.sys_id);
        const items = await client.listAll('sn_vul_vulnerable_item', {
          query: `cmdb_ci=${ci}`,
          fields: ['vulnerability'],
        });
        const linked = new Set(items.map((i) => entryId.get(referenceValue(i.vulnerability) ?? '')));
        for (const [reported, entry] of CVES)
          expect({ reported, linked: entry !== null && linked.has(entry) }).toEqual({
            reported,
            linked: entry !== null,
          });
        // The device's own CVEs from the estate are linked too, and nothing else.
        expect([...linked].sort()).toEqual(
          [...new Set([...device.cves, 'CVE-2031-0002', 'CVE-2031-0008'])].sort(),
        );
      } finally {
        await close();
      }
    },
    SCENARIO_TIMEOUT_MS,
  );
});
