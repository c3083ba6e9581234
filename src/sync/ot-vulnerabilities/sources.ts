import type { IntegrationConfig } from '../../config/schema.js';
import { vulnerabilitySourceProblems } from '../../domain/vulnerabilities/source-match.js';
import {
  normaliseCveId,
  type DeviceClues,
  type DeviceCve,
  type DeviceCves,
} from '../../domain/vulnerabilities/records.js';
import { ConfigError, InputError, UpstreamError } from '../../errors.js';
import { unreadBecause, type RecordProblem } from '../../sources/common.js';
import type { ConsoleClient } from '../../sources/defender-iot/console-client.js';
import type { IotResourceGraphReader } from '../../sources/defender-iot/resource-graph-iot.js';
import { sensorOfPart, sensorScopeOfPart } from '../kernel/flow.js';
import type { SensorClient } from '../../sources/defender-iot/sensor-client.js';
import type { ConsoleDeviceCves, DefenderSources } from '../../sources/index.js';
import type { ClueKeeper, VulnerabilityPage, VulnerabilitySource } from './source.js';

/**
 * How far before the watermark an incremental console read starts again: the watermark is the
 * start of the last run on Snowline's clock, `u_last_update` is on the console's. Devices read
 * twice hash the same and cost no ServiceNow request. Same overlap as ot-inventory's.
 */
export const CONSOLE_OVERLAP_MS = 10 * 60_000;

/** Device ids per `devicecves?deviceIds=` request that confirms devices have no CVEs (keeps the URL short). */
const CONFIRM_CHUNK = 100;

/** Devices per yielded page of the full-read sources (sensor, Resource Graph). */
const SENSOR_PAGE = 500;

/** One CVE record of a source, as the flow's canonical record, or a problem when its id is no CVE id. */
function toDeviceCve(
  raw: {
    cveId: string;
    score?: number | undefined;
    description?: string | undefined;
    attackVector?: string | undefined;
    exploit?: boolean | undefined;
    detectionKey?: string | undefined;
  },
  where: { source: string; index: number; key: string },
): DeviceCve | RecordProblem {
  const id = normaliseCveId(raw.cveId);
  if (!id)
    return {
      ...where,
      error: new InputError(
        `${where.source}: "${raw.cveId}" reported for device ${where.key} is not a CVE id (CVE-yyyy-nnnn); skipped`,
      ),
    };
  return {
    id,
    ...(raw.score !== undefined ? { score: raw.score } : {}),
    ...(raw.description ? { description: raw.description } : {}),
    ...(raw.attackVector ? { attackVector: raw.attackVector } : {}),
    ...(raw.exploit !== undefined ? { exploit: raw.exploit } : {}),
    ...(raw.detectionKey ? { detectionKey: raw.detectionKey } : {}),
  };
}

function isProblem(value: DeviceCve | RecordProblem): value is RecordProblem {
  return 'error' in value;
}

/**
 * The position in its page of each record that parsed: readers number the records they could not
 * parse by their position in the page, and the parsed ones are the others, in order. A problem
 * found later in a parsed record (a CVE id that is none) then names the record it is about, not
 * its rank among the parsed ones.
 */
function parsedPositions(page: { items: readonly unknown[]; problems: readonly RecordProblem[] }): number[] {
  const unparsed = new Set(page.problems.map((p) => p.index));
  const positions: number[] = [];
  for (let position = 0; positions.length < page.items.length; position++)
    if (!unparsed.has(position)) positions.push(position);
  return positions;
}

/** The `u_id`s of console records that could not be parsed (when the record had a readable one). */
function problemDeviceIds(problems: readonly RecordProblem[]): number[] {
  return problems
    .map((p) => p.key)
    .filter((key): key is string => key !== undefined && /^\d+$/.test(key))
    .map(Number);
}

