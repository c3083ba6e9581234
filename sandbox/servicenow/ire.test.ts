import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServiceNowSandbox, type ServiceNowSandbox } from './index.js';
import { connectorTargetClasses, otInventoryPayload } from './examples.js';
import { otEntityTypeSysId } from './baseline.js';
import { SandboxClient } from './testing.js';

interface IreItem {
  className: string;
  operation?: string;
  sysId: string;
  errors?: Array<{ error: string; message: string }>;
  errorCount: number;
  identificationAttempts: Array<{ attemptResult: string; info?: string }>;
}
interface IreRelation {
  operation?: string;
  errorCount: number;
  errors?: Array<{ error: string; message: string }>;
}
type IreResponse = { result: { items: IreItem[]; relations: IreRelation[] } };
type Many = { result: Array<Record<string, string>> };

let sn: ServiceNowSandbox;
let api: SandboxClient;

beforeAll(async () => {
  sn = await startServiceNowSandbox();
  api = SandboxClient.basic(sn, sn.credentials.user, sn.credentials.password);
});

afterAll(async () => {
  await api.close();
  await sn.close();
});

const ire = (
  body: unknown,
  query = '?sysparm_data_source=Snowline',
): Promise<{ status: number; body: IreResponse }> =>
  api.post<IreResponse>(`/api/now/identifyreconcile${query}`, body);

