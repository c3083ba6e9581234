import type { DeviceClues, DeviceCves } from '../../domain/vulnerabilities/records.js';
import type { SourcePage } from '../../sources/common.js';

export type { RecordProblem, SourcePage } from '../../sources/common.js';

/**
 * One page of device CVEs. `unread` names the devices a source could not read this run, as
 * device-key prefixes (`line-1/` for a sensor that did not answer): a full-read source that
 * cannot reach one sensor still reads the others, and the devices it could not read are neither
 * compared nor closed as "no longer reported" — their detections stay as they are.
 */
export interface VulnerabilityPage extends SourcePage<DeviceCves> {
  readonly unread?: readonly string[];
}

/**
 * What ot-vulnerabilities reads from Defender for IoT: the CVEs of each device, keyed by the
 * same device key ot-inventory records (its entity_state `source_key` for entity `device`), so
 * that the CI written by ot-inventory is found without asking ServiceNow.
 *
 * - `console`: the management console's `devicecves/{timestamp}` (incremental: only devices
 *   changed since `since`; devices not listed keep their detections as they are).
 * - `sensor`: `/api/v1/devices/cves?top=N` per sensor, keyed by IP and mapped to devices
 *   through the sensor's device list (full read; a list of exactly `top` CVEs is marked
 *   `truncated`).
 * - `resourceGraph`: the device vulnerability rows ServiceNow's VR app reads (ServiceNow/ServiceNowDocs
 *   markdown/operational-technology/operational-technology-vulnerability-response/support-for-msft-defender-iot-azure.md;
 *   the Resource Graph type is UNVERIFIED, see models.ts), grouped by device (full read).
 *
 * A device listed with no CVEs says "this device has none": its open detections close.
 * Implementations: `sources.ts`.
 */
export interface VulnerabilitySource {
  readonly kind: 'console' | 'sensor' | 'resourceGraph';
  /** True when `deviceCves` returns only devices changed since `since`. */
  readonly incremental: boolean;
  /**
   * CVEs per device, page by page. An incremental source reads only what changed since `since`
   * (all when undefined); a source that must hold something per device meanwhile (Resource
   * Graph's clues) keeps it in `clues` when given, in memory otherwise.
   */
  deviceCves(options: { since?: Date; clues?: ClueKeeper }): AsyncIterable<VulnerabilityPage>;
  /**
   * The sensors the source lists itself (Resource Graph), whose devices a run split per sensor
   * reads one sensor per part; absent for a source whose sensors are configured.
   */
  sensorNames?(): Promise<string[]>;
}

/**
 * Where the Resource Graph source keeps each OT device's clues (sensor, name, addresses) between
 * reading the devices and reading their CVEs: in memory, or in the run's scratch table so that a
 * run does not hold every device of the estate (see the flow).
 */
export interface ClueKeeper {
  put(clues: ReadonlyArray<readonly [deviceId: string, clues: DeviceClues]>): Promise<void>;
  get(deviceIds: readonly string[]): Promise<ReadonlyMap<string, DeviceClues>>;
}
