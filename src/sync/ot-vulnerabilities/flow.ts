import { contentHash } from '../../domain/hash.js';
import { unclassedHardwareGroup, type IreGroup } from '../../domain/ot/ire.js';
import type { PlanAction } from '../../domain/plan.js';
import { days } from '../../domain/time.js';
import {
  vrChoicesFrom,
  VR_CHOICE_FIELDS,
  type CloseReason,
  type VrChoices,
} from '../../domain/vulnerabilities/lifecycle.js';
import { detectionEntityKey, type DetectionContent } from '../../domain/vulnerabilities/mapping.js';
import {
  distinctCves,
  type DeviceClues,
  type DeviceCve,
  type DeviceCves,
} from '../../domain/vulnerabilities/records.js';
import { ConfigError, SnowlineError } from '../../errors.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import { stringValue } from '../../servicenow/values.js';
import { deferWork, deferredWorkUpdatedSince } from '../../store/models/deferred-work.js';
import { entitySeenSince, type EntityStateUpdate } from '../../store/models/entity-state.js';
import { RunScratch } from '../../store/models/scratch.js';
import { advanceWatermark, getWatermark } from '../../store/models/watermarks.js';
import { underLocks } from '../../store/correlation-lock.js';
import {
  defineFlow,
  OTHER_SENSORS_PART,
  PARTS_FOUND_BY_PLAN,
  PLAN_PART,
  SENSOR_PART,
  sensorOfPart,
  sensorParts,
  SWEEP_PART,
  type FlowContext,
} from '../kernel/flow.js';
import { readAhead } from '../kernel/lanes.js';
import type { Remembered } from '../kernel/memory.js';
import { BatchWriter } from '../kernel/writers/batch.js';
import { IreWriter } from '../kernel/writers/ire.js';
import { deviceMemory } from '../ot-inventory/memory.js';
import { detectionSourceOf, LEGACY_DETECTION_SOURCE, type OtVulnerabilitiesConfig } from './config.js';
import { DetectionSync } from './detections.js';
import { InventoryDevices } from './identity.js';
import { VulnerableItems } from './items.js';
import { VrReads } from './reads.js';
import type { DetectionWork, DeviceOutcome, OtVulnerabilitiesCounters, VrRun } from './run.js';
import { otVulnerabilitiesSource } from './sources.js';
import { refusedSourcesError } from '../../sources/common.js';
import type { ClueKeeper, RecordProblem, VulnerabilitySource } from './source.js';
import {
  completePending,
  pendingDevices,
  pendingKind,
  pendingPartition,
  PENDING_KIND,
  vulnerabilityMemories,
  type DeviceVulnerabilities,
  type PendingDevice,
} from './state.js';

export type { OtVulnerabilitiesConfig } from './config.js';
export type { OtVulnerabilitiesCounters } from './run.js';

/** What the flow body needs besides its context: the Defender CVE source and the ServiceNow client. */
export interface OtVulnerabilitiesDeps {
  readonly source: VulnerabilitySource;
  readonly servicenow: ServiceNowClient;
  /** True when the source keys devices otherwise than ot-inventory's (recognised by domain/ot/identity.ts). */
  readonly crossSource?: boolean;
  /** ot-inventory's `dataSource`: the discovery source unclassed hardware CIs are written as. */
  readonly dataSource?: string;
  /**
   * The configured sensors' names. The sweep of a run split per sensor tells a device's sensor by
   * its key (`<sensor>/<id>`, as the sensor sources key devices).
   */
  readonly sensors?: readonly string[];
}

const FLOW = 'ot-vulnerabilities' as const;
/** Devices handled together: their searches and writes share requests. */
const DEVICE_CHUNK = 100;
/**
 * Flow ot-vulnerabilities: Defender for IoT CVEs per device → Vulnerability Response, written
 * as a scanner integration writes it (ServiceNow/ServiceNowDocs
 * markdown/security-management/vulnerability-response/vr-detections-rt-vi-states.md).
 *
 * Per device: the CI comes from ot-inventory's state (no CI yet: the CVEs wait as deferred work
 * and are written on a later run). A device whose CVEs, CI and address hash as last time is not
 * looked at (no request) until its `last_found` is due for a refresh. For the others, each CVE
 * gets its `sn_vul_nvd_entry` (searched by id before it is created) and one `sn_vul_detection`
 * per (CI, CVE, source) — searched by CI, vulnerability and source before it is created, so a
 * crash between a write and the local record never duplicates it. CVEs no longer reported (full
 * reads; for incremental sources only on devices reported this run) and the CVEs of retired
 * devices close their detections; the platform rolls detections up into the vulnerable item
 * (Fixed, Stale, reopened). Detections of items a person deferred or closed as False Positive or
 * Risk Accepted are left alone. Writes go through the Batch API in chunks of `batchSize`. A dry
 * run reads and plans, and writes nothing anywhere.
 */
