import {
  connectionGroup,
  deviceGroup,
  deviceReference,
  NEW_SENSOR_VALUES,
  sensorGroup,
  siteGroup,
  MAPPING_VERSION,
  nativeKeyOf,
  sourceKey,
  withValues,
  type IreGroup,
  type MappingContext,
} from '../../domain/ot/ire.js';
import { classesInMap, classForDevice } from '../../domain/ot/classes.js';
import type { OtDevice, OtSensor } from '../../domain/ot/records.js';
import type { PlanAction } from '../../domain/plan.js';
import { days, hours, toSnDateTime } from '../../domain/time.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import { where } from '../../servicenow/query.js';
import { SourceKeyMigration } from './native-keys.js';
import { readReconciliationRules } from './reconciliation.js';
import { describeLimit, reconciliationLimits } from '../../domain/ot/reconciliation.js';
import { stringValue } from '../../servicenow/values.js';
import type { EntityStateUpdate } from '../../store/models/entity-state.js';
import { advanceWatermark, getWatermark } from '../../store/models/watermarks.js';
import {
  defineFlow,
  OTHER_SENSORS_PART,
  PARTS_FOUND_BY_PLAN,
  PLAN_PART,
  SENSOR_PART,
  sensorParts,
  SWEEP_PART,
  type FlowContext,
} from '../kernel/flow.js';
import { readAhead } from '../kernel/lanes.js';
import type { FlowMemory, Remembered } from '../kernel/memory.js';
import { IreWriter, type IreDecision, type IreWriteCounts } from '../kernel/writers/ire.js';
import {
  connectionMemory,
  deviceMemory,
  inventoryEntities,
  type ConnectionMemory,
  type DeviceMemory,
} from './memory.js';
import { CmdbReferences } from './references.js';
import { resolveSiteMappings, type MappedSite } from './site-mappings.js';
import { otInventorySource } from './sources.js';
import { refusedSourcesError } from '../../sources/common.js';
import { createAllIfAbsent } from '../../store/correlation-lock.js';
import type { OtInventorySource, RecordProblem } from './source.js';
import type { OtInventoryConfig } from './config.js';

export type { OtInventoryConfig } from './config.js';

/** What the flow body needs besides its context: the Defender source and the ServiceNow client. */
export interface OtInventoryDeps {
  readonly source: OtInventorySource;
  readonly servicenow: ServiceNowClient;
}

/** ot-inventory's own counters (created, updated, retired and errors come from its decisions). */
export interface OtInventoryCounters extends IreWriteCounts {
  unchanged: number;
  /** Devices of sensors that do not feed the CMDB. */
  skipped: number;
  /** Malformed records the source reported and Snowline skipped. */
  problems: number;
  /** Unchanged devices whose most recent discovery was moved forward (once per `freshnessHours`). */
  refreshed: number;
}

const FLOW = 'ot-inventory' as const;

/** How far before the last watermark an incremental read starts again. */
const INCREMENTAL_OVERLAP_MS = 10 * 60_000;

/**
 * Flow ot-inventory: Defender for IoT → the OT CMDB, through IRE.
 *
 * Sites, then sensors, then the devices of the sensors that feed the CMDB, then retirements,
 * then connections. Each entity is mapped to an IRE group whose content hash is compared with the
 * one recorded after the last write: equal means nothing is sent. Changed groups are packed into
 * payloads of `batchSize` items and sent with `concurrency` requests in flight ({@link IreWriter}).
 * IRE identifies through `sys_object_source` (the namespaced source key), so sending a group again
 * after a crash updates the same CI and never duplicates it. A dry run reads, plans, and writes
 * nothing.
 */
