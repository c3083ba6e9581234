import { randomUUID } from 'node:crypto';
import type {
  Assessment,
  AssessmentMetadata,
  AssessmentStatusCode,
  AzureAlertSeverity,
  AzureAlertStatus,
  CloudResource,
  CveInfo,
  Estate,
  OtDevice,
  Sensor,
  SensorAlert,
} from '../dataset/index.js';
import { azureSeverityOf } from '../dataset/index.js';

/**
 * Behaviour the public contract leaves open. Each default is the documented or most plausible
 * choice, marked UNVERIFIED where no primary source confirms it; all are overridable.
 */
export interface DefenderSandboxBehaviour {
  /** Items per page of ARM lists (assessments, metadata, governance). UNVERIFIED: Azure's real page size is not documented. */
  readonly armPageSize: number;
  /** Rows per Resource Graph page when the request has no `$top`. UNVERIFIED. Capped at 1000 either way (documented). */
  readonly resourceGraphDefaultTop: number;
  /**
   * What a disconnected sensor's own API does. UNVERIFIED: `unavailable` answers 503, as an
   * appliance the network cannot reach would fail; `serve` keeps answering.
   */
  readonly disconnectedSensorApi: 'unavailable' | 'serve';
  /** Severity shown for `Critical` metadata below api-version 2025-05-04, whose enum has no Critical. UNVERIFIED. */
  readonly criticalSeverityBefore20250504: 'High' | 'Critical';
  /** How many polls of a governance-rule operation answer 202 before it reports Succeeded. */
  readonly lroPendingPolls: number;
  /** `Retry-After` (seconds) on governance-rule 202 answers. */
  readonly lroRetryAfterSeconds: number;
  /** Extra api-versions accepted by the governance APIs (a community script uses 2025-05-04; UNVERIFIED). */
  readonly extraGovernanceApiVersions: readonly string[];
  /** Lifetime of issued ARM tokens, seconds. */
  readonly tokenLifetimeSeconds: number;
}

export const DEFAULT_BEHAVIOUR: DefenderSandboxBehaviour = {
  armPageSize: 100,
  resourceGraphDefaultTop: 100,
  disconnectedSensorApi: 'unavailable',
  criticalSeverityBefore20250504: 'High',
  lroPendingPolls: 1,
  lroRetryAfterSeconds: 1,
  extraGovernanceApiVersions: [],
  tokenLifetimeSeconds: 3600,
};

/** A device as the sandbox serves it: times in the sandbox clock's domain (epoch ms). */
export type LiveDevice = OtDevice;

/** An assessment as the sandbox serves it: times in the sandbox clock's domain. */
export interface LiveAssessment extends Assessment {
  /** Position in the estate (stable order). */
  readonly index: number;
  /** `<resourceId>/providers/Microsoft.Security/assessments/<key>`. */
  readonly id: string;
}

/**
 * An alert as the sandbox serves it: times in the sandbox clock's domain, with what Azure adds.
 * One record serves the sensor, the console, ARM and Resource Graph, so they cannot disagree:
 * "Alert statuses are fully synchronized between the Azure portal and the OT sensor" (azure-docs
 * articles/defender-for-iot/organizations/alerts.md).
 */
export interface LiveAlert extends SensorAlert {
  /** Azure severity: mapped from the sensor's (alert-engine-messages.md) until a PATCH sets it. */
  readonly azureSeverity: AzureAlertSeverity;
  /** Closed with "learn" (Azure learn action, console handleAndLearn): the traffic is now baseline. */
  readonly learned: boolean;
  /** When the status last changed (sandbox clock, epoch ms). */
  readonly statusChangedAt: number;
  /**
   * Writes through the APIs that asked to close it (ARM PATCH to Closed, the learn action, the
   * console's handle / handleAndLearn), whether it was open or not; the control API's close does
   * not count. A test instrument, shown by the control API only: an alert closed twice by a
   * client reads 2.
   */
  readonly closeWrites: number;
}

/** A change to an alert's Azure-side state. */
export interface AlertChange {
  readonly status?: AzureAlertStatus;
  readonly azureSeverity?: AzureAlertSeverity;
  readonly learned?: boolean;
  /** The change is a client's close request through an API (counted in `closeWrites`). */
  readonly closeWrite?: boolean;
}

