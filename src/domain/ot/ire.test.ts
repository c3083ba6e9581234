import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { contentHash } from '../hash.js';
import {
  classForDevice,
  classForDeviceType,
  CONNECTOR_CLASS_ROWS,
  FALLBACK_CLASS,
  OS_CLASS_ROWS,
} from './classes.js';
import {
  connectionGroup,
  deviceReference,
  deviceGroup,
  packPayloads,
  NEW_SENSOR_VALUES,
  sensorGroup,
  siteGroup,
  withValues,
  type IreGroup,
  type MappingContext,
} from './ire.js';
import { purdueLevelOf } from './purdue.js';
import type { OtDevice, OtSensor } from './records.js';
import { normaliseMac } from './records.js';

const context: MappingContext = {
  integrationId: 'plant-a',
  dataSource: 'Snowline',
  references: {
    otTypes: new Map([
      ['plc', 'type-plc'],
      ['historian', 'type-historian'],
    ]),
    companies: new Map([['siemens', 'company-siemens']]),
    lifeCycle: { operational: 'stage-op', inUse: 'status-in-use', learning: 'status-learning' },
  },
};
const sensor: OtSensor = {
  key: 'line-1',
  name: 'line-1',
  zone: 'Line 1',
  site: 'Plant A',
  purdueLevel: 1,
  learningMode: false,
  connected: true,
};

function device(overrides: Partial<OtDevice> = {}): OtDevice {
  return {
    key: '17',
    name: 'PLC-17',
    deviceType: 'PLC',
    category: 'ICS',
    vendor: 'Siemens',
    model: 'S7-1500',
    serialNumber: 'SN-17',
    firmwareVersion: '2.9.4',
    nics: [{ mac: '00-1B-1B-AA-BB-CC', ip: '10.1.0.17' }, { mac: '00:1b:1b:aa:bb:cc' }],
    modules: [{ rack: '0', slot: '3', model: 'CPU 1516', serialNumber: 'M-3', firmwareVersion: '2.9' }],
    protocols: ['S7', 'Profinet'],
    purdueLayer: 'Process Control',
    criticality: 'High',
    sensorKeys: ['line-1'],
    ...overrides,
  };
}

