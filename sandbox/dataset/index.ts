import { createHash } from 'node:crypto';
import {
  ASSIGNMENT_GROUPS,
  DEPARTMENTS,
  DEVICE_TYPES,
  FIRST_NAMES,
  LAST_NAMES,
  PRODUCTION_AREAS,
  PROTOCOLS,
  PROTOCOL_INDEX,
  RECOMMENDATIONS,
  RESOURCE_TYPES,
  SITES,
  buildCveCatalogue,
  type CveInfo,
  type DeviceCategory,
  type DeviceType,
  type DeviceTypeInfo,
  type ModelInfo,
} from './catalog.js';
import { Random, nameGuid } from './random.js';

export type { CveInfo, DeviceCategory, DeviceType, ProtocolInfo } from './catalog.js';
export { PROTOCOLS } from './catalog.js';

/** Named estate sizes. */
export type EstateSize = 'empty' | 'demo' | 'large';

/** What to generate. */
export interface EstateOptions {
  /** Default `demo`. */
  size?: EstateSize;
  /** Overrides the size's device count; sensors, sites, assessments and users scale with it. */
  devices?: number;
  /** Default 1. Same seed (and options) → the same estate, byte for byte. */
  seed?: number;
}

/**
 * Fixed instant the estate's timestamps are relative to (every generated time is at or before
 * it). A fixed instant keeps the estate deterministic; the Defender sandbox shifts all times so
 * that this instant becomes its own start time.
 */
export const ESTATE_REFERENCE_TIME = Date.UTC(2026, 0, 1, 0, 0, 0);

export interface Subscription {
  readonly id: string;
  readonly displayName: string;
}

/** An ISA-95 site (Defender for IoT site). */
export interface Site {
  readonly id: number;
  /** Short resource name, e.g. `rtm`. */
  readonly name: string;
  readonly displayName: string;
  readonly code: string;
  readonly enterprise: string;
  readonly region: string;
  /** Azure location of the site's Defender for IoT resources. */
  readonly location: string;
  readonly subscriptionId: string;
}

/** A network zone inside a site; each zone is monitored by one sensor. */
export interface Zone {
  readonly id: number;
  readonly name: string;
  readonly siteId: number;
  /** Purdue levels hosted in the zone. */
  readonly levels: readonly number[];
  /** IPv4 CIDR the zone's devices are addressed from. */
  readonly subnet: string;
  readonly vlan: number;
  readonly sensorId: number;
}

/** An OT network sensor. */
export interface Sensor {
  readonly id: number;
  readonly name: string;
  readonly uid: string;
  readonly siteId: number;
  readonly zoneId: number;
  readonly version: string;
  readonly hostname: string;
  readonly ip: string;
  readonly mac: string;
  readonly learningMode: boolean;
  readonly connected: boolean;
  /** Epoch ms. */
  readonly activatedAt: number;
}

export interface DeviceNic {
  readonly ip: string;
  readonly mac: string;
  readonly vlan: string;
}

/** A controller module (rack slot) of a PLC or DCS controller. */
export interface DeviceModule {
  readonly rack: number;
  readonly slot: number;
  readonly slotType: 'Cpu' | 'DigitalIO' | 'AnalogIO' | 'CommAdapter' | 'Supply' | 'Generic';
  readonly model: string;
  readonly serial: string;
  readonly firmwareVersion: string;
  readonly moduleAddress: string;
}

/**
 * PLC key and run states, the values Microsoft's device-inventory.md lists for "PLC mode" (Resource
 * Graph `additionalFields.plcKeyState` / `plcRunState`).
 */
export type PlcKeyState = 'Run' | 'Program' | 'Remote' | 'Stop' | 'Invalid' | 'Programming Disabled';
export type PlcRunState =
  'Run' | 'Program' | 'Stop' | 'Paused' | 'Exception' | 'Halted' | 'Trapped' | 'Idle' | 'Offline';
const PLC_KEY_STATES: readonly PlcKeyState[] = [
  'Run',
  'Remote',
  'Program',
  'Stop',
  'Invalid',
  'Programming Disabled',
];
const PLC_KEY_WEIGHTS = [50, 35, 8, 4, 2, 1];
const PLC_RUN_STATES: readonly PlcRunState[] = [
  'Run',
  'Program',
  'Stop',
  'Idle',
  'Paused',
  'Exception',
  'Halted',
  'Trapped',
  'Offline',
];
const PLC_RUN_WEIGHTS = [85, 4, 3, 2, 2, 1, 1, 1, 1];

/** An OT or IT device seen by a sensor. Times are epoch ms relative to {@link ESTATE_REFERENCE_TIME}. */
export interface OtDevice {
  /** Numeric device id (sensor and console id). */
  readonly id: number;
  /** GUID of the device's cloud resource (`iotsecurityresources`). */
  readonly uuid: string;
  readonly name: string;
  readonly type: DeviceType;
  readonly category: DeviceCategory;
  readonly typeDisplayName: string;
  readonly subTypeDisplayName: string;
  /** Purdue level 0–5. */
  readonly purdueLevel: number;
  readonly vendor: string;
  readonly model: string;
  readonly firmwareVersion: string;
  readonly serialNumber: string;
  readonly operatingSystem: string | null;
  /** Resource Graph `operatingSystem.architecture`, where the model names one. */
  readonly osArchitecture?: string;
  /** PLC mode (PLCs only): key switch and run state, as the Azure portal lists them. */
  readonly plcKeyState?: PlcKeyState;
  readonly plcRunState?: PlcRunState;
  readonly siteId: number;
  readonly zoneId: number;
  readonly sensorId: number;
  readonly nics: readonly DeviceNic[];
  readonly modules: readonly DeviceModule[];
  /** Device-level protocol names (see {@link PROTOCOLS}). */
  readonly protocols: readonly string[];
  readonly authorized: boolean;
  readonly scanner: boolean;
  readonly engineeringStation: boolean;
  readonly programming: boolean;
  readonly hasDynamicAddress: boolean;
  readonly criticality: 'Low' | 'Normal' | 'High';
  readonly riskScore: number;
  readonly firstSeen: number;
  readonly lastActivity: number;
  readonly lastUpdate: number;
  /** CVE ids (see {@link Estate.cves}), highest score first. */
  readonly cves: readonly string[];
}

/** One connection between two devices, as {@link ConnectionTable.get} returns it. */
export interface Connection {
  readonly sourceId: number;
  readonly destinationId: number;
  /** Index into {@link PROTOCOLS}. */
  readonly protocol: number;
  readonly port: number;
  readonly direction: 'Two Way' | 'One Way' | 'Multicast';
  readonly discovered: number;
  readonly lastSeen: number;
}

const DIRECTIONS = ['Two Way', 'One Way', 'Multicast'] as const;

/**
 * Connections stored column-wise in typed arrays: `large` has ~400,000 of them and an object per
 * connection would cost ten times the memory.
 */
export class ConnectionTable {
  length = 0;
  private src: Int32Array;
  private dst: Int32Array;
  private proto: Uint8Array;
  private dir: Uint8Array;
  /** Seconds before the reference time. */
  private discoveredAgo: Uint32Array;
  private lastSeenAgo: Uint32Array;