export interface LiveSensor extends Sensor {
  /** When learning mode or connection state last changed (sandbox clock, epoch ms). */
  readonly changedAt: number;
}

export interface GovernanceAssignmentRecord {
  readonly resourceId: string;
  readonly assessmentKey: string;
  readonly assignmentKey: string;
  readonly subscriptionId: string;
  readonly properties: Record<string, unknown>;
}

export interface GovernanceRuleRecord {
  /** Scope as normalised (leading slash, no trailing slash). */
  readonly scope: string;
  readonly ruleId: string;
  readonly properties: Record<string, unknown>;
}

export interface OperationRecord {
  pollsLeft: number;
  status: 'Succeeded' | 'Failed';
  readonly location: string;
}

/** Assessment status overlay set through the control API. */
interface StatusOverride {
  readonly code: AssessmentStatusCode;
  readonly cause?: string;
  readonly description?: string;
  readonly statusChangeDate: number;
}

/**
 * The sandbox's mutable world. The estate is never modified: changes live in overlays, so
 * `reset()` restores the generated estate and `large` is not copied.
 *
 * Time: the estate is generated relative to a fixed reference instant; the sandbox shifts every
 * estate time by `shift` so that the reference instant is the sandbox's start time. The sandbox
 * clock can be set or advanced (`POST /_sandbox/clock`).
 */
export class DefenderState {
  readonly estate: Estate;
  readonly behaviour: DefenderSandboxBehaviour;
  private readonly shift: number;
  private clockOffset = 0;
  /** Bumped on every change; caches (console pages) key on it. */
  version = 0;
  /** Per-part change counters, so a governance write does not invalidate cached device queries. */
  readonly versions: Record<StatePart, number> = {
    assessments: 0,
    governance: 0,
    devices: 0,
    sensors: 0,
    alerts: 0,
  };

  private readonly deviceOverlay = new Map<number, LiveDevice>();
  private readonly deletedDevices = new Map<number, number>();
  private readonly addedDeviceIds: number[] = [];
  private nextDeviceId: number;
  private readonly statusOverlay = new Map<number, StatusOverride>();
  private readonly sensorOverlay = new Map<
    number,
    { learningMode: boolean; connected: boolean; changedAt: number }
  >();
  readonly extraCves = new Map<string, CveInfo>();
  /** Alerts changed or raised through the APIs and the control API, by id. */
  private readonly alertOverlay = new Map<number, LiveAlert>();
  private readonly addedAlertIds: number[] = [];
  private alertUuidIndex: Map<string, number> | null = null;
  /**
   * Records served verbatim after a sensor's generated devices (`POST /_sandbox/sensors/:name/raw-devices`):
   * whatever a buggy or hostile sensor might send, for the bad-input tests. Keyed by sensor id.
   */
  readonly rawSensorDevices = new Map<number, unknown[]>();
  /**
   * Rows served verbatim after the generated rows of one Resource Graph type, in every query that
   * pins that type (`POST /_sandbox/resource-graph/raw-rows`), for the bad-input tests. Keyed by
   * lower-case type.
   */
  readonly rawResourceGraphRows = new Map<string, unknown[]>();
  /**
   * Records served verbatim after the generated ones of a console v3 list, whatever its
   * timestamp and filters (`POST /_sandbox/console/raw-records`), for the bad-input tests.
   */
  readonly rawConsoleRecords = new Map<RawConsoleList, unknown[]>();
  /** Tags set on a resource through `POST /_sandbox/resources/tags` (owner tags for tests), by lower-case id. */
  readonly tagOverlay = new Map<string, Record<string, string>>();
  readonly governanceAssignments = new Map<string, GovernanceAssignmentRecord>();
  readonly governanceRules = new Map<string, GovernanceRuleRecord>();
  readonly operations = new Map<string, OperationRecord>();

  private readonly assessmentIndex = new Map<string, number>();
  /** Assessments added through the control API, after the estate's (indexes continue theirs). */
  private readonly addedAssessments: Assessment[] = [];
  /** Moves when the set of assessments changes (an add, a reset): caches of index lists key on it. */
  assessmentSetVersion = 0;
  private readonly metadataByKey: Map<string, AssessmentMetadata>;
  private readonly resourceById: Map<string, CloudResource>;
  private readonly cveById: Map<string, CveInfo>;
  private readonly subscriptionIds: Set<string>;
  private ipIndex: Map<string, number> | null = null;