/**
 * The management console's integration API v3 `devicecves/{timestamp}` as a vulnerability
 * source: incremental by timestamp, device key `String(u_id)` (ot-inventory's console key).
 *
 * The flow passes the start of its last complete run as `since`; the read starts
 * {@link CONSOLE_OVERLAP_MS} earlier. A device whose last CVE was removed is not listed by
 * `devicecves` at all (the contract does not say it is; the sandbox omits it), so after
 * `devicecves` the devices updated since then (`devices/{timestamp}`) that it did not list are
 * asked for by id (`devicecves/0?deviceIds=…`, which also catches a device changed between the
 * two reads) and those still not listed are yielded with no CVEs: their open detections close.
 * On the first run (no `since`) there is nothing to close, and that second read is skipped.
 *
 * @example
 * const source = new ConsoleVulnerabilitySource(defender.console!);
 * for await (const page of source.deviceCves({ since })) …
 */
export class ConsoleVulnerabilitySource implements VulnerabilitySource {
  readonly kind = 'console' as const;
  readonly incremental = true;

  constructor(
    private readonly client: ConsoleClient,
    private readonly overlapMs = CONSOLE_OVERLAP_MS,
  ) {}

  async *deviceCves(options: { since?: Date }): AsyncIterable<VulnerabilityPage> {
    const from = options.since ? Math.max(0, options.since.getTime() - this.overlapMs) : 0;
    // Only the ids of devices changed since the watermark: bounded by the change, not the estate.
    const listed = options.since ? new Set<number>() : undefined;
    for await (const page of this.client.deviceCves(from)) {
      const items: DeviceCves[] = [];
      const problems = [...page.problems];
      // A malformed record is a device not read, not a device without CVEs: it is not confirmed empty.
      for (const id of problemDeviceIds(page.problems)) listed?.add(id);
      const positions = parsedPositions(page);
      page.items.forEach((device, k) => {
        listed?.add(device.deviceId);
        items.push(this.device(device, positions[k]!, problems));
      });
      yield { items, problems };
    }
    if (!listed) return;
    for await (const page of this.client.devices(from)) {
      const unlisted = page.items.map((device) => device.id).filter((id) => !listed.has(id));
      if (page.problems.length) yield { items: [], problems: page.problems };
      for (let start = 0; start < unlisted.length; start += CONFIRM_CHUNK)
        yield await this.confirm(unlisted.slice(start, start + CONFIRM_CHUNK));
    }
  }

  /**
   * The CVEs of devices updated since the watermark that `devicecves` did not list, asked again
   * by id: a device that changed between the two reads is then yielded with the CVEs it has now,
   * and only those the console still does not list are taken as having none.
   */
  private async confirm(ids: readonly number[]): Promise<VulnerabilityPage> {
    const items: DeviceCves[] = [];
    const problems: RecordProblem[] = [];
    const found = new Set<number>();
    for await (const page of this.client.deviceCves(0, { deviceIds: ids })) {
      problems.push(...page.problems);
      for (const id of problemDeviceIds(page.problems)) found.add(id);
      const positions = parsedPositions(page);
      page.items.forEach((device, k) => {
        if (!ids.includes(device.deviceId) || found.has(device.deviceId)) return;
        found.add(device.deviceId);
        items.push(this.device(device, positions[k]!, problems));
      });
    }
    for (const id of ids) if (!found.has(id)) items.push({ deviceKey: String(id), cves: [] });
    return { items, problems };
  }

  private device(device: ConsoleDeviceCves, index: number, problems: RecordProblem[]): DeviceCves {
    const key = String(device.deviceId);
    const cves: DeviceCve[] = [];
    for (const raw of device.cves) {
      const cve = toDeviceCve(raw, { source: 'management console devicecves', index, key });
      if (isProblem(cve)) problems.push(cve);
      else cves.push(cve);
    }
    // The console names an address per CVE (the device's); the first one stands for the device.
    const ipAddress = device.cves.find((c) => c.ipAddress)?.ipAddress ?? device.ipAddresses[0]?.address;
    return { deviceKey: key, cves, ...(ipAddress ? { ipAddress } : {}) };
  }
}

/** What one sensor's CVE rows say about one of its devices. */
interface SensorDeviceCves {
  readonly cves: DeviceCve[];
  readonly addresses: string[];
  truncated: boolean;
}

