/**
 * Which CMDB class a Defender device lands in, and its OT device type (`cmdb_ot_entity_type`),
 * exactly as ServiceNow's own Service Graph Connector for Microsoft Defender for IoT does it.
 *
 * Source of every row: `ServiceNow/ServiceNowDocs`, the connector's attribute-mapping pages,
 * table "Device sub type" (`table_gth_v4f_d1c`):
 * `markdown/operational-technology/operational-technology-manager/attribute-mapping-sgc-msft-d4iot-azure.md`
 * and `attribute-mapping-sgc-msft-d4iot-on-prem.md`. The two pages' tables are identical (checked
 * on the xanadu, yokohama, zurich and australia branches: docs/research/ot-connector-mapping.md),
 * so one table serves every Defender source. Rows the page gets evidently wrong are corrected and
 * carry an `erratum` (listed in docs/ot-inventory.md). `classMap` in the configuration overrides
 * any entry.
 */

/** Where a class sits, which decides whether an operating system may reclassify it. */
export type Designation = 'ot' | 'it' | 'network' | 'iot';

/** A device's class and OT device type. */
export interface DeviceClass {
  /** The CI class (`sys_class_name`). */
  readonly className: string;
  /** OT device type name (a `cmdb_ot_entity_type` record), or undefined where the page says NULL. */
  readonly otAssetType?: string;
  /**
   * The Class Mappings table's "Allow OS classification": when an operating system is found, the
   * CI goes to the class of that OS instead, keeping its OT device type
   * (`sgc-microsoft-d4iot-azure-classes.md`, "Viewing class mappings"). Default: true except for
   * network and IoT designations, which the page's OS rows exclude.
   */
  readonly allowOsClassification?: boolean;
}

/** One row of the connector's subtype table. */
export interface ClassRow extends DeviceClass {
  /** Defender's device subtype display name (`deviceSubTypeDisplayName`), as the page spells it. */
  readonly subType: string;
  readonly designation: Designation;
  /** Why this row differs from the page, when it does. */
  readonly erratum?: string;
}

const OT_NONE = undefined;