describe('device classes and Purdue levels', () => {
  it('maps device types to classes, case-insensitively, with overrides and a fallback', () => {
    expect(classForDeviceType('Engineering Station')).toEqual({
      className: 'cmdb_ci_ot_ews',
      otAssetType: 'EWS',
      allowOsClassification: true,
    });
    expect(classForDeviceType('dcs controller').className).toBe('cmdb_ci_ot_dcs');
    expect(classForDeviceType('Switch').className).toBe('cmdb_ci_ip_switch');
    expect(classForDeviceType('Coffee Machine')).toMatchObject(FALLBACK_CLASS);
    expect(classForDeviceType('PLC', { plc: { className: 'cmdb_ci_ot_control' } }).className).toBe(
      'cmdb_ci_ot_control',
    );
  });

  // ServiceNow/ServiceNowDocs attribute-mapping-sgc-msft-d4iot-azure.md (and -on-prem.md), table
  // table_gth_v4f_d1c, transcribed in docs/research/ot-connector-mapping.md §1(c).
  it.each([
    ['Protocol Converter', 'cmdb_ci_netgear', undefined],
    ['VPN Gateway', 'cmdb_ci_netgear', undefined],
    ['Multicast/Broadcast', 'cmdb_ci_netgear', undefined],
    ['Alarm System', 'cmdb_ci_ot_control', 'OT Control System'],
    ['Robot Controller', 'cmdb_ci_ot_control', 'OT Control System'],
    ['Meter', 'cmdb_ci_ot_industrial_sensor', 'Industrial Sensor'],
    ['Servo Drive', 'cmdb_ci_ot_industrial_actuator', 'Industrial Actuator'],
    ['Pneumatic Device', 'cmdb_ci_ot_industrial_actuator', 'Industrial Actuator'],
    ['Variable Frequency Drive', 'cmdb_ci_ot_industrial_drive', 'Industrial Drive'],
    ['Industrial Robot', 'cmdb_ci_ot_industrial_robot', 'Industrial Robot'],
    ['Industrial Scale', 'cmdb_ci_ot_field_device', 'OT Field Device'],
    ['Industrial Packaging System', 'cmdb_ci_ot_field_device', 'OT Field Device'],
    ['IP Camera', 'cmdb_ci_ip_camera', undefined],
    ['IP Telephone', 'cmdb_ci_ip_phone', undefined],
    ['Printer', 'cmdb_ci_printer', undefined],
    ['Uninterruptable Power Supply', 'cmdb_ci_ups', undefined],
    ['HVAC', 'cmdb_ci_hvac', undefined],
    ['Wireless Access Point', 'cmdb_ci_wap_network', undefined],
    ['Smart TV', 'cmdb_ci_stv', undefined],
    ['Tablet', 'cmdb_ci_handheld_computing', undefined],
    ['DCS Controller', 'cmdb_ci_ot_dcs', undefined],
    ['Unknown', 'cmdb_ci_ot', 'Operational Technology (OT)'],
    ['OPC Server', 'cmdb_ci_ot', 'Operational Technology (OT)'],
  ])('maps subtype %s to %s (OT type %s) as the connector does', (subType, className, otAssetType) => {
    const mapped = classForDevice({ deviceType: subType });
    expect(mapped.className).toBe(className);
    expect(mapped.otAssetType).toBe(otAssetType);
  });

  it('has every row of the connector table once, with errata only where the page is wrong', () => {
    expect(CONNECTOR_CLASS_ROWS).toHaveLength(65);
    expect(new Set(CONNECTOR_CLASS_ROWS.map((r) => r.subType.toLowerCase())).size).toBe(65);
    expect(CONNECTOR_CLASS_ROWS.filter((r) => r.erratum).map((r) => r.subType)).toEqual([
      'I/O Adapter',
      'IED',
      'Physical Location',
    ]);
    expect(OS_CLASS_ROWS.filter((r) => r.erratum).map((r) => r.className)).toEqual(['cmdb_ci_win_server']);
  });

  it('reclassifies by operating system, keeping the OT type, except network and IoT subtypes', () => {
    // "if Historian is the target class but Windows Server OS is found in the payload, the CI is
    // classified as a Windows Server CI and its OT device type is set to Historian"
    // (sgc-microsoft-d4iot-azure-classes.md). The page's table says cmdb_ci_linux_server: erratum.
    expect(classForDevice({ deviceType: 'Historian', operatingSystem: 'Windows Server 2019' })).toMatchObject(
      {
        className: 'cmdb_ci_win_server',
        otAssetType: 'Historian',
      },
    );
    expect(
      classForDevice({ deviceType: 'Engineering Station', operatingSystem: 'Windows 10' }),
    ).toMatchObject({
      className: 'cmdb_ci_computer',
      otAssetType: 'EWS',
    });
    expect(classForDevice({ deviceType: 'Server', operatingSystem: 'Ubuntu 22.04' }).className).toBe(
      'cmdb_ci_linux_server',
    );
    expect(classForDevice({ deviceType: 'PLC', operatingSystem: 'VxWorks' }).className).toBe(
      'cmdb_ci_ot_plc',
    );
    expect(classForDevice({ deviceType: 'IP Camera', operatingSystem: 'Linux' }).className).toBe(
      'cmdb_ci_ip_camera',
    );
    expect(classForDevice({ deviceType: 'Switch', operatingSystem: 'Cisco IOS' }).className).toBe(
      'cmdb_ci_ip_switch',
    );
    // "darwin" is not "win": names match as whole words.
    expect(classForDevice({ deviceType: 'Workstation', operatingSystem: 'Darwin' }).className).toBe(
      'cmdb_ci_computer',
    );
    // An override is taken as written unless it asks for OS classification.
    expect(
      classForDevice(
        { deviceType: 'Historian', operatingSystem: 'Linux' },
        { historian: { className: 'cmdb_ci_ot_historian' } },
      ).className,
    ).toBe('cmdb_ci_ot_historian');
  });

  it('writes OS fields on computers and key/run state on PLCs only', () => {
    const historian = deviceGroup(
      context,
      device({
        deviceType: 'Historian',
        operatingSystem: 'Windows Server 2016',
        osVersion: '1607',
        osPlatform: 'Windows',
        osArchitecture: 'x64',
        modules: [],
      }),
      { sensors: [] },
    );
    expect(historian.items[0]).toMatchObject({
      className: 'cmdb_ci_win_server',
      values: { os: 'Windows Server 2016', os_version: '1607', os_domain: 'Windows', os_address_width: '64' },
    });
    expect(historian.items[0]!.related![0]!.values.ot_asset_type).toBe('type-historian');
    const plc = deviceGroup(
      context,
      device({ plcKeyState: 'Run', plcRunState: 'Remote', operatingSystem: 'Linux' }),
      {
        sensors: [],
      },
    );
    // A PLC that reports Linux is still an OT device whose OS reclassifies it (the page's rule), so
    // key/run state goes only where the class is a PLC.
    expect(plc.items[0]!.className).toBe('cmdb_ci_linux_server');
    expect(plc.items[0]!.values).not.toHaveProperty('switch_position');
    const plain = deviceGroup(context, device({ plcKeyState: 'Run', plcRunState: 'Remote' }), {
      sensors: [],
    });
    expect(plain.items[0]!.values).toMatchObject({ switch_position: 'Run', switch_remote_mode: 'Remote' });
    expect(plain.items[0]!.values).not.toHaveProperty('os');
  });

  it('takes the type refinement, then the numeric level, then the layer, then the sensor', () => {
    expect(purdueLevelOf({ deviceType: 'Industrial Sensor', purdueLevel: 2 })).toBe(0);
    expect(purdueLevelOf({ deviceType: 'PLC', purdueLevel: 2, purdueLayer: 'Enterprise' })).toBe(2);
    expect(purdueLevelOf({ deviceType: 'PLC', purdueLayer: 'ProcessControl' })).toBe(1);
    expect(purdueLevelOf({ deviceType: 'HMI', purdueLayer: 'Supervisory' })).toBe(2);
    expect(
      purdueLevelOf({ deviceType: 'HMI', purdueLayer: 'Enterprise' }, { layerLevels: { enterprise: 3.5 } }),
    ).toBe(3.5);
    expect(purdueLevelOf({ deviceType: 'HMI' }, { sensorLevel: 3 })).toBe(3);
    expect(purdueLevelOf({ deviceType: 'HMI' })).toBeUndefined();
  });

  it('normalises MAC addresses and rejects what is not one', () => {
    expect(normaliseMac('00-1B-1B-AA-BB-CC')).toBe('00:1b:1b:aa:bb:cc');
    expect(normaliseMac('001b.1baa.bbcc')).toBe('00:1b:1b:aa:bb:cc');
    expect(normaliseMac('not a mac')).toBeUndefined();
  });
});

