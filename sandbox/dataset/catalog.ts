/**
 * Reference data the estate generator draws from: device types by Purdue level, vendors with
 * real product lines, industrial protocols, a CVE catalogue, Defender for Cloud recommendations,
 * and people. Product names are real; serials, MACs and synthetic CVE ids are invented.
 */

/** Industrial protocols, as the sensor reports them on devices and on connections. */
export interface ProtocolInfo {
  /** Device-level protocol name (sensor `/api/v1/devices` `protocols[].name`, console `u_protocol`). */
  readonly name: string;
  /** Connection-level dissector name (sensor `/api/v1/devices/connections` `protocols[].name`). */
  readonly wireName: string;
  readonly port: number;
  readonly commands: readonly string[];
}

export const PROTOCOLS: readonly ProtocolInfo[] = [
  {
    name: 'MODBUS',
    wireName: 'modbus',
    port: 502,
    commands: ['Read Holding Registers', 'Read Coils', 'Write Single Register'],
  },
  {
    name: 'Siemens S7',
    wireName: 's7comm',
    port: 102,
    commands: ['Read Var', 'Write Var', 'Download block', 'Upload'],
  },
  { name: 'DNP3', wireName: 'dnp3', port: 20000, commands: ['Read', 'Direct Operate', 'Select'] },
  {
    name: 'EtherNet/IP',
    wireName: 'enip',
    port: 44818,
    commands: ['Read Tag', 'Write Tag', 'Get Attribute All'],
  },
  { name: 'BACNet', wireName: 'bacnet', port: 47808, commands: ['ReadProperty', 'WriteProperty', 'Who-Is'] },
  {
    name: 'IEC60870-5-104',
    wireName: 'iec104',
    port: 2404,
    commands: ['General Interrogation', 'Single Command'],
  },
  { name: 'OPC UA', wireName: 'opcua', port: 4840, commands: ['Read', 'Browse', 'CreateSubscription'] },
  { name: 'Profinet', wireName: 'profinet', port: 34964, commands: ['Read Implicit', 'Write', 'Connect'] },
  { name: 'HTTP', wireName: 'http', port: 80, commands: [] },
  { name: 'RDP', wireName: 'rdp', port: 3389, commands: [] },
  { name: 'SMB', wireName: 'smb', port: 445, commands: [] },
];

/** Position of each protocol in {@link PROTOCOLS}, by device-level name. */
export const PROTOCOL_INDEX: ReadonlyMap<string, number> = new Map(PROTOCOLS.map((p, i) => [p.name, i]));

/**
 * Device types, named as the sensor API `type` field (and the console's `u_device_type.u_name`)
 * names them.
 */
export type DeviceType =
  | 'PLC'
  | 'RTU'
  | 'IED'
  | 'DCS Controller'
  | 'HMI'
  | 'Engineering Station'
  | 'Historian'
  | 'OPC Server'
  | 'SCADA Server'
  | 'Switch'
  | 'Firewall'
  | 'Router'
  | 'Workstation'
  | 'Server'
  | 'Alarm System'
  | 'Robot Controller'
  | 'Industrial Robot'
  | 'Industrial Packaging System'
  | 'Industrial Scale'
  | 'Meter'
  | 'Pneumatic Device'
  | 'Servo Drive'
  | 'Variable Frequency Drive'
  | 'I/O Adapter'
  | 'Slot'
  | 'Physical Location'
  | 'Unknown'
  | 'Unclassified'
  | 'Protocol Converter'
  | 'Multicast and Broadcast'
  | 'VPN Gateway'
  | 'Wifi Pineapple'
  | 'Wireless Access Point'
  | 'WLAN access point'
  | 'Backup Server'
  | 'DB Server'
  | 'Domain Controller'
  | 'NTP Server'
  | 'Storage'
  | 'Terminal station'
  | 'Alarm Siren'
  | 'ATM'
  | 'Barcode Scanner'
  | 'Door Control Panel'
  | 'DVR'
  | 'Elevator'
  | 'Fire Alarm'
  | 'Fire Detector'
  | 'Game console'
  | 'Humidity Sensor'
  | 'HVAC'
  | 'Intercom'
  | 'IP Camera'
  | 'IP Telephone'
  | 'Marquee'
  | 'Motion Detector'
  | 'People Counter System'
  | 'Printer'
  | 'Punch Clock'
  | 'Smart Light'
  | 'Smart Phone'
  | 'Smart Switch'
  | 'Smart TV'
  | 'Tablet'
  | 'Thermostat'
  | 'Turnstile'
  | 'Uninterruptable Power Supply';

export interface ModelInfo {
  readonly vendor: string;
  readonly model: string;
  readonly protocols: readonly string[];
  readonly firmware: readonly string[];
  readonly operatingSystem: string | null;
  /** First three MAC bytes, lower case with colons. */
  readonly oui: string;
  /** Controller modules in a rack (CPU first), for PLC and DCS controllers. */
  readonly modules?: readonly string[];
  /** Resource Graph `operatingSystem.architecture` (→ `os_address_width`), where known. */
  readonly osArchitecture?: string;
}

/** Console `u_device_type.u_category`; Resource Graph `deviceCategoryDisplayName` follows it. */
export type DeviceCategory = 'ICS' | 'IT' | 'Network' | 'IoT';

export interface DeviceTypeInfo {
  readonly type: DeviceType;
  /** Console `u_device_type.u_category`. */
  readonly category: DeviceCategory;
  /** Cloud `deviceTypeDisplayName` / `deviceSubTypeDisplayName`. */
  readonly typeDisplayName: string;
  readonly subTypeDisplayName: string;
  /** Purdue levels (0–5) the type lives on, with weights. */
  readonly levels: readonly number[];
  readonly levelWeights: readonly number[];
  /** Relative frequency in an estate. */
  readonly weight: number;
  readonly models: readonly ModelInfo[];
  readonly hostPrefix: string;
}

const WINDOWS_OUIS = ['00:15:5d', 'd4:ae:52', '14:18:77', '3c:a8:2a'];

/** One product line of the catalogue. */
function model(
  vendor: string,
  name: string,
  protocols: readonly string[],
  firmware: readonly string[],
  operatingSystem: string | null,
  oui: string,
  modules?: readonly string[],
  osArchitecture?: string,
): ModelInfo {
  return {
    vendor,
    model: name,
    protocols,
    firmware,
    operatingSystem,
    oui,
    ...(modules ? { modules } : {}),
    ...(osArchitecture ? { osArchitecture } : {}),
  };
}

/**
 * Where the sensor API's documented `type` values (Microsoft's sensor-inventory-apis.md: "…
 * Terminal station, VPN Gateway, Internet, or Multicast and Broadcast") spell a subtype otherwise
 * than the connector's table, Resource Graph's `deviceSubTypeDisplayName` carries the table's
 * spelling (the table lists Azure subtype names). UNVERIFIED which spelling each source uses today.
 */
const SUBTYPE_DISPLAY_NAMES: Partial<Record<DeviceType, string>> = {
  'Terminal station': 'Terminal Station',
  'Multicast and Broadcast': 'Multicast/Broadcast',
};

function deviceType(category: DeviceCategory, typeDisplayName: string) {
  return (
    type: DeviceType,
    levels: readonly number[],
    weight: number,
    hostPrefix: string,
    models: readonly ModelInfo[],
    levelWeights: readonly number[] = levels.map(() => 1),
  ): DeviceTypeInfo => ({
    type,
    category,
    typeDisplayName,
    subTypeDisplayName: SUBTYPE_DISPLAY_NAMES[type] ?? type,
    levels,
    levelWeights,
    weight,
    hostPrefix,
    models,
  });
}
const ot = (type: DeviceType, typeDisplayName: string, ...rest: Rest) =>
  deviceType('ICS', typeDisplayName)(type, ...rest);
const it = (type: DeviceType, typeDisplayName: string, ...rest: Rest) =>
  deviceType('IT', typeDisplayName)(type, ...rest);
const iot = (type: DeviceType, typeDisplayName: string, ...rest: Rest) =>
  deviceType('IoT', typeDisplayName)(type, ...rest);
const network = (type: DeviceType, ...rest: Rest) => deviceType('Network', 'Network Device')(type, ...rest);
type Rest = [
  levels: readonly number[],
  weight: number,
  hostPrefix: string,
  models: readonly ModelInfo[],
  levelWeights?: readonly number[],
];

