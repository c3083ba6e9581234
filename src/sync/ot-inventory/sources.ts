import type { IntegrationConfig } from '../../config/schema.js';
import {
  normaliseMac,
  type OtConnection,
  type OtDevice,
  type OtModule,
  type OtNic,
  type OtSensor,
  type OtSite,
} from '../../domain/ot/records.js';
import { unreadBecause, type SourcePage } from '../../sources/common.js';
import type {
  CloudIotDevice,
  CloudIotSensor,
  ConsoleDevice,
  DefenderSources,
  SensorDevice,
} from '../../sources/index.js';
import type { IotResourceGraphReader } from '../../sources/defender-iot/resource-graph-iot.js';
import type { ConsoleClient } from '../../sources/defender-iot/console-client.js';
import type { SensorClient } from '../../sources/defender-iot/sensor-client.js';
import { ConfigError, InputError, UpstreamError } from '../../errors.js';
import { sensorOfPart, sensorScopeOfPart } from '../kernel/flow.js';
import type { OtInventorySource } from './source.js';

type DefenderConfig = IntegrationConfig['defender'];

function mapPage<A, B>(page: SourcePage<A>, map: (item: A) => B | undefined): SourcePage<B> {
  return { items: page.items.map(map).filter((b): b is B => b !== undefined), problems: page.problems };
}

/** Pairs a device's IP and MAC lists into NICs (the APIs list them apart; order is all they share). */
function nicsOf(ips: readonly string[], macs: readonly string[]): OtNic[] {
  const count = Math.max(ips.length, macs.length);
  return Array.from({ length: count }, (_, i) => {
    const mac = normaliseMac(macs[i]);
    return { ...(ips[i] ? { ip: ips[i] } : {}), ...(mac ? { mac } : {}) };
  });
}

function modulesOf(
  firmware: readonly {
    rack?: string | undefined;
    slot?: string | undefined;
    model?: string | undefined;
    serial?: string | undefined;
    firmwareVersion?: string | undefined;
  }[],
): OtModule[] {
  return firmware.map((f) => ({
    ...(f.rack ? { rack: f.rack } : {}),
    ...(f.slot ? { slot: f.slot } : {}),
    ...(f.model ? { model: f.model } : {}),
    ...(f.serial ? { serialNumber: f.serial } : {}),
    ...(f.firmwareVersion ? { firmwareVersion: f.firmwareVersion } : {}),
  }));
}

/**
 * The OT sensor API as an ot-inventory source: a full read of every configured sensor. The API
 * knows nothing of sites, zones or Purdue levels: they come from each sensor's configuration.
 * Nor does it say whether the sensor is connected to Defender or in learning mode: for
 * cloud-connected sensors (`defender.subscriptions` set) that comes from the sensor resources in
 * Resource Graph, matched by name, as the Azure connector reads them
 * (attribute-mapping-sgc-msft-d4iot-azure.md: sensorStatus → connection state, learningMode).
 * Device keys are `<sensor>/<id>` (ids are per sensor).
 */
export class SensorApiSource implements OtInventorySource {
  readonly kind = 'sensor' as const;
  readonly hasConnections = true;
  readonly incremental = false;

  constructor(
    private readonly clients: readonly SensorClient[],
    private readonly cloud?: IotResourceGraphReader,
  ) {}

  async sites(): Promise<SourcePage<OtSite>> {
    const names = [...new Set(this.clients.map((c) => c.site).filter((s): s is string => s !== undefined))];
    return { items: names.map((name) => ({ key: name, name })), problems: [] };
  }

  async sensors(): Promise<SourcePage<OtSensor>> {
    const problems: SourcePage<OtSensor>['problems'][number][] = [];
    const cloud = new Map<string, CloudIotSensor>();
    if (this.cloud) {
      try {
        for await (const page of this.cloud.sensors()) {
          problems.push(...page.problems);
          for (const sensor of page.items) cloud.set(sensor.name, sensor);
        }
      } catch (error) {
        if (!(error instanceof UpstreamError)) throw error;
        // The sensors are still written, without a state: the run goes on.
        problems.push({
          source: 'resourcegraph IoT sensors',
          index: 0,
          error: new InputError(
            `the sensors' connection state and learning mode could not be read from Resource Graph: ${error.message}`,
            { cause: error },
          ),
        });
      }
    }
    return {
      items: this.clients.map((c) => {
        const state = cloud.get(c.name);
        return {
          key: c.name,
          name: c.name,
          ...(c.site ? { site: c.site } : {}),
          ...(c.zone ? { zone: c.zone } : {}),
          ...(c.purdueLevel !== undefined ? { purdueLevel: c.purdueLevel } : {}),
          ...(state ? cloudSensorState(state) : {}),
        };
      }),
      problems,
    };
  }

