import type { DeviceCves } from '../../domain/vulnerabilities/records.js';
import type { RunScratch } from '../../store/models/scratch.js';
import type { Store } from '../../store/store.js';
import { StoredDeviceIdentity } from '../ot-inventory/memory.js';

/** A device of the CVE source, as ot-inventory knows it, or why it could not be recognised. */
export type InventoryMatch =
  { readonly device: DeviceCves } | { readonly device?: undefined; readonly reason: string };

/**
 * The devices ot-inventory recorded, for CVE sources whose device keys are not ot-inventory's
 * (Resource Graph CVEs over a sensor inventory): each CVE device is recognised by the rule of
 * domain/ot/identity.ts and given the inventory's key, so that its CI, its detections and their
 * closing follow that device. The index is built once per run, on first use, from committed and
 * queued device states, in the run's scratch table (a page of devices is recognised with one
 * look-up, so the run does not hold the estate); retired devices are left out (their CVEs would
 * open nothing).
 *
 * @example
 * const inventory = new InventoryDevices({ store, integrationId }, scratch);
 * const [match] = await inventory.recognise([device]); // { device: { deviceKey: 'line-1/42', … } } or { reason }
 */
export class InventoryDevices {
  private identity: Promise<StoredDeviceIdentity> | undefined;

  constructor(
    private readonly scope: { readonly store: Store; readonly integrationId: string },
    private readonly scratch: RunScratch,
  ) {}

  /** The devices under ot-inventory's keys, in order; devices without clues are taken as already keyed so. */
  async recognise(devices: readonly DeviceCves[]): Promise<InventoryMatch[]> {
    const withClues = devices.filter((d) => d.clues);
    const found = withClues.length
      ? await (
          await (this.identity ??= StoredDeviceIdentity.build(this.scope, this.scratch))
        ).recognise(withClues.map((d) => d.clues!))
      : [];
    let next = 0;
    return devices.map((device): InventoryMatch => {
      if (!device.clues) return { device };
      const match = found[next++]!;
      if ('reason' in match)
        return {
          reason: `Defender device ${device.clues.name ? `"${device.clues.name}" ` : ''}(${device.deviceKey}) is not recognised in ot-inventory's devices: ${match.reason}`,
        };
      const { clues: _clues, ...rest } = device;
      return { device: { ...rest, deviceKey: match.key } };
    });
  }
}