/** Device types with their Purdue levels, weights and real vendor product lines. */
export const DEVICE_TYPES: readonly DeviceTypeInfo[] = [
  {
    type: 'PLC',
    category: 'ICS',
    typeDisplayName: 'Industrial',
    subTypeDisplayName: 'PLC',
    levels: [1],
    levelWeights: [1],
    weight: 22,
    hostPrefix: 'PLC',
    models: [
      {
        vendor: 'Siemens',
        model: 'SIMATIC S7-1500 CPU 1516-3 PN/DP',
        protocols: ['Siemens S7', 'Profinet'],
        firmware: ['V2.9.4', 'V2.8.3', 'V3.0.1'],
        operatingSystem: null,
        oui: '00:1b:1b',
        modules: [
          'CPU 1516-3 PN/DP',
          'DI 32x24VDC HF',
          'DQ 32x24VDC/0.5A HF',
          'AI 8xU/I/RTD/TC ST',
          'CP 1543-1',
        ],
      },
      {
        vendor: 'Siemens',
        model: 'SIMATIC S7-1200 CPU 1214C',
        protocols: ['Siemens S7', 'Profinet'],
        firmware: ['V4.5.2', 'V4.4.1', 'V4.2.3'],
        operatingSystem: null,
        oui: '00:1b:1b',
        modules: ['CPU 1214C DC/DC/DC', 'SM 1223 DI16/DQ16', 'CM 1241 RS422/485'],
      },
      {
        vendor: 'Siemens',
        model: 'SIMATIC S7-300 CPU 315-2 PN/DP',
        protocols: ['Siemens S7', 'Profinet'],
        firmware: ['V3.2.17', 'V3.2.8'],
        operatingSystem: null,
        oui: '00:0e:8c',
        modules: ['CPU 315-2 PN/DP', 'SM 321 DI32', 'SM 322 DO32', 'CP 343-1 Lean'],
      },
      {
        vendor: 'Rockwell Automation',
        model: 'ControlLogix 1756-L83E',
        protocols: ['EtherNet/IP'],
        firmware: ['33.011', '32.013', '35.011'],
        operatingSystem: null,
        oui: '00:00:bc',
        modules: ['1756-L83E', '1756-EN2T', '1756-IB16', '1756-OB16E', '1756-IF8'],
      },
      {
        vendor: 'Rockwell Automation',
        model: 'CompactLogix 5380 1769-L33ER',
        protocols: ['EtherNet/IP'],
        firmware: ['33.011', '34.012'],
        operatingSystem: null,
        oui: '5c:88:16',
        modules: ['1769-L33ER', '1769-IQ16', '1769-OB16'],
      },
      {
        vendor: 'Rockwell Automation',
        model: 'MicroLogix 1400 1766-L32BXB',
        protocols: ['EtherNet/IP', 'MODBUS'],
        firmware: ['21.007', '21.003'],
        operatingSystem: null,
        oui: '00:00:bc',
      },
      {
        vendor: 'Schneider Electric',
        model: 'Modicon M580 BMEP582040',
        protocols: ['MODBUS', 'EtherNet/IP'],
        firmware: ['SV4.10', 'SV3.20'],
        operatingSystem: null,
        oui: '00:80:f4',
        modules: ['BMEP582040', 'BMXDDI1602', 'BMXDDO1602', 'BMXAMI0810'],
      },
      {
        vendor: 'Schneider Electric',
        model: 'Modicon M340 BMXP342020',
        protocols: ['MODBUS'],
        firmware: ['SV3.30', 'SV3.10'],
        operatingSystem: null,
        oui: '00:80:f4',
        modules: ['BMXP342020', 'BMXNOE0100', 'BMXDDI3202K'],
      },
      {
        vendor: 'Johnson Controls',
        model: 'Metasys NAE5510',
        protocols: ['BACNet'],
        firmware: ['11.0.0.1234', '10.1.5.2011'],
        operatingSystem: 'Linux',
        oui: '00:10:7e',
      },
    ],
  },
  {
    type: 'RTU',
    category: 'ICS',
    typeDisplayName: 'Industrial',
    subTypeDisplayName: 'RTU',
    levels: [1],
    levelWeights: [1],
    weight: 5,
    hostPrefix: 'RTU',
    models: [
      {
        vendor: 'Schweitzer Engineering Laboratories',
        model: 'SEL-3530 RTAC',
        protocols: ['DNP3', 'IEC60870-5-104'],
        firmware: ['R148-V2', 'R150-V1'],
        operatingSystem: null,
        oui: '00:30:a7',
      },
      {
        vendor: 'ABB',
        model: 'RTU560 560CMU05',
        protocols: ['IEC60870-5-104', 'DNP3'],
        firmware: ['12.7.2', '13.2.1'],
        operatingSystem: null,
        oui: '00:21:c1',
      },
      {
        vendor: 'Moxa',
        model: 'ioLogik E1212',
        protocols: ['MODBUS'],
        firmware: ['3.2', '3.0'],
        operatingSystem: null,
        oui: '00:90:e8',
      },
    ],
  },
  {
    type: 'IED',
    category: 'ICS',
    typeDisplayName: 'Industrial',
    subTypeDisplayName: 'IED',
    levels: [0, 1],
    levelWeights: [3, 1],
    weight: 9,
    hostPrefix: 'IED',
    models: [
      {
        vendor: 'Schweitzer Engineering Laboratories',
        model: 'SEL-751 Feeder Protection Relay',
        protocols: ['DNP3', 'MODBUS'],
        firmware: ['R412-V1', 'R415-V0'],
        operatingSystem: null,
        oui: '00:30:a7',
      },
      {
        vendor: 'ABB',
        model: 'Relion REF615',
        protocols: ['IEC60870-5-104', 'MODBUS'],
        firmware: ['5.0 FP1', '4.1'],
        operatingSystem: null,
        oui: '00:21:c1',
      },
      {
        vendor: 'GE Vernova',
        model: 'Multilin 850',
        protocols: ['DNP3', 'MODBUS'],
        firmware: ['3.40', '2.60'],
        operatingSystem: null,
        oui: '00:a0:db',
      },
      {
        vendor: 'Siemens',
        model: 'SIPROTEC 5 7SJ82',
        protocols: ['IEC60870-5-104', 'DNP3'],
        firmware: ['V9.40', 'V8.30'],
        operatingSystem: null,
        oui: '00:09:8e',
      },
    ],
  },
  {
    type: 'DCS Controller',
    category: 'ICS',
    typeDisplayName: 'Industrial',
    subTypeDisplayName: 'DCS Controller',
    levels: [1],
    levelWeights: [1],
    weight: 5,
    hostPrefix: 'DCS',
    models: [
      {
        vendor: 'Emerson',
        model: 'DeltaV MQ Controller',
        protocols: ['OPC UA', 'MODBUS'],
        firmware: ['14.3.1', '15.1.0'],
        operatingSystem: null,
        oui: '00:0b:c2',
        modules: ['MQ Controller', 'CHARMs I/O Card', 'Redundant Power Supply'],
      },
      {
        vendor: 'Honeywell',
        model: 'Experion C300 Controller',
        protocols: ['OPC UA', 'MODBUS'],
        firmware: ['R511.2', 'R520.1'],
        operatingSystem: null,
        oui: '00:40:84',
        modules: ['C300 Controller', 'Series C I/O Link', 'FTE Bridge'],
      },
      {
        vendor: 'ABB',
        model: 'AC 800M PM866A',
        protocols: ['MODBUS', 'OPC UA'],
        firmware: ['6.1.1', '6.0.2'],
        operatingSystem: null,
        oui: '00:21:c1',
        modules: ['PM866A', 'CI854A PROFIBUS', 'CI867 Modbus TCP'],
      },
      {
        vendor: 'Yokogawa',
        model: 'CENTUM VP AFV30D',
        protocols: ['OPC UA'],
        firmware: ['R6.09', 'R6.08'],
        operatingSystem: null,
        oui: '00:00:64',
        modules: ['CP471 Processor', 'SB401 Bus Interface', 'AAI143 Analog Input'],
      },
    ],
  },
  {
    type: 'HMI',
    category: 'ICS',
    typeDisplayName: 'Industrial',
    subTypeDisplayName: 'HMI',
    levels: [2],
    levelWeights: [1],
    weight: 10,
    hostPrefix: 'HMI',
    models: [
      {
        vendor: 'Siemens',
        model: 'SIMATIC HMI TP1200 Comfort',
        protocols: ['Siemens S7', 'Profinet'],
        firmware: ['V17.0.0.0', 'V16.0.0.3'],
        operatingSystem: 'Windows CE',
        oui: '00:1b:1b',
      },
      {
        vendor: 'Rockwell Automation',
        model: 'PanelView Plus 7 2711P-T12W22D9P',
        protocols: ['EtherNet/IP'],
        firmware: ['12.0', '11.0'],
        operatingSystem: 'Windows CE',
        oui: '00:00:bc',
      },
      {
        vendor: 'Schneider Electric',
        model: 'Harmony GTU HMIG5U',
        protocols: ['MODBUS'],
        firmware: ['3.1', '2.4'],
        operatingSystem: 'Windows 10',
        oui: '00:80:f4',
      },
      {
        vendor: 'Dell',
        model: 'OptiPlex 7090 (HMI runtime)',
        protocols: ['OPC UA', 'MODBUS'],
        firmware: ['1.21.0'],
        operatingSystem: 'Windows 7',
        oui: 'd4:ae:52',
      },
    ],
  },
  {
    type: 'Engineering Station',
    category: 'ICS',
    typeDisplayName: 'Industrial',
    subTypeDisplayName: 'Engineering Station',
    levels: [2],
    levelWeights: [1],
    weight: 4,
    hostPrefix: 'EWS',
    models: [
      {
        vendor: 'Dell',
        model: 'Precision 3660 Tower',
        protocols: ['Siemens S7', 'EtherNet/IP', 'MODBUS', 'RDP'],
        firmware: ['2.14.0'],
        operatingSystem: 'Windows 10',
        oui: WINDOWS_OUIS[1] as string,
      },
      {
        vendor: 'HP',
        model: 'Z4 G4 Workstation',
        protocols: ['EtherNet/IP', 'OPC UA', 'RDP'],
        firmware: ['P62 v02.89'],
        operatingSystem: 'Windows 10',
        oui: WINDOWS_OUIS[2] as string,
      },
    ],
  },
  {
    type: 'SCADA Server',
    category: 'ICS',
    typeDisplayName: 'Industrial',
    subTypeDisplayName: 'SCADA Server',
    levels: [2],
    levelWeights: [1],
    weight: 3,
    hostPrefix: 'SCADA',
    models: [
      {
        vendor: 'Dell',
        model: 'PowerEdge R650',
        protocols: ['DNP3', 'MODBUS', 'OPC UA', 'IEC60870-5-104'],
        firmware: ['1.8.2'],
        operatingSystem: 'Windows Server 2019',
        oui: WINDOWS_OUIS[1] as string,
      },
      {
        vendor: 'HPE',
        model: 'ProLiant DL360 Gen10',
        protocols: ['OPC UA', 'EtherNet/IP', 'MODBUS'],
        firmware: ['U32 v2.76'],
        operatingSystem: 'Windows Server 2016',
        oui: WINDOWS_OUIS[3] as string,
      },
    ],
  },
  {
    type: 'OPC Server',
    category: 'ICS',
    typeDisplayName: 'Industrial',
    subTypeDisplayName: 'OPC Server',
    levels: [3],
    levelWeights: [1],
    weight: 2,
    hostPrefix: 'OPC',
    models: [
      {
        vendor: 'Dell',
        model: 'PowerEdge R450',
        protocols: ['OPC UA', 'MODBUS', 'EtherNet/IP'],
        firmware: ['1.9.1'],
        operatingSystem: 'Windows Server 2019',
        oui: WINDOWS_OUIS[1] as string,
      },
    ],
  },
  {
    type: 'Historian',
    category: 'ICS',
    typeDisplayName: 'Industrial',
    subTypeDisplayName: 'Historian',
    levels: [3],
    levelWeights: [1],
    weight: 2,
    hostPrefix: 'HIST',
    models: [
      {
        vendor: 'HPE',
        model: 'ProLiant DL380 Gen10',
        protocols: ['OPC UA', 'HTTP'],
        firmware: ['U30 v2.80'],
        operatingSystem: 'Windows Server 2019',
        oui: WINDOWS_OUIS[3] as string,
      },
      {
        vendor: 'Dell',
        model: 'PowerEdge R750',
        protocols: ['OPC UA', 'HTTP'],
        firmware: ['1.10.2'],
        operatingSystem: 'Windows Server 2022',
        oui: WINDOWS_OUIS[1] as string,
      },
    ],
  },
  {
    type: 'Switch',
    category: 'Network',
    typeDisplayName: 'Network Device',
    subTypeDisplayName: 'Switch',
    levels: [1, 2, 3],
    levelWeights: [1, 3, 2],
    weight: 9,
    hostPrefix: 'SW',
    models: [
      {
        vendor: 'Cisco',
        model: 'IE-4000-8GT4G-E',
        protocols: ['HTTP'],
        firmware: ['15.2(8)E2', '15.2(7)E4'],
        operatingSystem: 'IOS',
        oui: '00:1b:54',
      },
      {
        vendor: 'Cisco',
        model: 'Catalyst 9300-48P',
        protocols: ['HTTP'],
        firmware: ['17.9.4', '17.6.5'],
        operatingSystem: 'IOS XE',
        oui: '00:1e:bd',
      },
      {
        vendor: 'Hirschmann',
        model: 'RSP35',
        protocols: ['HTTP', 'Profinet'],
        firmware: ['HiOS-3S 09.0.04', '08.7.02'],
        operatingSystem: 'HiOS',
        oui: 'ec:e5:55',
      },
      {
        vendor: 'Moxa',
        model: 'EDS-510E',
        protocols: ['HTTP', 'MODBUS'],
        firmware: ['5.7', '5.5'],
        operatingSystem: null,
        oui: '00:90:e8',
      },
    ],
  },
  {
    type: 'Firewall',
    category: 'Network',
    typeDisplayName: 'Network Device',
    subTypeDisplayName: 'Firewall',
    levels: [3, 4],
    levelWeights: [2, 1],
    weight: 1.5,
    hostPrefix: 'FW',
    models: [
      {
        vendor: 'Fortinet',
        model: 'FortiGate 100F',
        protocols: ['HTTP'],
        firmware: ['7.2.8', '7.0.15'],
        operatingSystem: 'FortiOS',
        oui: '00:09:0f',
      },
      {
        vendor: 'Palo Alto Networks',
        model: 'PA-3220',
        protocols: ['HTTP'],
        firmware: ['10.2.9', '11.0.4'],
        operatingSystem: 'PAN-OS',
        oui: '00:1b:17',
      },
      {
        vendor: 'Cisco',
        model: 'ISA-3000-4C',
        protocols: ['HTTP'],
        firmware: ['9.18.4', '9.16.4'],
        operatingSystem: 'ASA',
        oui: '00:1b:54',
      },
    ],
  },
  {
    type: 'Router',
    category: 'Network',
    typeDisplayName: 'Network Device',
    subTypeDisplayName: 'Router',
    levels: [4],
    levelWeights: [1],
    weight: 1,
    hostPrefix: 'RTR',
    models: [
      {
        vendor: 'Cisco',
        model: 'ISR 4331',
        protocols: ['HTTP'],
        firmware: ['17.9.4a'],
        operatingSystem: 'IOS XE',
        oui: '00:1e:bd',
      },
    ],
  },
  {
    type: 'Workstation',
    category: 'IT',
    typeDisplayName: 'Workstation',
    subTypeDisplayName: 'Workstation',
    levels: [4, 5],
    levelWeights: [2, 3],
    weight: 15,
    hostPrefix: 'WS',
    models: [
      {
        vendor: 'Dell',
        model: 'Latitude 5440',
        protocols: ['HTTP', 'SMB', 'RDP'],
        firmware: ['1.14.1'],
        operatingSystem: 'Windows 10',
        oui: WINDOWS_OUIS[1] as string,
      },
      {
        vendor: 'Lenovo',
        model: 'ThinkPad T14 Gen 3',
        protocols: ['HTTP', 'SMB'],
        firmware: ['1.32'],
        operatingSystem: 'Windows 11',
        oui: '8c:16:45',
      },
      {
        vendor: 'HP',
        model: 'EliteDesk 800 G6',
        protocols: ['HTTP', 'SMB', 'RDP'],
        firmware: ['S01 v02.17'],
        operatingSystem: 'Windows 10',
        oui: WINDOWS_OUIS[2] as string,
      },
    ],
  },
  {
    type: 'Server',
    category: 'IT',
    typeDisplayName: 'Server',
    subTypeDisplayName: 'Server',
    levels: [4, 5],
    levelWeights: [2, 1],
    weight: 4,
    hostPrefix: 'SRV',
    models: [
      {
        vendor: 'Dell',
        model: 'PowerEdge R740',
        protocols: ['HTTP', 'SMB', 'RDP'],
        firmware: ['2.19.1'],
        operatingSystem: 'Windows Server 2012 R2',
        oui: WINDOWS_OUIS[1] as string,
      },
      {
        vendor: 'HPE',
        model: 'ProLiant DL380 Gen10 Plus',
        protocols: ['HTTP', 'SMB'],
        firmware: ['U46 v1.90'],
        operatingSystem: 'Linux',
        oui: WINDOWS_OUIS[3] as string,
      },
      // Virtualisation hosts: operating systems the connector's OS rows reclassify.
      model(
        'Dell',
        'PowerEdge R750',
        ['HTTP', 'SMB', 'RDP'],
        ['1.10.2'],
        'Windows Server 2022',
        WINDOWS_OUIS[1] as string,
        undefined,
        'x64',
      ),
      model(
        'HPE',
        'ProLiant DL380 G7',
        ['HTTP'],
        ['P67 2011'],
        'VMware ESX 4.1',
        WINDOWS_OUIS[3] as string,
        undefined,
        'x64',
      ),
      model(
        'Dell',
        'PowerEdge R640',
        ['HTTP', 'RDP'],
        ['2.17.1'],
        'Microsoft Hyper-V Server 2019',
        WINDOWS_OUIS[1] as string,
        undefined,
        'x64',
      ),
    ],
  },
  // Every other subtype of ServiceNow's Defender connector class table (table_gth_v4f_d1c of
  // ServiceNow/ServiceNowDocs attribute-mapping-sgc-msft-d4iot-azure.md), each with small weights
  // so that controllers, HMIs and switches still make up most of an estate. `typeDisplayName`
  // is the page's "device type name" where it gives one, else one of the device types Microsoft
  // lists for Defender for IoT devices (Sentinel IoTDevice entity `DeviceTypeId`: Miscellaneous,
  // Network Device, Printer, Audio and Video, Media and Surveillance, Communication, Smart
  // Appliance, Workstation, Server, Mobile, Smart Facility, Industrial, Operational Equipment);
  // which type a subtype falls under is not published (UNVERIFIED).
  ot('Alarm System', 'Smart Facility', [2], 0.3, 'ALM', [
    model('Bosch', 'B9512G Control Panel', ['HTTP'], ['3.13.017', '3.11.002'], null, '00:07:5f'),
    model('Honeywell', 'Galaxy Dimension GD-520', ['HTTP'], ['6.94'], null, '00:40:84'),
  ]),
  ot('Robot Controller', 'Industrial', [1], 0.6, 'RC', [
    model(
      'FANUC',
      'R-30iB Plus',
      ['EtherNet/IP', 'Profinet'],
      ['V9.30P/30', 'V9.10P/49'],
      'VxWorks',
      '00:e0:e4',
    ),
    model(
      'ABB',
      'IRC5 Compact',
      ['EtherNet/IP', 'Profinet'],
      ['RobotWare 6.13', 'RobotWare 6.10'],
      'VxWorks',
      '00:21:c1',
    ),
    model(
      'KUKA',
      'KR C5',
      ['Profinet', 'EtherNet/IP'],
      ['KSS 8.7.4'],
      'Windows 10 IoT Enterprise',
      '00:03:9d',
    ),
  ]),
  ot('Industrial Robot', 'Industrial', [0], 0.6, 'ROB', [
    model('FANUC', 'M-20iD/25', ['EtherNet/IP'], ['V9.30P/30'], null, '00:e0:e4'),
    model('ABB', 'IRB 6700', ['Profinet'], ['RobotWare 6.13'], null, '00:21:c1'),
    model('KUKA', 'KR QUANTEC KR 210 R2700-2', ['Profinet'], ['KSS 8.7.4'], null, '00:03:9d'),
  ]),
  ot('Industrial Packaging System', 'Industrial', [1], 0.4, 'PKG', [
    model('Syntegon', 'Pack 403 Flow Wrapper', ['EtherNet/IP', 'OPC UA'], ['4.2.1'], null, '00:0e:cf'),
    model('Krones', 'Variopac Pro', ['Profinet', 'OPC UA'], ['2.8.0'], null, '00:1b:1b'),
  ]),
  ot('Industrial Scale', 'Industrial', [0, 1], 0.4, 'SCL', [
    model(
      'Mettler Toledo',
      'IND570 Weighing Terminal',
      ['EtherNet/IP', 'MODBUS'],
      ['3.00.0024', '2.05.0020'],
      null,
      '00:0b:86',
    ),
    model('Ishida', 'CCW-RV Multihead Weigher', ['EtherNet/IP'], ['1.14'], null, '00:e0:6b'),
  ]),
  ot('Meter', 'Operational Equipment', [0], 0.8, 'MTR', [
    model('Schneider Electric', 'PowerLogic PM8240', ['MODBUS'], ['3.2.2', '3.0.1'], null, '00:80:f4'),
    model('Siemens', 'SENTRON PAC4200', ['MODBUS', 'Profinet'], ['V3.2.1'], null, '00:1b:1b'),
    model('Endress+Hauser', 'Proline Promag 400', ['EtherNet/IP', 'MODBUS'], ['01.06.00'], null, '00:07:05'),
  ]),
  ot('Pneumatic Device', 'Operational Equipment', [0], 0.4, 'PNU', [
    model('Festo', 'CPX-AP-I Valve Terminal VTUX', ['EtherNet/IP', 'Profinet'], ['1.5.4'], null, '00:0e:f0'),
    model('SMC', 'EX600-SEN3 Valve Manifold', ['EtherNet/IP'], ['2.1'], null, '00:23:c6'),
  ]),
  ot('Servo Drive', 'Operational Equipment', [0], 0.6, 'SRV-D', [
    model('Siemens', 'SINAMICS S210', ['Profinet'], ['V6.1', 'V5.2 SP3'], null, '00:1b:1b'),
    model(
      'Rockwell Automation',
      'Kinetix 5700 2198-D020-ERS3',
      ['EtherNet/IP'],
      ['13.003', '11.001'],
      null,
      '00:00:bc',
    ),
    model('Beckhoff', 'AX5206 Servo Drive', ['EtherNet/IP'], ['2.14'], null, '00:01:05'),
  ]),
  ot('Variable Frequency Drive', 'Operational Equipment', [0], 1.2, 'VFD', [
    model('ABB', 'ACS880-01', ['MODBUS', 'EtherNet/IP'], ['3.40', '2.81'], null, '00:21:c1'),
    model('Rockwell Automation', 'PowerFlex 755', ['EtherNet/IP'], ['15.001', '14.004'], null, '00:00:bc'),
    model('Danfoss', 'VLT AutomationDrive FC 302', ['Profinet', 'MODBUS'], ['8.42'], null, '00:1b:08'),
  ]),
  ot('I/O Adapter', 'Industrial', [1], 0.8, 'IOA', [
    model('Siemens', 'ET 200SP IM 155-6 PN HF', ['Profinet'], ['V4.2', 'V4.1'], null, '00:1b:1b', [
      'IM 155-6 PN HF',
      'DI 16x24VDC ST',
      'DQ 16x24VDC/0.5A ST',
      'AI 4xU/I 2-wire ST',
    ]),
    model(
      'Rockwell Automation',
      'POINT I/O 1734-AENTR',
      ['EtherNet/IP'],
      ['6.002', '5.017'],
      null,
      '00:00:bc',
      ['1734-AENTR', '1734-IB8', '1734-OB8', '1734-IE4C'],
    ),
  ]),
  ot('Slot', 'Industrial', [1], 0.3, 'SLOT', [
    model(
      'Rockwell Automation',
      '1756-EN2T Communication Module',
      ['EtherNet/IP'],
      ['11.002', '10.010'],
      null,
      '00:00:bc',
    ),
    model('Siemens', 'CP 1543-1', ['Siemens S7', 'Profinet'], ['V3.0.22', 'V2.2.28'], null, '00:1b:1b'),
  ]),
  ot(
    'Physical Location',
    'Miscellaneous',
    [1, 2],
    0.1,
    'LOC',
    [model('Zebra Technologies', 'Dart UWB Hub', ['HTTP'], ['3.6.2'], null, '00:07:4d')],
    [1, 1],
  ),
  ot(
    'Unknown',
    'Miscellaneous',
    [1, 2, 3],
    0.5,
    'UNK',
    [
      model(
        'Raspberry Pi Trading',
        'Raspberry Pi 4 Model B',
        ['HTTP', 'MODBUS'],
        ['5.15.84-v8+'],
        null,
        'dc:a6:32',
      ),
      model('Intel Corporate', 'NUC 11 Pro', ['HTTP'], ['0056'], null, '3c:7c:3f'),
    ],
    [2, 2, 1],
  ),
  ot(
    'Unclassified',
    'Unclassified',
    [1, 2, 4],
    0.4,
    'UNC',
    [
      model('Advantech', 'UNO-2271G Edge Gateway', ['MODBUS', 'HTTP'], ['1.0.3'], null, '00:d0:c9'),
      model('Moxa', 'UC-8112A-ME-T', ['MODBUS'], ['3.3.0'], null, '00:90:e8'),
    ],
    [1, 2, 1],
  ),
  network('Protocol Converter', [1], 0.5, 'GW', [
    model('Moxa', 'MGate MB3180', ['MODBUS', 'HTTP'], ['4.2', '4.1'], null, '00:90:e8'),
    model(
      'HMS Networks',
      'Anybus X-gateway AB7832',
      ['EtherNet/IP', 'Profinet'],
      ['1.09.01'],
      null,
      '00:30:11',
    ),
    model(
      'ProSoft Technology',
      'PLX32-EIP-MBTCP',
      ['EtherNet/IP', 'MODBUS', 'HTTP'],
      ['1.6.8'],
      null,
      '00:0d:8d',
    ),
  ]),
  network('Multicast and Broadcast', [1, 2, 3], 0.2, 'MCAST', [
    model('ICANN, IANA Department', 'IPv4 multicast group', ['Profinet'], ['N/A'], null, '01:00:5e'),
  ]),
  network('VPN Gateway', [3, 4], 0.3, 'VPN', [
    model('Fortinet', 'FortiGate 60F', ['HTTP'], ['7.2.8'], 'FortiOS', '00:09:0f'),
    model('Cisco', 'Secure Firewall ASA 5508-X', ['HTTP'], ['9.16.4'], 'ASA', '00:1b:54'),
  ]),
  network('Wifi Pineapple', [1, 2, 4], 0.05, 'WIFI', [
    model('Hak5', 'WiFi Pineapple Mark VII', ['HTTP'], ['2.1.3'], 'OpenWrt', '00:13:37'),
  ]),
  network('Wireless Access Point', [1, 2, 3], 0.6, 'WAP', [
    model('Siemens', 'SCALANCE W788-2 M12', ['HTTP', 'Profinet'], ['V6.5.1', 'V6.4.0'], null, '00:1b:1b'),
    model('Moxa', 'AWK-3131A', ['HTTP'], ['1.16'], null, '00:90:e8'),
  ]),
  network('WLAN access point', [3, 4, 5], 0.5, 'AP', [
    model('Cisco', 'Catalyst 9120AXI', ['HTTP'], ['17.9.4'], 'IOS XE', '00:1e:bd'),
    model('Aruba', 'AP-535', ['HTTP'], ['8.10.0.6'], 'ArubaOS', '20:4c:03'),
  ]),
  it('Backup Server', 'Server', [3, 4], 0.2, 'BKP', [
    model(
      'Dell',
      'PowerEdge R750xs (Veeam)',
      ['SMB', 'HTTP'],
      ['1.10.2'],
      'Windows Server 2022',
      WINDOWS_OUIS[1] as string,
      undefined,
      'x64',
    ),
  ]),
  it('DB Server', 'Server', [3, 4], 0.3, 'DB', [
    model(
      'HPE',
      'ProLiant DL380 Gen11',
      ['HTTP'],
      ['1.48'],
      'Red Hat Enterprise Linux 8.8',
      WINDOWS_OUIS[3] as string,
      undefined,
      'x64',
    ),
    model('IBM', 'Power S1022', ['HTTP'], ['FW1050.00'], 'AIX 7.3', '00:14:5e', undefined, 'ppc64'),
    model('Oracle', 'SPARC T8-1', ['HTTP'], ['9.10.4'], 'SunOS 5.11', '00:10:e0', undefined, 'sparcv9'),
    model(
      'Dell',
      'PowerEdge R650',
      ['HTTP'],
      ['1.9.1'],
      'Ubuntu 22.04 LTS',
      WINDOWS_OUIS[1] as string,
      undefined,
      'x64',
    ),
  ]),
  it('Domain Controller', 'Server', [3, 4], 0.3, 'DC', [
    model(
      'Dell',
      'PowerEdge R650xs',
      ['SMB', 'RDP'],
      ['1.9.1'],
      'Windows Server 2019',
      WINDOWS_OUIS[1] as string,
      undefined,
      'x64',
    ),
  ]),
  it('NTP Server', 'Server', [2, 3], 0.2, 'NTP', [
    model(
      'Meinberg',
      'LANTIME M300/GPS',
      ['HTTP'],
      ['7.08.007', '7.06.013'],
      'Linux',
      '00:13:95',
      undefined,
      'x86',
    ),
    model('Microchip', 'SyncServer S650', ['HTTP'], ['4.1'], null, '00:b0:ae'),
  ]),
  it('Storage', 'Server', [3, 4], 0.2, 'STO', [
    model('NetApp', 'AFF A250', ['SMB', 'HTTP'], ['9.13.1'], 'ONTAP', '00:a0:98'),
    model('Dell', 'PowerVault ME5024', ['HTTP'], ['ME5.1.1.0.5'], null, WINDOWS_OUIS[1] as string),
  ]),
  it('Terminal station', 'Workstation', [2, 3], 0.4, 'TS', [
    model(
      'HP',
      't640 Thin Client',
      ['RDP', 'HTTP'],
      ['1.09.00'],
      'Windows 10 IoT Enterprise',
      WINDOWS_OUIS[2] as string,
      undefined,
      'x64',
    ),
    model('IGEL', 'UD3 M340C', ['RDP'], ['11.08.200'], 'IGEL OS 11', '00:e0:c5', undefined, 'x64'),
  ]),
  iot('Alarm Siren', 'Smart Facility', [2], 0.1, 'SIREN', [
    model('Axis', 'D4100-E Network Strobe Siren', ['HTTP'], ['11.9.60'], null, '00:40:8c'),
  ]),
  iot('ATM', 'Miscellaneous', [5], 0.05, 'ATM', [
    model('NCR', 'SelfServ 84', ['HTTP'], ['3.5'], 'Windows 10 IoT Enterprise', '00:00:85'),
  ]),
  iot('Barcode Scanner', 'Miscellaneous', [1, 2], 0.3, 'BCS', [
    model('Cognex', 'DataMan 370', ['EtherNet/IP', 'Profinet'], ['6.1.7'], null, '00:d0:24'),
    model(
      'Zebra Technologies',
      'FS40 Fixed Industrial Scanner',
      ['EtherNet/IP'],
      ['CAADBS00-003-R09'],
      null,
      '00:07:4d',
    ),
  ]),
  iot('Door Control Panel', 'Smart Facility', [2, 4], 0.2, 'DOOR', [
    model('HID Global', 'VertX EVO V1000', ['HTTP'], ['3.7.2.1613'], null, '00:06:8e'),
    model('Mercury Security', 'LP1502 Intelligent Controller', ['HTTP'], ['1.29.4'], null, '00:0f:e5'),
  ]),
  iot('DVR', 'Media and Surveillance', [2, 3], 0.1, 'NVR', [
    model('Hikvision', 'DS-7616NI-K2/16P', ['HTTP'], ['V4.61.025'], 'Linux', '44:19:b6'),
  ]),
  iot('Elevator', 'Smart Facility', [2], 0.05, 'ELV', [
    model('KONE', 'KONE DX Class Elevator Controller', ['HTTP', 'BACNet'], ['2.3'], null, '00:0e:5b'),
  ]),
  iot('Fire Alarm', 'Smart Facility', [2], 0.1, 'FACP', [
    model('Honeywell', 'NOTIFIER NFS2-3030', ['BACNet'], ['24.0'], null, '00:40:84'),
    model('Siemens', 'Cerberus PRO FC726', ['BACNet'], ['MP6.0'], null, '00:1b:1b'),
  ]),
  iot('Fire Detector', 'Smart Facility', [1, 2], 0.1, 'FD', [
    model('Siemens', 'Cerberus PRO OOH740', ['BACNet'], ['2.0'], null, '00:1b:1b'),
  ]),
  iot('Game console', 'Audio and Video', [5], 0.02, 'GAME', [
    model('Microsoft', 'Xbox Series S', ['HTTP'], ['10.0.25398'], null, '7c:ed:8d'),
  ]),
  iot('Humidity Sensor', 'Smart Facility', [1, 2], 0.1, 'HUM', [
    model('Vaisala', 'HMT330 Humidity Transmitter', ['MODBUS'], ['5.16'], null, '00:40:17'),
  ]),
  iot('HVAC', 'Smart Facility', [1, 2], 0.4, 'HVAC', [
    model('Johnson Controls', 'Metasys FEC2611', ['BACNet'], ['10.1'], null, '00:10:7e'),
    model('Trane', 'Tracer UC600', ['BACNet', 'HTTP'], ['7.0.2'], null, '00:0c:1e'),
  ]),
  iot('Intercom', 'Communication', [2, 4], 0.1, 'ICM', [
    model('2N', 'IP Verso 2.0', ['HTTP'], ['2.43.0'], null, '7c:1e:b3'),
  ]),
  iot('IP Camera', 'Media and Surveillance', [2, 4], 0.6, 'CAM', [
    model('Axis', 'Q6135-LE PTZ Camera', ['HTTP'], ['11.9.60', '10.12.182'], 'Linux', '00:40:8c'),
    model('Hikvision', 'DS-2CD2386G2-IU', ['HTTP'], ['V5.7.15'], 'Linux', '44:19:b6'),
  ]),
  iot('IP Telephone', 'Communication', [2, 4, 5], 0.4, 'PHN', [
    model('Cisco', 'IP Phone 8845', ['HTTP'], ['14.2.1'], null, '00:1b:54'),
    model('Poly', 'VVX 450', ['HTTP'], ['6.4.3'], null, '00:04:f2'),
  ]),
  iot('Marquee', 'Audio and Video', [2, 3], 0.1, 'ANDON', [
    model('Banner Engineering', 'WLS28 Andon Light', ['EtherNet/IP'], ['1.2'], null, '00:23:d9'),
    model('Vorne', 'XL 1250 Production Display', ['HTTP', 'EtherNet/IP'], ['3.12'], null, '00:50:c2'),
  ]),
  iot('Motion Detector', 'Smart Facility', [1, 2], 0.1, 'PIR', [
    model('Bosch', 'Blue Line Gen2 ISC-BPR2', ['HTTP'], ['2.0'], null, '00:07:5f'),
  ]),
  iot('People Counter System', 'Smart Facility', [4, 5], 0.05, 'PCNT', [
    model('Xovis', 'PC2S 3D Sensor', ['HTTP'], ['5.3.0'], null, '00:24:4c'),
  ]),
  iot(
    'Printer',
    'Printer',
    [2, 4, 5],
    0.5,
    'PRN',
    [
      model(
        'Zebra Technologies',
        'ZT411 Industrial Label Printer',
        ['HTTP'],
        ['V92.21.39Z'],
        null,
        '00:07:4d',
      ),
      model('HP', 'LaserJet Enterprise M507', ['HTTP', 'SMB'], ['2509243_053279'], null, '3c:d9:2b'),
    ],
    [2, 1, 1],
  ),
  iot('Punch Clock', 'Miscellaneous', [3, 4], 0.1, 'CLK', [
    model('UKG', 'InTouch DX Time Clock', ['HTTP'], ['3.3.2'], 'Android', '00:40:b4'),
  ]),
  iot('Smart Light', 'Smart Facility', [2], 0.1, 'LGT', [
    model('Signify', 'Interact Pro Gateway', ['HTTP'], ['1.17'], null, '00:17:88'),
  ]),
  iot('Smart Phone', 'Mobile', [4, 5], 0.3, 'MOB', [
    model('Apple', 'iPhone 14', ['HTTP'], ['17.5.1'], 'iOS', 'f0:18:98'),
    model('Samsung', 'Galaxy XCover6 Pro', ['HTTP'], ['14'], 'Android', '8c:77:12'),
  ]),
  iot('Smart Switch', 'Smart Facility', [2, 4], 0.1, 'PLUG', [
    model('Shelly', 'Pro 4PM', ['HTTP'], ['1.3.3'], null, '34:98:7a'),
  ]),
  iot('Smart TV', 'Audio and Video', [4, 5], 0.1, 'TV', [
    model('Samsung', 'QM55C Signage Display', ['HTTP'], ['T-KSU2EWWC-2220.3'], 'Tizen', '8c:77:12'),
  ]),
  iot(
    'Tablet',
    'Mobile',
    [2, 4, 5],
    0.3,
    'TAB',
    [
      model('Apple', 'iPad (10th generation)', ['HTTP'], ['17.5.1'], 'iPadOS', 'f0:18:98'),
      model('Getac', 'ZX10 Rugged Tablet', ['HTTP'], ['R1.05'], 'Android', '00:0b:ab'),
    ],
    [2, 1, 1],
  ),
  iot('Thermostat', 'Smart Facility', [1, 2], 0.1, 'TSTAT', [
    model('Honeywell', 'T7350 Commercial Thermostat', ['BACNet'], ['2.1'], null, '00:40:84'),
  ]),
  iot('Turnstile', 'Smart Facility', [2, 4], 0.05, 'TRN', [
    model('Boon Edam', 'Lifeline Speedlane Swing', ['HTTP'], ['4.2'], null, '00:1e:c0'),
  ]),
  iot('Uninterruptable Power Supply', 'Smart Facility', [1, 2, 3], 0.4, 'UPS', [
    model('Eaton', '9PX 6000i with Network-M2', ['HTTP', 'MODBUS'], ['2.0.5', '1.7.5'], null, '00:20:85'),
    model('APC', 'Smart-UPS SRT 5000 with AP9641', ['HTTP', 'MODBUS'], ['2.5.0.6'], null, '28:29:86'),
  ]),
];