export const otVulnerabilitiesFlow = defineFlow({
  flow: FLOW,
  dependsOn: ['ot-inventory'],
  config: (integration) => integration.flows.otVulnerabilities,
  // A device's CVE list is hashed and the console source reads incrementally: a verification that
  // finds a detection gone reads and compares every device again (the detection-source watermark
  // is a fact about the instance, not a read position, and stays).
  owns: {
    check: ['detection', 'vulnerability'],
    verify: ['detection', 'vulnerability'],
    onMissing: { watermarks: true, keepWatermarks: ['detection-source'], entities: ['device'] },
  },
  summary: (): OtVulnerabilitiesCounters => ({
    unchanged: 0,
    opened: 0,
    closed: 0,
    reopened: 0,
    pending: 0,
    skipped: 0,
    problems: 0,
    truncated: 0,
  }),
  countAs: (action) => {
    if (action.action === 'error') return 'errors';
    if (action.action === 'create') return 'created';
    if (action.action === 'skip') return undefined;
    // A detection's reopen and close are its own counters (reopened, closed), not updates.
    if (action.entity === 'detection') return action.action === 'update' ? 'updated' : undefined;
    return 'updated';
  },
  // With several workers, a run splits into one part per sensor (docs/scale-out.md). From the
  // sensors (when ot-inventory reads the sensors too), the configured sensors: a device's key then
  // names its sensor (`<sensor>/<id>`), which the sweep needs to tell whose devices a part read.
  // From Resource Graph, the sensors it lists, found by the plan part, and one part for the devices
  // of no listed sensor; its device keys name no sensor, so the sweep judges every device by the
  // earliest of those parts' last full reads. The plan part checks the detection source and the VR
  // choices once; each part opens, updates and closes the detections of the devices it reads; the
  // sweep closes what no part reported (devices gone from their part's last full read, sensors no
  // longer configured, retired devices) and the pending work left.
  parts: (config, integration) =>
    config.source === 'resourceGraph'
      ? PARTS_FOUND_BY_PLAN
      : config.source === 'sensor' && integration.flows.otInventory?.source === 'sensor'
        ? sensorParts(integration)
        : undefined,
  connect: ({ servicenow, defender }, { integration, part }): OtVulnerabilitiesDeps => ({
    // A configuration the source can not serve fails here, before any request is sent.
    source: otVulnerabilitiesSource(integration, defender, part),
    servicenow,
    sensors: integration.defender.sensors.map((s) => s.name),
    crossSource: integration.flows.otInventory?.source !== integration.flows.otVulnerabilities?.source,
    ...(integration.flows.otInventory ? { dataSource: integration.flows.otInventory.dataSource } : {}),
  }),
  async run(context, deps, summary) {
    await new OtVulnerabilitiesRun(context, deps, summary).execute();
    summary.opened = context.recorder.tally('detection', 'create');
    summary.reopened = context.recorder.tally('detection', 'reopen');
    summary.closed = context.recorder.tally('detection', 'resolve');
  },
});

class OtVulnerabilitiesRun {
  private readonly now: Date;
  private readonly nowText: string;
  private readonly refreshAfterMs: number;
  private readonly detectionSource: string;
  private choices!: VrChoices;
  /** What the run's parts share, once the choices are read. */
  private vr!: VrRun;
  private detections!: DetectionSync;
  private readonly memories: ReturnType<typeof vulnerabilityMemories>;
  /**
   * Devices reported by the source this run (full reads close what is not in it), kept in memory
   * only when the store can not tell (see {@link sightingsInMemory}); a real run otherwise marks
   * each reported device's state `last_seen_at` = this run's time, so memory does not grow with
   * the estate.
   */
  private readonly seen = new Set<string>();
  private sightingsInMemory = true;
  /** Devices whose CVE list may be truncated: how many, and the first few (for the message). */
  private truncatedCount = 0;
  private readonly truncatedExamples: string[] = [];
  /** Key prefixes of devices the source could not read this run (left as they are). */
  private readonly unread: string[] = [];
  /** ot-inventory's devices, for a source that keys devices otherwise (undefined: same keys). */
  private inventory: InventoryDevices | undefined;
  /**
   * In the sweep of a run split per sensor: when the part that reads a device last read in full
   * (`readAt`), and whether that part has never done so (`unread`: its devices are left as they are).
   */
  private lastReads:
    { readAt(deviceKey: string): string | undefined; unread(deviceKey: string): boolean } | undefined;