  constructor(estate: Estate, startTime: number, behaviour: Partial<DefenderSandboxBehaviour> = {}) {
    this.estate = estate;
    this.behaviour = { ...DEFAULT_BEHAVIOUR, ...behaviour };
    this.shift = startTime - estate.referenceTime;
    this.clockOffset = startTime - Date.now();
    this.nextDeviceId = (estate.devices.at(-1)?.id ?? 0) + 1;
    estate.assessments.forEach((a, i) =>
      this.assessmentIndex.set(assessmentLookupKey(a.resourceId, a.key), i),
    );
    this.metadataByKey = new Map(estate.assessmentMetadata.map((m) => [m.key, m]));
    this.resourceById = new Map(estate.resources.map((r) => [r.id.toLowerCase(), r]));
    this.cveById = new Map(estate.cves.map((c) => [c.cveId, c]));
    this.subscriptionIds = new Set(estate.subscriptions.map((s) => s.id.toLowerCase()));
  }

  /** Sandbox clock, epoch ms. */
  now(): number {
    return Date.now() + this.clockOffset;
  }

  setClock(epochMs: number): void {
    this.clockOffset = epochMs - Date.now();
  }

  advanceClock(ms: number): void {
    this.clockOffset += ms;
  }

  /** Converts an estate time into the sandbox clock's domain. */
  at(estateTime: number): number {
    return estateTime + this.shift;
  }

  hasSubscription(id: string): boolean {
    return this.subscriptionIds.has(id.toLowerCase());
  }

  metadata(key: string): AssessmentMetadata | undefined {
    return this.metadataByKey.get(key.toLowerCase()) ?? this.metadataByKey.get(key);
  }

  resource(id: string): CloudResource | undefined {
    return this.resourceById.get(id.toLowerCase());
  }

  /** A resource's tags as they are now: the generated ones, or those set since. */
  tagsOf(resource: CloudResource): Record<string, string> {
    return this.tagOverlay.get(resource.id.toLowerCase()) ?? resource.tags;
  }

  cve(id: string): CveInfo | undefined {
    return this.cveById.get(id) ?? this.extraCves.get(id);
  }

  /**
   * A device's vulnerabilities, highest score first (then by id): the one list the sensor API,
   * the console's `devicecves` and Resource Graph all serve, so the three cannot disagree.
   */
  cvesOf(d: LiveDevice): CveInfo[] {
    return d.cves
      .map((id) => this.cve(id))
      .filter((c): c is CveInfo => c !== undefined)
      .sort((a, b) => Number(b.score) - Number(a.score) || (a.cveId < b.cveId ? -1 : 1));
  }

  // ---- assessments -------------------------------------------------------------------------

  get assessmentCount(): number {
    return this.estate.assessments.length + this.addedAssessments.length;
  }

  /** The assessment at `index` as generated or added, without the status set since. */
  assessmentRecord(index: number): Assessment | undefined {
    const generated = this.estate.assessments.length;
    return index < generated ? this.estate.assessments[index] : this.addedAssessments[index - generated];
  }

  /** Adds an assessment (any resource id of a known subscription); its index, or undefined when it exists. */
  addAssessment(a: Assessment): number | undefined {
    const key = assessmentLookupKey(a.resourceId, a.key);
    if (this.assessmentIndex.has(key)) return undefined;
    const index = this.assessmentCount;
    this.addedAssessments.push(a);
    this.assessmentIndex.set(key, index);
    this.assessmentSetVersion++;
    this.bump('assessments');
    return index;
  }