describe('IRE for the OT classes Snowline writes', () => {
  it('inserts a sensor, devices, NICs, IPs, OT details and relations; a replay changes nothing', async () => {
    const payload = otInventoryPayload({ start: 0, devices: 3 });
    // IRE sets last_discovered to the current time on every commit (ire.md): the replay must run
    // in the same sandbox second as the insert, or it is an update. Both start at one instant.
    const clock = new SandboxClient(sn, undefined);
    const instant = { now: new Date(Math.ceil(Date.now() / 1000) * 1000).toISOString() };
    await clock.post('/_sandbox/clock', instant);
    const first = await ire(payload);
    expect(first.status).toBe(200);
    expect(first.body.result.items.map((i) => i.operation)).toEqual(Array(10).fill('INSERT'));
    expect(first.body.result.relations.map((r) => r.operation)).toEqual(Array(9).fill('INSERT'));
    const device = first.body.result.items[1] as IreItem;
    expect(device.identificationAttempts[0]).toMatchObject({
      info: 'sys_object_source NO_MATCH',
      attemptResult: 'NO_MATCH',
    });

    const plc = (
      await api.get<{ result: Record<string, unknown> }>(
        `/api/now/table/cmdb_ci/${device.sysId}?sysparm_exclude_reference_link=true`,
      )
    ).body.result;
    expect(plc).toMatchObject({
      name: 'ot-device-0',
      sys_class_name: 'cmdb_ci_ot_plc',
      discovery_source: 'Snowline',
      firmware_version: '2.9.4',
    });
    expect(plc.first_discovered).not.toBe('');
    const entity = (
      await api.get<Many>(
        `/api/now/table/cmdb_ot_entity?sysparm_query=ot_device=${device.sysId}&sysparm_exclude_reference_link=true`,
      )
    ).body.result;
    expect(entity).toHaveLength(1);
    expect(entity[0]?.sys_id).toBe(plc.cmdb_ot_entity);
    expect(entity[0]?.purdue_level).toBe('1.0');
    const nic = (
      await api.get<Many>(
        `/api/now/table/cmdb_ci_network_adapter?sysparm_query=cmdb_ci=${device.sysId}&sysparm_exclude_reference_link=true`,
      )
    ).body.result;
    expect(nic.map((n) => n.mac_address)).toEqual(['f8:f2:1e:00:00:00']);
    const ip = (
      await api.get<Many>(`/api/now/table/cmdb_ci_ip_address?sysparm_query=owned_by_cmdb_ci=${device.sysId}`)
    ).body.result;
    expect(ip.map((x) => x.ip_address)).toEqual(['10.0.0.0']);
    const owns = (
      await api.get<Many>(
        `/api/now/table/cmdb_rel_ci?sysparm_query=parent=${device.sysId}^type.name=Owns::Owned by`,
      )
    ).body.result;
    expect(owns).toHaveLength(2);
    const detects = (
      await api.get<Many>(
        `/api/now/table/cmdb_rel_ci?sysparm_query=child=${device.sysId}^type.name=Detects::Detected by`,
      )
    ).body.result;
    expect(detects).toHaveLength(1);
    const src = (
      await api.get<Many>(
        '/api/now/table/sys_object_source?sysparm_query=name=Snowline^id=/sites/plant-1/devices/0',
      )
    ).body.result;
    expect(src[0]).toMatchObject({ target_sys_id: device.sysId, target_table: 'cmdb_ci_ot_plc' });

    await clock.post('/_sandbox/clock', instant);
    await clock.close();
    const replay = await ire(payload);
    expect(replay.body.result.items.map((i) => i.operation)).toEqual(Array(10).fill('NO_CHANGE'));
    expect(replay.body.result.relations.map((r) => r.operation)).toEqual(Array(9).fill('NO_CHANGE'));
    expect(replay.body.result.items[1]?.identificationAttempts[0]).toMatchObject({
      info: 'sys_object_source MATCHED',
      attemptResult: 'MATCHED',
    });
    const mod = (
      await api.get<{ result: Record<string, string> }>(
        `/api/now/table/cmdb_ci/${device.sysId}?sysparm_fields=sys_mod_count`,
      )
    ).body.result;
    expect(mod.sys_mod_count).toBe(plc.sys_mod_count);

    const changed = await ire(otInventoryPayload({ start: 0, devices: 3, firmware: '3.0.0' }));
    const ops = changed.body.result.items.map((i) => i.operation);
    expect(ops.filter((o) => o === 'UPDATE')).toHaveLength(3);
    expect(ops.filter((o) => o === 'NO_CHANGE')).toHaveLength(7);
  });

  it('identifies by sys_object_source first, so a renamed device is updated, not duplicated', async () => {
    const payload = otInventoryPayload({ start: 100, devices: 1, withSensor: false });
    const first = await ire(payload);
    const id = first.body.result.items[0]?.sysId;
    const renamed = structuredClone(payload) as { items: Array<{ values: Record<string, string> }> };
    (renamed.items[0] as { values: Record<string, string> }).values.name = 'renamed-device';
    const second = await ire(renamed);
    expect(second.body.result.items[0]).toMatchObject({ operation: 'UPDATE', sysId: id });
    const count = (
      await api.get<Many>('/api/now/table/cmdb_ci?sysparm_query=nameIN' + 'renamed-device,ot-device-100')
    ).body.result;
    expect(count).toHaveLength(1);
  });

  // ServiceNow/ServiceNowDocs markdown/servicenow-platform/configuration-management-database-cmdb/ire.md:
  // last_discovered is always updated; a payload value only when newer; else the current time.
  it('stamps last_discovered: the payload time when newer, never older, and now when none is sent', async () => {
    const item = (lastDiscovered?: string) => ({
      items: [
        {
          className: 'cmdb_ci_ot_plc',
          values: { name: 'seen-plc', ...(lastDiscovered ? { last_discovered: lastDiscovered } : {}) },
          sys_object_source_info: { source_name: 'Snowline', source_native_key: 'seen-plc' },
        },
      ],
    });
    const read = async (sysId: string) =>
      (
        await api.get<{ result: Record<string, string> }>(
          `/api/now/table/cmdb_ci/${sysId}?sysparm_fields=last_discovered`,
        )
      ).body.result.last_discovered;
    const first = await ire(item('2026-01-02 03:04:05'));
    const sysId = first.body.result.items[0]!.sysId;
    expect(await read(sysId)).toBe('2026-01-02 03:04:05');
    // Older: kept; and an unchanged item is NO_CHANGE, its time still processed.
    expect((await ire(item('2025-12-31 00:00:00'))).body.result.items[0]!.operation).toBe('NO_CHANGE');
    expect(await read(sysId)).toBe('2026-01-02 03:04:05');
    await ire(item('2026-02-01 00:00:00'));
    expect(await read(sysId)).toBe('2026-02-01 00:00:00');
    // None sent: the instance's current time.
    await ire(item());
    expect(await read(sysId)).toBe(sn.control.instance.now());
  });

  it('upgrades the class of a generic CI matched by name', async () => {
    const generic = await api.post<{ result: Record<string, string> }>('/api/now/table/cmdb_ci_ot', {
      name: 'reclassify-me',
    });
    const res = await ire({ items: [{ className: 'cmdb_ci_ot_plc', values: { name: 'reclassify-me' } }] });
    expect(res.body.result.items[0]).toMatchObject({
      operation: 'UPDATE_WITH_UPGRADE',
      sysId: generic.body.result.sys_id,
    });
    const row = await api.get<{ result: Record<string, string> }>(
      `/api/now/table/cmdb_ci/${generic.body.result.sys_id}?sysparm_fields=sys_class_name`,
    );
    expect(row.body.result.sys_class_name).toBe('cmdb_ci_ot_plc');
  });

  it('writes OT network connections by their identification attributes', async () => {
    const conn = {
      className: 'sn_ot_device_network_connection',
      values: {
        source_ip: '10.0.0.1',
        destination_ip: '10.0.0.2',
        destination_port: '502',
        transport_protocol: 'TCP',
        application_protocol: 'Modbus',
      },
    };
    expect((await ire({ items: [conn] })).body.result.items[0]?.operation).toBe('INSERT');
    expect((await ire({ items: [conn] })).body.result.items[0]?.operation).toBe('NO_CHANGE');
  });

  it('/query identifies without committing', async () => {
    const payload = otInventoryPayload({ start: 500, devices: 2 });
    const sim = await ire(payload.items.length ? payload : payload, '/query?sysparm_data_source=Snowline');
    expect(sim.body.result.items.slice(1).map((i) => i.operation)).toEqual(Array(6).fill('INSERT'));
    const none = await api.get<Many>('/api/now/table/cmdb_ci?sysparm_query=nameSTARTSWITHot-device-50');
    expect(none.body.result).toEqual([]);
  });
});

