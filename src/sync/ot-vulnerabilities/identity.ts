import type { DeviceIdentityIndex } from '../../domain/ot/identity.js';
import type { DeviceCves } from '../../domain/vulnerabilities/records.js';
import type { Store } from '../../store/store.js';
import { deviceIdentityIndex } from '../ot-inventory/memory.js';

/** A device of the CVE source, as ot-inventory knows it, or why it could not be recognised. */
export type InventoryMatch =
  { readonly device: DeviceCves } | { readonly device?: undefined; readonly reason: string };

/**
 * The devices ot-inventory recorded, for CVE sources whose device keys are not ot-inventory's
 * (Resource Graph CVEs over a sensor inventory): each CVE device is recognised by the rule of
 * domain/ot/identity.ts and given the inventory's key, so that its CI, its detections and their
 * closing follow that device. The index is built once per run, on first use, from committed and
 * queued device states; retired devices are left out (their CVEs would open nothing).
 *
 * @example
 * const inventory = new InventoryDevices({ store, integrationId });
 * const match = await inventory.recognise(device); // { device: { deviceKey: 'line-1/42', … } } or { reason }
 */
export class InventoryDevices {
  private index: Promise<DeviceIdentityIndex> | undefined;

  constructor(private readonly scope: { readonly store: Store; readonly integrationId: string }) {}

  /** The device under ot-inventory's key; devices without clues are taken as already keyed so. */
  async recognise(device: DeviceCves): Promise<InventoryMatch> {
    if (!device.clues) return { device };
    const index = await (this.index ??= deviceIdentityIndex(this.scope));
    const found = index.recognise(device.clues);
    if ('reason' in found)
      return {
        reason: `Defender device ${device.clues.name ? `"${device.clues.name}" ` : ''}(${device.deviceKey}) is not recognised in ot-inventory's devices: ${found.reason}`,
      };
    const { clues: _clues, ...rest } = device;
    return { device: { ...rest, deviceKey: found.key } };
  }
}