/** A vulnerability in the catalogue the generator assigns to devices. */
export interface CveInfo {
  readonly cveId: string;
  /** CVSS base score with one decimal, as the sensor prints it (a string, e.g. `"9.3"`). */
  readonly score: string;
  readonly attackVector: 'NETWORK' | 'ADJACENT_NETWORK' | 'LOCAL';
  readonly description: string;
  /** Vendors (or `*windows*` for Windows hosts) it applies to. */
  readonly appliesTo: readonly string[];
  /**
   * Known exploit, as Defender for IoT's cloud names it in `exploitType` (the spec's example is
   * `ExploitKit`); absent when none is known, which the cloud reports as `Unknown`.
   */
  readonly exploitType?: string;
}

/**
 * Real CVEs quoted verbatim from the Defender for IoT documentation examples, plus synthetic
 * ones. Synthetic ids use the year 2099 so they can never be mistaken for (or collide with) a
 * real NVD entry.
 */
export function buildCveCatalogue(): CveInfo[] {
  const real: CveInfo[] = [
    {
      cveId: 'CVE-2015-2373',
      score: '10.0',
      attackVector: 'NETWORK',
      appliesTo: ['*windows*'],
      description:
        'The Remote Desktop Protocol (RDP) server service in Microsoft Windows 7 SP1, Windows 8, and Windows Server 2012 allows remote attackers to execute arbitrary code via a series of crafted packets, aka "Remote Desktop Protocol (RDP) Remote Code Execution Vulnerability."',
    },
    {
      cveId: 'CVE-2015-1635',
      score: '10.0',
      attackVector: 'NETWORK',
      appliesTo: ['*windows*'],
      description:
        'HTTP.sys in Microsoft Windows 7 SP1, Windows Server 2008 R2 SP1, Windows 8, Windows 8.1, and Windows Server 2012 Gold and R2 allows remote attackers to execute arbitrary code via crafted HTTP requests, aka "HTTP.sys Remote Code Execution Vulnerability."',
    },
    {
      cveId: 'CVE-2015-0014',
      score: '10.0',
      attackVector: 'NETWORK',
      appliesTo: ['*windows*'],
      description:
        'Buffer overflow in the Telnet service in Microsoft Windows Server 2003 SP2, Windows Vista SP2, Windows Server 2008 SP2 and R2 SP1, Windows 7 SP1, Windows 8, Windows 8.1, and Windows Server 2012 Gold and R2 allows remote attackers to execute arbitrary code via crafted packets, aka "Windows Telnet Service Buffer Overflow Vulnerability."',
    },
    {
      cveId: 'CVE-2016-3270',
      score: '10.0',
      attackVector: 'NETWORK',
      appliesTo: ['*windows*'],
      description:
        'The Graphics component in the kernel in Microsoft Windows Vista SP2, Windows Server 2008 SP2 and R2 SP1, Windows 7 SP1, Windows 8.1, Windows Server 2012 Gold and R2, Windows RT 8.1, and Windows 10 Gold, 1511, and 1607 allows local users to gain privileges via a crafted application, aka "Win32k Elevation of Privilege Vulnerability."',
    },
    {
      cveId: 'CVE-2007-0099',
      score: '9.3',
      attackVector: 'NETWORK',
      appliesTo: ['*windows*'],
      description:
        'Race condition in the msxml3 module in Microsoft XML Core Services 3.0, as used in Internet Explorer 6 and other applications, allows remote attackers to execute arbitrary code or cause a denial of service (application crash) via many nested tags in an XML document in an IFRAME, when synchronous document rendering is frequently disrupted with asynchronous events, as demonstrated using a JavaScript timer, which can trigger NULL pointer dereferences or memory corruption, aka "MSXML Memory Corruption Vulnerability."',
    },
    {
      cveId: 'CVE-2009-1547',
      score: '9.3',
      attackVector: 'NETWORK',
      appliesTo: ['*windows*'],
      description:
        'Unspecified vulnerability in Microsoft Internet Explorer 5.01 SP4, 6, 6 SP1, and 7 allows remote attackers to execute arbitrary code via a crafted data stream header that triggers memory corruption, aka "Data Stream Header Corruption Vulnerability."',
    },
  ];
  const weaknesses: Array<[string, 'NETWORK' | 'ADJACENT_NETWORK' | 'LOCAL']> = [
    [
      'allows an unauthenticated remote attacker to cause a denial of service via crafted packets to the industrial protocol port',
      'NETWORK',
    ],
    [
      'allows a remote attacker to execute arbitrary code via a stack-based buffer overflow in the web server',
      'NETWORK',
    ],
    [
      'uses hard-coded credentials for a maintenance account, allowing an adjacent attacker to change the configuration',
      'ADJACENT_NETWORK',
    ],
    [
      'does not authenticate firmware updates, allowing an attacker on the control network to install modified firmware',
      'ADJACENT_NETWORK',
    ],
    [
      'transmits project data in cleartext, allowing a man-in-the-middle attacker to read and modify control logic',
      'ADJACENT_NETWORK',
    ],
    ['allows a local user to escalate privileges through an insecure service configuration', 'LOCAL'],
    [
      'contains an improper input validation flaw that lets a remote attacker stop the CPU (STOP mode)',
      'NETWORK',
    ],
    ['exposes a cross-site scripting vulnerability in the diagnostics web page', 'NETWORK'],
  ];
  const scores = ['9.8', '9.1', '8.8', '8.6', '7.5', '7.2', '6.5', '5.9', '5.3', '4.3', '3.7'];
  const vendors = [...new Set(DEVICE_TYPES.flatMap((t) => t.models.map((m) => m.vendor)))].sort();
  const synthetic: CveInfo[] = [];
  let n = 10001;
  for (const vendor of [...vendors, '*windows*']) {
    const count = vendor === '*windows*' ? 10 : 8;
    for (let i = 0; i < count; i++) {
      const [text, vector] = weaknesses[(n * 7 + i) % weaknesses.length] as [string, CveInfo['attackVector']];
      const product = vendor === '*windows*' ? 'Microsoft Windows' : `${vendor} firmware`;
      synthetic.push({
        cveId: `CVE-2099-${n}`,
        score: scores[(n * 3 + i * 5) % scores.length] as string,
        attackVector: vector,
        appliesTo: [vendor],
        description: `Sandbox vulnerability (synthetic): ${product} ${text}.`,
        // One synthetic CVE in four has an exploit kit, so both answers of the exploit flag occur.
        ...(n % 4 === 0 ? { exploitType: 'ExploitKit' } : {}),
      });
      n++;
    }
  }
  return [...real, ...synthetic];
}

