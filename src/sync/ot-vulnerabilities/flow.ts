import type { IntegrationConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import { emptyFlowSummary, type FlowSummary } from '../../domain/flows.js';
import { contentHash } from '../../domain/hash.js';
import type { PlanAction, PlanActionKind } from '../../domain/plan.js';
import { days, toSnDateTime } from '../../domain/time.js';
import {
  decideDetection,
  detectionStatusOf,
  personOwnedReason,
  vrChoicesFrom,
  VR_CHOICE_FIELDS,
  type CloseReason,
  type DetectionStatus,
  type KnownDetection,
  type VrChoices,
} from '../../domain/vulnerabilities/lifecycle.js';
import {
  changedFields,
  detectionEntityKey,
  detectionHash,
  newDetectionValues,
  nvdEntryHash,
  nvdEntryValues,
  sightingValues,
  type DetectionContent,
} from '../../domain/vulnerabilities/mapping.js';
import { distinctCves, type DeviceCve, type DeviceCves } from '../../domain/vulnerabilities/records.js';
import { SnowlineError } from '../../errors.js';
import type { Logger } from '../../logging.js';
import type { RequestCounters } from '../../runtime/http/counters.js';
import { executeFlow } from '../execute.js';
import { batchFailure, batchRecord } from '../../servicenow/batch.js';
import type { BatchItem, ServiceNowClient } from '../../servicenow/client.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import { intValue, referenceValue, stringValue, type SnRecord } from '../../servicenow/values.js';
import { deferWork } from '../../store/models/deferred-work.js';
import {
  allEntityStates,
  getEntityStates,
  upsertEntityStates,
  type EntityStateUpdate,
} from '../../store/models/entity-state.js';
import { appendLedgerEvents, type LedgerEntry } from '../../store/models/ledger.js';
import { advanceWatermark, getWatermark } from '../../store/models/watermarks.js';
import type { EntityStateRow } from '../../store/schema.js';
import type { Store } from '../../store/store.js';
import type { RecordProblem, VulnerabilitySource } from './source.js';
import {
  completePending,
  PENDING_KIND,
  pendingDevices,
  pendingPartition,
  type PendingDevice,
} from './state.js';

/** The flow's configuration section, with defaults applied. */
export type OtVulnerabilitiesConfig = NonNullable<IntegrationConfig['flows']['otVulnerabilities']>;

/** What one ot-vulnerabilities run needs. */
export interface OtVulnerabilitiesRun {
  readonly integrationId: string;
  readonly config: OtVulnerabilitiesConfig;
  readonly source: VulnerabilitySource;
  readonly servicenow: ServiceNowClient;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters: RequestCounters;
  readonly runId: string | null;
  readonly dryRun: boolean;
}

/** The run's summary: the common counters plus the detection lifecycle. */
export type OtVulnerabilitiesSummary = FlowSummary & {
  /** Detections created (a CVE newly reported on a device). */
  opened: number;
  /** Detections closed (CVE no longer reported, or device retired). */
  closed: number;
  /** Closed (Fixed or Stale) detections opened again because the CVE came back. */
  reopened: number;
  /** Device-CVE pairs kept for a later run (device without a CI yet, or a failed write). */
  pending: number;
  /** Detections left alone because a person owns their vulnerable item. */
  skipped: number;
  /** Malformed source records reported and skipped. */
  problems: number;
  /** Devices whose CVE list may have been cut by the source (e.g. the sensor API's `top`). */
  truncated: number;
};

/** The run's summary, and (in a dry run) its plan: every decision with its reason. A real run's decisions are in the ledger. */
export interface OtVulnerabilitiesResult {
  readonly summary: OtVulnerabilitiesSummary;
  readonly plan: PlanAction[];
}

const FLOW = 'ot-vulnerabilities' as const;
const NVD_TABLE = 'sn_vul_nvd_entry';
const DETECTION_TABLE = 'sn_vul_detection';
const ITEM_TABLE = 'sn_vul_vulnerable_item';
/** In-list size for searches: keeps URLs short (100 sys_ids ≈ 3.3 kB). */
const SEARCH_CHUNK = 100;
/** Devices handled together: their searches and writes share requests. */
const DEVICE_CHUNK = 100;

/** What the flow remembers per device (entity `device`). */
interface DeviceMemory {
  readonly ci: string;
  /** CVEs Snowline holds open detections for (closed when no longer reported). */
  readonly cves: readonly string[];
}

/** What the flow remembers per detection (entity `detection`). */
interface DetectionMemory {
  readonly ci: string;
  readonly status: DetectionStatus;
  readonly item?: string;
}

/** One (device, CVE) pair to bring to its wanted state. */
interface DetectionWork {
  readonly key: string;
  readonly deviceKey: string;
  readonly wanted: 'open' | CloseReason;
  readonly cve: DeviceCve;
  readonly content: DetectionContent;
}

/** A device whose state is recorded once all its detection work succeeded. */
interface DeviceOutcome {
  readonly deviceKey: string;
  readonly hash: string;
  readonly memory: DeviceMemory;
  /** What to keep pending if a write fails (undefined: nothing to retry from, e.g. closing). */
  readonly payload?: DeviceCves;
}

/** A detection as read from ServiceNow. */
interface RemoteDetection {
  readonly sysId: string;
  readonly ci: string;
  readonly vulnerability: string;
  readonly status: DetectionStatus;
  readonly timesFound: number;
  readonly item?: string;
  readonly itemState?: string;
  readonly itemSubstate?: string;
}

/** One write to send in a Batch API call, with what to record when it succeeds. */
interface Write {
  readonly request: Omit<BatchItem, 'id'>;
  readonly entity: 'vulnerability' | 'detection' | 'vulnerableItem';
  readonly key: string;
  readonly action: PlanActionKind;
  readonly reason: string;
  readonly table: string;
  readonly sysId?: string;
  /** The local state to record once written (none for vulnerable items: they are searched). */
  readonly onWritten?: (sysId: string, record: SnRecord | undefined) => EntityStateUpdate;
  /** Device whose outcome depends on this write. */
  readonly deviceKey?: string;
  /** A write to send once this one succeeded (the vulnerable item, with writeVulnerableItems). */
  follow?: Write;
  /** For a detection create with writeVulnerableItems: the (CI, vulnerability) whose item it needs. */
  readonly needsItem?: { readonly ci: string; readonly vulnerability: string };
}

/**
 * Flow ot-vulnerabilities: Defender for IoT CVEs per device → Vulnerability Response, written
 * as a scanner integration writes it (contracts/servicenow.md §5).
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
export async function runOtVulnerabilities(run: OtVulnerabilitiesRun): Promise<OtVulnerabilitiesResult> {
  return executeFlow(new OtVulnerabilitiesFlow(run), run);
}

class OtVulnerabilitiesFlow {
  readonly summary: OtVulnerabilitiesSummary = {
    ...emptyFlowSummary(),
    opened: 0,
    closed: 0,
    reopened: 0,
    pending: 0,
    skipped: 0,
    problems: 0,
    truncated: 0,
  };
  readonly plan: PlanAction[] = [];
  private readonly now: Date;
  private readonly nowText: string;
  private readonly refreshAfterMs: number;
  private choices!: VrChoices;
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

  constructor(private readonly run: OtVulnerabilitiesRun) {
    this.now = run.clock.now();
    this.nowText = this.now.toISOString();
    this.refreshAfterMs = days(run.config.refreshLastFoundDays);
  }

  async execute(): Promise<void> {
    this.choices = await this.readChoices();
    const source = this.run.source;
    const watermarkRef = {
      integrationId: this.run.integrationId,
      flow: FLOW,
      scope: `${source.kind}:devicecves`,
    };
    const sinceText = source.incremental ? await getWatermark(this.run.store.db, watermarkRef) : undefined;
    const since = sinceText ? new Date(Number(sinceText)) : undefined;
    this.sightingsInMemory = this.run.dryRun || (await this.clockDidNotMove());

    for await (const page of source.deviceCves(since ? { since } : {})) {
      await this.reportProblems(page.problems);
      if (page.unread) this.unread.push(...page.unread);
      for (let i = 0; i < page.items.length; i += DEVICE_CHUNK)
        await this.syncDevices(page.items.slice(i, i + DEVICE_CHUNK), true);
    }
    await this.retryPending();
    await this.closeUnreported();
    if (this.truncatedCount) {
      this.summary.truncated = this.truncatedCount;
      await this.decideAndRecord({
        action: 'skip',
        entity: 'device',
        key: 'truncated',
        reason: `${this.truncatedCount} device(s) reported a CVE list that may be truncated (e.g. ${this.truncatedExamples.slice(0, 5).join(', ')}): CVEs missing from them are not closed; raise sensorTop`,
      });
      this.run.logger.warn({ devices: this.truncatedExamples }, 'CVE lists may be truncated');
    }
    if (!this.run.dryRun && source.incremental)
      await advanceWatermark(
        this.run.store.db,
        this.run.clock,
        watermarkRef,
        String(this.now.getTime()).padStart(15, '0'),
      );
  }

  // ---- phases ----------------------------------------------------------------------------

  /** Reads the VR codes once per run: nothing numeric is assumed (contracts/servicenow.md §5.2). */
  private async readChoices(): Promise<VrChoices> {
    const rows = await this.run.servicenow.listAll('sys_choice', {
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
    const cis = await getEntityStates(this.run.store.db, this.inventoryRef(), keys);
    const states = await getEntityStates(this.run.store.db, this.ref('device'), keys);
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
      const ci = ciState?.remote_sys_id ?? undefined;
      if (!ci) {
        waiting.push({ ...reported, cves });
        continue;
      }
      // A retired device's detections are closed by closeUnreported; nothing opens on it.
      if (ciState?.retired_at) {
        superseded.push(deviceKey);
        continue;
      }
      if (reported.truncated) {
        this.truncatedCount += 1;
        if (this.truncatedExamples.length < 20) this.truncatedExamples.push(deviceKey);
      }
      const state = states.get(deviceKey);
      const memory = parseJson<DeviceMemory>(state?.data);
      const hash = contentHash({ ci, ip: reported.ipAddress, cves });
      const checkedAt = state?.last_written_at ? new Date(state.last_written_at).getTime() : -Infinity;
      if (state?.content_hash === hash && this.now.getTime() - checkedAt < this.refreshAfterMs) {
        this.summary.unchanged += cves.length;
        if (this.sightingsInMemory) seenOnly.push({ sourceKey: deviceKey, lastSeenAt: this.nowText });
        superseded.push(deviceKey);
        continue;
      }
      const content = (cve: DeviceCve): DetectionContent => ({
        ciSysId: ci,
        cve,
        source: this.run.config.sourceName,
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
    if (!this.run.dryRun) {
      if (seenOnly.length) await upsertEntityStates(this.run.store.db, this.ref('device'), seenOnly);
      // Devices handled from the source's fresh data no longer need their pending copy.
      if (superseded.length)
        await completePending(this.run.store.db, this.run.integrationId, FLOW, superseded);
    }
    await this.apply(work, outcomes);
  }

  /** Devices whose CVEs waited (no CI yet, or a failed write) and that the source did not report again. */
  private async retryPending(): Promise<void> {
    const stale: string[] = [];
    for await (const page of pendingDevices(this.run.store.db, this.run.integrationId, FLOW)) {
      const due: DeviceCves[] = [];
      for (const pending of page) {
        if (this.wasReported(pending) || this.isUnread(pending.deviceKey)) continue;
        // A full read that no longer lists the device says it has no CVEs: its old list is moot.
        if (!this.run.source.incremental || !pending.payload) stale.push(pending.deviceKey);
        else due.push(pending.payload);
      }
      for (let i = 0; i < due.length; i += DEVICE_CHUNK)
        await this.syncDevices(due.slice(i, i + DEVICE_CHUNK), false);
    }
    if (stale.length && !this.run.dryRun)
      await completePending(this.run.store.db, this.run.integrationId, FLOW, stale);
  }

  /**
   * Closes the detections of retired devices (CI decommissioned) and, for full-read sources, of
   * devices the source no longer lists (not those of a part it could not read, e.g. a sensor down).
   */
  private async closeUnreported(): Promise<void> {
    for await (const page of allEntityStates(this.run.store.db, this.ref('device'))) {
      const open = page
        .map((state) => ({ state, memory: parseJson<DeviceMemory>(state.data) }))
        .filter(
          (d): d is { state: EntityStateRow; memory: DeviceMemory } => (d.memory?.cves.length ?? 0) > 0,
        );
      if (open.length === 0) continue;
      const cis = await getEntityStates(
        this.run.store.db,
        this.inventoryRef(),
        open.map((d) => d.state.source_key),
      );
      const work: DetectionWork[] = [];
      const outcomes: DeviceOutcome[] = [];
      for (const { state, memory } of open) {
        const deviceKey = state.source_key;
        const retired = Boolean(cis.get(deviceKey)?.retired_at);
        const unreported = !this.run.source.incremental && !this.wasSeen(state) && !this.isUnread(deviceKey);
        if (!retired && !unreported) continue;
        const why: CloseReason = retired ? 'deviceRetired' : 'notReported';
        for (const id of memory.cves)
          work.push({
            key: detectionEntityKey(deviceKey, id),
            deviceKey,
            wanted: why,
            cve: { id },
            content: { ciSysId: memory.ci, cve: { id }, source: this.run.config.sourceName },
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
    const db = this.run.store.db;
    const seen = await db
      .selectFrom('entity_state')
      .select('source_key')
      .where('integration_id', '=', this.run.integrationId)
      .where('flow', '=', FLOW)
      .where('entity', '=', 'device')
      .where('last_seen_at', '>=', this.nowText)
      .limit(1)
      .executeTakeFirst();
    if (seen) return true;
    const pending = await db
      .selectFrom('deferred_work')
      .select('partition_key')
      .where('integration_id', '=', this.run.integrationId)
      .where('flow', '=', FLOW)
      .where('kind', '=', PENDING_KIND)
      .where('updated_at', '>=', this.nowText)
      .limit(1)
      .executeTakeFirst();
    return pending !== undefined;
  }

  /** True when the source reported the device of this state in this run. */
  private wasSeen(state: EntityStateRow): boolean {
    return this.sightingsInMemory ? this.seen.has(state.source_key) : state.last_seen_at === this.nowText;
  }

  /** True when this run already handled the pending device (reported it, or kept it pending again). */
  private wasReported(pending: PendingDevice): boolean {
    return this.sightingsInMemory ? this.seen.has(pending.deviceKey) : pending.keptAt === this.nowText;
  }

  /** True when the device belongs to what the source could not read this run (a sensor down). */
  private isUnread(deviceKey: string): boolean {
    return this.unread.some((prefix) => deviceKey.startsWith(prefix));
  }

  // ---- one chunk of work -------------------------------------------------------------------

  /** NVD entries, then detections, then the device states of devices whose writes all succeeded. */
  private async apply(work: readonly DetectionWork[], outcomes: readonly DeviceOutcome[]): Promise<void> {
    const failed = new Set<string>();
    const vulnerabilities = await this.syncVulnerabilities(
      work.filter((w) => w.wanted === 'open').map((w) => w.cve),
      failed,
      work,
    );
    await this.syncDetections(work, vulnerabilities, failed);
    if (this.run.dryRun) return;
    const done = outcomes.filter((o) => !failed.has(o.deviceKey));
    await upsertEntityStates(
      this.run.store.db,
      this.ref('device'),
      done.map((o) => ({
        sourceKey: o.deviceKey,
        contentHash: o.hash,
        lastSeenAt: this.nowText,
        lastWrittenAt: this.nowText,
        data: o.memory,
      })),
    );
    // Written from fresher data than any pending copy (or from that copy): it is no longer needed.
    if (done.length)
      await completePending(
        this.run.store.db,
        this.run.integrationId,
        FLOW,
        done.map((o) => o.deviceKey),
      );
    const retry = outcomes.filter((o) => failed.has(o.deviceKey) && o.payload).map((o) => o.payload!);
    await this.keepPending(retry, 'a write for the device failed; it is retried next run');
  }

  /**
   * Ensures an `sn_vul_nvd_entry` per CVE: searched by id when Snowline has none recorded,
   * created when missing, updated when Defender's details changed. Returns the sys_id per CVE id
   * and whether the entry is created this run (so no detection can reference it yet).
   */
  private async syncVulnerabilities(
    cves: readonly DeviceCve[],
    failed: Set<string>,
    work: readonly DetectionWork[],
  ): Promise<Map<string, { sysId?: string; isNew: boolean }>> {
    const result = new Map<string, { sysId?: string; isNew: boolean }>();
    const byId = new Map<string, DeviceCve>();
    for (const cve of cves) if (!byId.has(cve.id)) byId.set(cve.id, cve);
    if (byId.size === 0) return result;
    const states = await getEntityStates(this.run.store.db, this.ref('vulnerability'), [...byId.keys()]);
    const writes: Write[] = [];
    const unknown: string[] = [];
    for (const [id, cve] of byId) {
      const state = states.get(id);
      const values = nvdEntryValues(cve);
      if (state?.remote_sys_id && state.content_hash === nvdEntryHash(values)) {
        result.set(id, { sysId: state.remote_sys_id, isNew: false });
      } else if (state?.remote_sys_id) {
        const { id: _id, ...changes } = values;
        writes.push(
          this.nvdWrite(
            id,
            values,
            'update',
            'the CVE details changed in Defender',
            changes,
            state.remote_sys_id,
          ),
        );
        result.set(id, { sysId: state.remote_sys_id, isNew: false });
      } else {
        unknown.push(id);
      }
    }
    const found = await this.search(NVD_TABLE, 'id', unknown, [
      'sys_id',
      'id',
      'summary',
      'v3_base_score',
      'v3_base_severity',
      'severity',
    ]);
    const adopted: EntityStateUpdate[] = [];
    for (const id of unknown) {
      const values = nvdEntryValues(byId.get(id)!);
      const row = found.find((r) => stringValue(r.id) === id);
      if (!row) {
        writes.push(
          this.nvdWrite(id, values, 'create', 'a CVE Defender reports is not in the instance yet', values),
        );
        result.set(id, { isNew: true });
        continue;
      }
      result.set(id, { sysId: row.sys_id, isNew: false });
      const changes = changedFields(values, row);
      if (Object.keys(changes).length)
        writes.push(
          this.nvdWrite(
            id,
            values,
            'update',
            'the NVD entry lacks or differs from what Defender reports',
            changes,
            row.sys_id,
          ),
        );
      else
        adopted.push({
          sourceKey: id,
          remoteTable: NVD_TABLE,
          remoteSysId: row.sys_id,
          contentHash: nvdEntryHash(values),
          lastSeenAt: this.nowText,
        });
    }
    if (!this.run.dryRun && adopted.length)
      await upsertEntityStates(this.run.store.db, this.ref('vulnerability'), adopted);
    const outcome = await this.send(writes);
    for (const [key, sysId] of outcome.written)
      result.set(key, { sysId, isNew: result.get(key)?.isNew ?? false });
    for (const key of outcome.failed) {
      result.delete(key);
      for (const w of work) if (w.cve.id === key) failed.add(w.deviceKey);
    }
    return result;
  }

  private nvdWrite(
    id: string,
    values: Record<string, string>,
    action: 'create' | 'update',
    reason: string,
    body: Record<string, string>,
    sysId?: string,
  ): Write {
    return {
      request: sysId
        ? { method: 'PATCH', url: `/api/now/table/${NVD_TABLE}/${sysId}?sysparm_fields=sys_id`, body }
        : {
            method: 'POST',
            url: `/api/now/table/${NVD_TABLE}?sysparm_fields=sys_id`,
            body,
            identity: { id },
          },
      entity: 'vulnerability',
      key: id,
      action,
      reason,
      table: NVD_TABLE,
      ...(sysId ? { sysId } : {}),
      onWritten: (written) => ({
        sourceKey: id,
        remoteTable: NVD_TABLE,
        remoteSysId: written,
        contentHash: nvdEntryHash(values),
        lastSeenAt: this.nowText,
        lastWrittenAt: this.nowText,
      }),
    };
  }

  /** Decides and writes the detections of a chunk of work. */
  private async syncDetections(
    work: readonly DetectionWork[],
    vulnerabilities: Map<string, { sysId?: string; isNew: boolean }>,
    failed: Set<string>,
  ): Promise<void> {
    const states = await getEntityStates(
      this.run.store.db,
      this.ref('detection'),
      work.map((w) => w.key),
    );
    // First with what Snowline recorded: most work ends here without a request.
    const candidates: { work: DetectionWork; state?: EntityStateRow; memory?: DetectionMemory }[] = [];
    for (const w of work) {
      if (w.wanted === 'open' && !vulnerabilities.has(w.cve.id)) continue; // its NVD entry failed
      const state = states.get(w.key);
      const memory = parseJson<DetectionMemory>(state?.data);
      const local =
        memory?.ci === w.content.ciSysId && state?.remote_sys_id ? knownFrom(state, memory) : undefined;
      const decision = decideDetection({
        wanted: w.wanted,
        known: local,
        hash: detectionHash(w.content),
        now: this.now,
        refreshAfterMs: this.refreshAfterMs,
      });
      if (decision.action === 'unchanged') {
        if (w.wanted === 'open') this.summary.unchanged += 1;
        continue;
      }
      candidates.push({
        work: w,
        ...(state && local ? { state } : {}),
        ...(memory && local ? { memory } : {}),
      });
    }
    if (candidates.length === 0) return;

    // Then with what the instance says: by sys_id when known, else searched by CI, vulnerability and source.
    const remote = await this.readDetections(
      candidates.filter((c) => c.state?.remote_sys_id).map((c) => c.state!.remote_sys_id!),
    );
    const searchable = candidates.filter(
      (c) =>
        (!c.state?.remote_sys_id || !remote.has(c.state.remote_sys_id)) &&
        vulnerabilities.get(c.work.cve.id)?.sysId &&
        !vulnerabilities.get(c.work.cve.id)?.isNew,
    );
    const searched = await this.searchDetections(
      searchable.map((c) => ({
        ci: c.work.content.ciSysId,
        vulnerability: vulnerabilities.get(c.work.cve.id)!.sysId!,
      })),
    );

    const writes: Write[] = [];
    const adopted: EntityStateUpdate[] = [];
    for (const { work: w, state } of candidates) {
      const vulnerability = vulnerabilities.get(w.cve.id)?.sysId;
      const byId = state?.remote_sys_id ? remote.get(state.remote_sys_id) : undefined;
      const existing =
        byId ?? (vulnerability ? searched.get(`${w.content.ciSysId}|${vulnerability}`) : undefined);
      const hash = detectionHash(w.content);
      const known: KnownDetection | undefined = existing
        ? {
            status: existing.status,
            ...(byId && state?.content_hash ? { hash: state.content_hash } : {}),
            ...(byId && state?.last_written_at ? { lastWrittenAt: new Date(state.last_written_at) } : {}),
          }
        : undefined;
      const decision = decideDetection({
        wanted: w.wanted,
        known,
        hash,
        now: this.now,
        refreshAfterMs: this.refreshAfterMs,
      });
      if (decision.action === 'unchanged') {
        if (w.wanted === 'open') this.summary.unchanged += 1;
        if (existing)
          adopted.push(
            this.detectionState(
              w,
              existing.sysId,
              existing.status,
              existing.item,
              w.wanted === 'open' ? hash : undefined,
              false,
            ),
          );
        continue;
      }
      const owned = existing
        ? personOwnedReason({ state: existing.itemState, substate: existing.itemSubstate }, this.choices)
        : undefined;
      if (owned) {
        this.summary.skipped += 1;
        await this.decideAndRecord({
          action: 'skip',
          entity: 'detection',
          key: w.key,
          reason: owned,
          target: { table: DETECTION_TABLE, id: existing!.sysId },
        });
        continue;
      }
      const open = this.choices.detectionStatus.open;
      if (decision.action === 'create') {
        if (!vulnerability && !this.run.dryRun) continue;
        const values = newDetectionValues(
          {
            integrationId: this.run.integrationId,
            ciSysId: w.content.ciSysId,
            cveId: w.cve.id,
            source: this.run.config.sourceName,
          },
          w.content,
          vulnerability ?? '',
          open,
          this.now,
        );
        writes.push({
          request: {
            method: 'POST',
            url: `/api/now/table/${DETECTION_TABLE}?sysparm_fields=sys_id,vulnerable_item`,
            body: values,
            // What searchDetections finds a detection by: one per (CI, CVE, source).
            identity: {
              cmdb_ci: w.content.ciSysId,
              vulnerability: vulnerability ?? '',
              source: this.run.config.sourceName,
            },
          },
          entity: 'detection',
          key: w.key,
          action: 'create',
          reason: decision.reason,
          table: DETECTION_TABLE,
          deviceKey: w.deviceKey,
          ...(this.run.config.writeVulnerableItems
            ? { needsItem: { ci: w.content.ciSysId, vulnerability: vulnerability ?? '' } }
            : {}),
          onWritten: (sysId, record) =>
            this.detectionState(w, sysId, 'open', referenceValue(record?.vulnerable_item), hash, true),
        });
      } else if (decision.action === 'resolve') {
        writes.push({
          request: {
            method: 'PATCH',
            url: `/api/now/table/${DETECTION_TABLE}/${existing!.sysId}?sysparm_fields=sys_id`,
            body: { status: this.choices.detectionStatus.fixed },
          },
          entity: 'detection',
          key: w.key,
          action: 'resolve',
          reason: decision.reason,
          table: DETECTION_TABLE,
          sysId: existing!.sysId,
          deviceKey: w.deviceKey,
          onWritten: (sysId) => this.detectionState(w, sysId, 'fixed', existing!.item, undefined, true),
          ...(this.run.config.writeVulnerableItems && existing!.item
            ? { follow: this.itemClose(w, existing!, w.wanted === 'deviceRetired') }
            : {}),
        });
      } else {
        writes.push({
          request: {
            method: 'PATCH',
            url: `/api/now/table/${DETECTION_TABLE}/${existing!.sysId}?sysparm_fields=sys_id`,
            body: sightingValues(w.content, open, existing!.timesFound, this.now),
          },
          entity: 'detection',
          key: w.key,
          action: decision.action,
          reason: decision.reason,
          table: DETECTION_TABLE,
          sysId: existing!.sysId,
          deviceKey: w.deviceKey,
          onWritten: (sysId) => this.detectionState(w, sysId, 'open', existing!.item, hash, true),
          ...(this.run.config.writeVulnerableItems && existing!.item
            ? { follow: this.itemReopen(w, existing!.item, existing!.itemState) }
            : {}),
        });
      }
    }
    if (!this.run.dryRun && adopted.length)
      await upsertEntityStates(this.run.store.db, this.ref('detection'), adopted);
    const ready = this.run.config.writeVulnerableItems ? await this.prepareItems(writes, failed) : writes;
    const outcome = await this.send(ready);
    for (const key of outcome.failed) {
      const w = ready.find((x) => x.key === key);
      if (w?.deviceKey) failed.add(w.deviceKey);
    }
    if (this.run.config.writeVulnerableItems) {
      const follows = await this.keepItemFollows(ready.filter((w) => !outcome.failed.has(w.key)));
      const items = await this.send(follows);
      for (const key of items.failed) {
        const w = follows.find((x) => x.key === key);
        if (w?.deviceKey) failed.add(w.deviceKey);
      }
    }
  }

  // ---- vulnerable items (writeVulnerableItems) -------------------------------------------------

  /**
   * For instances that do not roll detections up: gives each new detection its vulnerable item,
   * found by (CI, vulnerability) or created (searched first, so a crash cannot duplicate it).
   * Returns the detection writes that can go (those whose item could not be written are dropped).
   */
  private async prepareItems(writes: readonly Write[], failed: Set<string>): Promise<Write[]> {
    const creates = writes.filter((w) => w.needsItem);
    if (creates.length === 0) return [...writes];
    const found = new Map<string, SnRecord>();
    // A vulnerability created in this run (or, in a dry run, to be created) has no item yet.
    const searchable = creates.filter((w) => w.needsItem!.vulnerability !== '');
    for (let i = 0; i < searchable.length; i += SEARCH_CHUNK) {
      const chunk = searchable.slice(i, i + SEARCH_CHUNK).map((w) => w.needsItem!);
      for await (const page of this.run.servicenow.list(ITEM_TABLE, {
        query: encodeQuery({
          where: [
            where('cmdb_ci', 'IN', [...new Set(chunk.map((p) => p.ci))]),
            where('vulnerability', 'IN', [...new Set(chunk.map((p) => p.vulnerability))]),
          ],
          orderBy: ['sys_created_on'],
        }),
        fields: ['sys_id', 'cmdb_ci', 'vulnerability', 'state', 'substate'],
      }))
        for (const row of page) {
          const key = `${referenceValue(row.cmdb_ci)}|${referenceValue(row.vulnerability)}`;
          if (!found.has(key)) found.set(key, row);
        }
    }
    const itemWrites: Write[] = [];
    for (const w of creates) {
      const { ci, vulnerability } = w.needsItem!;
      const item = found.get(`${ci}|${vulnerability}`);
      if (item) {
        (w.request.body as Record<string, string>).vulnerable_item = item.sys_id;
        w.follow = this.itemReopen(w, item.sys_id, stringValue(item.state));
        continue;
      }
      const at = toSnDateTime(this.now);
      itemWrites.push({
        request: {
          method: 'POST',
          url: `/api/now/table/${ITEM_TABLE}?sysparm_fields=sys_id`,
          body: {
            cmdb_ci: ci,
            vulnerability,
            source: this.run.config.sourceName,
            state: this.choices.itemState.open,
            first_found: at,
            last_found: at,
            last_opened: at,
          },
          // What prepareItems finds an item by: one per (CI, vulnerability).
          identity: { cmdb_ci: ci, vulnerability },
        },
        entity: 'vulnerableItem',
        key: w.key,
        action: 'create',
        reason:
          'the CI has no vulnerable item for this CVE (writeVulnerableItems: Snowline writes items itself)',
        table: ITEM_TABLE,
        ...(w.deviceKey ? { deviceKey: w.deviceKey } : {}),
      });
    }
    const outcome = await this.send(itemWrites);
    for (const w of creates) {
      const sysId = outcome.written.get(w.key);
      if (sysId) (w.request.body as Record<string, string>).vulnerable_item = sysId;
    }
    for (const key of outcome.failed) {
      const w = creates.find((x) => x.key === key);
      if (w?.deviceKey) failed.add(w.deviceKey);
    }
    return writes.filter((w) => !(w.needsItem && outcome.failed.has(w.key)));
  }

  /** Reopens a vulnerable item that is closed (a person's items never get here). */
  private itemReopen(
    w: { key: string; deviceKey?: string },
    item: string,
    state: string | undefined,
  ): Write | undefined {
    if (state !== this.choices.itemState.closed) return undefined;
    return {
      request: {
        method: 'PATCH',
        url: `/api/now/table/${ITEM_TABLE}/${item}?sysparm_fields=sys_id`,
        body: { state: this.choices.itemState.open, substate: '', last_opened: toSnDateTime(this.now) },
      },
      entity: 'vulnerableItem',
      key: w.key,
      action: 'reopen',
      reason: 'its detection is open again, so the vulnerable item is reopened (writeVulnerableItems)',
      table: ITEM_TABLE,
      sysId: item,
      ...(w.deviceKey ? { deviceKey: w.deviceKey } : {}),
    };
  }

  /** Closes a vulnerable item as Fixed or CI Decommissioned; whether other detections keep it open is checked before sending. */
  private itemClose(w: DetectionWork, existing: RemoteDetection, decommissioned: boolean): Write | undefined {
    if (!existing.item || existing.itemState === this.choices.itemState.closed) return undefined;
    return {
      request: {
        method: 'PATCH',
        url: `/api/now/table/${ITEM_TABLE}/${existing.item}?sysparm_fields=sys_id`,
        body: {
          state: this.choices.itemState.closed,
          substate: decommissioned
            ? this.choices.itemSubstate.decommissioned
            : this.choices.itemSubstate.fixed,
        },
      },
      entity: 'vulnerableItem',
      key: w.key,
      action: 'resolve',
      reason: decommissioned
        ? 'all its detections are closed and the device was retired: the vulnerable item closes as CI Decommissioned (writeVulnerableItems)'
        : 'all its detections are closed: the vulnerable item closes as Fixed (writeVulnerableItems)',
      table: ITEM_TABLE,
      sysId: existing.item,
      deviceKey: w.deviceKey,
    };
  }

  /**
   * The item writes to send after their detections were written. An item is closed only when no
   * other open detection (of any source) is on it; that is read before, so a dry run plans the
   * same as a real run does.
   */
  private async keepItemFollows(written: readonly Write[]): Promise<Write[]> {
    const follows = written.map((w) => w.follow).filter((f): f is Write => f !== undefined);
    const closing = follows.filter((f) => f.action === 'resolve');
    if (closing.length === 0) return follows;
    const ours = new Set(written.filter((w) => w.follow?.action === 'resolve').map((w) => w.sysId));
    const stillOpen = new Set<string>();
    const rows = await this.search(
      DETECTION_TABLE,
      'vulnerable_item',
      [...new Set(closing.map((f) => f.sysId!))],
      ['sys_id', 'vulnerable_item', 'status'],
    );
    for (const row of rows)
      if (stringValue(row.status) === this.choices.detectionStatus.open && !ours.has(row.sys_id))
        stillOpen.add(referenceValue(row.vulnerable_item) ?? '');
    return follows.filter((f) => f.action !== 'resolve' || !stillOpen.has(f.sysId!));
  }

  private detectionState(
    w: DetectionWork,
    sysId: string,
    status: DetectionStatus,
    item: string | undefined,
    hash: string | undefined,
    written: boolean,
  ): EntityStateUpdate {
    const memory: DetectionMemory = { ci: w.content.ciSysId, status, ...(item ? { item } : {}) };
    return {
      sourceKey: w.key,
      remoteTable: DETECTION_TABLE,
      remoteSysId: sysId,
      contentHash: hash ?? null,
      lastSeenAt: this.nowText,
      ...(written ? { lastWrittenAt: this.nowText } : {}),
      data: memory,
    };
  }

  // ---- ServiceNow reads ----------------------------------------------------------------------

  /** Records whose `field` is one of `values`, read in chunks. */
  private async search(
    table: string,
    field: string,
    values: readonly string[],
    fields: readonly string[],
  ): Promise<SnRecord[]> {
    const rows: SnRecord[] = [];
    for (let i = 0; i < values.length; i += SEARCH_CHUNK) {
      const chunk = values.slice(i, i + SEARCH_CHUNK);
      for await (const page of this.run.servicenow.list(table, {
        query: encodeQuery({ where: [where(field, 'IN', chunk)] }),
        fields,
      }))
        rows.push(...page);
    }
    return rows;
  }

  private static readonly DETECTION_FIELDS = [
    'sys_id',
    'cmdb_ci',
    'vulnerability',
    'source',
    'status',
    'times_found',
    'vulnerable_item',
    'vulnerable_item.state',
    'vulnerable_item.substate',
  ];

  private toRemote(row: SnRecord): RemoteDetection {
    const item = referenceValue(row.vulnerable_item);
    const itemState = stringValue(row['vulnerable_item.state']);
    const itemSubstate = stringValue(row['vulnerable_item.substate']);
    return {
      sysId: row.sys_id,
      ci: referenceValue(row.cmdb_ci) ?? '',
      vulnerability: referenceValue(row.vulnerability) ?? '',
      status: detectionStatusOf(stringValue(row.status), this.choices),
      timesFound: intValue(row.times_found) ?? 0,
      ...(item ? { item } : {}),
      ...(itemState ? { itemState } : {}),
      ...(itemSubstate ? { itemSubstate } : {}),
    };
  }

  /** Detections by sys_id, with their item's state (one dot-walked read per chunk). */
  private async readDetections(sysIds: readonly string[]): Promise<Map<string, RemoteDetection>> {
    const rows = await this.search(DETECTION_TABLE, 'sys_id', sysIds, OtVulnerabilitiesFlow.DETECTION_FIELDS);
    return new Map(rows.map((row) => [row.sys_id, this.toRemote(row)]));
  }

  /**
   * Existing detections of this source for (CI, vulnerability) pairs, keyed `ci|vulnerability`:
   * the search before create that keeps one detection per (CI, CVE, source).
   */
  private async searchDetections(
    pairs: readonly { ci: string; vulnerability: string }[],
  ): Promise<Map<string, RemoteDetection>> {
    const found = new Map<string, RemoteDetection>();
    for (let i = 0; i < pairs.length; i += SEARCH_CHUNK) {
      const chunk = pairs.slice(i, i + SEARCH_CHUNK);
      const wanted = new Set(chunk.map((p) => `${p.ci}|${p.vulnerability}`));
      const query = encodeQuery({
        where: [
          where('cmdb_ci', 'IN', [...new Set(chunk.map((p) => p.ci))]),
          where('vulnerability', 'IN', [...new Set(chunk.map((p) => p.vulnerability))]),
          where('source', '=', this.run.config.sourceName),
        ],
        orderBy: ['sys_created_on'],
      });
      for await (const page of this.run.servicenow.list(DETECTION_TABLE, {
        query,
        fields: OtVulnerabilitiesFlow.DETECTION_FIELDS,
      })) {
        for (const row of page) {
          const remote = this.toRemote(row);
          const key = `${remote.ci}|${remote.vulnerability}`;
          // The oldest wins should an instance hold duplicates made before Snowline.
          if (wanted.has(key) && !found.has(key)) found.set(key, remote);
        }
      }
    }
    return found;
  }

  // ---- writing -------------------------------------------------------------------------------

  /**
   * Sends writes through the Batch API in chunks of `batchSize` (nothing in a dry run) and
   * records, per write, the plan action, the ledger event and the entity state, in one local
   * transaction per chunk.
   */
  private async send(
    writes: readonly Write[],
  ): Promise<{ written: Map<string, string>; failed: Set<string> }> {
    const written = new Map<string, string>();
    const failed = new Set<string>();
    if (writes.length === 0) return { written, failed };
    if (this.run.dryRun) {
      for (const w of writes) {
        this.count(w);
        this.decide({
          action: w.action,
          entity: w.entity,
          key: w.key,
          reason: w.reason,
          target: { table: w.table, ...(w.sysId ? { id: w.sysId } : {}) },
        });
      }
      return { written, failed };
    }
    const size = this.run.config.batchSize;
    for (let i = 0; i < writes.length; i += size) {
      const chunk = writes.slice(i, i + size);
      // Every insert carries its identity, so a Batch call that fails as a whole (a 500, a reset)
      // is re-sent without duplicating what it applied before it failed: see ServiceNowClient.batch.
      const results = await this.run.servicenow.batch(
        chunk.map((w, n) => ({ ...w.request, id: String(n + 1) })),
      );
      const states = new Map<string, EntityStateUpdate[]>();
      const events: LedgerEntry[] = [];
      chunk.forEach((w, n) => {
        const result = results[n]!;
        const record = batchRecord(result);
        const sysId = record?.sys_id ?? w.sysId;
        const why = batchFailure(result) ?? (sysId ? undefined : 'ServiceNow answered without a sys_id');
        if (why || !sysId) {
          failed.add(w.key);
          this.summary.errors += 1;
          const reason = `the ${w.entity} could not be written: ${why}`.slice(0, 2000);
          this.decide({ action: 'error', entity: w.entity, key: w.key, reason });
          events.push({
            flow: FLOW,
            side: 'servicenow',
            action: 'error',
            entity: w.entity,
            key: w.key,
            reason,
          });
          return;
        }
        written.set(w.key, sysId);
        this.count(w);
        this.decide({
          action: w.action,
          entity: w.entity,
          key: w.key,
          reason: w.reason,
          target: { table: w.table, id: sysId },
        });
        events.push({
          flow: FLOW,
          side: 'servicenow',
          action: w.action,
          entity: w.entity,
          key: w.key,
          remoteId: sysId,
          reason: w.reason,
        });
        if (w.onWritten) states.set(w.entity, [...(states.get(w.entity) ?? []), w.onWritten(sysId, record)]);
      });
      await this.run.store.db.transaction().execute(async (trx) => {
        for (const [entity, updates] of states) await upsertEntityStates(trx, this.ref(entity), updates);
        await appendLedgerEvents(trx, this.run.clock, this.ledgerContext(), events);
      });
    }
    return { written, failed };
  }

  /** Keeps devices' CVEs as pending work for a later run (one row per device). */
  private async keepPending(devices: readonly DeviceCves[], why: string): Promise<void> {
    for (const device of devices) {
      this.summary.pending += device.cves.length;
      await this.decideAndRecord({
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
    this.summary.errors += problems.length;
    this.summary.problems += problems.length;
    for (const p of problems)
      await this.decideAndRecord({
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

  /** A decision that writes nothing remote: in the plan, and (real runs) in the ledger. */
  private async decideAndRecord(
    action: Omit<PlanAction, 'flow' | 'side'> & { side?: PlanAction['side'] },
  ): Promise<void> {
    this.decide(action);
    if (this.run.dryRun) return;
    await appendLedgerEvents(this.run.store.db, this.run.clock, this.ledgerContext(), [
      {
        flow: FLOW,
        side: action.side ?? 'servicenow',
        action: action.action,
        entity: action.entity,
        key: action.key,
        remoteId: action.target?.id ?? null,
        reason: action.reason,
      },
    ]);
  }

  /**
   * Records a decision in the plan. Only a dry run keeps the plan, where it is the output: a real
   * run records each decision in the ledger as it executes it, and holding one action per
   * detection of a large estate in memory as well would grow with the estate.
   */
  private decide(action: Omit<PlanAction, 'flow' | 'side'> & { side?: PlanAction['side'] }): void {
    if (this.run.dryRun) this.plan.push({ flow: FLOW, side: 'servicenow', ...action });
  }

  private count(w: Write): void {
    if (w.action === 'create') {
      this.summary.created += 1;
      if (w.entity === 'detection') this.summary.opened += 1;
    } else if (w.entity !== 'detection' || w.action === 'update') this.summary.updated += 1;
    else if (w.action === 'reopen') this.summary.reopened += 1;
    else if (w.action === 'resolve') this.summary.closed += 1;
  }

  private ledgerContext() {
    return { integrationId: this.run.integrationId, runId: this.run.runId };
  }

  private ref(entity: string) {
    return { integrationId: this.run.integrationId, flow: FLOW, entity };
  }

  /** Where ot-inventory records each device's CI. */
  private inventoryRef() {
    return { integrationId: this.run.integrationId, flow: 'ot-inventory', entity: 'device' };
  }
}

function knownFrom(state: EntityStateRow, memory: DetectionMemory): KnownDetection {
  return {
    status: memory.status,
    ...(state.content_hash ? { hash: state.content_hash } : {}),
    ...(state.last_written_at ? { lastWrittenAt: new Date(state.last_written_at) } : {}),
  };
}

function parseJson<T>(text: string | null | undefined): T | undefined {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    return undefined;
  }
}