export const otInventoryFlow = defineFlow({
  flow: FLOW,
  config: (integration) => integration.flows.otInventory,
  // Connections are left out: the platform's Table Cleanup deletes those not seen for 90 days
  // (ServiceNow/ServiceNowDocs markdown/operational-technology/operational-technology-manager/
  // view-device-to-device-connections.md), so one gone is the platform's policy, not drift.
  // The sources read incrementally: a verification that finds a CI gone reads them from the start.
  owns: {
    check: ['site', 'sensor', 'device'],
    verify: ['site', 'sensor', 'device'],
    onMissing: { watermarks: true },
  },
  summary: (): OtInventoryCounters => ({
    unchanged: 0,
    skipped: 0,
    problems: 0,
    refreshed: 0,
    ireItems: 0,
    ireRequests: 0,
  }),
  // With several workers, a run from the sensors splits into one part per sensor: a sensor's
  // devices and connections are its own (keys `<sensor>/<id>`), so the parts never touch the same
  // record; the plan part writes sites and sensors first, the sweep retires what no part reported.
  // From Resource Graph, the plan part names the parts from the sensors it wrote: one per sensor
  // and one for the devices of no listed sensor (retirement goes by days unseen, not by part).
  parts: (config, integration) =>
    config.source === 'sensor'
      ? sensorParts(integration)
      : config.source === 'resourceGraph'
        ? PARTS_FOUND_BY_PLAN
        : undefined,
  connect: ({ servicenow, defender }, { integration, part }, config): OtInventoryDeps => ({
    source: otInventorySource(config.source, integration.defender, defender, part),
    servicenow,
  }),
  run: (context, deps, summary) => new OtInventoryRun(context, deps, summary).execute(),
});

/** Where a device is placed for its connections: its CI (once known) and the details the mapping needs. */
interface PlacedDevice {
  readonly sysId?: string;
  /** The class its CI was last written as. */
  readonly remoteTable?: string;
  /** Defender's last seen as last written to the CI's `last_discovered`. */
  readonly discoveredAt?: string;
  readonly device: Pick<
    OtDevice,
    'key' | 'name' | 'deviceType' | 'operatingSystem' | 'nics' | 'zone' | 'site'
  >;
}

/** A changed device waiting for its IRE write. */
interface PendingDevice {
  readonly group: IreGroup;
  readonly device: OtDevice;
  readonly state?: Remembered<DeviceMemory>;
  /** Unchanged, sent only to move its most recent discovery forward. */
  readonly refresh?: boolean;
}

class OtInventoryRun {
  private mapping: MappingContext;
  private readonly references: CmdbReferences;
  private readonly now: Date;
  private readonly writer: IreWriter;
  private readonly keys: SourceKeyMigration;
  private readonly devices: FlowMemory<DeviceMemory>;
  private siteSysIds = new Map<string, string>();
  /** Defender sites an admin mapped onto existing ISA entities (`siteMappings`). */
  private mappedSites = new Map<string, MappedSite>();
  private sensorsByKey = new Map<string, OtSensor>();
  private feeding = new Set<string>();
  private readonly connections: FlowMemory<ConnectionMemory>;
  /** Defender's last-seen time of each connection being written, and those written only to refresh it. */
  private readonly communicated = new Map<string, string>();
  private readonly refreshing = new Set<string>();
  /** Device sys_ids and details known after the device phase, for connections. */
  private deviceInfo = new Map<string, PlacedDevice>();
  /** Whole sources (sensors) this run could not read; one that refused Snowline fails the run at its end. */
  private readonly unread: RecordProblem[] = [];
  /** Class → attributes written this run (what reconciliation rules may keep from Snowline). */
  private readonly written = new Map<string, Set<string>>();

  constructor(
    private readonly run: FlowContext<OtInventoryConfig>,
    private readonly deps: OtInventoryDeps,
    private readonly summary: OtInventoryCounters,
  ) {
    this.now = run.clock.now();
    this.mapping = {
      integrationId: run.integrationId,
      dataSource: run.config.dataSource,
      classMap: run.config.classMap,
      ...(Object.keys(run.config.purdueLayers).length
        ? { layerLevels: lowerKeys(run.config.purdueLayers) }
        : {}),
    };
    this.writer = new IreWriter({
      flow: FLOW,
      servicenow: deps.servicenow,
      recorder: run.recorder,
      dataSource: run.config.dataSource,
      batchSize: run.config.batchSize,
      concurrency: run.config.concurrency,
      now: () => this.now,
      counts: summary,
    });
    this.keys = new SourceKeyMigration({
      flow: FLOW,
      servicenow: deps.servicenow,
      recorder: run.recorder,
      dataSource: run.config.dataSource,
      batchSize: run.config.batchSize,
      store: run.store,
      clock: run.clock,
      integrationId: run.integrationId,
    });
    this.devices = deviceMemory(this.scope());
    this.connections = connectionMemory(this.scope());
    this.references = new CmdbReferences(
      deps.servicenow,
      run.dryRun,
      (table, name, sysId) =>
        this.decide({
          action: 'create',
          entity: table === 'core_company' ? 'company' : 'model',
          key: name,
          reason:
            table === 'core_company'
              ? `vendor ${name} reported by Defender has no core_company record: created as a manufacturer (manufacturer is a reference)`
              : `control module model ${name} has no cmdb_model record: created as a hardware model (model_id is a reference)`,
          target: { table, ...(sysId ? { id: sysId } : {}) },
        }),
      (table, name, why) =>
        this.decide({
          action: 'error',
          entity: table === 'core_company' ? 'company' : 'model',
          key: name,
          reason: (table === 'core_company'
            ? `could not create the core_company of vendor ${name}; its devices go without manufacturer this run: ${why}`
            : `could not create the hardware model ${name}; its modules go without model_id this run: ${why}`
          ).slice(0, 2000),
        }),
      // Parts of a run split across workers create companies and models at the same time.
      run.part ? (ids, search, create) => createAllIfAbsent(run.store, ids, search, create) : undefined,
    );
  }