/** A built-in Defender for Cloud recommendation (assessment metadata). */
export interface RecommendationInfo {
  /** Fixed key: the same across seeds, like real built-in keys. */
  readonly key?: string;
  readonly displayName: string;
  readonly description: string;
  readonly remediationDescription: string;
  readonly categories: readonly string[];
  readonly severity: 'Low' | 'Medium' | 'High' | 'Critical';
  readonly userImpact: 'Low' | 'Moderate' | 'High';
  readonly implementationEffort: 'Low' | 'Moderate' | 'High';
  readonly threats: readonly string[];
  /** Lower-case ARM resource types it evaluates; `subscription` for subscription-level checks. */
  readonly resourceTypes: readonly string[];
  /** Probability an assessment of it is Unhealthy. */
  readonly unhealthyRate: number;
}

const VM = 'microsoft.compute/virtualmachines';
const VMSS = 'microsoft.compute/virtualmachinescalesets';
const SA = 'microsoft.storage/storageaccounts';
const SQL = 'microsoft.sql/servers';
const KV = 'microsoft.keyvault/vaults';
const AKS = 'microsoft.containerservice/managedclusters';
const WEB = 'microsoft.web/sites';
const HUB = 'microsoft.devices/iothubs';
const SUB = 'subscription';

/** Built-in recommendations (assessment metadata); the first two keep the keys of the Microsoft examples. */
export const RECOMMENDATIONS: readonly RecommendationInfo[] = [
  {
    key: '21300918-b2e3-0346-785f-c77ff57d243b',
    displayName: 'Install endpoint protection solution on virtual machine scale sets',
    description:
      'Install an endpoint protection solution on your virtual machines scale sets, to protect them from threats and vulnerabilities.',
    remediationDescription:
      'To install an endpoint protection solution: 1. Follow the instructions in How do I turn on antimalware in my virtual machine scale set',
    categories: ['Compute'],
    severity: 'Medium',
    userImpact: 'Low',
    implementationEffort: 'Low',
    threats: ['dataExfiltration', 'dataSpillage', 'maliciousInsider'],
    resourceTypes: [VMSS],
    unhealthyRate: 0.3,
  },
  {
    key: 'bc303248-3d14-44c2-96a0-55f5c326b5fe',
    displayName: 'Close management ports on your virtual machines',
    description:
      'Open remote management ports expose your VM to a high level of risk from internet-based attacks that attempt to brute force credentials to gain admin access to the machine.',
    remediationDescription:
      "We recommend that you edit the inbound rules of the below virtual machines to restrict access to specific source ranges.<br>To restrict the access to your virtual machines: 1. Click on a VM from the list below 2. At the 'Networking' blade, click on each of the rules that allow management ports (e.g. RDP-3389, WINRM-5985, SSH-22) 3. Change the 'Action' property to 'Deny' 4. Click 'Save'",
    categories: ['Networking'],
    severity: 'Medium',
    userImpact: 'High',
    implementationEffort: 'Low',
    threats: ['dataExfiltration', 'dataSpillage', 'maliciousInsider'],
    resourceTypes: [VM],
    unhealthyRate: 0.35,
  },
  {
    displayName: 'Machines should have vulnerability findings resolved',
    description: 'Resolve vulnerability findings on your machines to reduce the attack surface.',
    remediationDescription:
      'Review the findings of the vulnerability assessment solution and apply the vendor patches listed for each finding.',
    categories: ['Compute'],
    severity: 'High',
    userImpact: 'Moderate',
    implementationEffort: 'Moderate',
    threats: ['dataExfiltration', 'elevationOfPrivilege', 'threatResistance'],
    resourceTypes: [VM],
    unhealthyRate: 0.45,
  },
  {
    displayName: 'System updates should be installed on your machines',
    description: 'Missing security system updates on your servers will be installed.',
    remediationDescription:
      'Review the missing system updates and install them with Azure Update Manager, then re-run the assessment.',
    categories: ['Compute'],
    severity: 'High',
    userImpact: 'Moderate',
    implementationEffort: 'Low',
    threats: ['dataExfiltration', 'elevationOfPrivilege'],
    resourceTypes: [VM],
    unhealthyRate: 0.4,
  },
  {
    displayName:
      'Virtual machines should encrypt temp disks, caches, and data flows between Compute and Storage resources',
    description:
      "By default, a virtual machine OS and data disks are encrypted-at-rest using platform-managed keys; temp disks and data caches aren't encrypted.",
    remediationDescription:
      'Enable encryption at host or Azure Disk Encryption on the listed virtual machines.',
    categories: ['Compute', 'Data'],
    severity: 'High',
    userImpact: 'Low',
    implementationEffort: 'Moderate',
    threats: ['dataExfiltration', 'dataSpillage'],
    resourceTypes: [VM],
    unhealthyRate: 0.3,
  },
  {
    displayName: 'Guest Configuration extension should be installed on machines',
    description:
      'To ensure secure configurations of in-guest settings of your machine, install the Guest Configuration extension.',
    remediationDescription:
      'Deploy the Guest Configuration extension with a system-assigned managed identity to the listed machines.',
    categories: ['Compute'],
    severity: 'Medium',
    userImpact: 'Low',
    implementationEffort: 'Low',
    threats: ['missingCoverage'],
    resourceTypes: [VM],
    unhealthyRate: 0.25,
  },
  {
    displayName: 'Internet-facing virtual machines should be protected with network security groups',
    description:
      'Protect your virtual machines from potential threats by restricting access to them with network security groups (NSG).',
    remediationDescription:
      'Associate a network security group with the subnet or network interface of each listed virtual machine and allow only required traffic.',
    categories: ['Networking'],
    severity: 'High',
    userImpact: 'Moderate',
    implementationEffort: 'Low',
    threats: ['dataExfiltration', 'denialOfService'],
    resourceTypes: [VM],
    unhealthyRate: 0.2,
  },
  {
    displayName:
      'Management ports of virtual machines should be protected with just-in-time network access control',
    description:
      'Defender for Cloud has identified some overly-permissive inbound rules for management ports in your network security group.',
    remediationDescription:
      'Enable just-in-time VM access on the listed machines from the Workload protections blade.',
    categories: ['Networking'],
    severity: 'High',
    userImpact: 'Moderate',
    implementationEffort: 'Low',
    threats: ['accountBreach', 'dataExfiltration'],
    resourceTypes: [VM],
    unhealthyRate: 0.3,
  },
  {
    displayName: 'EDR solution should be installed on Virtual Machines',
    description:
      'Installing an Endpoint Detection and Response (EDR) solution on virtual machines is important for protection against advanced threats.',
    remediationDescription:
      'Enable Defender for Servers and onboard the listed machines to Microsoft Defender for Endpoint.',
    categories: ['Compute'],
    severity: 'Critical',
    userImpact: 'Low',
    implementationEffort: 'Low',
    threats: ['threatResistance', 'missingCoverage'],
    resourceTypes: [VM, VMSS],
    unhealthyRate: 0.2,
  },
  {
    displayName: 'Storage accounts should restrict network access using virtual network rules',
    description:
      'Protect your storage accounts from potential threats using virtual network rules as a preferred method instead of IP-based filtering.',
    remediationDescription:
      "In the storage account, open Networking, choose 'Selected networks' and add the virtual networks that need access.",
    categories: ['Data'],
    severity: 'Medium',
    userImpact: 'Moderate',
    implementationEffort: 'Moderate',
    threats: ['dataExfiltration'],
    resourceTypes: [SA],
    unhealthyRate: 0.4,
  },
  {
    displayName: 'Storage account public access should be disallowed',
    description:
      'Anonymous public read access to containers and blobs in Azure Storage is a convenient way to share data but might present security risks.',
    remediationDescription:
      "Set 'Allow Blob public access' to Disabled in the storage account configuration.",
    categories: ['Data'],
    severity: 'Critical',
    userImpact: 'Moderate',
    implementationEffort: 'Low',
    threats: ['dataExfiltration', 'dataSpillage'],
    resourceTypes: [SA],
    unhealthyRate: 0.15,
  },
  {
    displayName: 'Secure transfer to storage accounts should be enabled',
    description:
      'Secure transfer is an option that forces your storage account to accept requests only from secure connections (HTTPS).',
    remediationDescription:
      "Open Configuration on the storage account and set 'Secure transfer required' to Enabled.",
    categories: ['Data'],
    severity: 'High',
    userImpact: 'Low',
    implementationEffort: 'Low',
    threats: ['dataExfiltration'],
    resourceTypes: [SA],
    unhealthyRate: 0.1,
  },
  {
    displayName: 'SQL servers should have an Azure Active Directory administrator provisioned',
    description: 'Provision an Azure AD administrator for your SQL server to enable Azure AD authentication.',
    remediationDescription:
      'Set an Azure Active Directory admin on the SQL server from the Azure portal or with the az sql server ad-admin create command.',
    categories: ['Data', 'IdentityAndAccess'],
    severity: 'High',
    userImpact: 'Low',
    implementationEffort: 'Low',
    threats: ['accountBreach'],
    resourceTypes: [SQL],
    unhealthyRate: 0.3,
  },
  {
    displayName: 'SQL databases should have vulnerability findings resolved',
    description: 'SQL Vulnerability assessment scans your database for security vulnerabilities.',
    remediationDescription:
      'Review the vulnerability assessment findings of each database and remediate or baseline them.',
    categories: ['Data'],
    severity: 'High',
    userImpact: 'Moderate',
    implementationEffort: 'Moderate',
    threats: ['dataExfiltration', 'maliciousInsider'],
    resourceTypes: [SQL],
    unhealthyRate: 0.45,
  },
  {
    displayName: 'Transparent Data Encryption on SQL databases should be enabled',
    description:
      'Enable transparent data encryption to protect data-at-rest and meet compliance requirements.',
    remediationDescription: 'Turn on Transparent data encryption for each listed database.',
    categories: ['Data'],
    severity: 'Low',
    userImpact: 'Low',
    implementationEffort: 'Low',
    threats: ['dataSpillage'],
    resourceTypes: [SQL],
    unhealthyRate: 0.1,
  },
  {
    displayName: 'Key vaults should have purge protection enabled',
    description: 'Malicious deletion of a key vault can lead to permanent data loss.',
    remediationDescription:
      'Enable purge protection on the key vault (az keyvault update --enable-purge-protection true).',
    categories: ['Data'],
    severity: 'Medium',
    userImpact: 'Low',
    implementationEffort: 'Low',
    threats: ['maliciousInsider', 'dataSpillage'],
    resourceTypes: [KV],
    unhealthyRate: 0.35,
  },
  {
    displayName: 'Azure Key Vault should have firewall enabled',
    description:
      'Enable the key vault firewall so that the key vault is not accessible by default to any public IPs.',
    remediationDescription:
      "In the key vault, open Networking and select 'Allow public access from specific virtual networks and IP addresses'.",
    categories: ['Networking', 'Data'],
    severity: 'Medium',
    userImpact: 'Moderate',
    implementationEffort: 'Low',
    threats: ['dataExfiltration'],
    resourceTypes: [KV],
    unhealthyRate: 0.4,
  },
  {
    displayName: 'Kubernetes clusters should not use the default namespace',
    description:
      'Prevent usage of the default namespace in Kubernetes clusters to protect against unauthorized access.',
    remediationDescription:
      'Move workloads out of the default namespace and apply the policy to deny new deployments there.',
    categories: ['Container'],
    severity: 'Low',
    userImpact: 'Moderate',
    implementationEffort: 'Moderate',
    threats: ['elevationOfPrivilege'],
    resourceTypes: [AKS],
    unhealthyRate: 0.5,
  },
  {
    displayName: 'Running container images should have vulnerability findings resolved',
    description:
      'Container image vulnerability assessment scans your registry and running images for known vulnerabilities.',
    remediationDescription: 'Rebuild the affected images on patched base images and redeploy the workloads.',
    categories: ['Container'],
    severity: 'High',
    userImpact: 'Moderate',
    implementationEffort: 'Moderate',
    threats: ['dataExfiltration', 'elevationOfPrivilege'],
    resourceTypes: [AKS],
    unhealthyRate: 0.55,
  },
  {
    displayName: 'Privileged containers should be avoided',
    description: 'To prevent unrestricted host access, avoid privileged containers whenever possible.',
    remediationDescription: 'Remove privileged: true from the security context of the listed workloads.',
    categories: ['Container'],
    severity: 'Critical',
    userImpact: 'High',
    implementationEffort: 'Moderate',
    threats: ['elevationOfPrivilege', 'dataExfiltration'],
    resourceTypes: [AKS],
    unhealthyRate: 0.2,
  },
  {
    displayName: 'App Service apps should only be accessible over HTTPS',
    description:
      'Use of HTTPS ensures server/service authentication and protects data in transit from network layer eavesdropping attacks.',
    remediationDescription: "Set 'HTTPS Only' to On in the TLS/SSL settings of the app.",
    categories: ['AppServices'],
    severity: 'Medium',
    userImpact: 'Low',
    implementationEffort: 'Low',
    threats: ['dataExfiltration', 'accountBreach'],
    resourceTypes: [WEB],
    unhealthyRate: 0.2,
  },
  {
    displayName: 'App Service apps should use the latest TLS version',
    description: 'Upgrade to the latest TLS version.',
    remediationDescription: "Set 'Minimum TLS Version' to 1.2 or later in the app's TLS/SSL settings.",
    categories: ['AppServices'],
    severity: 'Low',
    userImpact: 'Low',
    implementationEffort: 'Low',
    threats: ['dataExfiltration'],
    resourceTypes: [WEB],
    unhealthyRate: 0.25,
  },
  {
    displayName: 'Managed identity should be used in App Service apps',
    description: 'For enhanced authentication security, use a managed identity.',
    remediationDescription:
      'Turn on the system-assigned identity of the app and replace stored credentials with it.',
    categories: ['AppServices', 'IdentityAndAccess'],
    severity: 'Medium',
    userImpact: 'Low',
    implementationEffort: 'Moderate',
    threats: ['accountBreach', 'dataExfiltration'],
    resourceTypes: [WEB],
    unhealthyRate: 0.35,
  },
  {
    displayName: 'IoT Hub should use private link',
    description:
      'Azure Private Link lets you connect your virtual network to IoT Hub over a private endpoint.',
    remediationDescription: 'Create a private endpoint for the IoT hub and disable public network access.',
    categories: ['IoT', 'Networking'],
    severity: 'Medium',
    userImpact: 'Moderate',
    implementationEffort: 'Moderate',
    threats: ['dataExfiltration'],
    resourceTypes: [HUB],
    unhealthyRate: 0.5,
  },
  {
    displayName: 'Diagnostic logs in IoT Hub should be enabled',
    description:
      'Enable logs and retain them for up to a year, to recreate activity trails for investigation after a security incident.',
    remediationDescription:
      'Add a diagnostic setting to the IoT hub that sends all log categories to a Log Analytics workspace.',
    categories: ['IoT'],
    severity: 'Low',
    userImpact: 'Low',
    implementationEffort: 'Low',
    threats: ['missingCoverage'],
    resourceTypes: [HUB],
    unhealthyRate: 0.4,
  },
  {
    displayName: 'Accounts with owner permissions on Azure resources should be MFA enabled',
    description:
      'Multi-Factor Authentication (MFA) should be enabled for all subscription accounts with owner permissions to prevent a breach of accounts or resources.',
    remediationDescription:
      'Enable MFA for the listed accounts with a Conditional Access policy or per-user MFA in Microsoft Entra ID.',
    categories: ['IdentityAndAccess'],
    severity: 'Critical',
    userImpact: 'Moderate',
    implementationEffort: 'Low',
    threats: ['accountBreach', 'dataExfiltration', 'maliciousInsider'],
    resourceTypes: [SUB],
    unhealthyRate: 0.3,
  },
  {
    displayName: 'Guest accounts with owner permissions on Azure resources should be removed',
    description:
      'Accounts with owner permissions that have been provisioned outside of the Azure Active Directory tenant (different domain names), should be removed from your Azure resources.',
    remediationDescription:
      'Remove the listed guest accounts from the Owner role assignments of the subscription.',
    categories: ['IdentityAndAccess'],
    severity: 'High',
    userImpact: 'High',
    implementationEffort: 'Low',
    threats: ['accountBreach', 'maliciousInsider'],
    resourceTypes: [SUB],
    unhealthyRate: 0.25,
  },
  {
    displayName: 'A maximum of 3 owners should be designated for your subscription',
    description:
      'It is recommended to designate up to 3 subscription owners in order to reduce the potential for breach by a compromised owner.',
    remediationDescription: 'Review the Owner role assignments and remove the ones that are not required.',
    categories: ['IdentityAndAccess'],
    severity: 'High',
    userImpact: 'Moderate',
    implementationEffort: 'Low',
    threats: ['accountBreach', 'maliciousInsider'],
    resourceTypes: [SUB],
    unhealthyRate: 0.4,
  },
  {
    displayName: 'Microsoft Defender for Servers should be enabled',
    description: 'Microsoft Defender for Servers provides real-time threat protection for server workloads.',
    remediationDescription:
      'Enable the Defender for Servers plan in Environment settings for the subscription.',
    categories: ['Compute'],
    severity: 'High',
    userImpact: 'Low',
    implementationEffort: 'Low',
    threats: ['missingCoverage', 'threatResistance'],
    resourceTypes: [SUB],
    unhealthyRate: 0.2,
  },
];