describe('IRE item-level errors (HTTP 200)', () => {
  it('a NIC without its Owns relation → MISSING_DEPENDENCY, nothing written for it', async () => {
    const res = await ire({
      items: [
        {
          className: 'cmdb_ci_network_adapter',
          values: { name: 'aa:bb:cc:00:00:01', mac_address: 'aa:bb:cc:00:00:01' },
        },
      ],
    });
    expect(res.status).toBe(200);
    const item = res.body.result.items[0] as IreItem;
    expect(item).toMatchObject({ sysId: 'Unknown', errorCount: 1 });
    expect(item.errors?.[0]?.error).toBe('MISSING_DEPENDENCY');
    expect(
      (
        await api.get<Many>(
          '/api/now/table/cmdb_ci_network_adapter?sysparm_query=mac_address=aa:bb:cc:00:00:01',
        )
      ).body.result,
    ).toEqual([]);
  });

  it('a relation of the wrong type does not satisfy the dependency either', async () => {
    const res = await ire({
      items: [
        { className: 'cmdb_ci_ot_plc', values: { name: 'dep-parent' } },
        { className: 'cmdb_ci_ip_address', values: { ip_address: '192.168.9.9' } },
      ],
      relations: [{ parent: 0, child: 1, type: 'Depends on::Used by' }],
    });
    expect(res.body.result.items[1]?.errors?.[0]?.error).toBe('MISSING_DEPENDENCY');
  });

  it('missing matching attributes → MISSING_MATCHING_ATTRIBUTES with the contract message', async () => {
    const res = await ire({ items: [{ className: 'cmdb_ci_ot_plc', values: { firmware_version: '1.0' } }] });
    const item = res.body.result.items[0] as IreItem;
    expect(item.errors?.[0]?.error).toBe('MISSING_MATCHING_ATTRIBUTES');
    expect(item.errors?.[0]?.message).toMatch(
      /^In payload missing minimum set of input values for criterion \(matching\) attributes from identify rule for table \[cmdb_ci_ot\]\. Add these input values in payload item '/,
    );
    expect(item.identificationAttempts.every((a) => a.attemptResult === 'SKIPPED')).toBe(true);
  });

  it('an unknown sysparm_data_source → INVALID_INPUT_DATA on every item', async () => {
    const res = await ire(
      otInventoryPayload({ start: 900, devices: 1, withSensor: false }),
      '?sysparm_data_source=Intune',
    );
    expect(res.status).toBe(200);
    for (const item of res.body.result.items) {
      expect(item.errors?.[0]).toEqual({
        error: 'INVALID_INPUT_DATA',
        message:
          'In payload invalid data source [Intune] exist. You need to provide a valid choice value from field [discovery_source] in table [cmdb_ci]',
      });
    }
    expect(
      (await api.get<Many>('/api/now/table/cmdb_ci?sysparm_query=name=ot-device-900')).body.result,
    ).toEqual([]);
  });

  it('an unknown class or relation type → INVALID_INPUT_DATA; dependents of a failed item are ABANDONED', async () => {
    const unknown = await ire({ items: [{ className: 'cmdb_ci_flux_capacitor', values: { name: 'x' } }] });
    expect(unknown.body.result.items[0]?.errors?.[0]?.error).toBe('INVALID_INPUT_DATA');
    const badRel = await ire({
      items: [
        { className: 'cmdb_ci_ot_plc', values: { name: 'rel-a' } },
        { className: 'cmdb_ci_ot_hmi', values: { name: 'rel-b' } },
      ],
      relations: [{ parent: 0, child: 1, type: 'Talks to::Listened by' }],
    });
    expect(badRel.body.result.relations[0]?.errors?.[0]).toEqual({
      error: 'INVALID_INPUT_DATA',
      message: 'No such relationship with name [Talks to::Listened by] exist in table [cmdb_rel_type]',
    });
    const abandoned = await ire({
      items: [
        { className: 'cmdb_ci_ot_plc', values: {} },
        {
          className: 'cmdb_ci_network_adapter',
          values: { name: 'aa:bb:cc:00:00:02', mac_address: 'aa:bb:cc:00:00:02' },
        },
      ],
      relations: [{ parent: 0, child: 1, type: 'Owns::Owned by' }],
    });
    expect(abandoned.body.result.items.map((i) => i.errors?.[0]?.error)).toEqual([
      'MISSING_MATCHING_ATTRIBUTES',
      'ABANDONED',
    ]);
    expect(abandoned.body.result.relations[0]?.errorCount).toBe(1);
  });

  it('rejects a body that is not an IRE payload with the error envelope', async () => {
    const res = await api.post('/api/now/identifyreconcile', { nope: true });
    expect(res.status).toBe(400);
    expect((res.body as { status: string }).status).toBe('failure');
  });
});