  async execute(): Promise<void> {
    await this.references.load();
    await this.references.checkClasses(classesInMap(this.run.config.classMap));
    this.mapping = {
      ...this.mapping,
      references: this.references.ids(),
      classOnInstance: (className) => this.references.classFor(className),
    };
    this.mappedSites = await resolveSiteMappings(this.deps.servicenow, this.run.config.siteMappings);
    for (const [site, mapped] of this.mappedSites) {
      this.siteSysIds.set(site, mapped.isaEntity ?? '');
      for (const problem of mapped.problems)
        await this.decide({ action: 'error', entity: 'site', key: site, reason: problem });
    }
    // A run split across workers (docs/scale-out.md): the plan part writes sites and sensors,
    // each sensor's part its devices and connections, the sweep part the retirements, which need
    // every part's devices recorded as seen first.
    const part = this.run.part;
    if (part === SWEEP_PART) {
      await this.retireUnreported();
      await this.reportReconciliation();
      return this.finish();
    }
    await this.syncSites();
    await this.syncSensors();
    if (part === PLAN_PART) {
      if (this.deps.source.kind === 'resourceGraph')
        this.run.splitInto([
          ...[...this.sensorsByKey.values()].map((s) => `${SENSOR_PART}${s.name}`).sort(),
          OTHER_SENSORS_PART,
        ]);
      await this.reportReconciliation();
      return this.finish();
    }
    await this.chooseFeedingSensors();
    await this.syncDevices();
    if (part === undefined) await this.retireUnreported();
    await this.keys.finish();
    await this.reportReconciliation();
    if (
      this.run.config.connections.enabled &&
      this.deps.source.hasConnections &&
      this.deps.source.connections
    )
      await this.syncConnections();
    await this.finish();
  }

  /** What every run ends with: the references it could not resolve, the sources that refused it. */
  private async finish(): Promise<void> {
    for (const miss of this.references.missing()) {
      await this.skip(miss.table, `${miss.table}:${miss.name}`, miss.reason);
    }
    const refused = refusedSourcesError(this.unread);
    if (refused) throw refused;
  }

  // ---- phases ----------------------------------------------------------------------------

  private async syncSites(): Promise<void> {
    const page = await this.deps.source.sites();
    await this.reportProblems('site', page.problems);
    // A mapped site is the admin's ISA entity: Snowline creates none for it.
    const own = page.items.filter((site) => !this.mappedSites.has(site.name));
    const groups = own.map((site) => siteGroup(this.mapping, site));
    const written = await this.apply('site', groups);
    const known = await this.entities('site').get(own.map((s) => s.key));
    for (const site of own) {
      const sysId = written.get(site.key) ?? known.get(site.key)?.remoteSysId ?? undefined;
      this.siteSysIds.set(site.name, sysId ?? '');
    }
  }