/** Azure resource types the generator creates, with ARM provider and path segment. */
export const RESOURCE_TYPES: ReadonlyArray<{
  type: string;
  provider: string;
  segment: string;
  prefix: string;
  weight: number;
}> = [
  { type: VM, provider: 'Microsoft.Compute', segment: 'virtualMachines', prefix: 'vm', weight: 40 },
  {
    type: VMSS,
    provider: 'Microsoft.Compute',
    segment: 'virtualMachineScaleSets',
    prefix: 'vmss',
    weight: 5,
  },
  { type: SA, provider: 'Microsoft.Storage', segment: 'storageAccounts', prefix: 'st', weight: 18 },
  { type: SQL, provider: 'Microsoft.Sql', segment: 'servers', prefix: 'sql', weight: 8 },
  { type: KV, provider: 'Microsoft.KeyVault', segment: 'vaults', prefix: 'kv', weight: 8 },
  { type: AKS, provider: 'Microsoft.ContainerService', segment: 'managedClusters', prefix: 'aks', weight: 4 },
  { type: WEB, provider: 'Microsoft.Web', segment: 'sites', prefix: 'app', weight: 12 },
  { type: HUB, provider: 'Microsoft.Devices', segment: 'IotHubs', prefix: 'iot', weight: 5 },
];