/** Every row of the connector's subtype table, in the page's order. */
export const CONNECTOR_CLASS_ROWS: readonly ClassRow[] = [
  { subType: 'Alarm Siren', className: 'cmdb_ci_iot', designation: 'iot' },
  {
    subType: 'Alarm System',
    className: 'cmdb_ci_ot_control',
    otAssetType: 'OT Control System',
    designation: 'ot',
  },
  { subType: 'ATM', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'Backup Server', className: 'cmdb_ci_server', designation: 'it' },
  { subType: 'Barcode Scanner', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'DB Server', className: 'cmdb_ci_server', designation: 'it' },
  { subType: 'DCS Controller', className: 'cmdb_ci_ot_dcs', otAssetType: OT_NONE, designation: 'ot' },
  { subType: 'Domain Controller', className: 'cmdb_ci_server', designation: 'it' },
  { subType: 'Door Control Panel', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'DVR', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'Elevator', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'Engineering Station', className: 'cmdb_ci_ot_ews', otAssetType: 'EWS', designation: 'ot' },
  { subType: 'Fire Alarm', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'Fire Detector', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'Firewall', className: 'cmdb_ci_ip_firewall', designation: 'network' },
  { subType: 'Game console', className: 'cmdb_ci_game_console', designation: 'iot' },
  { subType: 'Historian', className: 'cmdb_ci_ot_historian', otAssetType: 'Historian', designation: 'ot' },
  { subType: 'HMI', className: 'cmdb_ci_ot_hmi', otAssetType: 'HMI', designation: 'ot' },
  { subType: 'Humidity Sensor', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'HVAC', className: 'cmdb_ci_hvac', designation: 'iot' },
  {
    subType: 'I/O Adapter',
    className: 'cmdb_ci_ot',
    otAssetType: 'Operational Technology (OT)',
    designation: 'ot',
    erratum:
      'The page names class "Network Adapter" with no table and OT type "NA". A network adapter is a dependent CI that needs an owning device, so an I/O adapter seen on its own is written like "Any other type" (cmdb_ci_ot).',
  },
  {
    subType: 'IED',
    className: 'cmdb_ci_ot_ied',
    otAssetType: 'IED',
    designation: 'ot',
    erratum:
      'The page writes the OT type in lower case ("ied"); the type record is named IED like every other.',
  },
  {
    subType: 'Industrial Packaging System',
    className: 'cmdb_ci_ot_field_device',
    otAssetType: 'OT Field Device',
    designation: 'ot',
  },
  {
    subType: 'Industrial Robot',
    className: 'cmdb_ci_ot_industrial_robot',
    otAssetType: 'Industrial Robot',
    designation: 'ot',
  },
  {
    subType: 'Industrial Scale',
    className: 'cmdb_ci_ot_field_device',
    otAssetType: 'OT Field Device',
    designation: 'ot',
  },
  { subType: 'Intercom', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'IP Camera', className: 'cmdb_ci_ip_camera', designation: 'iot' },
  { subType: 'IP Telephone', className: 'cmdb_ci_ip_phone', designation: 'iot' },
  { subType: 'Marquee', className: 'cmdb_ci_iot', designation: 'iot' },
  {
    subType: 'Meter',
    className: 'cmdb_ci_ot_industrial_sensor',
    otAssetType: 'Industrial Sensor',
    designation: 'ot',
  },
  { subType: 'Motion Detector', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'Multicast/Broadcast', className: 'cmdb_ci_netgear', designation: 'network' },
  { subType: 'NTP Server', className: 'cmdb_ci_server', designation: 'it' },
  { subType: 'People Counter System', className: 'cmdb_ci_iot', designation: 'iot' },
  {
    subType: 'Physical Location',
    className: 'cmdb_ci_ot',
    otAssetType: 'Operational Technology (OT)',
    designation: 'ot',
    erratum:
      'The page gives no class and no table; written like "Any other type" (cmdb_ci_ot) so nothing is dropped.',
  },
  { subType: 'PLC', className: 'cmdb_ci_ot_plc', otAssetType: 'PLC', designation: 'ot' },
  {
    subType: 'Pneumatic Device',
    className: 'cmdb_ci_ot_industrial_actuator',
    otAssetType: 'Industrial Actuator',
    designation: 'ot',
  },
  { subType: 'Printer', className: 'cmdb_ci_printer', designation: 'iot' },
  { subType: 'Protocol Converter', className: 'cmdb_ci_netgear', designation: 'network' },
  { subType: 'Punch Clock', className: 'cmdb_ci_iot', designation: 'iot' },
  {
    subType: 'Robot Controller',
    className: 'cmdb_ci_ot_control',
    otAssetType: 'OT Control System',
    designation: 'ot',
  },
  { subType: 'Router', className: 'cmdb_ci_ip_router', designation: 'network' },
  { subType: 'RTU', className: 'cmdb_ci_ot_rtu', otAssetType: OT_NONE, designation: 'ot' },
  { subType: 'Server', className: 'cmdb_ci_server', designation: 'it' },
  {
    subType: 'Servo Drive',
    className: 'cmdb_ci_ot_industrial_actuator',
    otAssetType: 'Industrial Actuator',
    designation: 'ot',
  },
  {
    subType: 'Slot',
    className: 'cmdb_ci_ot_control_module',
    otAssetType: 'OT Control Module',
    designation: 'ot',
  },
  { subType: 'Smart Light', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'Smart Phone', className: 'cmdb_ci_handheld_computing', designation: 'iot' },
  { subType: 'Smart Switch', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'Smart TV', className: 'cmdb_ci_stv', designation: 'iot' },
  { subType: 'Storage', className: 'cmdb_ci_server', designation: 'it' },
  { subType: 'Switch', className: 'cmdb_ci_ip_switch', designation: 'network' },
  { subType: 'Tablet', className: 'cmdb_ci_handheld_computing', designation: 'iot' },
  { subType: 'Terminal Station', className: 'cmdb_ci_computer', designation: 'it' },
  { subType: 'Thermostat', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'Turnstile', className: 'cmdb_ci_iot', designation: 'iot' },
  { subType: 'Uninterruptable Power Supply', className: 'cmdb_ci_ups', designation: 'iot' },
  {
    subType: 'Variable Frequency Drive',
    className: 'cmdb_ci_ot_industrial_drive',
    otAssetType: 'Industrial Drive',
    designation: 'ot',
  },
  { subType: 'VPN Gateway', className: 'cmdb_ci_netgear', designation: 'network' },
  { subType: 'Wifi Pineapple', className: 'cmdb_ci_netgear', designation: 'network' },
  { subType: 'Wireless Access Point', className: 'cmdb_ci_wap_network', designation: 'network' },
  { subType: 'WLAN access point', className: 'cmdb_ci_wap_network', designation: 'network' },
  { subType: 'Workstation', className: 'cmdb_ci_computer', designation: 'it' },
  {
    subType: 'Unknown',
    className: 'cmdb_ci_ot',
    otAssetType: 'Operational Technology (OT)',
    designation: 'ot',
  },
  {
    subType: 'Unclassified',
    className: 'cmdb_ci_ot',
    otAssetType: 'Operational Technology (OT)',
    designation: 'ot',
  },
];