// [SND] markdown/api-reference/rest-apis/c_IdentifyReconcileAPI.md: "For a reference field, the
// value must be the referenced sys_id" (items.values, items.related.values, items.lookup.values);
// message from [SND] markdown/servicenow-platform/configuration-management-database-cmdb/id-engine-error-messages.md.
describe('IRE reference values must be sys_ids of existing records (c_IdentifyReconcileAPI.md, id-engine-error-messages.md)', () => {
  const invalid = (value: string, table: string): { error: string; message: string } => ({
    error: 'INVALID_INPUT_DATA',
    message: `Found invalid sys_id in payload. No record with sys_id [${value}] exist in table [${table}] or is a duplicate record with [duplicate_of] field set to a main CI`,
  });
  const count = async (query: string): Promise<number> =>
    (await api.get<Many>(`/api/now/table/cmdb_ci?sysparm_query=${query}`)).body.result.length;

  it('a display value in items.values fails the item; its dependents and relations are abandoned', async () => {
    const res = await ire({
      items: [
        { className: 'cmdb_ci_ot_plc', values: { name: 'ref-by-name', company: 'Acme Industrial' } },
        {
          className: 'cmdb_ci_network_adapter',
          values: { name: 'aa:bb:cc:01:00:01', mac_address: 'aa:bb:cc:01:00:01' },
        },
      ],
      relations: [{ parent: 0, child: 1, type: 'Owns::Owned by' }],
    });
    expect(res.status).toBe(200);
    expect(res.body.result.items[0]).toMatchObject({ sysId: 'Unknown', errorCount: 1 });
    expect(res.body.result.items[0]?.errors).toEqual([invalid('Acme Industrial', 'core_company')]);
    expect(res.body.result.items[1]?.errors?.[0]?.error).toBe('ABANDONED');
    expect(res.body.result.relations[0]?.errors?.[0]?.error).toBe('ABANDONED');
    expect(await count('name=ref-by-name')).toBe(0);
    expect(await count('name=aa:bb:cc:01:00:01')).toBe(0);
  });

  it('a sys_id of no record, in a related entry or a lookup entry, fails the whole item', async () => {
    const ghost = 'f'.repeat(32);
    const related = await ire({
      items: [
        {
          className: 'cmdb_ci_ot_hmi',
          values: { name: 'bad-related' },
          related: [{ className: 'cmdb_ot_entity', values: { ot_asset_type: ghost } }],
        },
      ],
    });
    expect(related.body.result.items[0]?.errors).toEqual([invalid(ghost, 'cmdb_ot_entity_type')]);
    const lookup = await ire({
      items: [
        {
          className: 'cmdb_ci_ot_hmi',
          values: { name: 'bad-lookup' },
          lookup: [
            {
              className: 'cmdb_ci_network_adapter',
              values: { name: 'eth0', mac_address: 'aa:bb:cc:01:00:02', location: ghost },
            },
          ],
        },
      ],
    });
    expect(lookup.body.result.items[0]?.errors).toEqual([invalid(ghost, 'cmn_location')]);
    expect(await count('nameINbad-related,bad-lookup')).toBe(0);
    const entities = await api.get<Many>(
      `/api/now/table/cmdb_ot_entity?sysparm_query=ot_asset_type=${ghost}`,
    );
    expect(entities.body.result).toEqual([]);
  });

  it('accepts a sys_id of the target table or a descendant, an empty value, and the fields IRE fills', async () => {
    const plc = await ire({ items: [{ className: 'cmdb_ci_ot_plc', values: { name: 'ref-target' } }] });
    const plcId = plc.body.result.items[0]?.sysId ?? '';
    const types = await api.get<Many>('/api/now/table/cmdb_ot_entity_type?sysparm_query=name=PLC');
    const res = await ire({
      items: [
        {
          className: 'sn_ot_device_network_connection',
          // source_ci references cmdb_ci; a PLC is a descendant of it.
          values: {
            source_ip: '10.9.0.1',
            destination_ip: '10.9.0.2',
            destination_port: '44818',
            source_ci: plcId,
          },
        },
        {
          className: 'cmdb_ci_ot_hmi',
          values: { name: 'ref-ok', company: '' },
          related: [
            {
              className: 'cmdb_ot_entity',
              values: { ot_asset_type: types.body.result[0]?.sys_id ?? '', ot_device: 'x' },
            },
          ],
        },
      ],
    });
    expect(res.body.result.items.map((i) => i.operation)).toEqual(['INSERT', 'INSERT']);
  });

  it('a field that referenceItems fills is not checked: IRE sets it to the referenced item', async () => {
    const res = await ire({
      items: [
        { className: 'cmdb_ci_ot_plc', internal_id: 'plc', values: { name: 'ref-items-plc' } },
        {
          className: 'sn_ot_device_network_connection',
          internal_id: 'conn',
          values: {
            source_ip: '10.9.2.1',
            destination_ip: '10.9.2.2',
            destination_port: '102',
            source_ci: 'plc',
          },
        },
      ],
      referenceItems: [{ referenced: 'plc', referencedBy: 'conn', referenceField: 'source_ci' }],
    });
    expect(res.body.result.items.map((i) => i.operation)).toEqual(['INSERT', 'INSERT']);
    const conn = await api.get<{ result: Record<string, string> }>(
      `/api/now/table/sn_ot_device_network_connection/${res.body.result.items[1]?.sysId}?sysparm_exclude_reference_link=true`,
    );
    expect(conn.body.result.source_ci).toBe(res.body.result.items[0]?.sysId);
  });

  it('a reference to a CI marked as a duplicate (duplicate_of set) is refused too', async () => {
    const main = await ire({ items: [{ className: 'cmdb_ci_ot_plc', values: { name: 'dup-main' } }] });
    const dup = await api.post<{ result: Record<string, string> }>('/api/now/table/cmdb_ci_ot_plc', {
      name: 'dup-copy',
      duplicate_of: main.body.result.items[0]?.sysId,
    });
    const res = await ire({
      items: [
        {
          className: 'sn_ot_device_network_connection',
          values: {
            source_ip: '10.9.1.1',
            destination_ip: '10.9.1.2',
            destination_port: '502',
            source_ci: dup.body.result.sys_id ?? '',
          },
        },
      ],
    });
    expect(res.body.result.items[0]?.errors).toEqual([invalid(dup.body.result.sys_id ?? '', 'cmdb_ci')]);
  });

  // [SND] markdown/servicenow-platform/cmdb-ci-class-models/cmdb-ci-class-models-operation-technology.md
  // (manufacturer, model_id) and the NIDS table of sgc-microsoft-d4iot-azure-classes.md (life cycle).
  it('manufacturer, model and the sensor life-cycle pair go by sys_id (cmdb-ci-class-models-operation-technology.md)', async () => {
    const byName = await ire(otInventoryPayload({ start: 700, devices: 1, withSensor: false }));
    expect(byName.body.result.items.map((i) => i.errorCount)).toEqual([0, 0, 0]);
    const named = structuredClone(otInventoryPayload({ start: 701, devices: 1, withSensor: false })) as {
      items: Array<{ values: Record<string, string> }>;
    };
    (named.items[0] as { values: Record<string, string> }).values.manufacturer = 'Siemens';
    const refused = await ire(named);
    expect(refused.body.result.items[0]?.errors).toEqual([invalid('Siemens', 'core_company')]);

    const company = await api.post<{ result: Record<string, string> }>('/api/now/table/core_company', {
      name: 'Siemens AG',
      manufacturer: 'true',
    });
    const model = await api.post<{ result: Record<string, string> }>('/api/now/table/cmdb_model', {
      name: 'S7-1500',
      manufacturer: company.body.result.sys_id,
    });
    const ok = await ire(
      otInventoryPayload({
        start: 702,
        devices: 1,
        withSensor: false,
        manufacturer: company.body.result.sys_id ?? '',
        model: model.body.result.sys_id ?? '',
      }),
    );
    expect(ok.body.result.items[0]?.operation).toBe('INSERT');
    const stage = (await api.get<Many>('/api/now/table/life_cycle_stage?sysparm_query=name=Operational')).body
      .result[0]?.sys_id;
    const learning = (
      await api.get<Many>(
        '/api/now/table/life_cycle_stage_status?sysparm_query=life_cycle_stage.name=Operational^name=Learning',
      )
    ).body.result[0]?.sys_id;
    const sensor = await ire({
      items: [
        {
          className: 'cmdb_ci_nids',
          values: {
            name: 'sensor-lc',
            correlation_id: '/sites/plant-9/sensors/sensor-lc',
            life_cycle_stage: stage,
            life_cycle_stage_status: learning,
            manufacturer: company.body.result.sys_id,
          },
        },
      ],
    });
    expect(sensor.body.result.items[0]?.operation).toBe('INSERT');
    const textual = await ire({
      items: [
        {
          className: 'cmdb_ci_nids',
          values: { name: 'sensor-lc', life_cycle_stage: 'Operational', life_cycle_stage_status: 'Learning' },
        },
      ],
    });
    expect(textual.body.result.items[0]?.errors).toEqual([
      invalid('Operational', 'life_cycle_stage'),
      invalid('Learning', 'life_cycle_stage_status'),
    ]);
  });

  it('/query reports the same error and commits nothing', async () => {
    const res = await ire(
      { items: [{ className: 'cmdb_ci_ot_plc', values: { name: 'ref-sim', location: 'Plant 1' } }] },
      '/query?sysparm_data_source=Snowline',
    );
    expect(res.body.result.items[0]?.errors).toEqual([invalid('Plant 1', 'cmn_location')]);
  });
});

