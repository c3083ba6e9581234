import type { IntegrationConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import { emptyFlowSummary, type FlowSummary } from '../../domain/flows.js';
import {
  connectionGroup,
  deviceGroup,
  deviceReference,
  packPayloads,
  sensorGroup,
  siteGroup,
  sourceKey,
  type IreGroup,
  type MappingContext,
} from '../../domain/ot/ire.js';
import type { OtDevice, OtNic, OtSensor } from '../../domain/ot/records.js';
import type { PlanAction, PlanActionKind } from '../../domain/plan.js';
import { days } from '../../domain/time.js';
import type { Logger } from '../../logging.js';
import { executeFlow } from '../execute.js';
import type { RequestCounters } from '../../runtime/http/counters.js';
import type { IreResult, ServiceNowClient } from '../../servicenow/client.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import { stringValue } from '../../servicenow/values.js';
import {
  getEntityStates,
  unseenSince,
  upsertEntityStates,
  type EntityStateUpdate,
} from '../../store/models/entity-state.js';
import { appendLedgerEvents, type LedgerEntry } from '../../store/models/ledger.js';
import { advanceWatermark, getWatermark } from '../../store/models/watermarks.js';
import type { Store } from '../../store/store.js';
import type { EntityStateRow } from '../../store/schema.js';
import type { OtInventorySource, RecordProblem } from './source.js';

/** The flow's configuration section, with defaults applied. */
export type OtInventoryConfig = NonNullable<IntegrationConfig['flows']['otInventory']>;

/** What one ot-inventory run needs. */
export interface OtInventoryRun {
  readonly integrationId: string;
  readonly config: OtInventoryConfig;
  readonly source: OtInventorySource;
  readonly servicenow: ServiceNowClient;
  readonly store: Store;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly counters: RequestCounters;
  readonly runId: string | null;
  readonly dryRun: boolean;
}

/** The run's summary, and (in a dry run) its plan: every decision with its reason. A real run's decisions are in the ledger. */
export interface OtInventoryResult {
  readonly summary: FlowSummary & {
    skipped: number;
    problems: number;
    /** IRE items sent, and the IRE requests that carried them (floor: ceil(items / batchSize)). */
    ireItems: number;
    ireRequests: number;
  };
  readonly plan: PlanAction[];
}

const FLOW = 'ot-inventory' as const;

/** How far before the last watermark an incremental read starts again. */
const INCREMENTAL_OVERLAP_MS = 10 * 60_000;

/** The remembered part of a device, enough to retire it when it is no longer reported. */
interface DeviceMemory {
  readonly name: string;
  readonly deviceType: string;
  readonly zone?: string;
  readonly site?: string;
  readonly nics?: readonly OtNic[];
  readonly deleted?: boolean;
}

/**
 * Flow ot-inventory: Defender for IoT → the OT CMDB, through IRE.
 *
 * Sites, then sensors, then the devices of the sensors that feed the CMDB, then retirements,
 * then connections. Each entity is mapped to an IRE group whose content hash is compared with the
 * one recorded after the last write: equal means nothing is sent. Changed groups are packed into
 * payloads of `batchSize` items and sent with `concurrency` requests in flight. IRE identifies
 * through `sys_object_source` (the namespaced source key), so sending a group again after a crash
 * updates the same CI and never duplicates it. A dry run reads, plans, and writes nothing.
 */
export async function runOtInventory(run: OtInventoryRun): Promise<OtInventoryResult> {
  return executeFlow(new OtInventoryFlow(run), run);
}

class OtInventoryFlow {
  readonly summary: OtInventoryResult['summary'] = {
    ...emptyFlowSummary(),
    skipped: 0,
    problems: 0,
    ireItems: 0,
    ireRequests: 0,
  };
  readonly plan: PlanAction[] = [];
  private readonly mapping: MappingContext;
  private readonly now: Date;
  private siteSysIds = new Map<string, string>();
  private sensorsByKey = new Map<string, OtSensor>();
  private feeding = new Set<string>();
  /** Device sys_ids and details known after the device phase, for connections. */
  private deviceInfo = new Map<
    string,
    { sysId?: string; device: Pick<OtDevice, 'key' | 'name' | 'deviceType' | 'nics' | 'zone' | 'site'> }
  >();

  constructor(private readonly run: OtInventoryRun) {
    this.now = run.clock.now();
    this.mapping = {
      integrationId: run.integrationId,
      dataSource: run.config.dataSource,
      classMap: run.config.classMap,
      ...(Object.keys(run.config.purdueLayers).length
        ? { layerLevels: lowerKeys(run.config.purdueLayers) }
        : {}),
    };
  }

  async execute(): Promise<void> {
    await this.syncSites();
    await this.syncSensors();
    await this.chooseFeedingSensors();
    await this.syncDevices();
    await this.retireUnreported();
    if (this.run.config.connections && this.run.source.hasConnections && this.run.source.connections)
      await this.syncConnections();
  }

  // ---- phases ----------------------------------------------------------------------------

  private async syncSites(): Promise<void> {
    const page = await this.run.source.sites();
    await this.reportProblems('site', page.problems);
    const groups = page.items.map((site) => siteGroup(this.mapping, site));
    const written = await this.apply('site', groups);
    const known = await getEntityStates(
      this.run.store.db,
      this.ref('site'),
      page.items.map((s) => s.key),
    );
    for (const site of page.items) {
      const sysId = written.get(site.key) ?? known.get(site.key)?.remote_sys_id ?? undefined;
      this.siteSysIds.set(site.name, sysId ?? '');
    }
  }

  private async syncSensors(): Promise<void> {
    const page = await this.run.source.sensors();
    await this.reportProblems('sensor', page.problems);
    for (const sensor of page.items) this.sensorsByKey.set(sensor.key, sensor);
    await this.ensureSites(page.items.map((sensor) => sensor.site));
    const groups = page.items.map((sensor) =>
      sensorGroup(this.mapping, sensor, sensor.site ? this.siteSysIds.get(sensor.site) : undefined),
    );
    await this.apply('sensor', groups);
  }

  /**
   * Writes the sites named on devices that the source did not list up front (the management
   * console names a device's site but has no list of sites), so devices can point at them.
   */
  private async ensureSites(names: readonly (string | undefined)[]): Promise<void> {
    const missing = [...new Set(names)].filter(
      (n): n is string => n !== undefined && n !== '' && !this.siteSysIds.has(n),
    );
    if (missing.length === 0) return;
    const written = await this.apply(
      'site',
      missing.map((name) => siteGroup(this.mapping, { key: name, name })),
    );
    const known = await getEntityStates(this.run.store.db, this.ref('site'), missing);
    for (const name of missing) {
      const sysId = written.get(name) ?? known.get(name)?.remote_sys_id ?? undefined;
      // Remember even without a sys_id (dry run): the site is planned once, not once per page.
      this.siteSysIds.set(name, sysId ?? '');
    }
  }

  /** Which sensors feed devices: validated in ServiceNow, listed in config, or connected and not learning. */
  private async chooseFeedingSensors(): Promise<void> {
    const sensors = [...this.sensorsByKey.values()];
    const mode = this.run.config.sensorValidation;
    if (mode === 'auto') {
      for (const s of sensors) if (s.connected !== false && s.learningMode !== true) this.feeding.add(s.key);
    } else if (mode === 'list') {
      const listed = new Set(this.run.config.sensors);
      for (const s of sensors) if (listed.has(s.name) || listed.has(s.key)) this.feeding.add(s.key);
    } else {
      // As the Service Graph Connector does: only sensors an admin validated on cmdb_ci_nids.
      const prefix = sourceKey(this.mapping, 'sensor', '');
      const query = encodeQuery({
        where: [where('validated', '=', 'true'), where('correlation_id', 'STARTSWITH', prefix)],
      });
      for await (const page of this.run.servicenow.list('cmdb_ci_nids', {
        query,
        fields: ['correlation_id'],
      })) {
        for (const row of page) {
          const correlation = stringValue(row.correlation_id);
          if (correlation?.startsWith(prefix)) this.feeding.add(correlation.slice(prefix.length));
        }
      }
    }
    const idle = sensors.filter((s) => !this.feeding.has(s.key)).map((s) => s.name);
    if (idle.length)
      this.run.logger.info({ sensors: idle, sensorValidation: mode }, 'sensors that do not feed devices');
  }

  private async syncDevices(): Promise<void> {
    const source = this.run.source;
    const watermarkRef = {
      integrationId: this.run.integrationId,
      flow: FLOW,
      scope: `${source.kind}:devices`,
    };
    const since = await this.since('devices');
    const readStarted = this.now;
    const skippedBySensor = new Map<string, number>();
    const pending: { group: IreGroup; device: OtDevice; state?: EntityStateRow }[] = [];

    for await (const page of source.devices(since ? { since } : {})) {
      await this.reportProblems('device', page.problems);
      await this.ensureSites(
        page.items.map((d) => d.site ?? this.sensorsByKey.get(d.sensorKeys[0] ?? '')?.site),
      );
      const fed = page.items.filter((device) => {
        const feeding = device.sensorKeys.some((key) => this.feeding.has(key));
        if (!feeding) {
          const sensor = device.sensorKeys[0] ?? '(no sensor)';
          skippedBySensor.set(sensor, (skippedBySensor.get(sensor) ?? 0) + 1);
          this.summary.skipped += 1;
        }
        return feeding;
      });
      const states = await getEntityStates(
        this.run.store.db,
        this.ref('device'),
        fed.map((d) => d.key),
      );
      const seen: EntityStateUpdate[] = [];
      for (const device of fed) {
        const sensors = device.sensorKeys
          .map((k) => this.sensorsByKey.get(k))
          .filter((s): s is OtSensor => s !== undefined);
        const siteName = device.site ?? sensors[0]?.site;
        const zone = device.zone ?? sensors[0]?.zone;
        const group = deviceGroup(this.mapping, zone ? { ...device, zone } : device, {
          sensors,
          ...(siteName && this.siteSysIds.get(siteName) ? { siteSysId: this.siteSysIds.get(siteName)! } : {}),
        });
        const state = states.get(device.key);
        const placed: OtDevice = {
          ...device,
          ...(zone ? { zone } : {}),
          ...(siteName ? { site: siteName } : {}),
        };
        // A dry run writes nothing to the store, so its connections need the devices it read kept
        // here; a real run finds them in the store, page by page, and keeps nothing per device.
        if (this.run.dryRun) {
          this.deviceInfo.set(device.key, {
            ...(state?.remote_sys_id ? { sysId: state.remote_sys_id } : {}),
            device: {
              key: device.key,
              name: device.name,
              deviceType: device.deviceType,
              nics: device.nics,
              ...(zone ? { zone } : {}),
              ...(siteName ? { site: siteName } : {}),
            },
          });
        }
        if (state?.content_hash === group.hash && !state.retired_at) {
          this.summary.unchanged += 1;
          seen.push({
            sourceKey: device.key,
            lastSeenAt: this.now.toISOString(),
            data: memoryOf(device, zone, siteName),
          });
        } else {
          pending.push({ group, device: placed, ...(state ? { state } : {}) });
        }
      }
      if (!this.run.dryRun && seen.length)
        await upsertEntityStates(this.run.store.db, this.ref('device'), seen);
      if (pending.length >= this.run.config.batchSize * this.run.config.concurrency) {
        const held = await this.writeDevices(pending.splice(0), true);
        pending.push(...held);
      }
    }
    if (pending.length) await this.writeDevices(pending.splice(0));

    for (const [sensor, count] of skippedBySensor) {
      await this.skip(
        'device',
        `sensor:${sensor}`,
        `${count} device(s) of sensor ${sensor} skipped: the sensor does not feed the CMDB (sensorValidation: ${this.run.config.sensorValidation})`,
      );
    }
    if (source.incremental && source.deletedDevices && since) {
      const deleted = await source.deletedDevices(since);
      const states = await getEntityStates(this.run.store.db, this.ref('device'), deleted);
      const marks: EntityStateUpdate[] = [];
      for (const key of deleted) {
        const state = states.get(key);
        if (!state || state.retired_at) continue;
        const memory = parseMemory(state);
        if (memory)
          marks.push({
            sourceKey: key,
            lastSeenAt: this.now.toISOString(),
            data: { ...memory, deleted: true },
          });
      }
      if (!this.run.dryRun && marks.length)
        await upsertEntityStates(this.run.store.db, this.ref('device'), marks);
    }
    if (!this.run.dryRun && source.incremental)
      await advanceWatermark(
        this.run.store.db,
        this.run.clock,
        watermarkRef,
        String(readStarted.getTime()).padStart(15, '0'),
      );
  }

  /** Writes changed devices; with `holdPartial`, returns those of a trailing short payload, unsent. */
  private async writeDevices(
    batch: { group: IreGroup; device: OtDevice; state?: EntityStateRow }[],
    holdPartial = false,
  ): Promise<{ group: IreGroup; device: OtDevice; state?: EntityStateRow }[]> {
    const byKey = new Map(batch.map((b) => [b.device.key, b]));
    const held: { group: IreGroup; device: OtDevice; state?: EntityStateRow }[] = [];
    await this.apply(
      'device',
      batch.map((b) => b.group),
      {
        actionFor: (group) => {
          const state = byKey.get(group.key)?.state;
          if (!state?.remote_sys_id) return ['create', 'new device reported by Defender'];
          if (state.retired_at) return ['revive', 'device reported again after it was retired'];
          return ['update', 'device details changed in Defender'];
        },
        onWritten: (group, sysId) => {
          const entry = byKey.get(group.key)!;
          const info = this.deviceInfo.get(group.key);
          if (info) this.deviceInfo.set(group.key, { ...info, sysId });
          return { data: memoryOf(entry.device, entry.device.zone, entry.device.site), retiredAt: null };
        },
        ...(holdPartial
          ? { holdPartial: (groups: IreGroup[]) => held.push(...groups.map((g) => byKey.get(g.key)!)) }
          : {}),
      },
    );
    return held;
  }

  /** Retires devices no longer reported for `retireAfterDays` (never deletes them). */
  private async retireUnreported(): Promise<void> {
    const cutoff = new Date(this.now.getTime() - days(this.run.config.retireAfterDays));
    const groups: IreGroup[] = [];
    for await (const page of unseenSince(this.run.store.db, this.ref('device'), cutoff)) {
      for (const state of page) {
        const memory = parseMemory(state);
        if (!memory || !state.remote_sys_id) continue;
        // An incremental source does not repeat unchanged devices: only a reported deletion counts.
        if (this.run.source.incremental && !memory.deleted) continue;
        const reference = deviceReference(this.mapping, {
          key: state.source_key,
          name: memory.name,
          deviceType: memory.deviceType,
        });
        const item = {
          ...reference,
          values: { ...reference.values, install_status: '7', operational_status: '6' },
        };
        groups.push({
          entity: 'device',
          key: state.source_key,
          items: [item],
          relations: [],
          hash: `retired:${state.content_hash ?? ''}`,
        });
      }
    }
    if (groups.length === 0) return;
    await this.apply('device', groups, {
      actionFor: () => ['retire', `not reported by Defender for ${this.run.config.retireAfterDays} days`],
      onWritten: () => ({ retiredAt: this.now.toISOString() }),
    });
  }

  private async syncConnections(): Promise<void> {
    const groups: IreGroup[] = [];
    let withoutIp = 0;
    const since = await this.since('connections');
    const readStarted = this.now;
    for await (const page of this.run.source.connections!(since ? { since } : {})) {
      await this.reportProblems('connection', page.problems);
      await this.rememberDevices(page.items.flatMap((c) => [c.sourceDeviceKey, c.destinationDeviceKey]));
      const usable = page.items.filter(
        (c) => this.deviceInfo.has(c.sourceDeviceKey) && this.deviceInfo.has(c.destinationDeviceKey),
      );
      const states = await getEntityStates(
        this.run.store.db,
        this.ref('connection'),
        usable.map((c) => c.key),
      );
      for (const connection of usable) {
        const source = this.deviceInfo.get(connection.sourceDeviceKey)!;
        const destination = this.deviceInfo.get(connection.destinationDeviceKey)!;
        const group = connectionGroup(this.mapping, connection, {
          source: { ...source.device, ...(source.sysId ? { sysId: source.sysId } : {}) },
          destination: { ...destination.device, ...(destination.sysId ? { sysId: destination.sysId } : {}) },
        });
        if (!group) {
          withoutIp += 1;
          continue;
        }
        if (states.get(connection.key)?.content_hash === group.hash) this.summary.unchanged += 1;
        else groups.push(group);
      }
      // Devices looked up for this page are not needed for the next: memory stays one page deep.
      if (!this.run.dryRun) this.deviceInfo.clear();
      if (groups.length >= this.run.config.batchSize * this.run.config.concurrency)
        groups.push(...(await this.applyConnections(groups.splice(0), true)));
    }
    if (groups.length) await this.applyConnections(groups);
    if (!this.run.dryRun && this.run.source.incremental) {
      await advanceWatermark(
        this.run.store.db,
        this.run.clock,
        this.watermark('connections'),
        String(readStarted.getTime()).padStart(15, '0'),
      );
    }
    if (withoutIp) {
      this.summary.skipped += withoutIp;
      await this.skip(
        'connection',
        'without-ip',
        `${withoutIp} connection(s) skipped: an end device has no IP address, which the connection identification rule needs`,
      );
    }
  }

  /**
   * Fills in devices this run did not read (an incremental source repeats only what changed) from
   * what was recorded when they were written, so their connections can still be mapped. Devices
   * never written (not fed, or refused) stay unknown and their connections are left out.
   */
  private async rememberDevices(keys: readonly string[]): Promise<void> {
    const missing = [...new Set(keys)].filter((k) => !this.deviceInfo.has(k));
    if (missing.length === 0) return;
    const states = await getEntityStates(this.run.store.db, this.ref('device'), missing);
    for (const [key, state] of states) {
      const memory = parseMemory(state);
      if (!memory || state.retired_at || memory.deleted) continue;
      this.deviceInfo.set(key, {
        ...(state.remote_sys_id ? { sysId: state.remote_sys_id } : {}),
        device: {
          key,
          name: memory.name,
          deviceType: memory.deviceType,
          nics: memory.nics ?? [],
          ...(memory.zone ? { zone: memory.zone } : {}),
          ...(memory.site ? { site: memory.site } : {}),
        },
      });
    }
  }

  /** Writes changed connections; with `holdPartial`, returns those of a trailing short payload, unsent. */
  private async applyConnections(groups: IreGroup[], holdPartial = false): Promise<IreGroup[]> {
    const known = await getEntityStates(
      this.run.store.db,
      this.ref('connection'),
      groups.map((g) => g.key),
    );
    const held: IreGroup[] = [];
    await this.apply('connection', groups, {
      actionFor: (group) =>
        known.get(group.key)?.remote_sys_id
          ? ['update', 'connection details changed']
          : ['create', 'new connection between two devices'],
      ...(holdPartial ? { holdPartial: (partial: IreGroup[]) => held.push(...partial) } : {}),
    });
    return held;
  }

  // ---- writing -----------------------------------------------------------------------------

  /**
   * Sends changed groups through IRE (nothing in a dry run) and records, per group, the plan
   * action, the ledger event and the entity state. Returns the sys_id written per group key.
   */
  private async apply(
    entity: IreGroup['entity'],
    groups: readonly IreGroup[],
    hooks: {
      actionFor?: (group: IreGroup) => [PlanActionKind, string];
      onWritten?: (group: IreGroup, sysId: string) => Partial<EntityStateUpdate>;
      /**
       * Takes back the groups of a trailing payload that is not full, to send them with the next
       * flush: only a phase's last flush sends a short payload, so requests stay at the floor.
       */
      holdPartial?: (groups: IreGroup[]) => void;
    } = {},
  ): Promise<Map<string, string>> {
    const written = new Map<string, string>();
    if (groups.length === 0) return written;
    const known = hooks.actionFor
      ? undefined
      : await getEntityStates(
          this.run.store.db,
          this.ref(entity),
          groups.map((g) => g.key),
        );
    const actionFor =
      hooks.actionFor ??
      ((group: IreGroup): [PlanActionKind, string] => {
        const state = known!.get(group.key);
        if (!state?.content_hash) return ['create', `new ${entity} reported by Defender`];
        if (state.content_hash === group.hash) return ['skip', 'unchanged'];
        return ['update', `${entity} details changed in Defender`];
      });
    const changed = groups.filter((g) => {
      const [action] = actionFor(g);
      if (action === 'skip') {
        this.summary.unchanged += 1;
        return false;
      }
      return true;
    });
    if (this.run.dryRun) {
      for (const g of changed) {
        const [action, reason] = actionFor(g);
        this.count(action);
        this.decide({ action, entity, key: g.key, reason, target: { table: g.items[0]!.className } });
      }
      return written;
    }
    const payloads = packPayloads(changed, this.run.config.batchSize);
    const last = payloads.at(-1);
    if (hooks.holdPartial && last && last.payload.items.length < this.run.config.batchSize) {
      payloads.pop();
      hooks.holdPartial(last.groups.map((g) => g.group));
    }
    for (const p of payloads) this.summary.ireItems += p.payload.items.length;
    this.summary.ireRequests += payloads.length;
    let next = 0;
    const worker = async () => {
      while (next < payloads.length) {
        const packed = payloads[next++]!;
        const result = await this.run.servicenow.identifyReconcile(packed.payload, {
          dataSource: this.run.config.dataSource,
        });
        await this.record(entity, packed.groups, result, actionFor, hooks.onWritten, written);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.run.config.concurrency, payloads.length) }, worker));
    return written;
  }

  private async record(
    entity: IreGroup['entity'],
    placed: readonly { group: IreGroup; index: number; indices: readonly number[] }[],
    result: IreResult,
    actionFor: (group: IreGroup) => [PlanActionKind, string],
    onWritten: ((group: IreGroup, sysId: string) => Partial<EntityStateUpdate>) | undefined,
    written: Map<string, string>,
  ): Promise<void> {
    const states: EntityStateUpdate[] = [];
    const events: LedgerEntry[] = [];
    const nowText = this.now.toISOString();
    for (const { group, index, indices } of placed) {
      const main = result.items[index];
      const errors = [...new Set(indices)].flatMap((i) =>
        (result.items[i]?.errors ?? []).map((e) => `${result.items[i]!.className}: ${e.error} ${e.message}`),
      );
      const [action, reason] = actionFor(group);
      const sysId = main && main.sysId && main.sysId !== 'Unknown' ? main.sysId : undefined;
      if (errors.length || !sysId) {
        // Not recording the hash means the group is sent again next run.
        this.summary.errors += 1;
        const why = errors.length ? errors.join('; ') : 'IRE returned no sys_id';
        events.push({
          flow: FLOW,
          side: 'servicenow',
          action: 'error',
          entity,
          key: group.key,
          reason: `IRE refused the ${entity}: ${why}`.slice(0, 2000),
        });
        this.decide({ action: 'error', entity, key: group.key, reason: why });
        if (sysId) written.set(group.key, sysId);
        continue;
      }
      written.set(group.key, sysId);
      this.count(action);
      this.decide({ action, entity, key: group.key, reason, target: { table: main!.className, id: sysId } });
      events.push({
        flow: FLOW,
        side: 'servicenow',
        action,
        entity,
        key: group.key,
        remoteId: sysId,
        reason,
        detail: { ire: main!.operation },
      });
      states.push({
        sourceKey: group.key,
        remoteTable: main!.className,
        remoteSysId: sysId,
        contentHash: group.hash,
        lastSeenAt: nowText,
        lastWrittenAt: nowText,
        ...(onWritten ? onWritten(group, sysId) : {}),
      });
    }
    await this.run.store.db.transaction().execute(async (trx) => {
      await upsertEntityStates(trx, this.ref(entity), states);
      await appendLedgerEvents(
        trx,
        this.run.clock,
        { integrationId: this.run.integrationId, runId: this.run.runId },
        events,
      );
    });
  }

  private async reportProblems(entity: string, problems: readonly RecordProblem[]): Promise<void> {
    if (problems.length === 0) return;
    this.summary.errors += problems.length;
    this.summary.problems += problems.length;
    const entries: LedgerEntry[] = problems.map((p) => ({
      flow: FLOW,
      side: 'defender',
      action: 'error',
      entity,
      key: p.key ?? `${p.source}#${p.index}`,
      reason: `malformed ${entity} record skipped (${p.source}, record ${p.index}): ${p.error.message}`.slice(
        0,
        2000,
      ),
    }));
    for (const e of entries)
      this.decide({ action: 'error', entity, key: e.key, reason: e.reason, side: 'defender' });
    if (!this.run.dryRun) {
      await appendLedgerEvents(
        this.run.store.db,
        this.run.clock,
        { integrationId: this.run.integrationId, runId: this.run.runId },
        entries,
      );
    }
    this.run.logger.warn(
      { entity, count: problems.length, first: entries[0]?.reason },
      'malformed records reported and skipped',
    );
  }

  /**
   * Records a decision to leave records alone, once per reason and run (not per record: a
   * sensor that is not validated would otherwise add its whole inventory to the ledger every run).
   */
  private async skip(entity: string, key: string, reason: string): Promise<void> {
    this.decide({ action: 'skip', entity, key, reason });
    if (this.run.dryRun) return;
    await appendLedgerEvents(
      this.run.store.db,
      this.run.clock,
      { integrationId: this.run.integrationId, runId: this.run.runId },
      [{ flow: FLOW, side: 'servicenow', action: 'skip', entity, key, reason }],
    );
  }

  /**
   * Records a decision in the plan. Only a dry run keeps the plan, where it is the output: a real
   * run records each decision in the ledger as it executes it, and holding hundreds of thousands
   * of actions (one per entity of a large estate) in memory as well would grow with the estate.
   */
  private decide(action: Omit<PlanAction, 'flow' | 'side'> & { side?: PlanAction['side'] }): void {
    if (this.run.dryRun) this.plan.push({ flow: FLOW, side: 'servicenow', ...action });
  }

  private count(action: PlanActionKind): void {
    if (action === 'create') this.summary.created += 1;
    else if (action === 'update' || action === 'revive') this.summary.updated += 1;
    else if (action === 'retire') this.summary.retired += 1;
  }

  /** The watermark of an incremental read (epoch ms of when the last complete read started). */
  private watermark(what: 'devices' | 'connections') {
    return { integrationId: this.run.integrationId, flow: FLOW, scope: `${this.run.source.kind}:${what}` };
  }

  /**
   * Where an incremental read starts: the last complete read's start, less an overlap that
   * absorbs clock skew between Snowline and the console (records read twice hash the same and
   * send nothing). Everything for a full source or a first run.
   */
  private async since(what: 'devices' | 'connections'): Promise<Date | undefined> {
    if (!this.run.source.incremental) return undefined;
    const text = await getWatermark(this.run.store.db, this.watermark(what));
    return text ? new Date(Number(text) - INCREMENTAL_OVERLAP_MS) : undefined;
  }

  private ref(entity: string) {
    return { integrationId: this.run.integrationId, flow: FLOW, entity };
  }
}

function memoryOf(device: OtDevice, zone: string | undefined, site?: string): DeviceMemory {
  return {
    name: device.name,
    deviceType: device.deviceType,
    ...(zone ? { zone } : {}),
    ...(site ? { site } : {}),
    nics: device.nics,
  };
}

function parseMemory(state: EntityStateRow): DeviceMemory | undefined {
  if (!state.data) return undefined;
  try {
    return JSON.parse(state.data) as DeviceMemory;
  } catch {
    return undefined;
  }
}

function lowerKeys(record: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(record).map(([k, v]) => [k.toLowerCase().replace(/[\s_-]/g, ''), v]),
  );
}