  constructor(capacity = 16) {
    this.src = new Int32Array(capacity);
    this.dst = new Int32Array(capacity);
    this.proto = new Uint8Array(capacity);
    this.dir = new Uint8Array(capacity);
    this.discoveredAgo = new Uint32Array(capacity);
    this.lastSeenAgo = new Uint32Array(capacity);
  }

  add(c: Connection): void {
    if (this.length === this.src.length) this.grow();
    const i = this.length++;
    this.src[i] = c.sourceId;
    this.dst[i] = c.destinationId;
    this.proto[i] = c.protocol;
    this.dir[i] = DIRECTIONS.indexOf(c.direction);
    this.discoveredAgo[i] = Math.max(0, Math.round((ESTATE_REFERENCE_TIME - c.discovered) / 1000));
    this.lastSeenAgo[i] = Math.max(0, Math.round((ESTATE_REFERENCE_TIME - c.lastSeen) / 1000));
  }

  get(i: number): Connection {
    if (i < 0 || i >= this.length) throw new RangeError(`connection ${i} out of range`);
    const protocol = this.proto[i] as number;
    return {
      sourceId: this.src[i] as number,
      destinationId: this.dst[i] as number,
      protocol,
      port: PROTOCOLS[protocol]?.port ?? 0,
      direction: DIRECTIONS[this.dir[i] as number] ?? 'Two Way',
      discovered: ESTATE_REFERENCE_TIME - (this.discoveredAgo[i] as number) * 1000,
      lastSeen: ESTATE_REFERENCE_TIME - (this.lastSeenAgo[i] as number) * 1000,
    };
  }

  /** Source device id of connection `i`, without building an object. */
  sourceOf(i: number): number {
    return this.src[i] as number;
  }

  destinationOf(i: number): number {
    return this.dst[i] as number;
  }

  *[Symbol.iterator](): IterableIterator<Connection> {
    for (let i = 0; i < this.length; i++) yield this.get(i);
  }

  private grow(): void {
    const size = Math.max(16, this.src.length * 2);
    const grow32 = (a: Int32Array) => {
      const b = new Int32Array(size);
      b.set(a);
      return b;
    };
    const growU32 = (a: Uint32Array) => {
      const b = new Uint32Array(size);
      b.set(a);
      return b;
    };
    const grow8 = (a: Uint8Array) => {
      const b = new Uint8Array(size);
      b.set(a);
      return b;
    };
    this.src = grow32(this.src);
    this.dst = grow32(this.dst);
    this.proto = grow8(this.proto);
    this.dir = grow8(this.dir);
    this.discoveredAgo = growU32(this.discoveredAgo);
    this.lastSeenAgo = growU32(this.lastSeenAgo);
  }
}

/** Severity on the sensor scale (sensor and console APIs; azure-docs sensor-alert-apis.md). */
export type AlertSeverity = 'Warning' | 'Minor' | 'Major' | 'Critical';
/** Detection engine (azure-docs sensor-alert-apis.md). */
export type AlertEngine = 'Protocol Violation' | 'Policy Violation' | 'Malware' | 'Anomaly' | 'Operational';
/** Severity on the Azure scale: `AlertSeverity` of Azure/azure-rest-api-specs 2021-07-01-preview alerts.json. */
export type AzureAlertSeverity = 'Informational' | 'Low' | 'Medium' | 'High';
/** `AlertStatus` of the same spec. The portal calls InProgress "Active" (azure-docs alerts.md). */
export type AzureAlertStatus = 'New' | 'InProgress' | 'Closed';

/**
 * Azure severity of a sensor severity: "High = Critical, Medium = Major, Low = Minor, Warning"
 * (azure-docs articles/defender-for-iot/organizations/alert-engine-messages.md, "Alert severities").
 */
export function azureSeverityOf(severity: AlertSeverity): AzureAlertSeverity {
  return severity === 'Critical' ? 'High' : severity === 'Major' ? 'Medium' : 'Low';
}

/**
 * An alert raised by a sensor, as the sensor (`/api/v1|v2/alerts`), the console and Azure (the
 * device-group alert resource) know it. Times are epoch ms relative to {@link ESTATE_REFERENCE_TIME}.
 */
export interface SensorAlert {
  /** Numeric alert id (sensor and console `id`), unique in the estate. */
  readonly id: number;
  /** GUID: the Azure alert's name and `systemAlertId`. */
  readonly uuid: string;
  /** `/subscriptions/<sub>/providers/Microsoft.IoTSecurity/locations/<loc>/deviceGroups/<group>/alerts/<uuid>`. */
  readonly resourceId: string;
  readonly sensorId: number;
  readonly time: number;
  readonly title: string;
  readonly message: string;
  readonly severity: AlertSeverity;
  readonly engine: AlertEngine;
  /** Azure `alertType`. UNVERIFIED: no document lists the OT alert type names; these follow the spec's `IoT_` prefix. */
  readonly type: string;
  /** The sensor API's `type` filter category, for the two kinds it documents. */
  readonly sensorType: 'unexpected new devices' | 'disconnections' | null;
  readonly sourceDevice: number | null;
  readonly destinationDevice: number | null;
  /** IP (or MAC when the device has no IP) of the source / destination device (API v2). */
  readonly sourceDeviceAddress: string | null;
  readonly destinationDeviceAddress: string | null;
  readonly remediationSteps: readonly string[];
  readonly additionalInformation: { description: string; information: string[] } | null;
  /** Azure status; Closed is "handled" on the sensor and console (statuses are synchronised). */
  readonly status: AzureAlertStatus;
  /** Index of the burst the alert belongs to (many alerts of one type on one device), else null. */
  readonly burst: number | null;
}

/** An Azure resource Defender for Cloud assesses. */
export interface CloudResource {
  readonly id: string;
  readonly subscriptionId: string;
  readonly resourceGroup: string;
  /** Lower-case type as Resource Graph prints it, e.g. `microsoft.compute/virtualmachines`. */
  readonly type: string;
  readonly name: string;
  readonly location: string;
  /** Includes `owner` (an email) on most resources. */
  readonly tags: Readonly<Record<string, string>>;
}

/** Built-in assessment metadata (a recommendation). `severity` may be `Critical` (api-version 2025-05-04). */
export interface AssessmentMetadata {
  readonly key: string;
  readonly displayName: string;
  readonly policyDefinitionId: string;
  readonly description: string;
  readonly remediationDescription: string;
  readonly categories: readonly string[];
  readonly severity: 'Low' | 'Medium' | 'High' | 'Critical';
  readonly userImpact: 'Low' | 'Moderate' | 'High';
  readonly implementationEffort: 'Low' | 'Moderate' | 'High';
  readonly threats: readonly string[];
  readonly assessmentType: 'BuiltIn';
  readonly preview: boolean;
  readonly publishDates: { readonly GA: string; readonly public: string };
  /** Lower-case resource types it applies to (`subscription` for subscription-level checks). */
  readonly resourceTypes: readonly string[];
}

export type AssessmentStatusCode = 'Healthy' | 'Unhealthy' | 'NotApplicable';