  async *devices(): AsyncIterable<SourcePage<OtDevice>> {
    for (const client of this.clients) {
      yield* perSensor(
        client,
        'devices',
        async function* (self: SensorApiSource) {
          for await (const page of client.devices()) yield mapPage(page, (d) => self.device(client, d));
        },
        this,
      );
    }
  }

  /**
   * The sensor API lists a modular device's modules in `firmware[]` (with rack and slot), and a
   * device without modules as one entry with neither: that entry is the device's own serial,
   * model and firmware.
   */
  private device(client: SensorClient, d: SensorDevice): OtDevice {
    const own = d.firmware.find((f) => f.rack === undefined && f.slot === undefined);
    const modules = d.firmware.filter((f) => f.rack !== undefined || f.slot !== undefined);
    return {
      key: `${client.name}/${d.id}`,
      name: d.name,
      deviceType: d.type,
      ...(d.vendor ? { vendor: d.vendor } : {}),
      ...(d.operatingSystem ? { operatingSystem: d.operatingSystem } : {}),
      ...(own?.firmwareVersion ? { firmwareVersion: own.firmwareVersion } : {}),
      ...(own?.model ? { model: own.model } : {}),
      ...(own?.serial ? { serialNumber: own.serial } : {}),
      nics: nicsOf(d.ipAddresses, d.macAddresses),
      modules: modulesOf(modules),
      protocols: d.protocols.map((p) => p.name).filter((n): n is string => typeof n === 'string'),
      ...(client.site ? { site: client.site } : {}),
      ...(client.zone ? { zone: client.zone } : {}),
      sensorKeys: [client.name],
    };
  }

  async *connections(): AsyncIterable<SourcePage<OtConnection>> {
    for (const client of this.clients) {
      yield* perSensor(
        client,
        'connections',
        async function* () {
          for await (const page of client.connections()) {
            yield mapPage(page, (c) => ({
              key: `${client.name}/${c.firstDeviceId}-${c.secondDeviceId}`,
              sourceDeviceKey: `${client.name}/${c.firstDeviceId}`,
              destinationDeviceKey: `${client.name}/${c.secondDeviceId}`,
              ports: c.ports,
              protocols: c.protocols.map((p) => p.name).filter((n): n is string => typeof n === 'string'),
              ...(c.lastSeen ? { lastSeen: c.lastSeen } : {}),
            }));
          }
        },
        this,
      );
    }
  }
}

/**
 * Reads one sensor, turning a sensor that can not be reached (or answers with an error) into a
 * reported problem, so that one sensor down does not stop the others. Rate limits still defer
 * the run, and records already yielded stay yielded. Its devices are not retired by this run's
 * silence alone: retirement waits for the grace period.
 */
async function* perSensor<T>(
  client: SensorClient,
  what: string,
  read: (source: SensorApiSource) => AsyncIterable<SourcePage<T>>,
  source: SensorApiSource,
): AsyncIterable<SourcePage<T>> {
  try {
    yield* read(source);
  } catch (error) {
    if (!(error instanceof UpstreamError)) throw error;
    yield {
      items: [],
      problems: [
        {
          source: `sensor ${client.name} ${what}`,
          index: 0,
          key: `sensor:${client.name}`,
          unread: unreadBecause(error),
          error: new InputError(
            `sensor ${client.name} could not be read; its ${what} are left as they are: ${error.message}`,
            { cause: error },
          ),
        },
      ],
    };
  }
}

/**
 * The management console's integration API v3 as an ot-inventory source: incremental by
 * timestamp, with deletions, sites and zones on each device, and the Purdue layer.
 */
export class ConsoleSource implements OtInventorySource {
  readonly kind = 'console' as const;
  readonly hasConnections = true;
  readonly incremental = true;

  constructor(private readonly client: ConsoleClient) {}

  async sites(): Promise<SourcePage<OtSite>> {
    return { items: [], problems: [] };
  }

  async sensors(): Promise<SourcePage<OtSensor>> {
    const page = await this.client.sensors();
    return mapPage(page, (s) => ({
      key: String(s.id),
      name: s.name,
      ...(s.interfaceAddress ? { ip: s.interfaceAddress } : {}),
      ...(s.version ? { firmwareVersion: s.version } : {}),
      ...(s.connectionState
        ? { connectionState: s.connectionState, connected: s.connectionState !== 'DISCONNECTED' }
        : {}),
      ...(s.learningMode !== undefined ? { learningMode: s.learningMode } : {}),
    }));
  }

  async *devices(options: { since?: Date }): AsyncIterable<SourcePage<OtDevice>> {
    for await (const page of this.client.devices(options.since ?? 0))
      yield mapPage(page, (d) => this.device(d));
  }

