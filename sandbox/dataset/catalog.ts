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

/** Device types, named as the sensor API `type` field names them. */
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
  | 'Server';

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
}

export interface DeviceTypeInfo {
  readonly type: DeviceType;
  /** Console `u_device_type.u_category`. */
  readonly category: 'ICS' | 'IT' | 'Network';
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
    typeDisplayName: 'Networking',
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
    typeDisplayName: 'Networking',
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
    typeDisplayName: 'Networking',
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
    ],
  },
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