// [SND] markdown/operational-technology/operational-technology-manager/attribute-mapping-sgc-msft-d4iot-azure.md
// (table_gth_v4f_d1c) for the classes; cmdb-ci-class-models-operation-technology.md for the rules.
describe('every class the connector targets is writable through IRE (attribute-mapping-sgc-msft-d4iot-azure.md)', () => {
  it('inserts one CI per class under its rule, with an OT device record, and a replay changes nothing', async () => {
    const items = connectorTargetClasses.map((cls) => ({
      className: cls,
      values: { name: `every-class-${cls}` },
      related: [{ className: 'cmdb_ot_entity', values: { ot_asset_type: otEntityTypeSysId('Unknown') } }],
    }));
    const first = await ire({ items });
    const expectedRule = (cls: string): string =>
      cls === 'cmdb_ci_ot_control_module'
        ? 'OT Control Module Rule'
        : cls.startsWith('cmdb_ci_ot')
          ? 'OT Rule'
          : 'Hardware Rule';
    first.body.result.items.forEach((item, i) => {
      const cls = connectorTargetClasses[i] ?? '';
      expect(item, cls).toMatchObject({ className: cls, operation: 'INSERT', errorCount: 0 });
      const attempts = item.identificationAttempts as Array<{ identifierName?: string }>;
      expect(attempts.map((a) => a.identifierName).filter(Boolean)[0], cls).toBe(expectedRule(cls));
    });
    const stored = await api.get<Many>(
      '/api/now/table/cmdb_ci?sysparm_query=nameSTARTSWITHevery-class-^cmdb_ot_entityISNOTEMPTY&sysparm_fields=sys_class_name',
    );
    expect(stored.body.result.map((r) => r.sys_class_name).sort()).toEqual(
      [...connectorTargetClasses].sort(),
    );
    const replay = await ire({ items });
    expect(new Set(replay.body.result.items.map((i) => i.operation))).toEqual(new Set(['NO_CHANGE']));
  });
});