/**
 * The OT sensor API `GET /api/v1/devices/cves?top=N` of every configured sensor as a vulnerability
 * source (a full read). The API lists CVEs by IP address, at most `top` per address; each
 * sensor's device list (`GET /api/v1/devices`) maps an address to the device, keyed
 * `<sensor>/<id>` as ot-inventory's sensor source keys it.
 *
 * - A device with an address that returned exactly `top` CVEs is marked `truncated` (CVEs missing
 *   from it are not closed; the run's summary counts it).
 * - CVEs on an address no device of the sensor has, or that several of its devices share, are
 *   reported as problems and given to no device; the devices sharing it are marked `truncated`,
 *   since their list is incomplete.
 * - A sensor that cannot be read (unreachable, an error answer) is reported as a problem and
 *   named `unread`: its devices keep their detections, and the other sensors are read.
 *
 * @example
 * const source = new SensorVulnerabilitySource(defender.sensors, 1000);
 */
export class SensorVulnerabilitySource implements VulnerabilitySource {
  readonly kind = 'sensor' as const;
  readonly incremental = false;

  constructor(
    private readonly clients: readonly SensorClient[],
    private readonly top: number,
  ) {}

  async *deviceCves(): AsyncIterable<VulnerabilityPage> {
    for (const client of this.clients) {
      let pages: VulnerabilityPage[];
      try {
        pages = await this.readSensor(client);
      } catch (error) {
        if (!(error instanceof UpstreamError)) throw error;
        yield {
          items: [],
          problems: [
            {
              source: `sensor ${client.name} cves`,
              index: 0,
              key: `sensor:${client.name}`,
              unread: unreadBecause(error),
              error: new InputError(
                `sensor ${client.name} could not be read; the detections of its devices are left as they are: ${error.message}`,
                { cause: error },
              ),
            },
          ],
          unread: [`${client.name}/`],
        };
        continue;
      }
      yield* pages;
    }
  }

  /** Reads one sensor completely before anything is yielded, so a sensor failing midway yields nothing. */
  private async readSensor(client: SensorClient): Promise<VulnerabilityPage[]> {
    const problems: RecordProblem[] = [];
    const devicesByAddress = new Map<string, number[]>();
    const addressOrder = new Map<number, string[]>();
    for await (const page of client.devices()) {
      problems.push(...page.problems);
      for (const device of page.items) {
        addressOrder.set(device.id, device.ipAddresses);
        for (const address of new Set(device.ipAddresses))
          devicesByAddress.set(address, [...(devicesByAddress.get(address) ?? []), device.id]);
      }
    }

    const byDevice = new Map<number, SensorDeviceCves>();
    const rowsPerAddress = new Map<string, number>();
    const unmatched = new Map<string, number>();
    const source = `sensor ${client.name} /api/v1/devices/cves`;
    let index = 0;
    for await (const page of client.cves({ top: this.top })) {
      problems.push(...page.problems);
      for (const row of page.items) {
        const at = index++;
        rowsPerAddress.set(row.ipAddress, (rowsPerAddress.get(row.ipAddress) ?? 0) + 1);
        const owners = devicesByAddress.get(row.ipAddress) ?? [];
        if (owners.length !== 1) {
          unmatched.set(row.ipAddress, (unmatched.get(row.ipAddress) ?? 0) + 1);
          continue;
        }
        const id = owners[0]!;
        const entry = entryOf(byDevice, id);
        const cve = toDeviceCve(row, { source, index: at, key: `${client.name}/${id}` });
        if (isProblem(cve)) problems.push(cve);
        else entry.cves.push(cve);
        if (!entry.addresses.includes(row.ipAddress)) entry.addresses.push(row.ipAddress);
      }
    }

    for (const [address, count] of rowsPerAddress) {
      if (count < this.top) continue;
      for (const id of devicesByAddress.get(address) ?? []) entryOf(byDevice, id).truncated = true;
    }
    for (const [address, count] of unmatched) {
      const owners = devicesByAddress.get(address) ?? [];
      for (const id of owners) entryOf(byDevice, id).truncated = true;
      problems.push({
        source,
        index: 0,
        key: `${client.name}/${address}`,
        error: new InputError(
          owners.length === 0
            ? `${source}: ${count} CVE(s) reported for ${address}, an address no device of sensor ${client.name} has; skipped`
            : `${source}: ${count} CVE(s) reported for ${address}, an address devices ${owners.map((id) => `${client.name}/${id}`).join(', ')} share; given to none of them, and their CVEs are not closed`,
        ),
      });
    }

    const devices: DeviceCves[] = [...byDevice].map(([id, entry]) => {
      // The device's first address (in the sensor's order) that carried CVEs stands for it.
      const ipAddress = (addressOrder.get(id) ?? []).find((a) => entry.addresses.includes(a));
      return {
        deviceKey: `${client.name}/${id}`,
        cves: entry.cves,
        ...(ipAddress ? { ipAddress } : {}),
        ...(entry.truncated ? { truncated: true } : {}),
      };
    });
    const pages: VulnerabilityPage[] = [];
    for (let start = 0; start < devices.length; start += SENSOR_PAGE)
      pages.push({ items: devices.slice(start, start + SENSOR_PAGE), problems: start === 0 ? problems : [] });
    if (pages.length === 0) pages.push({ items: [], problems });
    return pages;
  }
}