  constructor(
    private readonly run: FlowContext<OtVulnerabilitiesConfig>,
    private readonly deps: OtVulnerabilitiesDeps,
    private readonly summary: OtVulnerabilitiesCounters,
  ) {
    this.now = run.clock.now();
    this.nowText = this.now.toISOString();
    this.refreshAfterMs = days(run.config.refreshLastFoundDays);
    this.detectionSource = detectionSourceOf(run.config);
    this.memories = vulnerabilityMemories({
      store: run.store,
      integrationId: run.integrationId,
      recorder: run.recorder,
    });
  }

  /**
   * The run, with a scratch table in the store when the source must recognise its devices in
   * ot-inventory's or hold per-device clues while it reads (Resource Graph): what a run holds
   * then stays a page deep, not the estate (issue #24).
   */
  async execute(): Promise<void> {
    if (!this.deps.crossSource && this.deps.source.kind !== 'resourceGraph') return this.sync();
    const scratch = await RunScratch.open(
      this.run.store.db,
      { integrationId: this.run.integrationId, flow: FLOW },
      () => this.run.clock.now(),
    );
    try {
      if (this.deps.crossSource)
        this.inventory = new InventoryDevices(
          { store: this.run.store, integrationId: this.run.integrationId },
          scratch,
        );
      await this.sync(cluesIn(scratch));
    } finally {
      await scratch.close();
    }
  }

  private async sync(clues?: ClueKeeper): Promise<void> {
    await this.checkDetectionSource();
    this.choices = await this.readChoices();
    // A split run's plan part checks the detection source and the VR choices once, before any part
    // writes; from Resource Graph, it also names the parts: one per sensor listed, and the rest.
    if (this.run.part === PLAN_PART) {
      const names = await this.deps.source.sensorNames?.();
      if (names) this.run.splitInto([...names.map((n) => `${SENSOR_PART}${n}`), OTHER_SENSORS_PART]);
      return;
    }
    this.vr = this.shared();
    this.detections = new DetectionSync(this.vr);
    if (this.run.part === SWEEP_PART) return this.sweep();
    const source = this.deps.source;
    const watermarkRef = {
      integrationId: this.run.integrationId,
      flow: FLOW,
      scope: `${source.kind}:devicecves`,
    };
    const sinceText = source.incremental ? await getWatermark(this.run.store.db, watermarkRef) : undefined;
    const since = sinceText ? new Date(Number(sinceText)) : undefined;
    // A part of a split run closes nothing itself: it records every sighting in the store, where the sweep reads it.
    this.sightingsInMemory = this.run.dryRun || (!this.run.part && (await this.clockDidNotMove()));

    const refusals: RecordProblem[] = [];
    for await (const page of readAhead(
      source.deviceCves({
        ...(since ? { since } : {}),
        ...(clues ? { clues } : {}),
      }),
    )) {
      await this.reportProblems(page.problems);
      refusals.push(...page.problems.filter((p) => p.unread === 'refused'));
      if (page.unread) this.unread.push(...page.unread);
      const items = await this.recognise(page.items);
      for (let i = 0; i < items.length; i += DEVICE_CHUNK)
        await this.syncDevices(items.slice(i, i + DEVICE_CHUNK), true);
    }
    if (this.run.part !== undefined) {
      if (refusals.length === 0 && this.unread.length === 0) await this.recordFullRead(this.run.part);
    } else {
      await this.retryPending();
      // closeUnreported pages through committed device states: this run's sightings first.
      await this.run.recorder.flush();
      await this.closeUnreported();
    }
    if (this.truncatedCount) {
      this.summary.truncated = this.truncatedCount;
      await this.decide({
        action: 'skip',
        entity: 'device',
        key: 'truncated',
        reason: `${this.truncatedCount} device(s) reported a CVE list that may be truncated (e.g. ${this.truncatedExamples.slice(0, 5).join(', ')}): CVEs missing from them are not closed; raise sensorTop`,
      });
      this.run.logger.warn({ devices: this.truncatedExamples }, 'CVE lists may be truncated');
    }
    if (!this.run.dryRun && source.incremental) {
      await this.run.recorder.flush();
      await advanceWatermark(
        this.run.store.db,
        this.run.clock,
        watermarkRef,
        String(this.now.getTime()).padStart(15, '0'),
      );
    }
    const refused = refusedSourcesError(refusals);
    if (refused) throw refused;
  }

