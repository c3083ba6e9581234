/**
 * Devices pre-loaded as ServiceNow Discovery's, and their adoption by another source's IRE payload
 * (the shape Snowline sends: the Defender name, its class, serial and MAC lookups). [SND] =
 * ServiceNow/ServiceNowDocs (australia).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEstate } from './dataset/index.js';
import { preloadDiscovered, sampleDiscovered, type DiscoveredDevice } from './discovered.js';
import { startServiceNowSandbox, type ServiceNowSandbox } from './servicenow/index.js';
import { SandboxClient } from './servicenow/testing.js';

type One = { result: Record<string, string> };
type Many = { result: Array<Record<string, string>> };
type IreResponse = { result: { items: Array<{ sysId: string; operation: string; errorCount: number }> } };

const estate = generateEstate({ size: 'demo', seed: 3 });
let sn: ServiceNowSandbox;
let api: SandboxClient;
let discovered: DiscoveredDevice[];

beforeAll(async () => {
  sn = await startServiceNowSandbox({ seed: estate.servicenow });
  api = SandboxClient.basic(sn, sn.credentials.user, sn.credentials.password);
  discovered = preloadDiscovered(sn, estate);
});

afterAll(async () => {
  await api.close();
  await sn.close();
});

const device = (id: number) => estate.devices.find((d) => d.id === id)!;

describe('pre-loaded Discovery devices', () => {
  it('are about 5% of the estate, chosen by seed, with controllers and computers', () => {
    const ids = discovered.map((d) => d.deviceId);
    expect(ids.length).toBeGreaterThanOrEqual(Math.round(estate.devices.length * 0.04));
    expect(ids.length).toBeLessThanOrEqual(Math.round(estate.devices.length * 0.06));
    expect(sampleDiscovered(estate).map((d) => d.id)).toEqual(ids);
    expect(sampleDiscovered(generateEstate({ size: 'demo', seed: 4 })).map((d) => d.id)).not.toEqual(ids);
    const types = new Set(ids.map((id) => device(id).type));
    expect(types.has('PLC')).toBe(true);
    expect(types.has('Workstation') || types.has('Server')).toBe(true);
  });

  it('are CIs written by IRE as Discovery: source ServiceNow, own source key, another name, serial and MAC', async () => {
    for (const d of discovered) {
      const ci = (await api.get<One>(`/api/now/table/cmdb_ci/${d.sysId}`)).body.result;
      expect(ci).toMatchObject({ name: d.name, discovery_source: 'ServiceNow', sys_class_name: d.className });
      expect(ci.name).not.toBe(device(d.deviceId).name);
      const nics = (await api.get<Many>(`/api/now/table/cmdb_ci_network_adapter?cmdb_ci=${d.sysId}`)).body
        .result;
      expect(nics.map((n) => n.mac_address)).toContain(device(d.deviceId).nics[0]?.mac);
      const serials = (await api.get<Many>(`/api/now/table/cmdb_serial_number?cmdb_ci=${d.sysId}`)).body
        .result;
      expect(serials.map((s) => s.serial_number)).toEqual(
        d.identifiedBy.includes('serial_number') ? [device(d.deviceId).serialNumber] : [],
      );
    }
    const sources = (await api.get<Many>('/api/now/table/sys_object_source?name=ServiceNow')).body.result;
    expect(sources).toHaveLength(discovered.length);
    // A second pre-load finds the same CIs and adds no rule.
    expect(preloadDiscovered(sn, estate).map((d) => d.sysId)).toEqual(discovered.map((d) => d.sysId));
    const rules = (await api.get<Many>('/api/now/table/cmdb_reconciliation_definition')).body.result;
    expect(rules.map((r) => [r.applies_to, r.attributes, r.discovery_source, r.priority])).toEqual(
      expect.arrayContaining([
        ['cmdb_ci_hardware', 'name', 'ServiceNow', '10'],
        ['cmdb_ci_hardware', 'name', 'Snowline', '20'],
      ]),
    );
    expect(rules).toHaveLength(2);
  });

  it('are adopted by a Snowline payload that matches their serial or MAC, keeping Discovery’s name', async () => {
    // The OT Rule and Hardware Rule identify by serial number lookup, serial number, then MAC
    // ([SND] t_CreateCIIdentificationRule.md; cmdb-ci-class-models-operation-technology.md); the
    // name rule gives Discovery precedence (r_ReconciliationRulesPrinciples.md).
    const plc = discovered.find((d) => device(d.deviceId).type === 'PLC' && d.identifiedBy.length === 1)!;
    const computer = discovered.find((d) => d.className !== 'cmdb_ci_ot' && d.identifiedBy.length === 2)!;
    for (const [d, className] of [
      [plc, 'cmdb_ci_ot_plc'],
      [computer, computer.className],
    ] as const) {
      const dev = device(d.deviceId);
      const mac = dev.nics[0]!.mac;
      const res = await api.post<IreResponse>('/api/now/identifyreconcile?sysparm_data_source=Snowline', {
        items: [
          {
            className,
            values: {
              name: dev.name,
              serial_number: dev.serialNumber,
              firmware_version: dev.firmwareVersion,
            },
            lookup: [
              {
                className: 'cmdb_serial_number',
                values: { serial_number: dev.serialNumber, serial_number_type: 'system' },
              },
              { className: 'cmdb_ci_network_adapter', values: { name: mac, mac_address: mac } },
            ],
            sys_object_source_info: {
              source_name: 'Snowline',
              source_native_key: `snowline:device:${dev.id}`,
            },
          },
        ],
      });
      const item = res.body.result.items[0]!;
      expect(item).toMatchObject({ sysId: d.sysId, errorCount: 0 });
      const ci = (await api.get<One>(`/api/now/table/cmdb_ci/${d.sysId}`)).body.result;
      expect(ci).toMatchObject({
        name: d.name,
        sys_class_name: className,
        serial_number: dev.serialNumber,
        firmware_version: dev.firmwareVersion,
      });
    }
    const plcs = (
      await api.get<Many>(`/api/now/table/cmdb_ci?serial_number=${device(plc.deviceId).serialNumber}`)
    ).body.result;
    expect(plcs).toHaveLength(1);
  });
});