/**
 * Whether Resource Graph's `exploitType` says an exploit exists: ServiceNow's integration sets
 * Exploit exists and `public_exploit` "if the API data indicates an exploit exists"
 * (support-for-msft-defender-iot-azure.md); the ARM model's examples are "ExploitKit" and
 * "Unknown" (vulnerabilities.json). Undefined when the record does not say.
 */
export function exploitExists(exploitType: string | undefined): boolean | undefined {
  const value = exploitType?.trim();
  if (!value) return undefined;
  return !/^(unknown|none|notavailable|n\/a)$/i.test(value);
}

/**
 * Device vulnerabilities from Azure Resource Graph, as ServiceNow's own "Vulnerability Response
 * Integration with Microsoft Defender for IoT (Azure)" reads them (ServiceNow/ServiceNowDocs
 * markdown/operational-technology/operational-technology-vulnerability-response/support-for-msft-defender-iot-azure.md):
 * a full read of the vulnerability rows, grouped by device, plus the OT devices (those of OT
 * sensors, as ot-inventory reads them), whose sensor and addresses are given as `clues` so a
 * device can be recognised in an inventory read from the sensors (domain/ot/identity.ts).
 *
 * - Device key: the device resource's name, ot-inventory's key for its Resource Graph source.
 * - Vulnerabilities of devices that are not OT-sensor devices (Enterprise IoT, agents) are left
 *   out, as ot-inventory leaves those devices out.
 * - A malformed row is reported and skipped; its device is then marked `truncated`, so that a
 *   CVE that row may have carried is not closed.
 *
 * @example
 * const source = new ResourceGraphVulnerabilitySource(defender.iotResourceGraph);
 */
export class ResourceGraphVulnerabilitySource implements VulnerabilitySource {
  readonly kind = 'resourceGraph' as const;
  readonly incremental = false;

  constructor(
    private readonly reader: IotResourceGraphReader,
    /**
     * The part of a run split per sensor this source reads: one sensor's devices, or those of
     * no sensor Resource Graph lists (`other-sensors`); every device when omitted.
     */
    private readonly part?: string,
  ) {}

  /** The names of the sensors Resource Graph lists: a run split per sensor has one part each. */
  async sensorNames(): Promise<string[]> {
    const names = new Set<string>();
    for await (const page of this.reader.sensors()) {
      if (page.problems.length)
        throw new InputError(
          `Resource Graph's sensor list has ${page.problems.length} row(s) that do not parse (${page.problems[0]!.error.message}): a run split per sensor needs every sensor's name`,
        );
      for (const sensor of page.items) names.add(sensor.name);
    }
    return [...names].sort();
  }