/** One OS row of the page ("Any above type value except with designation Network and IoT"). */
export interface OsClassRow {
  /** Operating system names as the page lists them (lower case). */
  readonly names: readonly string[];
  readonly className: string;
  readonly erratum?: string;
}

/**
 * The page's OS reclassification rows, in its order: the first row with a name that the device's
 * operating system contains as a whole word wins (so "windows server 2019" is a Windows server, not
 * "windows", and the catch-all "server" comes last). How the connector matches the names is not
 * documented (UNVERIFIED; searched the Azure and on-premises SGC pages and the OT class-model page).
 */
export const OS_CLASS_ROWS: readonly OsClassRow[] = [
  {
    names: [
      'windows server',
      'windows server, version 2004',
      'windows server, version 1909',
      'windows server, version 1903',
      'windows server 2019',
      'windows server 2016',
      'windows server 2012 r2',
      'windows server 2012',
      'windows server 2008 r2',
      'windows server 2008',
      'windows server 2003 r2',
      'windows server 2003',
      'windows 2000 server',
      'windows nt 4.0 server',
      'windows nt 3.51 server',
      'windows nt 3.5 server',
      'windows nt 3.1 server',
    ],
    className: 'cmdb_ci_win_server',
    erratum:
      'The page names class "Windows Server" but table cmdb_ci_linux_server; Windows Server [cmdb_ci_win_server] is the class the OT class-model page (cmdb-ci-class-models-operation-technology.md) lists for it.',
  },
  {
    names: ['linux', 'arch', 'centos', 'debian', 'fedora', 'suse', 'red hat', 'rhel', 'ubuntu', 'oracle'],
    className: 'cmdb_ci_linux_server',
  },
  { names: ['aix'], className: 'cmdb_ci_aix_server' },
  { names: ['esx'], className: 'cmdb_ci_esx_server' },
  { names: ['hp/ux', 'hpux'], className: 'cmdb_ci_hpux_server' },
  { names: ['hyper-v', 'hyperv', 'hyper'], className: 'cmdb_ci_hyper_v_server' },
  { names: ['solaris', 'sunos', 'sun os'], className: 'cmdb_ci_solaris_server' },
  { names: ['macos x server', 'macos server', 'os x', 'osx'], className: 'cmdb_ci_osx_server' },
  { names: ['unix', 'gnu'], className: 'cmdb_ci_unix_server' },
  {
    names: [
      'win',
      'windows',
      'microsoft',
      ...[
        '1.0',
        '1.02',
        '1.03',
        '1.04',
        '2.03',
        '2.10',
        '2.11',
        '3.0',
        '3.1',
        '3.2',
        '7',
        '8',
        '8.1',
        '10',
        '98',
        '95',
      ].map((v) => `windows ${v}`),
      'windows 2000',
      'windows for workgroups 3.11',
      'windows me',
      ...['3.1', '3.5', '3.51', '4.0'].map((v) => `windows nt ${v}`),
      'windows vista',
      'windows xp',
      'windows xp professional x64 edition',
    ],
    className: 'cmdb_ci_computer',
  },
  { names: ['server'], className: 'cmdb_ci_server' },
];

/** The class of devices no row matches ("Any other type"): the OT base class, so nothing is dropped. */
export const FALLBACK_CLASS: DeviceClass = {
  className: 'cmdb_ci_ot',
  otAssetType: 'Operational Technology (OT)',
};

/** The default class map, by subtype (lower case). */
export const DEFAULT_CLASS_MAP: Readonly<Record<string, DeviceClass>> = Object.fromEntries(
  CONNECTOR_CLASS_ROWS.map((row) => [
    row.subType.toLowerCase(),
    {
      className: row.className,
      ...(row.otAssetType ? { otAssetType: row.otAssetType } : {}),
      allowOsClassification: row.designation === 'ot' || row.designation === 'it',
    },
  ]),
);

