/**
 * Realistic IRE payloads of the shape Snowline's OT inventory flow sends: a NIDS sensor, OT
 * devices (with their `cmdb_ot_entity` details), each device's NIC and IP address as dependent
 * CIs (`Owns::Owned by`), and `Detects::Detected by` from the sensor. Used by the tests and the
 * benchmark; not engine code (the engine has its own mapping).
 *
 * Reference fields carry sys_ids, as IRE requires: the OT device type is a seeded baseline
 * record; manufacturer and model are left out unless the caller passes the sys_ids of records
 * it created (an instance has no Siemens or S7-1500 record out of the box).
 */
import { otEntityTypeSysId } from './baseline.js';

/**
 * Every CMDB class the Defender for IoT connector targets: the "NOW table" column of its device
 * subtype table and the tables of its OS-reclassification rows ([SND]
 * markdown/operational-technology/operational-technology-manager/attribute-mapping-sgc-msft-d4iot-azure.md,
 * table_gth_v4f_d1c; the Windows row's cmdb_ci_linux_server read as cmdb_ci_win_server, see
 * docs/research/ot-connector-mapping.md erratum 1).
 */
export const connectorTargetClasses: readonly string[] = [
  'cmdb_ci_iot',
  'cmdb_ci_ot_control',
  'cmdb_ci_ot_dcs',
  'cmdb_ci_ot_ews',
  'cmdb_ci_ot_historian',
  'cmdb_ci_ot_hmi',
  'cmdb_ci_ot_ied',
  'cmdb_ci_ot_field_device',
  'cmdb_ci_ot_industrial_robot',
  'cmdb_ci_ot_industrial_sensor',
  'cmdb_ci_ot_industrial_actuator',
  'cmdb_ci_ot_industrial_drive',
  'cmdb_ci_ot_plc',
  'cmdb_ci_ot_rtu',
  'cmdb_ci_ot_control_module',
  'cmdb_ci_ot',
  'cmdb_ci_server',
  'cmdb_ci_ip_firewall',
  'cmdb_ci_ip_router',
  'cmdb_ci_ip_switch',
  'cmdb_ci_netgear',
  'cmdb_ci_wap_network',
  'cmdb_ci_game_console',
  'cmdb_ci_hvac',
  'cmdb_ci_ip_camera',
  'cmdb_ci_ip_phone',
  'cmdb_ci_printer',
  'cmdb_ci_handheld_computing',
  'cmdb_ci_stv',
  'cmdb_ci_ups',
  'cmdb_ci_computer',
  'cmdb_ci_win_server',
  'cmdb_ci_linux_server',
  'cmdb_ci_aix_server',
  'cmdb_ci_esx_server',
  'cmdb_ci_hpux_server',
  'cmdb_ci_hyper_v_server',
  'cmdb_ci_solaris_server',
  'cmdb_ci_osx_server',
  'cmdb_ci_unix_server',
];

/** Options of {@link otInventoryPayload}. */
export interface OtPayloadOptions {
  /** First device number (devices are numbered from here). */
  readonly start?: number;
  /** Number of devices (each adds 3 items: device, NIC, IP). */
  readonly devices: number;
  /** Source name (a `cmdb_ci.discovery_source` choice). */
  readonly source?: string;
  /** Firmware written on each device (change it to produce updates). */
  readonly firmware?: string;
  /** Whether to include the sensor item and its Detects relations. */
  readonly withSensor?: boolean;
  /** sys_id of a `core_company` written as each device's manufacturer (none when absent). */
  readonly manufacturer?: string;
  /** sys_id of a `cmdb_model` written as each device's model_id (none when absent). */
  readonly model?: string;
}

const classes = [
  'cmdb_ci_ot_plc',
  'cmdb_ci_ot_hmi',
  'cmdb_ci_ot_ews',
  'cmdb_ci_ot_historian',
  'cmdb_ci_ot_rtu',
  'cmdb_ci_ot_ied',
];
const assetTypes = ['PLC', 'HMI', 'EWS', 'Historian', 'RTU', 'IED'];

/** A MAC address for device `n` (lower-case, colon-separated, zero-padded). */
export function macFor(n: number): string {
  const hex = n.toString(16).padStart(6, '0');
  return `f8:f2:1e:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}

/** An IPv4 address for device `n`. */
export function ipFor(n: number): string {
  return `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

/** Builds one IRE payload. With the sensor, `devices` = 33 gives 100 items. */
export function otInventoryPayload(opts: OtPayloadOptions): { items: unknown[]; relations: unknown[] } {
  const source = opts.source ?? 'Snowline';
  const start = opts.start ?? 0;
  const items: unknown[] = [];
  const relations: unknown[] = [];
  let sensorIndex: number | undefined;
  if (opts.withSensor ?? true) {
    sensorIndex = items.length;
    items.push({
      className: 'cmdb_ci_nids',
      values: {
        name: 'sensor-1',
        correlation_id: '/sites/plant-1/sensors/sensor-1',
        fqdn: 'sensor-1.plant.example',
        firmware_version: '22.2.5.9',
        validated: 'true',
      },
      sys_object_source_info: { source_name: source, source_native_key: '/sites/plant-1/sensors/sensor-1' },
    });
  }
  for (let i = 0; i < opts.devices; i++) {
    const n = start + i;
    const kind = n % classes.length;
    const device = items.length;
    items.push({
      className: classes[kind],
      values: {
        name: `ot-device-${n}`,
        ...(opts.manufacturer === undefined ? {} : { manufacturer: opts.manufacturer }),
        ...(opts.model === undefined ? {} : { model_id: opts.model }),
        firmware_version: opts.firmware ?? '2.9.4',
      },
      related: [
        {
          className: 'cmdb_ot_entity',
          values: {
            purdue_level: '1.0',
            zone: 'zone-a',
            business_criticality: '2',
            ot_correlation_id: `device-${n}`,
            ot_asset_type: otEntityTypeSysId(assetTypes[kind] ?? 'Unknown'),
          },
        },
      ],
      sys_object_source_info: { source_name: source, source_native_key: `/sites/plant-1/devices/${n}` },
    });
    const nic = items.length;
    items.push({ className: 'cmdb_ci_network_adapter', values: { name: macFor(n), mac_address: macFor(n) } });
    const ip = items.length;
    items.push({ className: 'cmdb_ci_ip_address', values: { ip_address: ipFor(n), ip_version: '4' } });
    relations.push({ parent: device, child: nic, type: 'Owns::Owned by' });
    relations.push({ parent: device, child: ip, type: 'Owns::Owned by' });
    if (sensorIndex !== undefined)
      relations.push({ parent: sensorIndex, child: device, type: 'Detects::Detected by' });
  }
  return { items, relations };
}
