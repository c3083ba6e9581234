/**
 * ServiceNow's Defender connector class table, written out from its documentation (not from
 * src/): ServiceNow/ServiceNowDocs, branch australia,
 * `markdown/operational-technology/operational-technology-manager/attribute-mapping-sgc-msft-d4iot-azure.md`,
 * table `table_gth_v4f_d1c` — the 65 subtype rows, "Any other type", and the 11 OS rows. The
 * tests use it as the oracle for where a device must land.
 */

/** Every subtype row: Microsoft Azure device sub type name → NOW table. */
export const SUBTYPE_CLASS: Readonly<Record<string, string>> = {
  'Alarm Siren': 'cmdb_ci_iot',
  'Alarm System': 'cmdb_ci_ot_control',
  ATM: 'cmdb_ci_iot',
  'Backup Server': 'cmdb_ci_server',
  'Barcode Scanner': 'cmdb_ci_iot',
  'DB Server': 'cmdb_ci_server',
  'DCS Controller': 'cmdb_ci_ot_dcs',
  'Domain Controller': 'cmdb_ci_server',
  'Door Control Panel': 'cmdb_ci_iot',
  DVR: 'cmdb_ci_iot',
  Elevator: 'cmdb_ci_iot',
  'Engineering Station': 'cmdb_ci_ot_ews',
  'Fire Alarm': 'cmdb_ci_iot',
  'Fire Detector': 'cmdb_ci_iot',
  Firewall: 'cmdb_ci_ip_firewall',
  'Game console': 'cmdb_ci_game_console',
  Historian: 'cmdb_ci_ot_historian',
  HMI: 'cmdb_ci_ot_hmi',
  'Humidity Sensor': 'cmdb_ci_iot',
  HVAC: 'cmdb_ci_hvac',
  // The page names class "Network Adapter" with no table; Snowline writes it like "Any other
  // type" (erratum in docs/ot-inventory.md).
  'I/O Adapter': 'cmdb_ci_ot',
  IED: 'cmdb_ci_ot_ied',
  'Industrial Packaging System': 'cmdb_ci_ot_field_device',
  'Industrial Robot': 'cmdb_ci_ot_industrial_robot',
  'Industrial Scale': 'cmdb_ci_ot_field_device',
  Intercom: 'cmdb_ci_iot',
  'IP Camera': 'cmdb_ci_ip_camera',
  'IP Telephone': 'cmdb_ci_ip_phone',
  Marquee: 'cmdb_ci_iot',
  Meter: 'cmdb_ci_ot_industrial_sensor',
  'Motion Detector': 'cmdb_ci_iot',
  'Multicast/Broadcast': 'cmdb_ci_netgear',
  'NTP Server': 'cmdb_ci_server',
  'People Counter System': 'cmdb_ci_iot',
  // The page gives no class or table; Snowline writes it like "Any other type" (erratum).
  'Physical Location': 'cmdb_ci_ot',
  PLC: 'cmdb_ci_ot_plc',
  'Pneumatic Device': 'cmdb_ci_ot_industrial_actuator',
  Printer: 'cmdb_ci_printer',
  'Protocol Converter': 'cmdb_ci_netgear',
  'Punch Clock': 'cmdb_ci_iot',
  'Robot Controller': 'cmdb_ci_ot_control',
  Router: 'cmdb_ci_ip_router',
  RTU: 'cmdb_ci_ot_rtu',
  Server: 'cmdb_ci_server',
  'Servo Drive': 'cmdb_ci_ot_industrial_actuator',
  Slot: 'cmdb_ci_ot_control_module',
  'Smart Light': 'cmdb_ci_iot',
  'Smart Phone': 'cmdb_ci_handheld_computing',
  'Smart Switch': 'cmdb_ci_iot',
  'Smart TV': 'cmdb_ci_stv',
  Storage: 'cmdb_ci_server',
  Switch: 'cmdb_ci_ip_switch',
  Tablet: 'cmdb_ci_handheld_computing',
  'Terminal Station': 'cmdb_ci_computer',
  Thermostat: 'cmdb_ci_iot',
  Turnstile: 'cmdb_ci_iot',
  'Uninterruptable Power Supply': 'cmdb_ci_ups',
  'Variable Frequency Drive': 'cmdb_ci_ot_industrial_drive',
  'VPN Gateway': 'cmdb_ci_netgear',
  'Wifi Pineapple': 'cmdb_ci_netgear',
  'Wireless Access Point': 'cmdb_ci_wap_network',
  'WLAN access point': 'cmdb_ci_wap_network',
  Workstation: 'cmdb_ci_computer',
  Unknown: 'cmdb_ci_ot',
  Unclassified: 'cmdb_ci_ot',
};