  assessment(index: number): LiveAssessment {
    const a = this.assessmentRecord(index);
    if (!a) throw new RangeError(`assessment ${index}`);
    const o = this.statusOverlay.get(index);
    const base = {
      index,
      id: `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}`,
      resourceId: a.resourceId,
      subscriptionId: a.subscriptionId,
      key: a.key,
      firstEvaluationDate: this.at(a.firstEvaluationDate),
    };
    if (o) {
      return {
        ...base,
        code: o.code,
        ...(o.cause !== undefined ? { cause: o.cause } : {}),
        ...(o.description !== undefined ? { description: o.description } : {}),
        statusChangeDate: o.statusChangeDate,
        ...(o.code === 'Unhealthy' ? { riskLevel: a.riskLevel ?? 'Medium' } : {}),
      };
    }
    return {
      ...base,
      code: a.code,
      ...(a.cause !== undefined ? { cause: a.cause } : {}),
      ...(a.description !== undefined ? { description: a.description } : {}),
      statusChangeDate: this.at(a.statusChangeDate),
      ...(a.riskLevel !== undefined ? { riskLevel: a.riskLevel } : {}),
    };
  }

  findAssessment(resourceId: string, key: string): number | undefined {
    return this.assessmentIndex.get(assessmentLookupKey(resourceId, key));
  }

  /** Sets an assessment's status; a real change moves `statusChangeDate` to now. */
  setAssessmentStatus(
    index: number,
    code: AssessmentStatusCode,
    cause?: string,
    description?: string,
  ): LiveAssessment {
    const current = this.assessment(index);
    const changed = current.code !== code;
    this.statusOverlay.set(index, {
      code,
      ...(cause !== undefined ? { cause } : {}),
      ...(description !== undefined ? { description } : {}),
      statusChangeDate: changed ? this.now() : current.statusChangeDate,
    });
    this.bump('assessments');
    return this.assessment(index);
  }

  // ---- devices -----------------------------------------------------------------------------

  /** Ids of live devices, ascending. */
  *deviceIds(): IterableIterator<number> {
    for (const d of this.estate.devices) if (!this.deletedDevices.has(d.id)) yield d.id;
    for (const id of this.addedDeviceIds) if (!this.deletedDevices.has(id)) yield id;
  }

  get deviceCount(): number {
    let n = this.estate.devices.length + this.addedDeviceIds.length;
    n -= this.deletedDevices.size;
    return n;
  }

  device(id: number): LiveDevice | undefined {
    if (this.deletedDevices.has(id)) return undefined;
    const o = this.deviceOverlay.get(id);
    if (o) return o;
    const d = this.estate.devices[id - 1];
    if (!d || d.id !== id) return undefined;
    return {
      ...d,
      firstSeen: this.at(d.firstSeen),
      lastActivity: this.at(d.lastActivity),
      lastUpdate: this.at(d.lastUpdate),
    };
  }

  /** `lastUpdate` of a device without building the whole view (console incremental filters). */
  deviceLastUpdate(id: number): number | undefined {
    if (this.deletedDevices.has(id)) return undefined;
    const o = this.deviceOverlay.get(id);
    if (o) return o.lastUpdate;
    const d = this.estate.devices[id - 1];
    return d ? this.at(d.lastUpdate) : undefined;
  }

  deviceSensorId(id: number): number | undefined {
    const o = this.deviceOverlay.get(id);
    if (o) return o.sensorId;
    return this.estate.devices[id - 1]?.sensorId;
  }

  /** Ids of devices changed or added through the control API (ascending). */
  overlayDeviceIds(): number[] {
    return [...this.deviceOverlay.keys()].filter((id) => !this.deletedDevices.has(id)).sort((a, b) => a - b);
  }

  deviceByIp(ip: string): LiveDevice | undefined {
    if (!this.ipIndex) {
      this.ipIndex = new Map();
      for (const d of this.estate.devices) for (const n of d.nics) this.ipIndex.set(n.ip, d.id);
    }
    for (const d of this.deviceOverlay.values()) {
      if (d.nics.some((n) => n.ip === ip) && !this.deletedDevices.has(d.id)) return d;
    }
    const id = this.ipIndex.get(ip);
    const d = id === undefined ? undefined : this.device(id);
    return d && d.nics.some((n) => n.ip === ip) ? d : undefined;
  }

  addDevice(fields: Omit<LiveDevice, 'id' | 'firstSeen' | 'lastActivity' | 'lastUpdate'>): LiveDevice {
    const now = this.now();
    const device: LiveDevice = {
      ...fields,
      id: this.nextDeviceId++,
      firstSeen: now,
      lastActivity: now,
      lastUpdate: now,
    };
    this.deviceOverlay.set(device.id, device);
    this.addedDeviceIds.push(device.id);
    this.bump('devices');
    return device;
  }

