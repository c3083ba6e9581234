/**
 * Which CMDB class a Defender device type lands in, and its OT device type (`cmdb_ot_entity_type`).
 * The defaults follow the ServiceNow Service Graph Connector for Defender for IoT's class
 * mapping; `classMap` in the configuration overrides any entry.
 */
export interface DeviceClass {
  /** The CI class (`sys_class_name`). */
  readonly className: string;
  /** OT device type name, or undefined for IT gear with no OT function. */
  readonly otAssetType?: string;
}

/** The default class map, by device type (case-insensitive). */
export const DEFAULT_CLASS_MAP: Readonly<Record<string, DeviceClass>> = {
  plc: { className: 'cmdb_ci_ot_plc', otAssetType: 'PLC' },
  hmi: { className: 'cmdb_ci_ot_hmi', otAssetType: 'HMI' },
  'engineering station': { className: 'cmdb_ci_ot_ews', otAssetType: 'EWS' },
  historian: { className: 'cmdb_ci_ot_historian', otAssetType: 'Historian' },
  rtu: { className: 'cmdb_ci_ot_rtu', otAssetType: 'RTU' },
  ied: { className: 'cmdb_ci_ot_ied', otAssetType: 'IED' },
  'dcs controller': { className: 'cmdb_ci_ot_dcs', otAssetType: 'DCS' },
  dcs: { className: 'cmdb_ci_ot_dcs', otAssetType: 'DCS' },
  'opc server': { className: 'cmdb_ci_ot_opc_server', otAssetType: 'OPC Server' },
  'scada server': { className: 'cmdb_ci_ot_scada_server', otAssetType: 'SCADA Server' },
  'opc client': { className: 'cmdb_ci_ot_opc_client', otAssetType: 'OPC Client' },
  'scada client': { className: 'cmdb_ci_ot_scada_client', otAssetType: 'SCADA Client' },
  'protocol converter': { className: 'cmdb_ci_protocol_converter', otAssetType: 'Protocol Converter' },
  switch: { className: 'cmdb_ci_ip_switch' },
  router: { className: 'cmdb_ci_ip_router' },
  firewall: { className: 'cmdb_ci_ip_firewall' },
  workstation: { className: 'cmdb_ci_computer' },
  server: { className: 'cmdb_ci_server' },
  'db server': { className: 'cmdb_ci_server' },
};

/** The class of devices no entry matches: the OT base class, so nothing is ever dropped. */
export const FALLBACK_CLASS: DeviceClass = { className: 'cmdb_ci_ot', otAssetType: 'Unknown' };

/**
 * The class of a device type, with configured overrides first.
 *
 * @example
 * classForDeviceType('Engineering Station') // { className: 'cmdb_ci_ot_ews', otAssetType: 'EWS' }
 */
export function classForDeviceType(
  deviceType: string,
  overrides: Readonly<Record<string, DeviceClass>> = {},
): DeviceClass {
  const key = deviceType.trim().toLowerCase();
  for (const [type, mapped] of Object.entries(overrides))
    if (type.trim().toLowerCase() === key) return mapped;
  return DEFAULT_CLASS_MAP[key] ?? FALLBACK_CLASS;
}