  /**
   * The part of a run split per sensor read its devices in full: its sightings are committed,
   * then the time of the read is recorded (watermark `sensor-read:<name>`, `other-sensors-read`
   * for the rest). The sweep closes the detections of the part's devices not seen since then.
   * Recorded last, so a part of a later run that is still reading never makes the devices it has
   * not reached yet look gone.
   */
  private async recordFullRead(part: string): Promise<void> {
    await this.run.recorder.flush();
    await advanceWatermark(this.run.store.db, this.run.clock, this.lastReadRef(part), this.nowText);
  }

  private lastReadRef(part: string) {
    const sensor = sensorOfPart(part);
    const scope = sensor !== undefined ? `sensor-read:${sensor}` : `${part}-read`;
    return { integrationId: this.run.integrationId, flow: FLOW, scope };
  }

  /**
   * The sweep of a run split per sensor, after all its parts: the pending work no part handled and
   * the detections no part reported (closeUnreported), judged by the last full read of the part
   * that reads each device.
   */
  private async sweep(): Promise<void> {
    this.sightingsInMemory = false;
    this.lastReads = await this.partReads();
    await this.retryPending();
    await this.run.recorder.flush();
    await this.closeUnreported();
  }

  /**
   * When the part that reads each device last read in full. From the sensors, a device's key
   * names its sensor: its sensor's part (none for a sensor no longer configured: its devices are
   * gone). From Resource Graph, keys name no sensor and a device may move between sensors: every
   * device is judged by the earliest last full read of the parts of the sensors Resource Graph
   * lists now and of the rest, and none is judged while one of those parts never read in full.
   */
  private async partReads(): Promise<NonNullable<typeof this.lastReads>> {
    const readOf = (part: string) => getWatermark(this.run.store.db, this.lastReadRef(part));
    const listed = await this.deps.source.sensorNames?.();
    if (listed) {
      let earliest: string | undefined;
      let complete = true;
      for (const part of [...listed.map((n) => `${SENSOR_PART}${n}`), OTHER_SENSORS_PART]) {
        const at = await readOf(part);
        if (at === undefined) complete = false;
        else if (earliest === undefined || at < earliest) earliest = at;
      }
      const readAt = complete ? earliest : undefined;
      return { readAt: () => readAt, unread: () => readAt === undefined };
    }
    const reads = new Map<string, string>();
    for (const sensor of this.deps.sensors ?? []) {
      const at = await readOf(`${SENSOR_PART}${sensor}`);
      if (at !== undefined) reads.set(sensor, at);
    }
    return {
      readAt: (deviceKey) => {
        const sensor = this.sensorOf(deviceKey);
        return sensor === undefined ? undefined : reads.get(sensor);
      },
      unread: (deviceKey) => {
        const sensor = this.sensorOf(deviceKey);
        return sensor !== undefined && !reads.has(sensor);
      },
    };
  }

  /** The configured sensor a device key names (`<sensor>/<id>`); undefined for one no longer configured. */
  private sensorOf(deviceKey: string): string | undefined {
    let found: string | undefined;
    for (const sensor of this.deps.sensors ?? [])
      if (deviceKey.startsWith(`${sensor}/`) && sensor.length > (found?.length ?? -1)) found = sensor;
    return found;
  }

  /**
   * In the sweep: true when a device was seen (`at`: its sighting, or when its CVEs were kept
   * pending) in its sensor's last full read. A device of a sensor no longer configured was not.
   */
  private seenInLastRead(deviceKey: string, at: string | null | undefined): boolean {
    const readAt = this.lastReads?.readAt(deviceKey);
    return readAt !== undefined && at !== null && at !== undefined && at >= readAt;
  }

  /**
   * Refuses a run whose detection source differs from the one earlier detections were written
   * under: detections are one per (CI, CVE, source), so a new source would open a second set and
   * leave the first open for ever. Detections written before the source was recorded (0.1) were
   * written under the deprecated `sourceName`, or its default. Records the source otherwise.
   */
  private async checkDetectionSource(): Promise<void> {
    const ref = { integrationId: this.run.integrationId, flow: FLOW, scope: 'detection-source' };
    const recorded = await getWatermark(this.run.store.db, ref);
    let before = recorded;
    if (before === undefined) {
      for await (const page of this.memories.detections.all({ pageSize: 1 })) {
        if (page.length) before = this.run.config.sourceName ?? LEGACY_DETECTION_SOURCE;
        break;
      }
    }
    if (before !== undefined && before !== this.detectionSource)
      throw new ConfigError([
        {
          path: 'flows.otVulnerabilities.detectionSource',
          message: `is "${this.detectionSource}" but this integration's detections were written with source "${before}": a new source would open a second detection for every CVE. Set detectionSource: ${before} to keep writing them`,
          example: before,
        },
      ]);
    if (recorded === undefined && !this.run.dryRun)
      await advanceWatermark(this.run.store.db, this.run.clock, ref, this.detectionSource);
  }