  /** Changes a device; `lastUpdate` moves to now so incremental readers see it. */
  updateDevice(id: number, change: (d: LiveDevice) => LiveDevice): LiveDevice | undefined {
    const current = this.device(id);
    if (!current) return undefined;
    const next = { ...change(current), id, lastUpdate: this.now() };
    this.deviceOverlay.set(id, next);
    this.bump('devices');
    return next;
  }

  /**
   * Every device seen again now (`lastActivity` = the sandbox clock), as after a sensor's day of
   * traffic; `lastUpdate` moves too, so incremental readers see them. Returns how many.
   */
  seeAll(): number {
    const ids = [...this.estate.devices.map((d) => d.id), ...this.addedDeviceIds];
    let seen = 0;
    for (const id of ids) if (this.updateDevice(id, (d) => ({ ...d, lastActivity: this.now() }))) seen++;
    return seen;
  }

  removeDevice(id: number): boolean {
    if (!this.device(id)) return false;
    this.deletedDevices.set(id, this.now());
    this.bump('devices');
    return true;
  }

  /** Devices removed at or after `since` (console `deleteddevices`), ascending id. */
  deletedSince(since: number): number[] {
    return [...this.deletedDevices.entries()]
      .filter(([, at]) => at >= since)
      .map(([id]) => id)
      .sort((a, b) => a - b);
  }

  isDeleted(id: number): boolean {
    return this.deletedDevices.has(id);
  }

  // ---- alerts ------------------------------------------------------------------------------

  /** Ids of every alert, generated ones first, then raised ones (ascending). */
  alertIds(): number[] {
    return [...this.estate.alerts.map((a) => a.id), ...this.addedAlertIds];
  }

  alert(id: number): LiveAlert | undefined {
    const o = this.alertOverlay.get(id);
    if (o) return o;
    const a = this.estate.alerts[id - 1];
    if (!a || a.id !== id) return undefined;
    const time = this.at(a.time);
    return {
      ...a,
      time,
      azureSeverity: azureSeverityOf(a.severity),
      learned: false,
      statusChangedAt: time,
      closeWrites: 0,
    };
  }

  /** An alert by its GUID (Azure name / `systemAlertId`), case-insensitively. */
  alertByUuid(uuid: string): LiveAlert | undefined {
    if (!this.alertUuidIndex) {
      this.alertUuidIndex = new Map(this.estate.alerts.map((a) => [a.uuid.toLowerCase(), a.id]));
      for (const id of this.addedAlertIds) {
        const added = this.alertOverlay.get(id);
        if (added) this.alertUuidIndex.set(added.uuid.toLowerCase(), id);
      }
    }
    const id = this.alertUuidIndex.get(uuid.toLowerCase());
    return id === undefined ? undefined : this.alert(id);
  }

  /** Alerts of one sensor, in id order. */
  alertsOfSensor(sensorId: number): LiveAlert[] {
    return this.alertIds()
      .map((id) => this.alert(id) as LiveAlert)
      .filter((a) => a.sensorId === sensorId);
  }

  /** Changes an alert's Azure-side state; a status change moves `statusChangedAt` to now. */
  updateAlert(id: number, change: AlertChange): LiveAlert | undefined {
    const current = this.alert(id);
    if (!current) return undefined;
    const status = change.status ?? current.status;
    const next: LiveAlert = {
      ...current,
      status,
      azureSeverity: change.azureSeverity ?? current.azureSeverity,
      learned: change.learned ?? current.learned,
      statusChangedAt: status !== current.status ? this.now() : current.statusChangedAt,
      closeWrites: current.closeWrites + (change.closeWrite ? 1 : 0),
    };
    this.alertOverlay.set(id, next);
    this.bump('alerts');
    return next;
  }

  /** Raises a new alert at `time` (default now), status New. */
  addAlert(fields: Omit<SensorAlert, 'id' | 'status' | 'time'> & { time?: number }): LiveAlert {
    const id = (this.estate.alerts.at(-1)?.id ?? 0) + this.addedAlertIds.length + 1;
    const time = fields.time ?? this.now();
    const alert: LiveAlert = {
      ...fields,
      id,
      time,
      status: 'New',
      azureSeverity: azureSeverityOf(fields.severity),
      learned: false,
      statusChangedAt: time,
      closeWrites: 0,
    };
    this.alertOverlay.set(id, alert);
    this.addedAlertIds.push(id);
    this.alertUuidIndex?.set(alert.uuid.toLowerCase(), id);
    this.bump('alerts');
    return alert;
  }