/** One recommendation evaluated on one resource. Times are epoch ms. */
export interface Assessment {
  /** Assessed resource id (`/subscriptions/<id>` for subscription-level recommendations). */
  readonly resourceId: string;
  readonly subscriptionId: string;
  /** Assessment key = metadata name (GUID). */
  readonly key: string;
  readonly code: AssessmentStatusCode;
  readonly cause?: string;
  readonly description?: string;
  readonly firstEvaluationDate: number;
  readonly statusChangeDate: number;
  /** Risk level (api-version 2025-05-04 `risk.level`) for Unhealthy assessments. */
  readonly riskLevel?: 'Low' | 'Medium' | 'High' | 'Critical';
}

/** A ServiceNow record in Table API field names (all values strings, as the Table API returns them). */
export type ServiceNowRow = Record<string, string>;

/** The generated estate: OT, cloud and ServiceNow people, all from one seed. */
export interface Estate {
  readonly seed: number;
  readonly size: EstateSize | 'custom';
  /** See {@link ESTATE_REFERENCE_TIME}. */
  readonly referenceTime: number;
  readonly tenantId: string;
  readonly enterprise: string;
  readonly subscriptions: readonly Subscription[];
  readonly sites: readonly Site[];
  readonly zones: readonly Zone[];
  readonly sensors: readonly Sensor[];
  /** Ordered by id (1..n). */
  readonly devices: readonly OtDevice[];
  readonly connections: ConnectionTable;
  /** The CVE catalogue device `cves` refer to. */
  readonly cves: readonly CveInfo[];
  readonly alerts: readonly SensorAlert[];
  readonly resources: readonly CloudResource[];
  readonly assessmentMetadata: readonly AssessmentMetadata[];
  readonly assessments: readonly Assessment[];
  /** Rows to seed the ServiceNow sandbox with. */
  readonly servicenow: {
    readonly sys_user: ServiceNowRow[];
    readonly sys_user_group: ServiceNowRow[];
    readonly sys_user_grmember: ServiceNowRow[];
  };
}

interface Profile {
  devices: number;
  sites: number;
  sensors: number;
  subscriptions: number;
  assessments: number;
  users: number;
  connectionsPerDevice: number;
  alertsPerSensor: number;
  /** Bursts across the estate: 20–50 alerts of one type on one device within minutes. */
  alertBursts: number;
}

const PROFILES: Record<EstateSize, Profile> = {
  empty: {
    devices: 0,
    sites: 0,
    sensors: 0,
    subscriptions: 1,
    assessments: 0,
    users: 0,
    connectionsPerDevice: 0,
    alertsPerSensor: 0,
    alertBursts: 0,
  },
  demo: {
    devices: 600,
    sites: 2,
    sensors: 6,
    subscriptions: 2,
    assessments: 2000,
    users: 40,
    connectionsPerDevice: 4,
    alertsPerSensor: 5,
    alertBursts: 3,
  },
  large: {
    devices: 100_000,
    sites: 10,
    sensors: 50,
    subscriptions: 20,
    assessments: 200_000,
    users: 400,
    connectionsPerDevice: 4,
    alertsPerSensor: 10,
    alertBursts: 25,
  },
};

/** Most devices a zone holds: a /20 per zone, 240 hosts per /24. */
const DEVICES_PER_ZONE_MAX = 16 * 240;
const MAX_ZONES_PER_SITE = 16;
const DAY = 86_400_000;

function profileFor(options: EstateOptions): Profile {
  const size = options.size ?? 'demo';
  const base = PROFILES[size];
  if (options.devices === undefined) return base;
  const devices = options.devices;
  if (!Number.isInteger(devices) || devices < 0)
    throw new RangeError('devices must be a non-negative integer');
  if (devices > SITES.length * MAX_ZONES_PER_SITE * DEVICES_PER_ZONE_MAX) {
    throw new RangeError(
      `devices must be at most ${SITES.length * MAX_ZONES_PER_SITE * DEVICES_PER_ZONE_MAX}`,
    );
  }
  const scaleFrom = size === 'empty' ? PROFILES.demo : base;
  const f = devices / scaleFrom.devices;
  if (devices === 0) return { ...PROFILES.empty };
  const sites = Math.min(SITES.length, Math.max(1, Math.round(scaleFrom.sites * Math.sqrt(f))));
  let sensors = Math.max(1, Math.round(scaleFrom.sensors * f));
  sensors = Math.max(sensors, Math.ceil(devices / (DEVICES_PER_ZONE_MAX * 0.6)));
  sensors = Math.min(sensors, sites * MAX_ZONES_PER_SITE);
  return {
    devices,
    sites,
    sensors: Math.max(sensors, sites),
    subscriptions: Math.min(50, Math.max(1, Math.round(scaleFrom.subscriptions * f))),
    assessments: Math.round(scaleFrom.assessments * f),
    users: Math.min(5000, Math.max(10, Math.round(scaleFrom.users * f))),
    connectionsPerDevice: scaleFrom.connectionsPerDevice,
    alertsPerSensor: scaleFrom.alertsPerSensor,
    alertBursts: Math.max(1, Math.round(scaleFrom.alertBursts * Math.sqrt(f))),
  };
}

/**
 * Generates an estate: OT sites, zones, sensors, devices, connections and CVEs; Azure
 * subscriptions, resources, recommendations and assessments; ServiceNow users and groups whose
 * emails match the owners tagged on resources. Deterministic: the same options give the same
 * estate.
 *
 * @example
 * const estate = generateEstate({ size: 'demo', seed: 7 });
 * estate.devices.length; // 600
 */
export function generateEstate(options: EstateOptions = {}): Estate {
  const seed = options.seed ?? 1;
  const profile = profileFor(options);
  const size: Estate['size'] = options.devices === undefined ? (options.size ?? 'demo') : 'custom';
  const rng = (label: string) => Random.stream(seed, label);

  const tenantId = rng('tenant').guid();
  const enterprise = 'Contoso Industries';
  const subscriptions = generateSubscriptions(rng('subscriptions'), profile.subscriptions);
  const { sites, zones, sensors } = generateTopology(rng('topology'), profile, subscriptions);
  const cves = buildCveCatalogue();
  const devices = generateDevices(rng('devices'), profile.devices, sites, zones, cves, seed);
  const connections = generateConnections(rng('connections'), devices, zones, profile.connectionsPerDevice);
  const alerts = generateAlerts(rng('alerts'), sites, sensors, devices, profile);
  const servicenow = generateServiceNowPeople(rng('people'), profile.users);
  const ownerEmails = servicenow.sys_user.map((u) => u.email ?? '').filter((e) => e !== '');
  const assessmentMetadata = buildMetadata();
  const { resources, assessments } = generateCloud(
    rng('cloud'),
    subscriptions,
    sites,
    assessmentMetadata,
    profile.assessments,
    [...new Set(ownerEmails)].sort(),
  );
  return {
    seed,
    size,
    referenceTime: ESTATE_REFERENCE_TIME,
    tenantId,
    enterprise,
    subscriptions,
    sites,
    zones,
    sensors,
    devices,
    connections,
    cves,
    alerts,
    resources,
    assessmentMetadata,
    assessments,
    servicenow,
  };
}