  async *deviceCves(options: { clues?: ClueKeeper } = {}): AsyncIterable<VulnerabilityPage> {
    const keeper = options.clues ?? cluesInMemory();
    const problems: RecordProblem[] = [];
    const scope = await sensorScopeOfPart(this.part, () => this.sensorNames());
    for await (const page of this.reader.devices(scope)) {
      problems.push(...page.problems);
      await keeper.put(
        page.items.map((d) => [
          d.deviceId,
          {
            ...(d.sensor?.name ? { sensor: d.sensor.name } : {}),
            name: d.name,
            macs: d.nics.map((n) => n.macAddress).filter((m): m is string => !!m),
            ips: d.nics.flatMap((n) => [n.ipv4Address, n.ipv6Address]).filter((ip): ip is string => !!ip),
          },
        ]),
      );
    }
    // The rows come ordered by device (IotResourceGraphReader.vulnerabilities), so a device's
    // list is complete when the next device starts: the run holds one page of devices, not the
    // estate's CVEs (issue #24: 708 MB at 100,000 devices when every row was held). Which
    // devices are OT sensors' (the others are left out) is looked up a page at a time.
    const grouping = new DeviceRunGrouping();
    const source = 'Resource Graph device vulnerabilities';
    let finished: DeviceRun[] = [];
    const finish = (device: DeviceRun | undefined): void => {
      if (device && (device.cves.length > 0 || device.damaged)) finished.push(device);
    };
    /** The finished devices that are OT sensors' devices, with their clues, and their problems. */
    const pageOf = async (runs: readonly DeviceRun[]): Promise<VulnerabilityPage> => {
      const clues = await keeper.get(runs.map((r) => r.deviceId));
      const items: DeviceCves[] = [];
      const found: RecordProblem[] = [];
      for (const run of runs) {
        const known = clues.get(run.deviceId);
        if (!known) continue;
        found.push(...run.problems);
        items.push({
          deviceKey: run.deviceId,
          cves: run.cves,
          clues: known,
          ...(run.damaged ? { truncated: true } : {}),
        });
      }
      return { items, problems: found };
    };
    for await (const rows of this.reader.vulnerabilities(scope)) {
      const found: RecordProblem[] = [...problems.splice(0)];
      const damagedAt = new Map<number, string>();
      for (const problem of rows.problems) {
        found.push(problem);
        if (problem.key) damagedAt.set(problem.index, problem.key);
      }
      // Rows in their order: parsed ones and the device keys of those that did not parse.
      const positions = parsedPositions(rows);
      const ordered: Array<{ at: number; deviceId: string; row?: (typeof rows.items)[number] }> = [
        ...rows.items.map((row, k) => ({ at: positions[k]!, deviceId: row.deviceId, row })),
        ...[...damagedAt].map(([at, deviceId]) => ({ at, deviceId })),
      ].sort((x, y) => x.at - y.at);
      for (const { at, deviceId, row } of ordered) {
        const step = grouping.next(deviceId);
        finish(step.finished);
        if (step.again)
          step.current.problems.push({
            source,
            index: at,
            key: deviceId,
            error: new InputError(
              `device ${deviceId}'s vulnerability rows were not together in Resource Graph's order (rows changed while paging?): its rows after the break are added to what was read, closing nothing more for it; the next run reads it whole`,
            ),
          });
        if (!row) {
          step.current.damaged = true;
          continue;
        }
        const cve = toDeviceCve(
          {
            cveId: row.cveId,
            score: row.score,
            description: row.description,
            exploit: exploitExists(row.exploitType),
            detectionKey: row.name,
          },
          { source, index: at, key: deviceId },
        );
        if (isProblem(cve)) {
          step.current.problems.push(cve);
          step.current.damaged = true;
        } else step.current.cves.push(cve);
      }
      if (finished.length >= SENSOR_PAGE) {
        const page = await pageOf(finished);
        finished = [];
        yield { items: page.items, problems: [...found, ...page.problems] };
      } else if (found.length) yield { items: [], problems: found };
    }
    finish(grouping.end());
    const last = await pageOf(finished);
    yield { items: last.items, problems: [...problems.splice(0), ...last.problems] };
  }
}

/** A {@link ClueKeeper} in memory. */
export function cluesInMemory(): ClueKeeper {
  const kept = new Map<string, DeviceClues>();
  return {
    put: async (clues) => {
      for (const [id, c] of clues) kept.set(id, c);
    },
    get: async (ids) => new Map(ids.flatMap((id) => (kept.has(id) ? [[id, kept.get(id)!] as const] : []))),
  };
}