  /** The console's `u_firmwares` are a device's modules (each with its module address); the device's own serial is not reported. */
  private device(d: ConsoleDevice): OtDevice {
    const ips = d.ipAddresses.map((a) => a.address).filter((a): a is string => typeof a === 'string');
    return {
      key: String(d.id),
      name: d.name,
      deviceType: d.type ?? 'Unknown',
      ...(d.category ? { category: d.category } : {}),
      ...(d.vendor ? { vendor: d.vendor } : {}),
      ...(d.operatingSystem ? { operatingSystem: d.operatingSystem } : {}),
      nics: nicsOf(ips, d.macAddresses),
      modules: modulesOf(
        d.firmware.map((f) => ({
          model: f.model,
          serial: f.serial,
          firmwareVersion: f.firmwareVersion,
          slot: f.moduleAddress,
        })),
      ),
      protocols: d.protocols,
      ...(d.purdueLayer ? { purdueLayer: d.purdueLayer } : {}),
      ...(d.site ? { site: d.site } : {}),
      ...(d.zone ? { zone: d.zone } : {}),
      sensorKeys: d.sensorIds.map(String),
      ...(d.firstDiscovered ? { firstSeen: d.firstDiscovered } : {}),
      ...(d.lastActivity ? { lastSeen: d.lastActivity } : {}),
    };
  }

  async deletedDevices(since: Date): Promise<readonly string[]> {
    return (await this.client.deletedDevices(since)).items.map(String);
  }

  async *connections(options: { since?: Date }): AsyncIterable<SourcePage<OtConnection>> {
    for await (const page of this.client.connections(options.since ?? 0)) {
      yield mapPage(page, (c) => ({
        key: `${c.sourceDeviceId}-${c.destinationDeviceId}`,
        sourceDeviceKey: String(c.sourceDeviceId),
        destinationDeviceKey: String(c.destinationDeviceId),
        ports: [],
        protocols: [],
      }));
    }
  }
}

/**
 * Azure Resource Graph's `iotsecurityresources` as an ot-inventory source (what the Service Graph
 * Connector's Azure variant reads): a full read of sites, sensors and devices with Purdue level,
 * site, zone, times, hardware and slots; no connections. The device subtype (`PLC`, `HMI`…) is
 * the device type, as the connector's class mapping uses it.
 */
export class ResourceGraphSource implements OtInventorySource {
  readonly kind = 'resourceGraph' as const;
  readonly hasConnections = false;
  readonly incremental = false;
  /** Site resource name → display name: sensors name their site by resource, devices by display name. */
  private readonly siteNames = new Map<string, string>();
  /** The sensors {@link sensors} read: the rest part of a split run reads the devices of none of them. */
  private sensorNames: string[] | undefined;

  constructor(
    private readonly reader: IotResourceGraphReader,
    /**
     * The part of a run split per sensor this source reads the devices of: one sensor's, or those
     * of no sensor Resource Graph lists (`other-sensors`); every device when omitted.
     */
    private readonly part?: string,
  ) {}

  async sites(): Promise<SourcePage<OtSite>> {
    const items: OtSite[] = [];
    const problems: SourcePage<OtSite>['problems'][number][] = [];
    for await (const page of this.reader.sites()) {
      problems.push(...page.problems);
      for (const site of page.items) {
        this.siteNames.set(site.name, site.displayName);
        items.push({ key: site.displayName, name: site.displayName });
      }
    }
    return { items, problems };
  }

  async sensors(): Promise<SourcePage<OtSensor>> {
    const items: OtSensor[] = [];
    const problems: SourcePage<OtSensor>['problems'][number][] = [];
    for await (const page of this.reader.sensors()) {
      problems.push(...page.problems);
      for (const s of page.items) {
        const site = s.site ? (this.siteNames.get(s.site) ?? s.site) : undefined;
        items.push({
          key: s.name,
          nativeKey: s.id,
          name: s.name,
          ...(site ? { site } : {}),
          ...(s.zone ? { zone: s.zone } : {}),
          ...(s.hostname ? { fqdn: s.hostname } : {}),
          ...(s.ip ? { ip: s.ip } : {}),
          ...(s.mac ? { mac: s.mac } : {}),
          ...(s.version ? { firmwareVersion: s.version } : {}),
          ...cloudSensorState(s),
          ...(s.upSince ? { firstSeen: s.upSince } : {}),
        });
      }
    }
    this.sensorNames = items.map((s) => s.name);
    return { items, problems };
  }

  async *devices(): AsyncIterable<SourcePage<OtDevice>> {
    const scope = await sensorScopeOfPart(this.part, async () => {
      if (!this.sensorNames) await this.sensors();
      return this.sensorNames!;
    });
    for await (const page of this.reader.devices(scope)) yield mapPage(page, (d) => this.device(d));
  }