describe('IRE mapping', () => {
  it('links a vendor with spaces or a newline around it to the company made for its trimmed name', () => {
    for (const vendor of ['  Siemens\n', 'SIEMENS\t']) {
      const [ci] = deviceGroup(context, device({ vendor }), { sensors: [sensor] }).items;
      expect(ci!.values.manufacturer, JSON.stringify(vendor)).toBe('company-siemens');
    }
  });

  it('maps a device with its OT details, NICs, IPs, modules and the sensor that detects it', () => {
    const g = deviceGroup(context, device(), { sensors: [sensor], siteSysId: 'site-sys' });
    const [ci, ip, module, sensorRef] = g.items;
    expect(ci).toMatchObject({
      className: 'cmdb_ci_ot_plc',
      values: {
        name: 'PLC-17',
        serial_number: 'SN-17',
        firmware_version: '2.9.4',
        manufacturer: 'company-siemens',
        install_status: '1',
        has_module: 'true',
      },
      // Serial number and NIC identify the device through lookup tables, as the OT rule does: the
      // duplicate NIC (same MAC, another spelling) is sent once.
      lookup: [
        {
          className: 'cmdb_serial_number',
          values: { serial_number: 'SN-17', serial_number_type: 'system', valid: 'true' },
        },
        {
          className: 'cmdb_ci_network_adapter',
          values: { name: '00:1b:1b:aa:bb:cc', mac_address: '00:1b:1b:aa:bb:cc' },
        },
      ],
      sys_object_source_info: { source_name: 'Snowline', source_native_key: 'plant-a:device:17' },
    });
    expect(ci!.values).not.toHaveProperty('last_discovered');
    expect(ci!.related![0]).toEqual({
      className: 'cmdb_ot_entity',
      values: {
        ot_asset_type: 'type-plc',
        purdue_level: '1.0',
        zone: 'Line 1',
        business_criticality: 'High',
        isa_entity_site: 'site-sys',
        ot_correlation_id: 'plant-a:device:17',
      },
    });
    expect(ci!.related!.map((r) => r.values.key).filter(Boolean)).toContain('defender.vendor');
    expect(ip).toMatchObject({
      className: 'cmdb_ci_ip_address',
      values: { ip_address: '10.1.0.17', ip_version: '4' },
    });
    expect(module).toMatchObject({
      className: 'cmdb_ci_ot_control_module',
      values: { slot_number: '3', rack_number: '0' },
    });
    expect(sensorRef).toMatchObject({
      className: 'cmdb_ci_nids',
      sys_object_source_info: { source_native_key: 'plant-a:sensor:line-1' },
    });
    expect(g.items).toHaveLength(4);
    expect(g.relations).toEqual([
      { parent: 0, child: 1, type: 'Owns::Owned by' },
      { parent: 0, child: 2, type: 'Owns::Owned by' },
      { parent: 3, child: 0, type: 'Detects::Detected by' },
    ]);
  });

  // attribute-mapping-sgc-msft-d4iot-azure.md: device `id` → "snk in sys_object_source" and the
  // OT discovery source id; sensor `id` → snk and `correlation_id`.
  it('keys a Resource Graph device and sensor by their Azure resource ids, as the connector does', () => {
    const deviceId =
      '/subscriptions/s1/providers/Microsoft.IoTSecurity/locations/eastus/deviceGroups/plant-a/devices/17';
    const sensorId =
      '/subscriptions/s1/resourceGroups/ot/providers/Microsoft.IoTSecurity/sites/plant-a/sensors/line-1';
    const cloudSensor = { ...sensor, nativeKey: sensorId };
    const g = deviceGroup(context, device({ nativeKey: deviceId }), { sensors: [cloudSensor] });
    expect(g.key).toBe('17');
    expect(g.items[0]!.sys_object_source_info).toEqual({
      source_name: 'Snowline',
      source_native_key: deviceId,
    });
    expect(g.items[0]!.related![0]!.values.ot_correlation_id).toBe(deviceId);
    expect(g.items.at(-1)!.sys_object_source_info!.source_native_key).toBe(sensorId);
    const nids = sensorGroup(context, cloudSensor).items[0]!;
    expect(nids.values.correlation_id).toBe(sensorId);
    expect(nids.sys_object_source_info!.source_native_key).toBe(sensorId);
    expect(deviceReference(context, { ...device(), nativeKey: deviceId }).sys_object_source_info).toEqual({
      source_name: 'Snowline',
      source_native_key: deviceId,
    });
  });

  // cmdb-ci-class-models-operation-technology.md: the OT Control Module rule has no External system
  // metadata related entry, and IRE refuses a related item its rule lacks.
  it('sends a Slot device as a control module without external system metadata', () => {
    const slot = deviceGroup(context, device({ deviceType: 'Slot' }), { sensors: [] }).items[0]!;
    expect(slot.className).toBe('cmdb_ci_ot_control_module');
    expect(slot.related!.map((r) => r.className)).toEqual(['cmdb_ot_entity']);
    const plc = deviceGroup(context, device(), { sensors: [] }).items[0]!;
    expect(plc.related!.map((r) => r.className)).toContain('cmdb_key_value_v2');
  });

  it('writes modules only under control systems, and retires without deleting', () => {
    expect(
      deviceGroup(context, device({ deviceType: 'HMI' }), { sensors: [] }).items.map((i) => i.className),
    ).toEqual(['cmdb_ci_ot_hmi', 'cmdb_ci_ip_address']);
    const retired = deviceGroup(context, device(), { sensors: [sensor], retired: true });
    expect(retired.items[0]!.values).toMatchObject({ install_status: '7', operational_status: '6' });
  });

  it('hashes content, not key order or last-seen time', () => {
    const base = deviceGroup(context, device(), { sensors: [sensor] }).hash;
    expect(deviceGroup(context, device({ lastSeen: new Date() }), { sensors: [sensor] }).hash).toBe(base);
    expect(deviceGroup(context, device({ firmwareVersion: '3.0' }), { sensors: [sensor] }).hash).not.toBe(
      base,
    );
    expect(contentHash({ a: 1, b: { c: 2, d: 3 } })).toBe(contentHash({ b: { d: 3, c: 2 }, a: 1 }));
  });

  it('maps sensors, learning mode included, and sites', () => {
    const learning = sensorGroup(context, {
      ...sensor,
      learningMode: true,
      ip: '10.0.0.5',
      mac: 'AA:BB:CC:00:11:22',
    });
    expect(learning.items[0]!.values).toMatchObject({
      life_cycle_stage: 'stage-op',
      life_cycle_stage_status: 'status-learning',
      connection_state: 'Connected',
    });
    // The NIDS network type is the admin's once the sensor exists: the flow adds it on creation only.
    expect(learning.items[0]!.values).not.toHaveProperty('network_type_assignment');
    const created = withValues(learning, { 0: NEW_SENSOR_VALUES });
    expect(created.items[0]!.values.network_type_assignment).toBe('OT');
    expect(created.hash).toBe(learning.hash);
    // References with no record found are left out, never sent as text.
    const bare = sensorGroup(
      { integrationId: 'plant-a', dataSource: 'Snowline' },
      { ...sensor, learningMode: false },
    );
    expect(bare.items[0]!.values).not.toHaveProperty('life_cycle_stage');
    expect(bare.items[0]!.values).not.toHaveProperty('life_cycle_stage_status');
    expect(learning.items.map((i) => i.className)).toEqual([
      'cmdb_ci_nids',
      'cmdb_ci_network_adapter',
      'cmdb_ci_ip_address',
    ]);
    // A site is an ISA entity without a parent, level or level type (ot-use-case.md).
    expect(siteGroup(context, { key: 'rtm', name: 'Rotterdam' }).items[0]).toMatchObject({
      className: 'cmdb_ci_ot_isa_entity',
      values: { name: 'Rotterdam' },
    });
    expect(Object.keys(siteGroup(context, { key: 'rtm', name: 'Rotterdam' }).items[0]!.values)).toEqual([
      'name',
    ]);
  });

  it('maps a connection between two devices with IPs, and skips one without', () => {
    const a = { ...device(), sysId: 'sys-a' };
    const b = {
      ...device({ key: '18', name: 'HMI-18', deviceType: 'HMI', nics: [{ ip: '10.1.0.18' }] }),
      sysId: 'sys-b',
    };
    const g = connectionGroup(
      context,
      {
        key: '17-18',
        sourceDeviceKey: '17',
        destinationDeviceKey: '18',
        ports: [502, 102],
        protocols: ['Modbus'],
      },
      { source: a, destination: b },
    )!;
    expect(g.items[0]).toMatchObject({
      className: 'sn_ot_device_network_connection',
      values: {
        source_ip: '10.1.0.17',
        destination_ip: '10.1.0.18',
        destination_port: '102',
        source_ci: 'sys-a',
        destination_ci: 'sys-b',
      },
    });
    expect(g.relations).toEqual([{ parent: 1, child: 2, type: 'Connects to::Connected by' }]);
    expect(
      connectionGroup(
        context,
        { key: 'x', sourceDeviceKey: '17', destinationDeviceKey: '19', ports: [], protocols: [] },
        { source: a, destination: { ...b, nics: [] } },
      ),
    ).toBeUndefined();
  });
});