/** The CVE rows of one device, gathered while Resource Graph lists them. */
interface DeviceRun {
  readonly deviceId: string;
  readonly cves: DeviceCve[];
  /** A row of the device did not parse, or the device came back after its list was closed. */
  damaged: boolean;
  /** What was wrong with its rows, reported if it is an OT sensor's device. */
  readonly problems: RecordProblem[];
}

/**
 * Groups rows that come ordered by device into one run per device. A device that comes back
 * after another device started (Resource Graph's order broke, e.g. rows changed while paging)
 * starts a new run marked damaged, so the flow keeps its CVEs rather than close the ones the
 * first run lacked.
 */
class DeviceRunGrouping {
  private current: DeviceRun | undefined;
  private readonly closed = new Set<string>();

  /** Moves to `deviceId`'s run; `finished` is the run it closed, `again` that the device was closed before. */
  next(deviceId: string): { current: DeviceRun; finished?: DeviceRun; again: boolean } {
    if (this.current?.deviceId === deviceId) return { current: this.current, again: false };
    const finished = this.end();
    const again = this.closed.has(deviceId);
    this.current = { deviceId, cves: [], damaged: again, problems: [] };
    return { current: this.current, ...(finished ? { finished } : {}), again };
  }

  /** Closes the current run and returns it. */
  end(): DeviceRun | undefined {
    const finished = this.current;
    if (finished) this.closed.add(finished.deviceId);
    this.current = undefined;
    return finished;
  }
}

function entryOf(byDevice: Map<number, SensorDeviceCves>, id: number): SensorDeviceCves {
  let entry = byDevice.get(id);
  if (!entry) {
    entry = { cves: [], addresses: [], truncated: false };
    byDevice.set(id, entry);
  }
  return entry;
}

/**
 * The vulnerability source the configuration names, built on the integration's Defender clients.
 *
 * CVEs find their CI through the device ot-inventory recorded: by the same key when both flows
 * read the same source, or, for Resource Graph CVEs over a sensor inventory, by the identity rule
 * of domain/ot/identity.ts (see MATCHABLE_INVENTORY in domain/vulnerabilities/source-match.ts).
 *
 * @throws ConfigError when the source is not usable with this configuration.
 */
export function otVulnerabilitiesSource(
  integration: IntegrationConfig,
  sources: DefenderSources,
  /** The part of a split run this source is for (docs/scale-out.md): one sensor alone, or the rest. */
  part?: string,
): VulnerabilitySource {
  const config = integration.flows.otVulnerabilities;
  if (!config)
    throw new ConfigError([
      { path: 'flows.otVulnerabilities', message: 'flow ot-vulnerabilities is not configured' },
    ]);
  const problems = vulnerabilitySourceProblems(integration.flows);
  if (problems.length)
    throw new ConfigError(
      problems.map((p) => ({
        path: p.path.join('.'),
        message: p.message,
        ...(p.example ? { example: p.example } : {}),
      })),
    );
  const kind = config.source;
  if (kind === 'resourceGraph') return new ResourceGraphVulnerabilitySource(sources.iotResourceGraph, part);
  const sensor = sensorOfPart(part);
  if (kind === 'sensor') {
    if (sources.sensors.length === 0)
      throw new ConfigError([
        {
          path: 'defender.sensors',
          message: 'flows.otVulnerabilities.source is sensor but no sensors are configured',
        },
      ]);
    const clients = sensor === undefined ? sources.sensors : sources.sensors.filter((c) => c.name === sensor);
    if (clients.length === 0)
      throw new ConfigError([
        {
          path: 'defender.sensors',
          message: `a run of sensor ${sensor} alone was asked for, but no sensor of that name is configured; a worker with another configuration queued it`,
        },
      ]);
    return new SensorVulnerabilitySource(clients, config.sensorTop);
  }
  if (!sources.console || !integration.defender.console)
    throw new ConfigError([
      {
        path: 'defender.console',
        message: 'flows.otVulnerabilities.source is console but defender.console is not configured',
      },
    ]);
  return new ConsoleVulnerabilitySource(sources.console);
}