// [SND] markdown/servicenow-platform/configuration-management-database-cmdb/c_CIReclassification.md,
// properties-id-reconciliation.md and id-engine-error-messages.md (RECLASSIFICATION_NOT_ALLOWED);
// operations from markdown/api-reference/rest-apis/c_IdentifyReconcileAPI.md.
describe('CI reclassification (c_CIReclassification.md, properties-id-reconciliation.md)', () => {
  type Item = IreItem & { info?: Array<{ code: string; message: string; ruleSysId: string }> };
  const setProperties = async (props: Record<string, string | boolean>): Promise<void> => {
    const res = await api.post('/_sandbox/properties', props);
    expect(res.status).toBe(200);
  };
  const classOf = async (sysId: string): Promise<string | undefined> =>
    (
      await api.get<{ result: Record<string, string> }>(
        `/api/now/table/cmdb_ci/${sysId}?sysparm_fields=sys_class_name,firmware_version`,
      )
    ).body.result.sys_class_name;
  const create = async (className: string, name: string): Promise<string> => {
    const res = await ire({ items: [{ className, values: { name } }] });
    expect(res.body.result.items[0]?.operation).toBe('INSERT');
    return res.body.result.items[0]?.sysId ?? '';
  };
  const tasksFor = async (sysId: string): Promise<Array<Record<string, string>>> =>
    (
      await api.get<Many>(
        `/api/now/table/reclassification_task?sysparm_query=cmdb_ci=${sysId}&sysparm_exclude_reference_link=true`,
      )
    ).body.result;
  const notAllowed = (from: string, to: string): { error: string; message: string } => ({
    error: 'RECLASSIFICATION_NOT_ALLOWED',
    message: `CI Reclassification not allowed from class: [${from}] to [${to}]`,
  });

  it('by default downgrades to an ancestor and switches to a sibling with the same rule', async () => {
    const plc = await create('cmdb_ci_ot_plc', 'reclass-down');
    const down = await ire({ items: [{ className: 'cmdb_ci_ot', values: { name: 'reclass-down' } }] });
    expect(down.body.result.items[0]).toMatchObject({ operation: 'UPDATE_WITH_DOWNGRADE', sysId: plc });
    expect(await classOf(plc)).toBe('cmdb_ci_ot');
    const hmi = await create('cmdb_ci_ot_plc', 'reclass-switch');
    const sw = await ire({ items: [{ className: 'cmdb_ci_ot_hmi', values: { name: 'reclass-switch' } }] });
    expect(sw.body.result.items[0]).toMatchObject({ operation: 'UPDATE_WITH_SWITCH', sysId: hmi });
    expect(await classOf(hmi)).toBe('cmdb_ci_ot_hmi');
    const linux = await create('cmdb_ci_linux_server', 'reclass-os');
    const win = await ire({ items: [{ className: 'cmdb_ci_win_server', values: { name: 'reclass-os' } }] });
    expect(win.body.result.items[0]).toMatchObject({ operation: 'UPDATE_WITH_SWITCH', sysId: linux });
  });

  it('refuses a change between classes with different identification rules and opens a reclassification task', async () => {
    const historian = await create('cmdb_ci_ot_historian', 'reclass-rules');
    const res = await ire({
      items: [{ className: 'cmdb_ci_win_server', values: { name: 'reclass-rules', firmware_version: '9' } }],
    });
    const item = res.body.result.items[0] as Item;
    expect(item).toMatchObject({ sysId: 'Unknown', errorCount: 1 });
    expect(item.errors).toEqual([notAllowed('cmdb_ci_ot_historian', 'cmdb_ci_win_server')]);
    expect(await classOf(historian)).toBe('cmdb_ci_ot_historian');
    const tasks = await tasksFor(historian);
    expect(tasks).toHaveLength(1);
    expect(tasks[0]?.description).toContain('cmdb_ci_win_server');
    expect(tasks[0]?.internal_payload).toContain('reclass-rules');
  });

  it('with glide.class.<kind>.enabled false refuses that kind only, and /query opens no task', async () => {
    try {
      await setProperties({ 'glide.class.switch.enabled': false, 'glide.class.downgrade.enabled': 'false' });
      const plc = await create('cmdb_ci_ot_plc', 'reclass-off');
      const sim = await ire(
        { items: [{ className: 'cmdb_ci_ot_rtu', values: { name: 'reclass-off' } }] },
        '/query?sysparm_data_source=Snowline',
      );
      expect(sim.body.result.items[0]?.errors).toEqual([notAllowed('cmdb_ci_ot_plc', 'cmdb_ci_ot_rtu')]);
      expect(await tasksFor(plc)).toEqual([]);
      const sw = await ire({ items: [{ className: 'cmdb_ci_ot_rtu', values: { name: 'reclass-off' } }] });
      expect(sw.body.result.items[0]?.errors).toEqual([notAllowed('cmdb_ci_ot_plc', 'cmdb_ci_ot_rtu')]);
      const down = await ire({
        items: [{ className: 'cmdb_ci_ot_control', values: { name: 'reclass-off' } }],
      });
      expect(down.body.result.items[0]?.errors?.[0]?.error).toBe('RECLASSIFICATION_NOT_ALLOWED');
      expect(await tasksFor(plc)).toHaveLength(2);
      expect(await classOf(plc)).toBe('cmdb_ci_ot_plc');
      // The payload flag overrides the property for its item.
      const flagged = await ire({
        items: [{ className: 'cmdb_ci_ot_rtu', classSwitch: true, values: { name: 'reclass-off' } }],
      });
      expect(flagged.body.result.items[0]?.operation).toBe('UPDATE_WITH_SWITCH');
      const generic = await create('cmdb_ci_ot', 'reclass-up-still');
      const up = await ire({
        items: [{ className: 'cmdb_ci_ot_plc', values: { name: 'reclass-up-still' } }],
      });
      expect(up.body.result.items[0]).toMatchObject({ operation: 'UPDATE_WITH_UPGRADE', sysId: generic });
    } finally {
      await setProperties({ 'glide.class.switch.enabled': true, 'glide.class.downgrade.enabled': true });
    }
  });

  it('update-without (item setting or property) updates the CI, keeps its class and says so in info[]', async () => {
    const plc = await create('cmdb_ci_ot_plc', 'reclass-keep');
    const res = await ire({
      items: [
        {
          className: 'cmdb_ci_ot',
          settings: { updateWithoutDowngrade: true },
          values: { name: 'reclass-keep', firmware_version: '7.1' },
        },
      ],
    });
    const item = res.body.result.items[0] as Item;
    expect(item).toMatchObject({ operation: 'UPDATE', sysId: plc });
    expect(item.info).toEqual([
      { code: 'SKIPPED_CLASS_DOWNGRADE', message: expect.any(String), ruleSysId: '' },
    ]);
    expect(await classOf(plc)).toBe('cmdb_ci_ot_plc');
    try {
      await setProperties({ 'glide.identification_engine.update_without_switch_enabled': 'true' });
      const sw = await ire({ items: [{ className: 'cmdb_ci_ot_hmi', values: { name: 'reclass-keep' } }] });
      expect((sw.body.result.items[0] as Item).info?.[0]?.code).toBe('SKIPPED_CLASS_SWITCH');
      expect(await classOf(plc)).toBe('cmdb_ci_ot_plc');
      expect(await tasksFor(plc)).toEqual([]);
    } finally {
      await setProperties({ 'glide.identification_engine.update_without_switch_enabled': 'false' });
    }
  });

  it('serves the properties on the control API; sys_properties itself is not readable without admin', async () => {
    const props = await api.get<Record<string, string>>('/_sandbox/properties');
    expect(props.body).toMatchObject({
      'glide.class.upgrade.enabled': 'true',
      'glide.class.downgrade.enabled': 'true',
      'glide.class.switch.enabled': 'true',
    });
    expect((await api.get('/api/now/table/sys_properties')).status).toBe(403);
  });
});