  /** The run state the detection and item parts share. */
  private shared(): VrRun {
    const run = this.run;
    const vr: VrRun = {
      context: run,
      servicenow: this.deps.servicenow,
      summary: this.summary,
      choices: this.choices,
      now: this.now,
      nowText: this.nowText,
      detectionSource: this.detectionSource,
      refreshAfterMs: this.refreshAfterMs,
      writer: new BatchWriter({
        flow: FLOW,
        servicenow: this.deps.servicenow,
        recorder: run.recorder,
        batchSize: run.config.batchSize,
        concurrency: run.config.concurrency,
      }),
      memories: this.memories,
      split: run.part !== undefined,
      // Parts of a split run search and create NVD entries, detections and items at the same
      // time; under one lock per record they take turns (src/store/correlation-lock.ts).
      lock: run.part !== undefined ? (ids, work) => underLocks(run.store, ids, work) : (_ids, work) => work(),
      lanes: run.config.concurrency,
      reads: new VrReads({
        context: run,
        lanes: run.config.concurrency,
        servicenow: this.deps.servicenow,
        choices: this.choices,
        detectionSource: this.detectionSource,
      }),
      get items(): VulnerableItems {
        return items;
      },
      decide: (action) => this.decide(action),
    };
    const items = new VulnerableItems(vr);
    return vr;
  }

  // ---- phases ----------------------------------------------------------------------------

  /** Reads the VR codes once per run: nothing numeric is assumed (substate values: UNVERIFIED). */
  private async readChoices(): Promise<VrChoices> {
    const rows = await this.deps.servicenow.listAll('sys_choice', {
      query: encodeQuery({
        where: [
          where('name', 'IN', [...new Set(VR_CHOICE_FIELDS.map(([table]) => table))]),
          where('element', 'IN', [...new Set(VR_CHOICE_FIELDS.map(([, element]) => element))]),
          where('inactive', '=', 'false'),
        ],
      }),
      fields: ['name', 'element', 'value', 'label'],
    });
    const result = vrChoicesFrom(
      rows.map((r) => ({
        name: stringValue(r.name) ?? '',
        element: stringValue(r.element) ?? '',
        value: stringValue(r.value) ?? '',
        label: stringValue(r.label) ?? '',
      })),
      this.run.config.severityMap,
    );
    if (result.missing)
      throw new SnowlineError(
        'VR_CHOICES_MISSING',
        `the instance has no sys_choice for ${result.missing.join('; ')}; install Vulnerability Response (and OT Vulnerability Response) or give the integration user read access to sys_choice`,
      );
    return result.choices;
  }