  private async syncSensors(): Promise<void> {
    const page = await this.deps.source.sensors();
    await this.reportProblems('sensor', page.problems);
    // A sensor Snowline 0.1 wrote under its own key moves to the connector's key, or stays
    // under the old one where the instance does not allow the move (native-keys.ts).
    const sensors = await this.keyedAsWritten(
      'sensor',
      page.items,
      await this.entities('sensor').get(page.items.map((s) => s.key)),
    );
    for (const sensor of sensors) this.sensorsByKey.set(sensor.key, sensor);
    await this.ensureSites(sensors.map((sensor) => sensor.site));
    const groups = sensors.map((sensor) =>
      sensorGroup(this.mapping, sensor, sensor.site ? this.siteSysIds.get(sensor.site) : undefined),
    );
    await this.apply('sensor', groups, (group) => withValues(group, { 0: NEW_SENSOR_VALUES }));
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
    const known = await this.entities('site').get(missing);
    for (const name of missing) {
      const sysId = written.get(name) ?? known.get(name)?.remoteSysId ?? undefined;
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
      // As the Service Graph Connector does: only sensors an admin validated on cmdb_ci_nids,
      // found by the correlation id Snowline wrote them with.
      const byCorrelation = new Map(sensors.map((s) => [nativeKeyOf(this.mapping, 'sensor', s), s.key]));
      const validated = await this.deps.servicenow.listWhereIn(
        'cmdb_ci_nids',
        'correlation_id',
        [...byCorrelation.keys()],
        ['correlation_id'],
        [where('validated', '=', 'true')],
      );
      for (const row of validated) {
        const key = byCorrelation.get(stringValue(row.correlation_id) ?? '');
        if (key !== undefined) this.feeding.add(key);
      }
    }
    const idle = sensors.filter((s) => !this.feeding.has(s.key)).map((s) => s.name);
    if (idle.length)
      this.run.logger.info({ sensors: idle, sensorValidation: mode }, 'sensors that do not feed devices');
  }