  private device(d: CloudIotDevice): OtDevice {
    const system = d.operatingSystem;
    // The connector maps `distribution` → os; a source without it names the OS by platform and version.
    const os = system
      ? system.distribution || [system.platform, system.version].filter(Boolean).join(' ') || undefined
      : undefined;
    return {
      key: d.deviceId,
      nativeKey: d.id,
      name: d.name,
      deviceType: d.subType ?? d.type ?? 'Unknown',
      ...(d.category ? { category: d.category } : {}),
      ...(d.vendor ? { vendor: d.vendor } : {}),
      ...(d.model ? { model: d.model } : {}),
      ...(d.serialNumber ? { serialNumber: d.serialNumber } : {}),
      ...(d.firmwareVersion ? { firmwareVersion: d.firmwareVersion } : {}),
      ...(os ? { operatingSystem: os } : {}),
      ...(system?.version ? { osVersion: system.version } : {}),
      ...(system?.platform ? { osPlatform: system.platform } : {}),
      ...(system?.architecture ? { osArchitecture: system.architecture } : {}),
      ...(d.plcKeyState ? { plcKeyState: d.plcKeyState } : {}),
      ...(d.plcRunState ? { plcRunState: d.plcRunState } : {}),
      nics: d.nics.map((n) => {
        const mac = normaliseMac(n.macAddress);
        const ip = n.ipv4Address ?? n.ipv6Address;
        return { ...(ip ? { ip } : {}), ...(mac ? { mac } : {}) };
      }),
      modules: d.slots.map((slot) => ({
        ...(slot.rackNumber ? { rack: slot.rackNumber } : {}),
        ...(slot.slotNumber ? { slot: slot.slotNumber } : {}),
        ...(slot.model ? { model: slot.model } : {}),
        ...(slot.serialNumber ? { serialNumber: slot.serialNumber } : {}),
        ...(slot.firmwareVersion ? { firmwareVersion: slot.firmwareVersion } : {}),
        ...(slot.vendor ? { vendor: slot.vendor } : {}),
        ...(slot.slotType ? { moduleType: slot.slotType } : {}),
      })),
      protocols: [],
      ...(d.purdueLevel ? { purdueLayer: d.purdueLevel } : {}),
      ...(d.criticality ? { criticality: d.criticality } : {}),
      ...(d.sensor?.site ? { site: this.siteNames.get(d.sensor.site) ?? d.sensor.site } : {}),
      ...(d.sensor?.zone ? { zone: d.sensor.zone } : {}),
      sensorKeys: d.sensor?.name ? [d.sensor.name] : [],
      ...(d.firstSeen ? { firstSeen: d.firstSeen } : {}),
      ...(d.lastSeen ? { lastSeen: d.lastSeen } : {}),
    };
  }
}

/** A cloud sensor's connection state and learning mode, as an {@link OtSensor} says them. */
function cloudSensorState(
  s: CloudIotSensor,
): Pick<OtSensor, 'connectionState' | 'connected' | 'learningMode'> {
  return {
    ...(s.status
      ? { connectionState: s.status, connected: !/disconnected|unavailable|offline/i.test(s.status) }
      : {}),
    learningMode: s.learningMode,
  };
}

/** The ot-inventory source the configuration names, built on the integration's Defender clients. */
export function otInventorySource(
  kind: 'sensor' | 'console' | 'resourceGraph',
  config: DefenderConfig,
  sources: DefenderSources,
  /** The part of a split run this source is for (docs/scale-out.md): one sensor alone, or the rest. */
  part?: string,
): OtInventorySource {
  const sensor = sensorOfPart(part);
  if (kind === 'sensor') {
    if (sources.sensors.length === 0) {
      throw new ConfigError([
        {
          path: 'defender.sensors',
          message: 'flows.otInventory.source is sensor but no sensors are configured',
        },
      ]);
    }
    const clients = sensor === undefined ? sources.sensors : sources.sensors.filter((c) => c.name === sensor);
    if (clients.length === 0)
      throw new ConfigError([
        {
          path: 'defender.sensors',
          message: `a run of sensor ${sensor} alone was asked for, but no sensor of that name is configured; a worker with another configuration queued it`,
        },
      ]);
    return new SensorApiSource(clients, config.subscriptions.length ? sources.iotResourceGraph : undefined);
  }
  if (kind === 'console') {
    if (!sources.console || !config.console) {
      throw new ConfigError([
        {
          path: 'defender.console',
          message: 'flows.otInventory.source is console but defender.console is not configured',
        },
      ]);
    }
    return new ConsoleSource(sources.console);
  }
  if (config.subscriptions.length === 0) {
    throw new ConfigError([
      {
        path: 'defender.subscriptions',
        message: 'flows.otInventory.source is resourceGraph but no subscriptions are configured',
      },
    ]);
  }
  return new ResourceGraphSource(sources.iotResourceGraph, part);
}