describe('packing payloads', () => {
  const groupsArb = fc.array(
    fc.record({
      key: fc.integer({ min: 0, max: 500 }),
      nics: fc.integer({ min: 0, max: 3 }),
      sensor: fc.integer({ min: 0, max: 3 }),
    }),
    { maxLength: 60 },
  );

  it('never splits a group, respects the batch size, and keeps every relation pointing at the same content', () => {
    fc.assert(
      fc.property(groupsArb, fc.integer({ min: 1, max: 40 }), (specs, batchSize) => {
        const groups: IreGroup[] = specs.map((s, i) =>
          deviceGroup(
            context,
            device({
              key: `${s.key}-${i}`,
              nics: Array.from({ length: s.nics }, (_, n) => ({ ip: `10.0.${i}.${n}` })),
              modules: [],
            }),
            { sensors: [{ ...sensor, key: `s${s.sensor}`, name: `s${s.sensor}` }] },
          ),
        );
        const payloads = packPayloads(groups, batchSize);
        expect(payloads.flatMap((p) => p.groups.map((g) => g.group))).toEqual(groups);
        for (const { payload, groups: placed } of payloads) {
          const largest = Math.max(...placed.map((p) => p.group.items.length));
          expect(payload.items.length).toBeLessThanOrEqual(Math.max(batchSize, largest));
          for (const { group, index } of placed) expect(payload.items[index]).toEqual(group.items[0]);
          for (const r of payload.relations) {
            expect(payload.items[r.parent]).toBeDefined();
            expect(payload.items[r.child]).toBeDefined();
          }
          // Each sensor reference is sent once per payload however many devices it detects.
          const sensorKeys = payload.items
            .filter((i) => i.className === 'cmdb_ci_nids')
            .map((i) => i.sys_object_source_info!.source_native_key);
          expect(new Set(sensorKeys).size).toBe(sensorKeys.length);
          expect(payload.relations.filter((r) => r.type === 'Detects::Detected by')).toHaveLength(
            placed.length,
          );
        }
      }),
    );
  });
});