  private async syncDevices(): Promise<void> {
    const source = this.deps.source;
    const watermarkRef = this.watermark('devices');
    const since = await this.since('devices');
    const readStarted = this.now;
    const skippedBySensor = new Map<string, number>();
    const pending: PendingDevice[] = [];

    for await (const page of readAhead(source.devices(since ? { since } : {}))) {
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
      const states = await this.devices.get(fed.map((d) => d.key));
      const fedDevices = await this.keyedAsWritten('device', fed, states);
      await this.references.ensureCompanies(
        fed.flatMap((d) => [d.vendor, ...d.modules.map((m) => m.vendor)]),
      );
      await this.references.ensureModels(fed.flatMap((d) => d.modules));
      const seen: EntityStateUpdate[] = [];
      for (const device of fedDevices) {
        this.references.checkOtType(classForDevice(device, this.mapping.classMap).otAssetType);
        const sensors = device.sensorKeys
          .map((k) => this.sensorsByKey.get(k))
          .filter((s): s is OtSensor => s !== undefined);
        const siteName = device.site ?? sensors[0]?.site;
        const zone = device.zone ?? sensors[0]?.zone;
        const siteValues = siteName ? this.mappedSites.get(siteName)?.deviceValues : undefined;
        const group = deviceGroup(this.mapping, zone ? { ...device, zone } : device, {
          sensors,
          ...(siteName && this.siteSysIds.get(siteName) ? { siteSysId: this.siteSysIds.get(siteName)! } : {}),
          ...(siteValues ? { siteValues } : {}),
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
            ...(state?.remoteSysId ? { sysId: state.remoteSysId } : {}),
            ...(state?.remoteTable ? { remoteTable: state.remoteTable } : {}),
            device: {
              key: device.key,
              ...(device.nativeKey ? { nativeKey: device.nativeKey } : {}),
              name: device.name,
              deviceType: device.deviceType,
              ...(device.operatingSystem ? { operatingSystem: device.operatingSystem } : {}),
              nics: device.nics,
              ...(zone ? { zone } : {}),
              ...(siteName ? { site: siteName } : {}),
            },
          });
        }
        const discoveredAt = state?.data?.discoveredAt;
        if (state?.contentHash === group.hash && !state.retiredAt) {
          if (this.freshnessDue(device.lastSeen, discoveredAt)) {
            pending.push({
              group: this.freshnessGroup(device, state.contentHash, state.remoteTable),
              device: placed,
              state,
              refresh: true,
            });
            continue;
          }
          this.summary.unchanged += 1;
          seen.push({
            sourceKey: device.key,
            lastSeenAt: this.now.toISOString(),
            data: memoryOf(device, zone, siteName, discoveredAt),
          });
        } else {
          const stamped = device.lastSeen
            ? withValues(group, { 0: { last_discovered: toSnDateTime(device.lastSeen) } })
            : group;
          pending.push({ group: stamped, device: placed, ...(state ? { state } : {}) });
        }
      }
      if (seen.length) await this.run.recorder.save({ states: { device: seen } });
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
      const states = await this.devices.get(deleted);
      const marks: EntityStateUpdate[] = [];
      for (const key of deleted) {
        const state = states.get(key);
        if (!state || state.retiredAt) continue;
        const memory = state.data;
        if (memory)
          marks.push({
            sourceKey: key,
            lastSeenAt: this.now.toISOString(),
            data: { ...memory, deleted: true },
          });
      }
      if (marks.length) await this.run.recorder.save({ states: { device: marks } });
    }
    // A device written without a reference that failed this run is read again next run.
    if (!this.run.dryRun && source.incremental && !this.references.incomplete()) {
      // Everything read is recorded before the watermark moves past it.
      await this.run.recorder.flush();
      await advanceWatermark(
        this.run.store.db,
        this.run.clock,
        watermarkRef,
        String(readStarted.getTime()).padStart(15, '0'),
      );
    }
  }

  /**
   * The devices or sensors with the key each is to be written under: a record that Snowline 0.1
   * wrote under its own key moves to the connector's (the Azure resource id), or stays under the
   * old key where the instance does not allow the move ({@link SourceKeyMigration}).
   */
  private async keyedAsWritten<T extends { readonly key: string; readonly nativeKey?: string }>(
    entity: 'device' | 'sensor',
    records: readonly T[],
    states: ReadonlyMap<string, { readonly remoteSysId: string | null; readonly data: unknown }>,
  ): Promise<T[]> {
    if (!records.some((r) => r.nativeKey) || !(await this.keys.hasLegacyKeys())) return [...records];
    const keys = await this.keys.settle(
      records.flatMap((record) => {
        if (!record.nativeKey) return [];
        const state = states.get(record.key);
        const remembered = (state?.data as { nativeKey?: string } | null | undefined)?.nativeKey;
        const from = remembered ?? sourceKey(this.mapping, entity, record.key);
        if (from === record.nativeKey) return [];
        return [
          { entity, key: record.key, from, to: record.nativeKey, written: Boolean(state?.remoteSysId) },
        ];
      }),
    );
    return records.map((record) => {
      const key = keys.get(record.key);
      return key === undefined || key === record.nativeKey ? record : { ...record, nativeKey: key };
    });
  }

  /** Writes changed devices; with `holdPartial`, returns those of a trailing short payload, unsent. */
  private async writeDevices(batch: PendingDevice[], holdPartial = false): Promise<PendingDevice[]> {
    const byKey = new Map(batch.map((b) => [b.device.key, b]));
    const held: PendingDevice[] = [];
    this.noteWritten(batch.map((b) => b.group));
    await this.writer.write(
      'device',
      batch.map((b) => b.group),
      {
        decide: (group) => {
          const entry = byKey.get(group.key);
          const state = entry?.state;
          if (!state?.remoteSysId) return ['create', 'new device reported by Defender'];
          if (state.retiredAt) return ['revive', 'device reported again after it was retired'];
          if (entry?.refresh)
            return [
              'update',
              `most recent discovery moved to Defender's last seen ${entry.device.lastSeen?.toISOString()} (at most once per ${this.run.config.freshnessHours} h)`,
            ];
          return ['update', 'device details changed in Defender'];
        },
        onWritten: (group, sysId) => {
          const entry = byKey.get(group.key)!;
          if (entry.refresh) this.summary.refreshed += 1;
          const info = this.deviceInfo.get(group.key);
          if (info) this.deviceInfo.set(group.key, { ...info, sysId });
          const discoveredAt = entry.device.lastSeen?.toISOString() ?? entry.state?.data?.discoveredAt;
          return {
            data: memoryOf(entry.device, entry.device.zone, entry.device.site, discoveredAt),
            retiredAt: null,
          };
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
    // Devices seen this run are recorded first, so none of them looks unseen.
    await this.run.recorder.flush();
    for await (const page of this.devices.all({ unseenBefore: cutoff })) {
      for (const state of page) {
        const memory = state.data;
        if (!memory || !state.remoteSysId) continue;
        // An incremental source does not repeat unchanged devices: only a reported deletion counts.
        if (this.deps.source.incremental && !memory.deleted) continue;
        const reference = deviceReference(
          this.mapping,
          {
            key: state.key,
            ...(memory.nativeKey ? { nativeKey: memory.nativeKey } : {}),
            name: memory.name,
            deviceType: memory.deviceType,
            nics: memory.nics ?? [],
          },
          state.remoteTable,
        );
        const item = {
          ...reference,
          values: { ...reference.values, install_status: '7', operational_status: '6' },
        };
        groups.push({
          entity: 'device',
          key: state.key,
          items: [item],
          relations: [],
          hash: `retired:${state.contentHash ?? ''}`,
        });
      }
    }
    if (groups.length === 0) return;
    this.noteWritten(groups);
    await this.writer.write('device', groups, {
      decide: () => ['retire', `not reported by Defender for ${this.run.config.retireAfterDays} days`],
      onWritten: () => ({ retiredAt: this.now.toISOString() }),
    });
  }

  private async syncConnections(): Promise<void> {
    const groups: IreGroup[] = [];
    let withoutIp = 0;
    const since = await this.since('connections');
    const readStarted = this.now;
    for await (const page of readAhead(this.deps.source.connections!(since ? { since } : {}))) {
      await this.reportProblems('connection', page.problems);
      await this.rememberDevices(page.items.flatMap((c) => [c.sourceDeviceKey, c.destinationDeviceKey]));
      const usable = page.items.filter(
        (c) => this.deviceInfo.has(c.sourceDeviceKey) && this.deviceInfo.has(c.destinationDeviceKey),
      );
      const states = await this.connections.get(usable.map((c) => c.key));
      for (const connection of usable) {
        const source = this.deviceInfo.get(connection.sourceDeviceKey)!;
        const destination = this.deviceInfo.get(connection.destinationDeviceKey)!;
        const group = connectionGroup(this.mapping, connection, {
          source: {
            ...source.device,
            ...(source.sysId ? { sysId: source.sysId } : {}),
            ...(source.remoteTable ? { remoteTable: source.remoteTable } : {}),
          },
          destination: {
            ...destination.device,
            ...(destination.sysId ? { sysId: destination.sysId } : {}),
            ...(destination.remoteTable ? { remoteTable: destination.remoteTable } : {}),
          },
        });
        if (!group) {
          withoutIp += 1;
          continue;
        }
        const state = states.get(connection.key);
        const communicatedAt = state?.data?.communicatedAt;
        const refresh =
          state?.contentHash === group.hash &&
          this.dueAfter(connection.lastSeen, communicatedAt, days(this.run.config.connections.refreshDays));
        if (state?.contentHash === group.hash && !refresh) {
          this.summary.unchanged += 1;
          continue;
        }
        // Defender's own last-seen time of the connection, never this run's: one Defender stopped
        // reporting keeps its old time and is purged by the instance after 90 days, as designed.
        // The two device items carry their own last seen: IRE stamps "now" on a CI written without
        // one (ServiceNow/ServiceNowDocs markdown/servicenow-platform/configuration-management-database-cmdb/ire.md).
        const stamp = (at: string | undefined) => ({
          last_discovered: at ? toSnDateTime(new Date(at)) : undefined,
        });
        groups.push(
          withValues(group, {
            0: { last_communication: connection.lastSeen ? toSnDateTime(connection.lastSeen) : undefined },
            1: stamp(source.discoveredAt),
            2: stamp(destination.discoveredAt),
          }),
        );
        if (connection.lastSeen) this.communicated.set(connection.key, connection.lastSeen.toISOString());
        if (refresh) this.refreshing.add(connection.key);
      }
      // Devices looked up for this page are not needed for the next: memory stays one page deep.
      if (!this.run.dryRun) this.deviceInfo.clear();
      if (groups.length >= this.run.config.batchSize * this.run.config.concurrency)
        groups.push(...(await this.applyConnections(groups.splice(0), true)));
    }
    if (groups.length) await this.applyConnections(groups);
    if (!this.run.dryRun && this.deps.source.incremental) {
      await this.run.recorder.flush();
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
    const states = await this.devices.get(missing);
    for (const [key, state] of states) {
      const memory = state.data;
      if (!memory || state.retiredAt || memory.deleted) continue;
      this.deviceInfo.set(key, {
        ...(state.remoteSysId ? { sysId: state.remoteSysId } : {}),
        ...(state.remoteTable ? { remoteTable: state.remoteTable } : {}),
        ...(memory.discoveredAt ? { discoveredAt: memory.discoveredAt } : {}),
        device: {
          key,
          ...(memory.nativeKey ? { nativeKey: memory.nativeKey } : {}),
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
    const known = await this.connections.get(groups.map((g) => g.key));
    const held: IreGroup[] = [];
    this.noteWritten(groups);
    await this.writer.write('connection', groups, {
      decide: (group) =>
        !known.get(group.key)?.remoteSysId
          ? ['create', 'new connection between two devices']
          : this.refreshing.has(group.key)
            ? [
                'update',
                `last communication moved to Defender's last seen (at most once per ${this.run.config.connections.refreshDays} days)`,
              ]
            : ['update', 'connection details changed'],
      onWritten: (group) => {
        const communicatedAt = this.communicated.get(group.key) ?? known.get(group.key)?.data?.communicatedAt;
        return communicatedAt ? { data: { communicatedAt } } : {};
      },
      ...(holdPartial ? { holdPartial: (partial: IreGroup[]) => held.push(...partial) } : {}),
    });
    // What a sent connection needed is dropped, so the run holds its unsent connections only,
    // not every connection of the estate.
    const unsent = new Set(held.map((g) => g.key));
    for (const group of groups)
      if (!unsent.has(group.key)) {
        this.communicated.delete(group.key);
        this.refreshing.delete(group.key);
      }
    return held;
  }

  // ---- writing and recording ---------------------------------------------------------------

  /** Notes the classes and attributes a write sends, for {@link reportReconciliation}. */
  private noteWritten(groups: readonly IreGroup[]): void {
    for (const group of groups)
      for (const item of group.items) {
        const attributes = this.written.get(item.className) ?? new Set<string>();
        for (const name of Object.keys(item.values)) attributes.add(name);
        this.written.set(item.className, attributes);
      }
  }

  /**
   * Says, once per run, which attributes Snowline wrote that the instance's reconciliation rules
   * keep from it: IRE drops such a value without an error, so without this a CI whose name
   * Discovery owns would look as if Snowline had failed to rename it.
   */
  private async reportReconciliation(): Promise<void> {
    if (this.written.size === 0) return;
    const rules = await readReconciliationRules(this.deps.servicenow);
    if (!rules) return;
    for (const limit of reconciliationLimits(rules, this.written, this.run.config.dataSource))
      await this.skip(
        'reconciliation-rule',
        `${limit.ruleClass}.${limit.attribute}`,
        describeLimit(limit, this.run.config.dataSource).slice(0, 2000),
      );
  }

  /**
   * Writes groups whose hash changed since their last write (sites and sensors); `onCreate` adds
   * what only a new record gets.
   */
  private async apply(
    entity: 'site' | 'sensor',
    mapped: readonly IreGroup[],
    onCreate: (group: IreGroup) => IreGroup = (group) => group,
  ): Promise<Map<string, string>> {
    if (mapped.length === 0) return new Map();
    const known = await this.entities(entity).get(mapped.map((g) => g.key));
    const groups = mapped.map((g) => (known.get(g.key)?.contentHash ? g : onCreate(g)));
    this.noteWritten(groups.filter((g) => known.get(g.key)?.contentHash !== g.hash));
    return this.writer.write(entity, groups, {
      decide: (group): IreDecision => {
        const state = known.get(group.key);
        if (!state?.contentHash) return ['create', `new ${entity} reported by Defender`];
        if (state.contentHash === group.hash) return ['skip', 'unchanged'];
        return ['update', `${entity} details changed in Defender`];
      },
    });
  }

  private async reportProblems(entity: string, problems: readonly RecordProblem[]): Promise<void> {
    if (problems.length === 0) return;
    this.summary.problems += problems.length;
    this.unread.push(...problems.filter((p) => p.unread));
    const reasons: string[] = [];
    for (const p of problems) {
      const reason = (
        p.unread
          ? `${entity} records not read (${p.source}): ${p.error.message}`
          : `malformed ${entity} record skipped (${p.source}, record ${p.index}): ${p.error.message}`
      ).slice(0, 2000);
      reasons.push(reason);
      await this.decide({
        action: 'error',
        entity,
        key: p.key ?? `${p.source}#${p.index}`,
        reason,
        side: 'defender',
      });
    }
    this.run.logger.warn(
      { entity, count: problems.length, first: reasons[0] },
      'malformed records reported and skipped',
    );
  }

  /**
   * Records a decision to leave records alone, once per reason and run (not per record: a
   * sensor that is not validated would otherwise add its whole inventory to the ledger every run).
   */
  private async skip(entity: string, key: string, reason: string): Promise<void> {
    await this.decide({ action: 'skip', entity, key, reason });
  }

  private async decide(
    action: Omit<PlanAction, 'flow' | 'side'> & { side?: PlanAction['side'] },
  ): Promise<void> {
    await this.run.recorder.decide({ flow: FLOW, side: 'servicenow', ...action });
  }

  /** The watermark of an incremental read (epoch ms of when the last complete read started). */
  private watermark(what: 'devices' | 'connections') {
    // The mapping's version is part of the scope: a release that maps differently reads everything
    // once (an incremental source would otherwise never repeat unchanged devices, and the CMDB
    // would keep the old mapping until each device changed in Defender).
    return {
      integrationId: this.run.integrationId,
      flow: FLOW,
      scope: `${this.deps.source.kind}:${what}${MAPPING_VERSION > 1 ? `@mapping${MAPPING_VERSION}` : ''}`,
    };
  }

  /**
   * Where an incremental read starts: the last complete read's start, less an overlap that
   * absorbs clock skew between Snowline and the console (records read twice hash the same and
   * send nothing). Everything for a full source or a first run.
   */
  private async since(what: 'devices' | 'connections'): Promise<Date | undefined> {
    if (!this.deps.source.incremental) return undefined;
    const text = await getWatermark(this.run.store.db, this.watermark(what));
    return text ? new Date(Number(text) - INCREMENTAL_OVERLAP_MS) : undefined;
  }

  private scope() {
    return { store: this.run.store, integrationId: this.run.integrationId, recorder: this.run.recorder };
  }

  private entities(entity: 'site' | 'sensor'): FlowMemory<unknown> {
    return inventoryEntities(this.scope(), entity);
  }

  /** Whether a device's most recent discovery is due to follow Defender's last seen. */
  private freshnessDue(lastSeen: Date | undefined, discoveredAt: string | undefined): boolean {
    return this.dueAfter(lastSeen, discoveredAt, hours(this.run.config.freshnessHours));
  }

  /** Whether `seen` is at least `period` past what was last written (or nothing was). */
  private dueAfter(seen: Date | undefined, written: string | undefined, period: number): boolean {
    if (!seen) return false;
    if (!written) return true;
    return seen.getTime() - Date.parse(written) >= period;
  }

  /**
   * The one item that moves an unchanged device's most recent discovery: the device found through
   * its source key, with `last_discovered` = Defender's last seen. One item per device, so the
   * daily pass costs one IRE request per `batchSize` devices.
   */
  private freshnessGroup(device: OtDevice, hash: string, writtenAs: string | null): IreGroup {
    const reference = deviceReference(this.mapping, device, writtenAs);
    return {
      entity: 'device',
      key: device.key,
      items: [
        { ...reference, values: { ...reference.values, last_discovered: toSnDateTime(device.lastSeen!) } },
      ],
      relations: [],
      hash,
    };
  }
}

function memoryOf(
  device: OtDevice,
  zone: string | undefined,
  site?: string,
  discoveredAt?: string,
): DeviceMemory {
  return {
    name: device.name,
    deviceType: device.deviceType,
    ...(device.nativeKey ? { nativeKey: device.nativeKey } : {}),
    ...(zone ? { zone } : {}),
    ...(site ? { site } : {}),
    nics: [...device.nics],
    ...(discoveredAt ? { discoveredAt } : {}),
  };
}

function lowerKeys(record: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(record).map(([k, v]) => [k.toLowerCase().replace(/[\s_-]/g, ''), v]),
  );
}