function generateSubscriptions(r: Random, count: number): Subscription[] {
  const kinds = ['Production', 'OT Cloud', 'Shared Services', 'Development', 'Data Platform'];
  return Array.from({ length: count }, (_, i) => ({
    id: r.guid(),
    displayName: `Contoso ${kinds[i % kinds.length]} ${String(Math.floor(i / kinds.length) + 1).padStart(2, '0')}`,
  }));
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

function macFor(oui: string, n: number): string {
  const b = [(n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff].map((x) => x.toString(16).padStart(2, '0'));
  return `${oui}:${b.join(':')}`;
}

function generateTopology(
  r: Random,
  profile: Profile,
  subscriptions: readonly Subscription[],
): { sites: Site[]; zones: Zone[]; sensors: Sensor[] } {
  const sites: Site[] = [];
  const zones: Zone[] = [];
  const sensors: Sensor[] = [];
  if (profile.sites === 0) return { sites, zones, sensors };
  for (let s = 0; s < profile.sites; s++) {
    const info = SITES[s] as (typeof SITES)[number];
    sites.push({
      id: s + 1,
      name: info.code.toLowerCase(),
      displayName: info.name,
      code: info.code,
      enterprise: 'Contoso Industries',
      region: info.region,
      location: info.location,
      subscriptionId: (subscriptions[s % subscriptions.length] as Subscription).id,
    });
  }
  const zonesPerSite = Array.from(
    { length: profile.sites },
    (_, s) => Math.floor(profile.sensors / profile.sites) + (s < profile.sensors % profile.sites ? 1 : 0),
  );
  const versions = ['22.2.5.9', '22.2.3.22', '23.1.2', '24.1.3'];
  let areaCursor = 0;
  for (let s = 0; s < profile.sites; s++) {
    const site = sites[s] as Site;
    const n = zonesPerSite[s] as number;
    for (let z = 0; z < n; z++) {
      let name: string;
      let levels: number[];
      if (n === 1) {
        name = 'Plant Network';
        levels = [0, 1, 2, 3, 4, 5];
      } else if (n === 2) {
        [name, levels] =
          z === 0
            ? ['Site Operations and IT', [3, 4, 5]]
            : [PRODUCTION_AREAS[areaCursor++ % PRODUCTION_AREAS.length] as string, [0, 1, 2]];
      } else if (z === 0) {
        [name, levels] = ['Enterprise IT', [4, 5]];
      } else if (z === 1) {
        [name, levels] = ['Site Operations', [3]];
      } else {
        name = PRODUCTION_AREAS[areaCursor++ % PRODUCTION_AREAS.length] as string;
        levels = [0, 1, 2];
      }
      const zoneId = zones.length + 1;
      const sensorId = sensors.length + 1;
      const third = z * 16;
      zones.push({
        id: zoneId,
        name,
        siteId: site.id,
        levels,
        subnet: `10.${s + 1}.${third}.0/20`,
        vlan: 100 + z,
        sensorId,
      });
      sensors.push({
        id: sensorId,
        name: `${site.name}-${slug(name)}-sensor`,
        uid: r.guid(),
        siteId: site.id,
        zoneId,
        version: r.pick(versions),
        hostname: `${site.code}-NS${String(z + 1).padStart(2, '0')}`.toLowerCase(),
        ip: `10.${s + 1}.${third}.5`,
        mac: macFor('00:50:56', sensorId),
        learningMode: false,
        connected: true,
        activatedAt: ESTATE_REFERENCE_TIME - r.int(200, 900) * DAY,
      });
    }
  }
  // Some sensors are still learning and some have lost their connection, as in real estates.
  const total = sensors.length;
  if (total >= 3) {
    const learning = Math.max(1, Math.round(total * 0.06));
    const disconnected = Math.max(1, Math.round(total * 0.04));
    const order = sensors.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = r.int(0, i);
      [order[i], order[j]] = [order[j] as number, order[i] as number];
    }
    const asMutable = sensors as Array<{ -readonly [K in keyof Sensor]: Sensor[K] }>;
    for (let k = 0; k < learning; k++)
      (asMutable[order[k] as number] as { learningMode: boolean }).learningMode = true;
    for (let k = learning; k < learning + disconnected; k++)
      (asMutable[order[k] as number] as { connected: boolean }).connected = false;
  }
  return { sites, zones, sensors };
}

function zoneWeight(zone: Zone): number {
  if (zone.levels.includes(0)) return zone.levels.length > 3 ? 1 : 6;
  if (zone.levels.includes(3) && zone.levels.length === 1) return 0.8;
  return 1.4;
}

function slotTypeOf(model: string, index: number): DeviceModule['slotType'] {
  if (index === 0) return 'Cpu';
  if (/Power|Supply/i.test(model)) return 'Supply';
  if (/\b(AI|AMI|IF8|Analog|AAI)/i.test(model)) return 'AnalogIO';
  if (/\b(DI|DQ|DO|IB|OB|IQ|DDI|DDO|SM )/i.test(model)) return 'DigitalIO';
  if (/\b(CP|CM|EN2T|CI8|NOE|Bridge|Link|Bus)/i.test(model)) return 'CommAdapter';
  return 'Generic';
}

/**
 * The device types each zone's first devices take, so that an estate of at least
 * `DEVICE_TYPES.length` devices holds every type (every subtype row of ServiceNow's Defender
 * connector) at least once. Each type goes to a zone hosting one of its Purdue levels, the zone
 * with the most room left; the types with the least room to choose from go first.
 */
function typeCoverage(zones: readonly Zone[], perZone: readonly number[]): DeviceTypeInfo[][] {
  // A smaller estate keeps the plain weighted draw: forcing its first devices would give every
  // seed the same few types.
  if (perZone.reduce((a, b) => a + b, 0) < DEVICE_TYPES.length) return zones.map(() => []);
  const room = [...perZone];
  const fits = (info: DeviceTypeInfo, zone: Zone) => info.levels.some((l) => zone.levels.includes(l));
  const capacity = (info: DeviceTypeInfo) =>
    zones.reduce((sum, z, i) => sum + (fits(info, z) ? (perZone[i] as number) : 0), 0);
  const byConstraint = DEVICE_TYPES.map((info, order) => ({ info, order, capacity: capacity(info) })).sort(
    (a, b) => a.capacity - b.capacity || a.order - b.order,
  );
  const chosen: Array<Array<{ info: DeviceTypeInfo; order: number }>> = zones.map(() => []);
  for (const { info, order } of byConstraint) {
    let best = -1;
    zones.forEach((zone, i) => {
      if (
        (room[i] as number) > 0 &&
        fits(info, zone) &&
        (best < 0 || (room[i] as number) > (room[best] as number))
      )
        best = i;
    });
    if (best < 0) continue;
    room[best] = (room[best] as number) - 1;
    chosen[best]?.push({ info, order });
  }
  // Catalogue order inside a zone, so that the first devices read PLC, RTU, IED…
  return chosen.map((list) => list.sort((a, b) => a.order - b.order).map((c) => c.info));
}

function generateDevices(
  r: Random,
  count: number,
  sites: readonly Site[],
  zones: readonly Zone[],
  cves: readonly CveInfo[],
  seed: number,
): OtDevice[] {
  if (count === 0 || zones.length === 0) return [];
  // Real MACs are unique across plants: two estates of different seeds share none (seed 1 keeps
  // the MACs it always had). Without the salt, device n of two estates got the same MAC whenever
  // their models shared a vendor OUI, and IRE rightly took them for one device.
  const macSalt = Math.imul(seed - 1, 0x9e3779b1) >>> 8;
  const weights = zones.map(zoneWeight);
  const totalWeight = weights.reduce((a, b) => a + b, 0);
  // Deterministic allocation of devices to zones, proportional to the zone's weight.
  const perZone = weights.map((w) => Math.floor((count * w) / totalWeight));
  let rest = count - perZone.reduce((a, b) => a + b, 0);
  for (let i = 0; rest > 0; i = (i + 1) % perZone.length, rest--) perZone[i] = (perZone[i] as number) + 1;
  for (let i = 0; i < perZone.length; i++) {
    if ((perZone[i] as number) > DEVICES_PER_ZONE_MAX)
      throw new RangeError('too many devices for the zones available');
  }

  const coverage = typeCoverage(zones, perZone);

  const cvesByVendor = new Map<string, number[]>();
  cves.forEach((c, i) => {
    for (const v of c.appliesTo) cvesByVendor.set(v, [...(cvesByVendor.get(v) ?? []), i]);
  });
  const cveScore = cves.map((c) => Number(c.score));

  const devices: OtDevice[] = [];
  let id = 1;
  let secondNicCounter = 0;
  for (let zi = 0; zi < zones.length; zi++) {
    const zone = zones[zi] as Zone;
    const site = sites[zone.siteId - 1] as Site;
    const zoneIndexInSite = zones.filter((z) => z.siteId === zone.siteId).indexOf(zone);
    const [, o2, o3] = zone.subnet.split('.').map(Number) as [number, number, number];
    const candidates: Array<{
      info: DeviceTypeInfo;
      levels: number[];
      levelWeights: number[];
      weight: number;
    }> = [];
    for (const info of DEVICE_TYPES) {
      const levels: number[] = [];
      const levelWeights: number[] = [];
      info.levels.forEach((l, i) => {
        if (zone.levels.includes(l)) {
          levels.push(l);
          levelWeights.push(info.levelWeights[i] ?? 1);
        }
      });
      if (levels.length === 0) continue;
      const share = levelWeights.reduce((a, b) => a + b, 0) / info.levelWeights.reduce((a, b) => a + b, 0);
      candidates.push({ info, levels, levelWeights, weight: info.weight * share });
    }
    const candidateWeights = candidates.map((c) => c.weight);
    const n = perZone[zi] as number;
    const required = coverage[zi] as readonly DeviceTypeInfo[];
    for (let k = 0; k < n; k++) {
      // The zone's first devices are the types it must hold; the rest are drawn by weight.
      const pick =
        k < required.length
          ? (candidates.find((c) => c.info === required[k]) as (typeof candidates)[number])
          : r.weighted(candidates, candidateWeights);
      const info = pick.info;
      const model: ModelInfo = r.pick(info.models);
      const level = r.weighted(pick.levels, pick.levelWeights);
      const ip = `10.${o2}.${o3 + Math.floor(k / 240)}.${(k % 240) + 10}`;
      const mac = macFor(model.oui, ((id * 2654435761) >>> 8) ^ macSalt);
      const nics: DeviceNic[] = [{ ip, mac, vlan: String(zone.vlan) }];
      if (level >= 2 && info.category !== 'ICS' ? r.chance(0.15) : level >= 2 && r.chance(0.08)) {
        secondNicCounter++;
        nics.push({
          ip: `172.${16 + site.id}.${Math.floor(secondNicCounter / 240) % 256}.${(secondNicCounter % 240) + 10}`,
          mac: macFor(model.oui, ((id * 2654435761) >>> 8) ^ macSalt ^ 0x800000),
          vlan: String(900 + zoneIndexInSite),
        });
      }
      const firmwareVersion = r.pick(model.firmware);
      const modules: DeviceModule[] = [];
      if (model.modules) {
        const m = r.int(Math.min(2, model.modules.length), model.modules.length);
        for (let s = 0; s < m; s++) {
          const moduleModel = model.modules[s] as string;
          modules.push({
            rack: 0,
            slot: s,
            slotType: slotTypeOf(moduleModel, s),
            model: moduleModel,
            serial: `${model.vendor.slice(0, 2).toUpperCase()}${r.alnum(10)}`,
            firmwareVersion: s === 0 ? firmwareVersion : r.pick(model.firmware),
            moduleAddress: `Rack 0, Slot ${s}`,
          });
        }
      }
      const isWindows = (model.operatingSystem ?? '').startsWith('Windows');
      const pool = [
        ...(cvesByVendor.get(model.vendor) ?? []),
        ...(isWindows ? (cvesByVendor.get('*windows*') ?? []) : []),
      ];
      const chosen: number[] = [];
      if (pool.length > 0 && r.chance(0.8)) {
        const want = Math.min(pool.length, 1 + Math.floor(Math.pow(r.next(), 1.5) * 9));
        const bag = [...pool];
        for (let c = 0; c < want; c++) {
          const j = r.int(c, bag.length - 1);
          [bag[c], bag[j]] = [bag[j] as number, bag[c] as number];
          chosen.push(bag[c] as number);
        }
      }
      chosen.sort((a, b) => (cveScore[b] as number) - (cveScore[a] as number) || a - b);
      const deviceCves = chosen.map((c) => (cves[c] as CveInfo).cveId);
      const firstSeen = ESTATE_REFERENCE_TIME - r.int(30, 700) * DAY - r.int(0, DAY - 1);
      const stale = r.chance(0.05);
      const lastActivity = Math.max(
        firstSeen,
        ESTATE_REFERENCE_TIME - (stale ? r.int(30, 120) * DAY : r.int(0, 2 * DAY)),
      );
      const lastUpdate = Math.max(firstSeen, lastActivity - r.int(0, 7 * DAY));
      const ot = info.category === 'ICS';
      const topScore = chosen.length > 0 ? (cveScore[chosen[0] as number] as number) : 0;
      const name = r.chance(0.7)
        ? `${site.code}-${info.hostPrefix}-${String(zoneIndexInSite + 1)}${String(k + 1).padStart(3, '0')}`
        : ip;
      devices.push({
        id,
        uuid: r.guid(),
        name,
        type: info.type,
        category: info.category,
        typeDisplayName: info.typeDisplayName,
        subTypeDisplayName: info.subTypeDisplayName,
        purdueLevel: level,
        vendor: model.vendor,
        model: model.model,
        firmwareVersion,
        serialNumber: `${model.vendor.replace(/[^A-Z]/g, '').slice(0, 3) || 'SN'}${r.alnum(9)}`,
        operatingSystem: model.operatingSystem,
        ...(model.osArchitecture ? { osArchitecture: model.osArchitecture } : {}),
        ...(info.type === 'PLC'
          ? {
              plcKeyState: r.weighted(PLC_KEY_STATES, PLC_KEY_WEIGHTS),
              plcRunState: r.weighted(PLC_RUN_STATES, PLC_RUN_WEIGHTS),
            }
          : {}),
        siteId: site.id,
        zoneId: zone.id,
        sensorId: zone.sensorId,
        nics,
        modules,
        protocols: model.protocols,
        authorized: r.chance(0.95),
        scanner: info.type === 'Workstation' && r.chance(0.02),
        engineeringStation: info.type === 'Engineering Station',
        programming: info.type === 'Engineering Station',
        hasDynamicAddress: info.category === 'IT' && r.chance(0.3),
        criticality: ot ? (r.chance(0.35) ? 'High' : 'Normal') : r.chance(0.5) ? 'Low' : 'Normal',
        riskScore: Math.min(100, Math.round(topScore * 8 + r.int(0, 20))),
        firstSeen,
        lastActivity,
        lastUpdate,
        cves: deviceCves,
      });
      id++;
    }
  }
  return devices;
}

function generateConnections(
  r: Random,
  devices: readonly OtDevice[],
  zones: readonly Zone[],
  perDevice: number,
): ConnectionTable {
  const table = new ConnectionTable(Math.max(16, Math.ceil(devices.length * perDevice * 1.05)));
  if (devices.length < 2 || perDevice === 0) return table;
  // Index devices by zone and Purdue level: most traffic stays in a zone, or goes one level up.
  const byZoneLevel = new Map<number, number[][]>();
  const upperBySite = new Map<number, number[]>();
  for (const z of zones) byZoneLevel.set(z.id, [[], [], [], [], [], []]);
  devices.forEach((d, i) => {
    (byZoneLevel.get(d.zoneId) as number[][])[d.purdueLevel]?.push(i);
    if (d.purdueLevel >= 3) upperBySite.set(d.siteId, [...(upperBySite.get(d.siteId) ?? []), i]);
  });
  const seen = new Set<number>();
  const otIndex = new Set([
    'MODBUS',
    'Siemens S7',
    'DNP3',
    'EtherNet/IP',
    'BACNet',
    'IEC60870-5-104',
    'OPC UA',
    'Profinet',
  ]);
  const target = Math.round(devices.length * perDevice);
  let attempts = 0;
  while (table.length < target && attempts < target * 4) {
    attempts++;
    const i = r.int(0, devices.length - 1);
    const a = devices[i] as OtDevice;
    const levels = byZoneLevel.get(a.zoneId) as number[][];
    const roll = r.next();
    let pool: number[] | undefined;
    if (roll < 0.45) pool = levels[a.purdueLevel];
    else if (roll < 0.92) pool = levels[Math.min(5, a.purdueLevel + 1)];
    else pool = upperBySite.get(a.siteId);
    if (!pool || pool.length === 0)
      pool = levels.find((l, lv) => lv >= a.purdueLevel && l.length > 1) ?? levels[a.purdueLevel];
    if (!pool || pool.length === 0) continue;
    const j = pool[r.int(0, pool.length - 1)] as number;
    if (j === i) continue;
    const b = devices[j] as OtDevice;
    // The lower-level device is the server side (e.g. a PLC answering an HMI).
    const [client, server] =
      a.purdueLevel > b.purdueLevel
        ? [a, b]
        : b.purdueLevel > a.purdueLevel
          ? [b, a]
          : a.id < b.id
            ? [a, b]
            : [b, a];
    const key = client.id * 1048576 + server.id;
    if (seen.has(key) || seen.has(server.id * 1048576 + client.id)) continue;
    seen.add(key);
    const shared = server.protocols.filter((p) => client.protocols.includes(p));
    const candidates = shared.length > 0 ? shared : server.protocols;
    const ot = candidates.filter((p) => otIndex.has(p));
    const protocolName = r.pick(ot.length > 0 ? ot : candidates);
    const discovered = Math.max(client.firstSeen, server.firstSeen) + r.int(0, 10 * DAY);
    const lastSeen = Math.max(discovered, Math.min(client.lastActivity, server.lastActivity));
    const dirRoll = r.next();
    table.add({
      sourceId: client.id,
      destinationId: server.id,
      protocol: PROTOCOL_INDEX.get(protocolName) ?? 0,
      port: 0,
      direction: dirRoll < 0.8 ? 'Two Way' : dirRoll < 0.98 ? 'One Way' : 'Multicast',
      discovered: Math.min(discovered, ESTATE_REFERENCE_TIME),
      lastSeen: Math.min(lastSeen, ESTATE_REFERENCE_TIME),
    });
  }
  return table;
}

/** What an alert of one kind says; `{src}` / `{dst}` are the devices' addresses. */
export interface AlertTemplate {
  readonly title: string;
  readonly severity: AlertSeverity;
  readonly engine: AlertEngine;
  readonly message: string;
  readonly type: string;
  readonly sensorType: SensorAlert['sensorType'];
  readonly remediationSteps: readonly string[];
}

/**
 * Alert kinds, titles and engines as Microsoft's alert reference lists them (azure-docs
 * articles/defender-for-iot/organizations/alert-engine-messages.md); messages and remediation
 * steps paraphrase it.
 */
export const ALERT_TEMPLATES: readonly AlertTemplate[] = [
  {
    title: 'Unauthorized PLC Program Upload',
    severity: 'Major',
    engine: 'Policy Violation',
    message:
      'A program upload was detected from {src} to {dst}, which is not an authorized engineering station.',
    type: 'IoT_UnauthorizedPlcProgramUpload',
    sensorType: null,
    remediationSteps: [
      'Verify that the source device is an authorized engineering station.',
      'If the upload was not planned, isolate the source device and review the controller program.',
    ],
  },
  {
    title: 'Illegal MODBUS Operation (Function Code Zero)',
    severity: 'Major',
    engine: 'Protocol Violation',
    message: 'A MODBUS master {src} attempted to initiate a request with function code 0 to {dst}.',
    type: 'IoT_IllegalModbusOperation',
    sensorType: null,
    remediationSteps: ['Check the MODBUS master configuration.', 'Notify the security officer.'],
  },
  {
    title: 'Device is Suspected to be Disconnected (Unresponsive)',
    severity: 'Minor',
    engine: 'Operational',
    message: 'Device {dst} appears to be disconnected; no traffic was seen for 30 minutes.',
    type: 'IoT_DeviceUnresponsive',
    sensorType: 'disconnections',
    remediationSteps: ['Check the device power and its network link.'],
  },
  {
    title: 'New Asset Detected',
    severity: 'Warning',
    engine: 'Policy Violation',
    message: 'A new device {dst} was detected on the network.',
    type: 'IoT_NewAssetDetected',
    sensorType: 'unexpected new devices',
    remediationSteps: ['Validate that the device is authorized; if not, disconnect it.'],
  },
  {
    title: 'New Activity Detected - CIP Class Service',
    severity: 'Warning',
    engine: 'Anomaly',
    message: 'New CIP traffic was detected between {src} and {dst}.',
    type: 'IoT_NewActivityCipClassService',
    sensorType: null,
    remediationSteps: ['Confirm that the new activity is expected; if so, learn it.'],
  },
  {
    title: 'Suspicion of Malicious Activity',
    severity: 'Critical',
    engine: 'Malware',
    message:
      'Suspicious network activity was detected from {src}; it may be attributed to known industrial malware.',
    type: 'IoT_SuspicionOfMaliciousActivity',
    sensorType: null,
    remediationSteps: [
      'Isolate the source device.',
      'Scan it with an up-to-date antivirus and collect forensic evidence.',
    ],
  },
  {
    title: 'Internet Access Detected',
    severity: 'Major',
    engine: 'Policy Violation',
    message: 'Device {src} tried to access an external IP address which is not allowed by policy.',
    type: 'IoT_InternetAccessDetected',
    sensorType: null,
    remediationSteps: ['Block the traffic at the firewall.', 'Review why the device reaches the Internet.'],
  },
];

/** The address the sensor reports for a device: its first IP, else its first MAC. */
export function deviceAddress(d: Pick<OtDevice, 'nics'>): string | null {
  return d.nics[0]?.ip ?? d.nics[0]?.mac ?? null;
}

/** The device group of a site's devices and alerts. UNVERIFIED: one group per site, named after it. */
export function deviceGroupPath(site: Site): string {
  return `/subscriptions/${site.subscriptionId}/providers/Microsoft.IoTSecurity/locations/${site.location}/deviceGroups/${site.name}`;
}

/** The fields of an alert that follow from its kind, devices and time. */
export function alertFields(
  template: AlertTemplate,
  source: OtDevice | undefined,
  destination: OtDevice,
): Omit<SensorAlert, 'id' | 'uuid' | 'resourceId' | 'sensorId' | 'time' | 'status' | 'burst'> {
  // Operational alerts concern one device: the sensor reports no source.
  const src = template.engine === 'Operational' ? undefined : source;
  const srcAddress = src ? deviceAddress(src) : null;
  const dstAddress = deviceAddress(destination);
  return {
    title: template.title,
    message: template.message
      .replace('{src}', srcAddress ?? 'unknown')
      .replace('{dst}', dstAddress ?? destination.name),
    severity: template.severity,
    engine: template.engine,
    type: template.type,
    sensorType: template.sensorType,
    sourceDevice: src?.id ?? null,
    destinationDevice: destination.id,
    sourceDeviceAddress: srcAddress,
    destinationDeviceAddress: dstAddress,
    remediationSteps: template.remediationSteps,
    additionalInformation:
      template.engine === 'Policy Violation' && srcAddress && dstAddress
        ? { description: 'Addresses', information: [`${srcAddress} -> ${dstAddress}`] }
        : null,
  };
}

const STATUS_WEIGHTS = [55, 15, 30];
const STATUSES: readonly AzureAlertStatus[] = ['New', 'InProgress', 'Closed'];

/**
 * Alerts per sensor on the sensor's own devices, some already in progress or closed, plus bursts:
 * one kind of alert repeated 20–50 times on one device within minutes (what an alert storm
 * looks like to a ticketing integration).
 */
function generateAlerts(
  r: Random,
  sites: readonly Site[],
  sensors: readonly Sensor[],
  devices: readonly OtDevice[],
  profile: Profile,
): SensorAlert[] {
  const alerts: SensorAlert[] = [];
  const bySensor = new Map<number, OtDevice[]>();
  for (const d of devices) {
    const list = bySensor.get(d.sensorId);
    if (list) list.push(d);
    else bySensor.set(d.sensorId, [d]);
  }
  const eligible = sensors.filter((s) => (bySensor.get(s.id)?.length ?? 0) >= 2);
  const push = (
    sensor: Sensor,
    template: AlertTemplate,
    src: OtDevice,
    dst: OtDevice,
    time: number,
    status: AzureAlertStatus,
    burst: number | null,
  ) => {
    const site = sites[sensor.siteId - 1] as Site;
    const uuid = r.guid();
    alerts.push({
      id: alerts.length + 1,
      uuid,
      resourceId: `${deviceGroupPath(site)}/alerts/${uuid}`,
      sensorId: sensor.id,
      time,
      ...alertFields(template, src, dst),
      status,
      burst,
    });
  };
  for (const sensor of eligible) {
    const own = bySensor.get(sensor.id) as OtDevice[];
    for (let k = 0; k < profile.alertsPerSensor; k++) {
      const t = r.pick(ALERT_TEMPLATES);
      const status = r.weighted(STATUSES, STATUS_WEIGHTS);
      push(sensor, t, r.pick(own), r.pick(own), ESTATE_REFERENCE_TIME - r.int(0, 30 * DAY), status, null);
    }
  }
  for (let b = 0; b < profile.alertBursts && eligible.length > 0; b++) {
    const sensor = eligible[b % eligible.length] as Sensor;
    const own = bySensor.get(sensor.id) as OtDevice[];
    const t = r.pick(ALERT_TEMPLATES);
    const src = r.pick(own);
    const dst = r.pick(own);
    const count = r.int(20, 50);
    let time = ESTATE_REFERENCE_TIME - r.int(3_600_000, 7 * DAY);
    // An older burst was partly dealt with already.
    const closedShare = b % 3 === 2 ? 0.5 : 0;
    for (let k = 0; k < count; k++) {
      push(sensor, t, src, dst, time, r.chance(closedShare) ? 'Closed' : 'New', b);
      time += r.int(2, 15) * 1000;
    }
  }
  return alerts;
}

function generateServiceNowPeople(r: Random, count: number): Estate['servicenow'] {
  const sys_user: ServiceNowRow[] = [];
  const sys_user_group: ServiceNowRow[] = [];
  const sys_user_grmember: ServiceNowRow[] = [];
  if (count === 0) return { sys_user, sys_user_group, sys_user_grmember };
  const used = new Set<string>();
  const people: Array<ServiceNowRow & { department: string }> = [];
  for (let i = 0; i < count; i++) {
    const first = r.pick(FIRST_NAMES);
    const last = r.pick(LAST_NAMES);
    let userName = `${first}.${last}`.toLowerCase();
    for (let n = 2; used.has(userName); n++) userName = `${first}.${last}${n}`.toLowerCase();
    used.add(userName);
    const department = r.pick(DEPARTMENTS);
    // Real instances have accounts without email (service and legacy accounts): ~5%.
    const email = r.chance(0.05) ? '' : `${userName}@contoso.example`;
    const row = {
      sys_id: r.hex(32),
      user_name: userName,
      first_name: first,
      last_name: last,
      name: `${first} ${last}`,
      email,
      active: r.chance(0.97) ? 'true' : 'false',
      title: department === 'Security Operations' ? 'Security Analyst' : `${department} Engineer`,
      department,
    };
    people.push(row);
    sys_user.push(row);
    // ...and duplicates: a second (admin) account with the same email: ~3%.
    if (email !== '' && r.chance(0.03)) {
      sys_user.push({
        ...row,
        sys_id: r.hex(32),
        user_name: `adm-${userName}`,
        title: `${row.title} (admin account)`,
      });
    }
  }
  for (const g of ASSIGNMENT_GROUPS) {
    const group: ServiceNowRow = {
      sys_id: r.hex(32),
      name: g.name,
      description: g.description,
      active: 'true',
      email: `${slug(g.name)}@contoso.example`,
    };
    sys_user_group.push(group);
    const members = people.filter((p) => g.departments.includes(p.department));
    members.forEach((m, i) => {
      if (i === 0) group['manager'] = m.sys_id as string;
      sys_user_grmember.push({ sys_id: r.hex(32), user: m.sys_id as string, group: group.sys_id as string });
    });
  }
  return { sys_user, sys_user_group, sys_user_grmember };
}

function buildMetadata(): AssessmentMetadata[] {
  return RECOMMENDATIONS.map((rec) => {
    const key = rec.key ?? nameGuid(`recommendation:${rec.displayName}`);
    return {
      key,
      displayName: rec.displayName,
      policyDefinitionId: `/providers/Microsoft.Authorization/policyDefinitions/${nameGuid(`policy:${rec.displayName}`)}`,
      description: rec.description,
      remediationDescription: rec.remediationDescription,
      categories: rec.categories,
      severity: rec.severity,
      userImpact: rec.userImpact,
      implementationEffort: rec.implementationEffort,
      threats: rec.threats,
      assessmentType: 'BuiltIn' as const,
      preview: false,
      publishDates: { GA: '06/01/2021', public: '06/01/2021' },
      resourceTypes: rec.resourceTypes,
    };
  });
}

function generateCloud(
  r: Random,
  subscriptions: readonly Subscription[],
  sites: readonly Site[],
  metadata: readonly AssessmentMetadata[],
  target: number,
  ownerEmails: readonly string[],
): { resources: CloudResource[]; assessments: Assessment[] } {
  const resources: CloudResource[] = [];
  const assessments: Assessment[] = [];
  if (target === 0) return { resources, assessments };
  const byType = new Map<string, AssessmentMetadata[]>();
  for (const m of metadata) for (const t of m.resourceTypes) byType.set(t, [...(byType.get(t) ?? []), m]);
  const unhealthyRate = new Map(
    RECOMMENDATIONS.map((rec, i) => [(metadata[i] as AssessmentMetadata).key, rec.unhealthyRate]),
  );
  const typeWeights = RESOURCE_TYPES.map((t) => t.weight);
  const siteCodes = sites.length > 0 ? sites.map((s) => s.code.toLowerCase()) : ['hq'];
  const workloads = ['scada', 'historian', 'mes', 'data', 'web', 'shared', 'iot', 'analytics'];
  const locations = ['westeurope', 'northeurope', 'eastus2', 'southcentralus', 'japaneast'];
  const risk = ['Low', 'Medium', 'High', 'Critical'] as const;

  const addAssessment = (resourceId: string, subscriptionId: string, m: AssessmentMetadata) => {
    const firstEvaluationDate = ESTATE_REFERENCE_TIME - r.int(2, 400) * DAY - r.int(0, DAY - 1);
    const statusChangeDate = r.int(firstEvaluationDate, ESTATE_REFERENCE_TIME - 3_600_000);
    const roll = r.next();
    let a: Assessment;
    if (roll < 0.08) {
      a = {
        resourceId,
        subscriptionId,
        key: m.key,
        code: 'NotApplicable',
        cause: roll < 0.05 ? 'OffByPolicy' : 'Exempt',
        description:
          roll < 0.05
            ? 'The effective policy for the assessment was evaluated to off - use Microsoft.Authorization/policyAssignments to turn this assessment on'
            : 'This resource is exempt from the recommendation',
        firstEvaluationDate,
        statusChangeDate,
      };
    } else if (roll < 0.08 + (unhealthyRate.get(m.key) ?? 0.3) * 0.92) {
      a = {
        resourceId,
        subscriptionId,
        key: m.key,
        code: 'Unhealthy',
        firstEvaluationDate,
        statusChangeDate,
        riskLevel: m.severity === 'Critical' ? 'Critical' : r.pick(risk),
      };
    } else {
      a = { resourceId, subscriptionId, key: m.key, code: 'Healthy', firstEvaluationDate, statusChangeDate };
    }
    assessments.push(a);
  };

  for (let s = 0; s < subscriptions.length; s++) {
    const sub = subscriptions[s] as Subscription;
    const quota = Math.floor(target / subscriptions.length) + (s < target % subscriptions.length ? 1 : 0);
    const start = assessments.length;
    for (const m of byType.get('subscription') ?? []) {
      if (assessments.length - start >= quota) break;
      addAssessment(`/subscriptions/${sub.id}`, sub.id, m);
    }
    let n = 0;
    while (assessments.length - start < quota) {
      const t = r.weighted(RESOURCE_TYPES, typeWeights);
      const code = r.pick(siteCodes);
      const workload = r.pick(workloads);
      const rg = `rg-${code}-${workload}`;
      n++;
      const name =
        t.prefix === 'st'
          ? `st${code}${workload}${String(n).padStart(4, '0')}`
          : `${t.prefix}-${code}-${workload}-${String(n).padStart(3, '0')}`;
      const id = `/subscriptions/${sub.id}/resourceGroups/${rg}/providers/${t.provider}/${t.segment}/${name}`;
      const tags: Record<string, string> = {
        environment: s % 5 === 3 ? 'dev' : 'prod',
        costCenter: `CC-${r.int(1000, 1099)}`,
      };
      const ownerRoll = r.next();
      if (ownerRoll < 0.8 && ownerEmails.length > 0) tags['owner'] = r.pick(ownerEmails);
      else if (ownerRoll < 0.85) tags['owner'] = 'former.employee@contoso.example';
      resources.push({
        id,
        subscriptionId: sub.id,
        resourceGroup: rg,
        type: t.type,
        name,
        location: r.pick(locations),
        tags,
      });
      for (const m of byType.get(t.type) ?? []) {
        if (assessments.length - start >= quota) break;
        addAssessment(id, sub.id, m);
      }
    }
  }
  return { resources, assessments };
}

/**
 * A SHA-256 over a canonical serialisation of the whole estate (connections included): two
 * estates are the same iff their digests are.
 */
export function estateDigest(estate: Estate): string {
  const hash = createHash('sha256');
  const { connections, ...rest } = estate;
  hash.update(JSON.stringify(rest));
  for (let i = 0; i < connections.length; i++) hash.update(JSON.stringify(connections.get(i)));
  return hash.digest('hex');
}

/** Counts of what an estate holds (for the bench and the ready line). */
export function estateCounts(estate: Estate): Record<string, number> {
  let cvePairs = 0;
  for (const d of estate.devices) cvePairs += d.cves.length;
  return {
    subscriptions: estate.subscriptions.length,
    sites: estate.sites.length,
    zones: estate.zones.length,
    sensors: estate.sensors.length,
    devices: estate.devices.length,
    connections: estate.connections.length,
    deviceCvePairs: cvePairs,
    resources: estate.resources.length,
    recommendations: estate.assessmentMetadata.length,
    assessments: estate.assessments.length,
    unhealthy: estate.assessments.filter((a) => a.code === 'Unhealthy').length,
    users: estate.servicenow.sys_user.length,
    groups: estate.servicenow.sys_user_group.length,
  };
}