  /**
   * Brings a chunk of devices to what the source says. `fromSource` is false for devices taken
   * from pending work (they are not counted as seen this run).
   */
  private async syncDevices(list: readonly DeviceCves[], fromSource: boolean): Promise<void> {
    // A source may list a device twice in one page: the last listing wins.
    const devices = [...new Map(list.map((d) => [d.deviceKey, d])).values()];
    const keys = devices.map((d) => d.deviceKey);
    const cis = await deviceMemory({ store: this.run.store, integrationId: this.run.integrationId }).get(
      keys,
    );
    const states = await this.memories.devices.get(keys);
    const unclassed = await this.unclassedCis(devices, cis);
    const work: DetectionWork[] = [];
    const outcomes: DeviceOutcome[] = [];
    const seenOnly: EntityStateUpdate[] = [];
    const superseded: string[] = [];
    const waiting: DeviceCves[] = [];
    for (const reported of devices) {
      const deviceKey = reported.deviceKey;
      if (fromSource && this.sightingsInMemory) this.seen.add(deviceKey);
      else if (fromSource && states.has(deviceKey))
        seenOnly.push({ sourceKey: deviceKey, lastSeenAt: this.nowText });
      const cves = distinctCves(reported.cves);
      const ciState = cis.get(deviceKey);
      const ci = ciState?.remoteSysId ?? unclassed.get(deviceKey);
      if (!ci) {
        waiting.push({ ...reported, cves });
        continue;
      }
      // A retired device's detections are closed by closeUnreported; nothing opens on it.
      if (ciState?.retiredAt) {
        superseded.push(deviceKey);
        continue;
      }
      if (reported.truncated) {
        this.truncatedCount += 1;
        if (this.truncatedExamples.length < 20) this.truncatedExamples.push(deviceKey);
      }
      const state = states.get(deviceKey);
      const memory = state?.data;
      const hash = contentHash({ ci, ip: reported.ipAddress, cves });
      const checkedAt = state?.lastWrittenAt ? new Date(state.lastWrittenAt).getTime() : -Infinity;
      if (state?.contentHash === hash && this.now.getTime() - checkedAt < this.refreshAfterMs) {
        this.summary.unchanged += cves.length;
        if (this.sightingsInMemory) seenOnly.push({ sourceKey: deviceKey, lastSeenAt: this.nowText });
        superseded.push(deviceKey);
        continue;
      }
      const content = (cve: DeviceCve): DetectionContent => ({
        ciSysId: ci,
        cve,
        source: this.detectionSource,
        ...(reported.ipAddress ? { ipAddress: reported.ipAddress } : {}),
      });
      for (const cve of cves)
        work.push({
          key: detectionEntityKey(deviceKey, cve.id),
          deviceKey,
          wanted: 'open',
          cve,
          content: content(cve),
        });
      const reportedIds = new Set(cves.map((c) => c.id));
      const before = memory?.ci === ci ? memory.cves : [];
      const gone = reported.truncated ? [] : before.filter((id) => !reportedIds.has(id));
      for (const id of gone)
        work.push({
          key: detectionEntityKey(deviceKey, id),
          deviceKey,
          wanted: 'notReported',
          cve: { id },
          content: content({ id }),
        });
      const kept = reported.truncated ? [...new Set([...before, ...reportedIds])].sort() : [...reportedIds];
      outcomes.push({
        deviceKey,
        hash,
        memory: { ci, cves: kept },
        payload: { ...reported, cves },
      });
    }
    await this.keepPending(waiting, 'the device has no CI yet (ot-inventory has not written it)');
    if (seenOnly.length) await this.run.recorder.save({ states: { device: seenOnly } });
    // Devices handled from the source's fresh data no longer need their pending copy.
    if (!this.run.dryRun && superseded.length)
      await completePending(this.run.store, this.run.integrationId, superseded);
    await this.apply(work, outcomes);
  }

  /**
   * The CIs of devices ot-inventory wrote none for: an unclassed hardware CI created earlier, or
   * — with `requireCiMatch: false`, for a device the source names — one created now through IRE
   * (domain/ot/ire.ts unclassedHardwareGroup; IRE adopts a CI another source already has with
   * that name or MAC). A dry run asks IRE what it would do and creates nothing.
   */
  private async unclassedCis(
    devices: readonly DeviceCves[],
    cis: ReadonlyMap<string, { readonly remoteSysId: string | null }>,
  ): Promise<Map<string, string>> {
    const result = new Map<string, string>();
    const without = devices.filter((d) => !cis.get(d.deviceKey)?.remoteSysId);
    if (without.length === 0) return result;
    const known = await this.memories.hardware.get(without.map((d) => d.deviceKey));
    const groups: IreGroup[] = [];
    for (const device of without) {
      const created = known.get(device.deviceKey)?.remoteSysId;
      if (created) result.set(device.deviceKey, created);
      else if (!this.run.config.requireCiMatch && device.clues) {
        const group = unclassedHardwareGroup(
          { integrationId: this.run.integrationId, dataSource: this.deps.dataSource ?? 'Snowline' },
          {
            key: device.deviceKey,
            ...(device.clues.name ? { name: device.clues.name } : {}),
            nics: [...device.clues.macs.map((mac) => ({ mac })), ...device.clues.ips.map((ip) => ({ ip }))],
          },
        );
        if (group) groups.push(group);
      }
    }
    if (groups.length === 0) return result;
    const writer = new IreWriter({
      flow: FLOW,
      servicenow: this.deps.servicenow,
      recorder: this.run.recorder,
      dataSource: this.deps.dataSource ?? 'Snowline',
      batchSize: this.run.config.batchSize,
      concurrency: 1,
      now: () => this.now,
      counts: { unchanged: 0, ireItems: 0, ireRequests: 0 },
    });
    const written = await writer.write('hardware', groups, {
      decide: () => [
        'create',
        'requireCiMatch is false and ot-inventory wrote no CI for the device: an unclassed hardware CI holds its CVEs',
      ],
    });
    for (const [key, sysId] of written) result.set(key, sysId);
    return result;
  }