/** "Any other type". */
const ANY_OTHER_TYPE = 'cmdb_ci_ot';

/**
 * Tables of the rows an operating system does not reclassify ("Any above type value except with
 * designation Network and IoT"). The page does not say which rows are Network or IoT; these are
 * the network-gear and IoT tables it names (UNVERIFIED reading).
 */
const NETWORK_AND_IOT = new Set([
  'cmdb_ci_ip_switch',
  'cmdb_ci_ip_router',
  'cmdb_ci_ip_firewall',
  'cmdb_ci_netgear',
  'cmdb_ci_wap_network',
  'cmdb_ci_iot',
  'cmdb_ci_game_console',
  'cmdb_ci_hvac',
  'cmdb_ci_ip_camera',
  'cmdb_ci_ip_phone',
  'cmdb_ci_printer',
  'cmdb_ci_handheld_computing',
  'cmdb_ci_stv',
  'cmdb_ci_ups',
]);

/**
 * The OS rows in the page's order, each with the operating-system names it lists (the Windows
 * version lists shortened to the names the estate's systems need). The page's Windows Server row
 * names cmdb_ci_linux_server; Snowline corrects it to cmdb_ci_win_server (docs/ot-inventory.md).
 */
const OS_ROWS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['cmdb_ci_win_server', ['windows server']],
  [
    'cmdb_ci_linux_server',
    ['linux', 'arch', 'centos', 'debian', 'fedora', 'suse', 'red hat', 'rhel', 'ubuntu', 'oracle'],
  ],
  ['cmdb_ci_aix_server', ['aix']],
  ['cmdb_ci_esx_server', ['esx']],
  ['cmdb_ci_hpux_server', ['hp/ux', 'hpux']],
  ['cmdb_ci_hyper_v_server', ['hyper-v', 'hyperv', 'hyper']],
  ['cmdb_ci_solaris_server', ['solaris', 'sunos', 'sun os']],
  ['cmdb_ci_osx_server', ['macos x server', 'macos server', 'os x', 'osx']],
  ['cmdb_ci_unix_server', ['unix', 'gnu']],
  ['cmdb_ci_computer', ['win', 'windows', 'microsoft']],
  ['cmdb_ci_server', ['server']],
];

/** Whether `os` holds `name` as whole words (how the connector matches is not documented). */
const holds = (os: string, name: string) =>
  ` ${os.toLowerCase().replace(/[^a-z0-9/-]+/g, ' ')} `.includes(` ${name} `);

/**
 * The class a device lands in: its subtype's row (names compared case-insensitively; a name no
 * row has is "Any other type"), unless its operating system matches an OS row and the subtype is
 * not a network or IoT one.
 */
export function expectedClass(subType: string, operatingSystem: string | null): string {
  const key = Object.keys(SUBTYPE_CLASS).find((k) => k.toLowerCase() === subType.toLowerCase());
  const table = key ? (SUBTYPE_CLASS[key] as string) : ANY_OTHER_TYPE;
  if (!operatingSystem || NETWORK_AND_IOT.has(table)) return table;
  const os = OS_ROWS.find(([, names]) => names.some((n) => holds(operatingSystem, n)));
  return os ? os[0] : table;
}