/** Name parts for generated ServiceNow users. */
export const FIRST_NAMES = [
  'Anna',
  'Ben',
  'Carla',
  'David',
  'Elena',
  'Farid',
  'Grace',
  'Hiro',
  'Ines',
  'Jonas',
  'Kavya',
  'Liam',
  'Maria',
  'Noah',
  'Olga',
  'Pedro',
  'Qing',
  'Rosa',
  'Sven',
  'Tara',
  'Umar',
  'Vera',
  'Wen',
  'Ximena',
  'Yusuf',
  'Zoe',
  'Aisha',
  'Bruno',
  'Chloe',
  'Dmitri',
  'Emma',
  'Felix',
  'Greta',
  'Hassan',
  'Isla',
  'Jakub',
  'Kenji',
  'Lucia',
  'Mateo',
  'Nina',
];
export const LAST_NAMES = [
  'Andersson',
  'Becker',
  'Castillo',
  'Dubois',
  'Eriksen',
  'Fischer',
  'Garcia',
  'Hoffmann',
  'Ivanova',
  'Jensen',
  'Kowalski',
  'Larsen',
  'Moreau',
  'Nakamura',
  'Okafor',
  'Petrov',
  'Quinn',
  'Rossi',
  'Schmidt',
  'Tanaka',
  'Uddin',
  'Varga',
  'Weber',
  'Xu',
  'Yilmaz',
  'Zimmermann',
  'Novak',
  'Silva',
  'Murphy',
  'Kim',
];
/** Departments of generated users; assignment groups draw their members from them. */
export const DEPARTMENTS = [
  'OT Engineering',
  'Plant Maintenance',
  'IT Infrastructure',
  'Cloud Platform',
  'Security Operations',
  'Process Control',
  'Networking',
];