// [SND] support-for-msft-defender-iot-azure.md: with sn_msftd4iotazvr.require_ci_match false the
// integration "allows the creation of unclassed hardware CIs". Their identification is the Hardware
// Rule's: serial number (lookup, then attribute), name, then the NIC's mac_address + name as a
// lookup ([SND] t_CreateCIIdentificationRule.md "the pre-defined Hardware Rule applies to the Hardware
// [cmdb_ci_hardware] table"; the attempts of c_IdentifyReconcileAPI.md's examples).
describe('unclassed hardware CIs (support-for-msft-defender-iot-azure.md, t_CreateCIIdentificationRule.md)', () => {
  const nic = {
    className: 'cmdb_ci_network_adapter',
    values: { name: 'eth0', mac_address: 'aa:bb:cc:0f:00:01' },
  };
  /** The identifier entry that matched: its attributes and the table it searched. */
  const matchedBy = (item: IreItem): unknown =>
    (
      item.identificationAttempts as Array<{
        attemptResult: string;
        attributes: string[];
        searchOnTable: string;
      }>
    )
      .filter((a) => a.attemptResult !== 'SKIPPED')
      .map((a) => [a.attemptResult, a.attributes.join('+'), a.searchOnTable]);

  it('inserts cmdb_ci_hardware by name, serial number and NIC, then finds it by each', async () => {
    const first = await ire({
      items: [
        {
          className: 'cmdb_ci_hardware',
          values: { name: 'unclassed-1', serial_number: 'SN-UH-1', mac_address: 'aa:bb:cc:0f:00:01' },
          lookup: [nic],
        },
      ],
    });
    const inserted = first.body.result.items[0] as IreItem;
    expect(inserted).toMatchObject({ className: 'cmdb_ci_hardware', operation: 'INSERT', errorCount: 0 });
    const ci = (
      await api.get<{ result: Record<string, string> }>(
        `/api/now/table/cmdb_ci/${inserted.sysId}?sysparm_fields=name,serial_number,sys_class_name`,
      )
    ).body.result;
    expect(ci).toEqual({ name: 'unclassed-1', serial_number: 'SN-UH-1', sys_class_name: 'cmdb_ci_hardware' });
    const nics = await api.get<Many>(
      `/api/now/table/cmdb_ci_network_adapter?sysparm_query=cmdb_ci=${inserted.sysId}&sysparm_fields=name,mac_address`,
    );
    expect(nics.body.result).toEqual([{ name: 'eth0', mac_address: 'aa:bb:cc:0f:00:01' }]);

    const bySerial = await ire({
      items: [{ className: 'cmdb_ci_hardware', values: { serial_number: 'SN-UH-1' } }],
    });
    const byName = await ire({ items: [{ className: 'cmdb_ci_hardware', values: { name: 'unclassed-1' } }] });
    const byNic = await ire({ items: [{ className: 'cmdb_ci_hardware', values: {}, lookup: [nic] }] });
    for (const res of [bySerial, byName, byNic])
      expect(res.body.result.items[0]).toMatchObject({
        sysId: inserted.sysId,
        operation: 'NO_CHANGE',
        errorCount: 0,
      });
    expect(matchedBy(bySerial.body.result.items[0] as IreItem)).toEqual([
      ['MATCHED', 'serial_number', 'cmdb_ci_hardware'],
    ]);
    expect(matchedBy(byName.body.result.items[0] as IreItem)).toEqual([
      ['MATCHED', 'name', 'cmdb_ci_hardware'],
    ]);
    expect(matchedBy(byNic.body.result.items[0] as IreItem)).toEqual([
      ['MATCHED', 'mac_address+name', 'cmdb_ci_network_adapter'],
    ]);
  });
});