  /**
   * The devices of a page under ot-inventory's keys. A device that can not be recognised keeps
   * its CVEs pending under its source key, with the reason, and is tried again on the next run
   * (a full read lists it again).
   */
  private async recognise(devices: readonly DeviceCves[]): Promise<DeviceCves[]> {
    if (!this.inventory) return [...devices];
    const recognised: DeviceCves[] = [];
    const matches = await this.inventory.recognise(devices);
    for (const [i, device] of devices.entries()) {
      const match = matches[i]!;
      if (match.device) {
        recognised.push(match.device);
        continue;
      }
      // requireCiMatch false: the device gets an unclassed hardware CI under its own key.
      if (!this.run.config.requireCiMatch) {
        recognised.push(device);
        continue;
      }
      if (this.sightingsInMemory) this.seen.add(device.deviceKey);
      const { clues: _clues, ...rest } = device;
      await this.keepPending([{ ...rest, cves: distinctCves(device.cves) }], match.reason);
    }
    return recognised;
  }

  /** Devices whose CVEs waited (no CI yet, or a failed write) and that the source did not report again. */
  private async retryPending(): Promise<void> {
    const stale: string[] = [];
    for await (const page of pendingDevices(this.run.store, this.run.integrationId)) {
      const due: DeviceCves[] = [];
      for (const pending of page) {
        if (this.wasReported(pending) || this.isUnread(pending.deviceKey)) continue;
        // A full read that no longer lists the device says it has no CVEs: its old list is moot.
        if (!this.deps.source.incremental || !pending.payload) stale.push(pending.deviceKey);
        else due.push(pending.payload);
      }
      for (let i = 0; i < due.length; i += DEVICE_CHUNK)
        await this.syncDevices(due.slice(i, i + DEVICE_CHUNK), false);
    }
    if (stale.length && !this.run.dryRun)
      await completePending(this.run.store, this.run.integrationId, stale);
  }

  /**
   * Closes the detections of retired devices (CI decommissioned) and, for full-read sources, of
   * devices the source no longer lists (not those of a part it could not read, e.g. a sensor down).
   */
  private async closeUnreported(): Promise<void> {
    for await (const page of this.memories.devices.all()) {
      const open = page
        .map((state) => ({ state, memory: state.data }))
        .filter(
          (d): d is { state: Remembered<DeviceVulnerabilities>; memory: DeviceVulnerabilities } =>
            (d.memory?.cves.length ?? 0) > 0,
        );
      if (open.length === 0) continue;
      const cis = await deviceMemory({ store: this.run.store, integrationId: this.run.integrationId }).get(
        open.map((d) => d.state.key),
      );
      const work: DetectionWork[] = [];
      const outcomes: DeviceOutcome[] = [];
      for (const { state, memory } of open) {
        const deviceKey = state.key;
        const retired = Boolean(cis.get(deviceKey)?.retiredAt);
        const unreported = !this.deps.source.incremental && !this.wasSeen(state) && !this.isUnread(deviceKey);
        if (!retired && !unreported) continue;
        const why: CloseReason = retired ? 'deviceRetired' : 'notReported';
        for (const id of memory.cves)
          work.push({
            key: detectionEntityKey(deviceKey, id),
            deviceKey,
            wanted: why,
            cve: { id },
            content: { ciSysId: memory.ci, cve: { id }, source: this.detectionSource },
          });
        outcomes.push({
          deviceKey,
          hash: contentHash({ ci: memory.ci, closed: why }),
          memory: { ci: memory.ci, cves: [] },
        });
      }
      if (outcomes.length) await this.apply(work, outcomes);
    }
  }

  /**
   * True when a device state's clock reading is not older than this run's: the clock did not move
   * since the last run (a test's fixed clock, or a clock set back). `last_seen_at` then can not tell
   * this run's sightings from the last run's, so this run keeps them in memory instead.
   */
  private async clockDidNotMove(): Promise<boolean> {
    const ref = { integrationId: this.run.integrationId, flow: FLOW, entity: 'device' };
    if (await entitySeenSince(this.run.store.db, ref, this.nowText)) return true;
    return deferredWorkUpdatedSince(this.run.store.db, pendingKind(this.run.integrationId), this.nowText);
  }