  // ---- sensors -----------------------------------------------------------------------------

  sensors(): LiveSensor[] {
    return this.estate.sensors.map((s) => this.sensor(s.id) as LiveSensor);
  }

  sensor(id: number): LiveSensor | undefined {
    const s = this.estate.sensors[id - 1];
    if (!s) return undefined;
    const o = this.sensorOverlay.get(id);
    return {
      ...s,
      activatedAt: this.at(s.activatedAt),
      learningMode: o?.learningMode ?? s.learningMode,
      connected: o?.connected ?? s.connected,
      changedAt: o?.changedAt ?? this.at(s.activatedAt),
    };
  }

  sensorByName(name: string): LiveSensor | undefined {
    const s = this.estate.sensors.find((x) => x.name.toLowerCase() === name.toLowerCase());
    return s ? this.sensor(s.id) : undefined;
  }

  setSensor(id: number, change: { learningMode?: boolean; connected?: boolean }): LiveSensor | undefined {
    const s = this.sensor(id);
    if (!s) return undefined;
    this.sensorOverlay.set(id, {
      learningMode: change.learningMode ?? s.learningMode,
      connected: change.connected ?? s.connected,
      changedAt: this.now(),
    });
    this.bump('sensors');
    return this.sensor(id);
  }

  // ---- governance --------------------------------------------------------------------------

  newOperation(location: (opId: string) => string): { opId: string; location: string } {
    const opId = randomUUID();
    const loc = location(opId);
    this.operations.set(opId, {
      pollsLeft: this.behaviour.lroPendingPolls,
      status: 'Succeeded',
      location: loc,
    });
    return { opId, location: loc };
  }

  /** Records a change of one part of the state. */
  bump(part: StatePart): void {
    this.versions[part]++;
    this.version++;
  }

  /** Records a governance change (the default) or a clock move (`null`). */
  touch(part: StatePart | null = 'governance'): void {
    if (part) this.bump(part);
    else this.version++;
  }

  /** Back to the generated estate: overlays, governance, operations and the clock offset are cleared. */
  reset(startTime?: number): void {
    this.deviceOverlay.clear();
    this.deletedDevices.clear();
    this.addedDeviceIds.length = 0;
    this.nextDeviceId = (this.estate.devices.at(-1)?.id ?? 0) + 1;
    this.statusOverlay.clear();
    for (const a of this.addedAssessments)
      this.assessmentIndex.delete(assessmentLookupKey(a.resourceId, a.key));
    this.addedAssessments.length = 0;
    this.assessmentSetVersion++;
    this.sensorOverlay.clear();
    this.extraCves.clear();
    this.alertOverlay.clear();
    this.addedAlertIds.length = 0;
    this.alertUuidIndex = null;
    this.rawSensorDevices.clear();
    this.rawResourceGraphRows.clear();
    this.rawConsoleRecords.clear();
    this.tagOverlay.clear();
    this.governanceAssignments.clear();
    this.governanceRules.clear();
    this.operations.clear();
    if (startTime !== undefined) this.setClock(startTime);
    for (const part of Object.keys(this.versions) as StatePart[]) this.bump(part);
  }
}

/** The console v3 lists that can be given raw records: `/devices` and `/devicecves`. */
export const RAW_CONSOLE_LISTS = ['devices', 'devicecves'] as const;
export type RawConsoleList = (typeof RAW_CONSOLE_LISTS)[number];

/** Parts of the state that change independently. */
export type StatePart = 'assessments' | 'governance' | 'devices' | 'sensors' | 'alerts';

export function assessmentLookupKey(resourceId: string, key: string): string {
  return `${resourceId.toLowerCase()}|${key.toLowerCase()}`;
}

export function governanceAssignmentKey(
  resourceId: string,
  assessmentKey: string,
  assignmentKey: string,
): string {
  return `${resourceId.toLowerCase()}|${assessmentKey.toLowerCase()}|${assignmentKey.toLowerCase()}`;
}