/** ServiceNow assignment groups (`sys_user_group`). */
export const ASSIGNMENT_GROUPS: ReadonlyArray<{
  name: string;
  description: string;
  departments: readonly string[];
}> = [
  {
    name: 'OT Network Operations',
    description: 'Industrial network, switches and firewalls in the plants',
    departments: ['Networking', 'OT Engineering'],
  },
  {
    name: 'Plant Automation Engineering',
    description: 'PLC, DCS and HMI engineering',
    departments: ['OT Engineering', 'Process Control'],
  },
  {
    name: 'Plant Maintenance',
    description: 'Field devices and instrumentation',
    departments: ['Plant Maintenance'],
  },
  {
    name: 'Cloud Platform Engineering',
    description: 'Azure landing zones and shared services',
    departments: ['Cloud Platform'],
  },
  {
    name: 'Security Operations',
    description: 'SOC and vulnerability management',
    departments: ['Security Operations'],
  },
  {
    name: 'Windows Server Team',
    description: 'Server and workstation patching',
    departments: ['IT Infrastructure'],
  },
  {
    name: 'Database Administration',
    description: 'SQL and data services',
    departments: ['IT Infrastructure', 'Cloud Platform'],
  },
];

/** ISA-95 style enterprise layout: site names and codes. */
export const SITES: ReadonlyArray<{ name: string; code: string; location: string; region: string }> = [
  { name: 'Rotterdam Refinery', code: 'RTM', location: 'westeurope', region: 'EMEA' },
  { name: 'Houston Chemical Plant', code: 'HOU', location: 'southcentralus', region: 'Americas' },
  { name: 'Lyon Pharma Campus', code: 'LYS', location: 'francecentral', region: 'EMEA' },
  { name: 'Monterrey Assembly', code: 'MTY', location: 'southcentralus', region: 'Americas' },
  { name: 'Osaka Components', code: 'OSA', location: 'japanwest', region: 'APAC' },
  { name: 'Gdansk Water Utility', code: 'GDN', location: 'polandcentral', region: 'EMEA' },
  { name: 'Pune Packaging', code: 'PNQ', location: 'centralindia', region: 'APAC' },
  { name: 'Calgary Substation Grid', code: 'YYC', location: 'canadacentral', region: 'Americas' },
  { name: 'Gothenburg Foundry', code: 'GOT', location: 'swedencentral', region: 'EMEA' },
  { name: 'Brisbane Food Processing', code: 'BNE', location: 'australiaeast', region: 'APAC' },
];

/** Production areas that become zones at Purdue levels 0–2. */
export const PRODUCTION_AREAS = [
  'Crude Unit',
  'Packaging Line 1',
  'Packaging Line 2',
  'Utilities',
  'Boiler House',
  'Tank Farm',
  'Substation',
  'Assembly Cell A',
  'Assembly Cell B',
  'Water Treatment',
  'Mixing',
  'Filling Line',
  'Compressor Station',
  'Paint Shop',
  'Warehouse Automation',
];