/** What the class of a device depends on. */
export interface ClassInput {
  /** Defender's device subtype display name (`PLC`, `IP Camera`…). */
  readonly deviceType: string;
  /** The operating system as the source names it (Resource Graph: `operatingSystem.distribution`). */
  readonly operatingSystem?: string;
}

/** A device's class, with the OS row that reclassified it, when one did. */
export interface ResolvedClass extends DeviceClass {
  readonly reclassifiedBy?: string;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
const OS_PATTERNS = OS_CLASS_ROWS.map((row) => ({
  row,
  pattern: new RegExp(`(^|[^a-z0-9])(${row.names.map(escape).join('|')})($|[^a-z0-9])`),
}));

/** The OS row an operating system falls under, if any. */
export function osClassOf(operatingSystem: string | undefined): OsClassRow | undefined {
  const os = operatingSystem?.trim().toLowerCase();
  if (!os) return undefined;
  return OS_PATTERNS.find((p) => p.pattern.test(os))?.row;
}

/**
 * The class of a device: configured overrides first, then the connector's subtype table, else
 * `cmdb_ci_ot`; then, where the class allows it, its operating system's class, keeping the OT
 * device type ("if Historian is the target class but Windows Server OS is found in the payload, the
 * CI is classified as a Windows Server CI and its OT device type is set to Historian":
 * `sgc-microsoft-d4iot-azure-classes.md`).
 *
 * @example
 * classForDevice({ deviceType: 'Historian', operatingSystem: 'Windows Server 2019' })
 * // { className: 'cmdb_ci_win_server', otAssetType: 'Historian', reclassifiedBy: 'windows server …' }
 */
export function classForDevice(
  device: ClassInput,
  overrides: Readonly<Record<string, DeviceClass>> = {},
): ResolvedClass {
  const mapped = classForDeviceType(device.deviceType, overrides);
  if (mapped.allowOsClassification === false) return mapped;
  const os = osClassOf(device.operatingSystem);
  if (!os) return mapped;
  return {
    ...mapped,
    className: os.className,
    reclassifiedBy: device.operatingSystem!.trim(),
  };
}

/**
 * The class of a subtype alone (no OS), with configured overrides first. An override that does not
 * say `allowOsClassification` is taken as written: an admin who names a class means that class.
 */
export function classForDeviceType(
  deviceType: string,
  overrides: Readonly<Record<string, DeviceClass>> = {},
): DeviceClass {
  const key = deviceType.trim().toLowerCase();
  for (const [type, mapped] of Object.entries(overrides))
    if (type.trim().toLowerCase() === key) return { allowOsClassification: false, ...mapped };
  return DEFAULT_CLASS_MAP[key] ?? { ...FALLBACK_CLASS, allowOsClassification: true };
}

/** Classes that carry operating-system fields (`os`, `os_version`…): Computer and its servers. */
export const COMPUTER_CLASSES: ReadonlySet<string> = new Set([
  'cmdb_ci_computer',
  'cmdb_ci_server',
  ...OS_CLASS_ROWS.map((row) => row.className),
]);

/**
 * The parent of each class the default map can write, so that a class an instance lacks (its
 * plugin not installed) falls back to its nearest existing ancestor. From the CMDB class-model
 * pages of ServiceNow/ServiceNowDocs: `markdown/servicenow-platform/cmdb-ci-class-models/
 * cmdb-ci-class-models-operation-technology.md` (OT classes, Netgear) and
 * `cmdb-ci-class-models-iot.md` (IoT classes, "Extends" column). Parents no page names
 * (UNVERIFIED; the class-model pages, the CSDM pages and TableUtils examples were searched): the
 * OS server classes under Server or Unix Server, firewall and wireless access point under Netgear,
 * HVAC, IP phone, printer and UPS under Hardware, OT field device under OT.
 */
export const CLASS_PARENTS: Readonly<Record<string, string>> = {
  cmdb_ci_computer: 'cmdb_ci_hardware',
  cmdb_ci_server: 'cmdb_ci_computer',
  cmdb_ci_linux_server: 'cmdb_ci_server',
  cmdb_ci_win_server: 'cmdb_ci_server',
  cmdb_ci_unix_server: 'cmdb_ci_server',
  cmdb_ci_aix_server: 'cmdb_ci_unix_server',
  cmdb_ci_hpux_server: 'cmdb_ci_unix_server',
  cmdb_ci_solaris_server: 'cmdb_ci_unix_server',
  cmdb_ci_osx_server: 'cmdb_ci_unix_server',
  cmdb_ci_esx_server: 'cmdb_ci_server',
  cmdb_ci_hyper_v_server: 'cmdb_ci_server',
  cmdb_ci_handheld_computing: 'cmdb_ci_computer',
  cmdb_ci_netgear: 'cmdb_ci_hardware',
  cmdb_ci_ip_switch: 'cmdb_ci_netgear',
  cmdb_ci_ip_router: 'cmdb_ci_netgear',
  cmdb_ci_ip_firewall: 'cmdb_ci_netgear',
  cmdb_ci_wap_network: 'cmdb_ci_netgear',
  cmdb_ci_iot: 'cmdb_ci_hardware',
  cmdb_ci_display: 'cmdb_ci_iot',
  cmdb_ci_imaging: 'cmdb_ci_iot',
  cmdb_ci_multimedia: 'cmdb_ci_iot',
  cmdb_ci_stv: 'cmdb_ci_display',
  cmdb_ci_ip_camera: 'cmdb_ci_imaging',
  cmdb_ci_game_console: 'cmdb_ci_multimedia',
  cmdb_ci_hvac: 'cmdb_ci_hardware',
  cmdb_ci_ip_phone: 'cmdb_ci_hardware',
  cmdb_ci_printer: 'cmdb_ci_hardware',
  cmdb_ci_ups: 'cmdb_ci_hardware',
  cmdb_ci_ot: 'cmdb_ci_hardware',
  cmdb_ci_ot_control: 'cmdb_ci_ot',
  cmdb_ci_ot_supervisory: 'cmdb_ci_ot',
  cmdb_ci_ot_field_device: 'cmdb_ci_ot',
  cmdb_ci_ot_plc: 'cmdb_ci_ot_control',
  cmdb_ci_ot_dcs: 'cmdb_ci_ot_control',
  cmdb_ci_ot_rtu: 'cmdb_ci_ot_control',
  cmdb_ci_ot_ied: 'cmdb_ci_ot_control',
  cmdb_ci_ot_control_module: 'cmdb_ci_ot_control',
  cmdb_ci_ot_hmi: 'cmdb_ci_ot_supervisory',
  cmdb_ci_ot_ews: 'cmdb_ci_ot_supervisory',
  cmdb_ci_ot_historian: 'cmdb_ci_ot_supervisory',
  cmdb_ci_ot_industrial_actuator: 'cmdb_ci_ot_field_device',
  cmdb_ci_ot_industrial_drive: 'cmdb_ci_ot_field_device',
  cmdb_ci_ot_industrial_robot: 'cmdb_ci_ot_field_device',
  cmdb_ci_ot_industrial_sensor: 'cmdb_ci_ot_field_device',
};

/**
 * The class to write when the instance may lack `className`: itself when it exists, else its
 * nearest ancestor that does (per {@link CLASS_PARENTS}), else `cmdb_ci_hardware`.
 */
export function nearestExistingClass(className: string, exists: (name: string) => boolean): string {
  for (let c: string | undefined = className; c; c = CLASS_PARENTS[c]) if (exists(c)) return c;
  return 'cmdb_ci_hardware';
}

/**
 * For each of `classNames` the instance lacks (`present`: the tables it has, ancestors included),
 * the class written instead: its nearest existing ancestor. Empty when every class exists.
 */
export function classSubstitutes(
  classNames: readonly string[],
  present: ReadonlySet<string>,
): Map<string, string> {
  const substitutes = new Map<string, string>();
  for (const name of classNames)
    if (!present.has(name))
      substitutes.set(
        name,
        nearestExistingClass(name, (c) => present.has(c)),
      );
  return substitutes;
}

/** The classes and every ancestor {@link CLASS_PARENTS} names (and Hardware), each once, sorted. */
export function withAncestors(classNames: readonly string[]): string[] {
  const all = new Set<string>(['cmdb_ci_hardware']);
  for (const name of classNames) for (let c: string | undefined = name; c; c = CLASS_PARENTS[c]) all.add(c);
  return [...all].sort();
}

/** Every class the built-in map and OS rows can write (what `doctor` and each run check the instance for). */
export function classesInMap(overrides: Readonly<Record<string, DeviceClass>> = {}): string[] {
  return [
    ...new Set([
      ...CONNECTOR_CLASS_ROWS.map((r) => r.className),
      ...OS_CLASS_ROWS.map((r) => r.className),
      FALLBACK_CLASS.className,
      ...Object.values(overrides).map((c) => c.className),
    ]),
  ].sort();
}