  /** True when the source reported the device of this state in this run (in a sweep: in its sensor's last full read). */
  private wasSeen(state: Remembered<DeviceVulnerabilities>): boolean {
    if (this.lastReads) return this.seenInLastRead(state.key, state.lastSeenAt);
    return this.sightingsInMemory ? this.seen.has(state.key) : state.lastSeenAt === this.nowText;
  }

  /** True when this run already handled the pending device (reported it, or kept it pending again). */
  private wasReported(pending: PendingDevice): boolean {
    if (this.lastReads) return this.seenInLastRead(pending.deviceKey, pending.keptAt);
    return this.sightingsInMemory ? this.seen.has(pending.deviceKey) : pending.keptAt === this.nowText;
  }

  /**
   * True when the device belongs to what the source could not read this run (a sensor down); in a
   * sweep, to a configured sensor that no part has read in full yet.
   */
  private isUnread(deviceKey: string): boolean {
    if (this.lastReads) return this.lastReads.unread(deviceKey);
    return this.unread.some((prefix) => deviceKey.startsWith(prefix));
  }

  // ---- one chunk of work -------------------------------------------------------------------

  /** NVD entries, then detections, then the device states of devices whose writes all succeeded. */
  private async apply(work: readonly DetectionWork[], outcomes: readonly DeviceOutcome[]): Promise<void> {
    const failed = new Set<string>();
    const vulnerabilities = await this.detections.syncVulnerabilities(
      work.filter((w) => w.wanted === 'open').map((w) => w.cve),
      failed,
      work,
    );
    await this.detections.syncDetections(work, vulnerabilities, failed);
    if (this.run.dryRun) return;
    const done = outcomes.filter((o) => !failed.has(o.deviceKey));
    await this.run.recorder.save({
      states: {
        device: done.map((o) => ({
          sourceKey: o.deviceKey,
          contentHash: o.hash,
          lastSeenAt: this.nowText,
          lastWrittenAt: this.nowText,
          data: o.memory,
        })),
      },
    });
    // Written from fresher data than any pending copy (or from that copy): it is no longer needed.
    if (done.length)
      await completePending(
        this.run.store,
        this.run.integrationId,
        done.map((o) => o.deviceKey),
      );
    const retry = outcomes.filter((o) => failed.has(o.deviceKey) && o.payload).map((o) => o.payload!);
    await this.keepPending(retry, 'a write for the device failed; it is retried next run');
  }

  /** Keeps devices' CVEs as pending work for a later run (one row per device). */
  private async keepPending(devices: readonly DeviceCves[], why: string): Promise<void> {
    for (const device of devices) {
      this.summary.pending += device.cves.length;
      await this.decide({
        action: 'skip',
        entity: 'device',
        key: device.deviceKey,
        reason: `${device.cves.length} CVE(s) kept pending: ${why}`,
      });
      if (!this.run.dryRun)
        await deferWork(
          this.run.store.db,
          this.run.clock,
          {
            integrationId: this.run.integrationId,
            flow: FLOW,
            partitionKey: pendingPartition(device.deviceKey),
            kind: PENDING_KIND,
          },
          this.now,
          { ...device, keptAt: this.nowText },
        );
    }
  }

  private async reportProblems(problems: readonly RecordProblem[]): Promise<void> {
    if (problems.length === 0) return;
    this.summary.problems += problems.length;
    for (const p of problems)
      await this.decide({
        action: 'error',
        side: 'defender',
        entity: 'device',
        key: p.key ?? `${p.source}#${p.index}`,
        // The message says what was skipped: a malformed record, or a whole sensor that did not answer.
        reason: `device CVEs not read (${p.source}, record ${p.index}): ${p.error.message}`.slice(0, 2000),
      });
    this.run.logger.warn(
      { count: problems.length, first: problems[0]?.error.message },
      'device CVE records or sensors could not be read; reported and skipped',
    );
  }

  /** Records a decision through the recorder (in the plan when dry, in the ledger when real). */
  private async decide(
    action: Omit<PlanAction, 'flow' | 'side'> & { side?: PlanAction['side'] },
  ): Promise<void> {
    await this.run.recorder.decide({ flow: FLOW, side: 'servicenow', ...action });
  }
}

/** Resource Graph's device clues kept in the run's scratch table (kind `clue`, keyed by device id). */
function cluesIn(scratch: RunScratch): ClueKeeper {
  return {
    put: (clues) =>
      scratch.put(
        'clue',
        clues.map(([key, data]) => ({ key, data })),
      ),
    get: async (ids) => {
      const found = await scratch.get<DeviceClues>('clue', ids);
      return new Map([...found].filter((e): e is [string, DeviceClues] => e[1] !== undefined));
    },
  };
}
