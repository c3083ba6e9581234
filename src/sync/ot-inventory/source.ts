import type { OtConnection, OtDevice, OtSensor, OtSite } from '../../domain/ot/records.js';
import type { SourcePage } from '../../sources/common.js';

export type { RecordProblem, SourcePage } from '../../sources/common.js';

/**
 * What ot-inventory reads from Defender for IoT. The sensor API, the management console and
 * Azure Resource Graph each implement it, and provide only what they have (docs/ot-inventory.md,
 * "Sources"): a source without connections says so, and one that is
 * incremental reports deletions instead of leaving unseen devices to be retired.
 */
export interface OtInventorySource {
  readonly kind: 'sensor' | 'console' | 'resourceGraph';
  /** True when the source reports connections. */
  readonly hasConnections: boolean;
  /** True when `devices` returns only what changed since `since`, and deletions come from `deletedDevices`. */
  readonly incremental: boolean;
  /** Sites the source knows of up front (sites named only on devices are added as they appear). */
  sites(): Promise<SourcePage<OtSite>>;
  sensors(): Promise<SourcePage<OtSensor>>;
  /** Devices, page by page. An incremental source reads only those changed since `since` (all when undefined). */
  devices(options: { since?: Date }): AsyncIterable<SourcePage<OtDevice>>;
  /** Keys of devices deleted since `since` (incremental sources only). */
  deletedDevices?(since: Date): Promise<readonly string[]>;
  /** Connections; an incremental source reads only those active since `since` (all when undefined). */
  connections?(options: { since?: Date }): AsyncIterable<SourcePage<OtConnection>>;
  close?(): Promise<void>;
}
