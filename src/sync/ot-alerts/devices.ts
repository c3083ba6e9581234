import type { DeviceIdentityIndex } from '../../domain/ot/identity.js';
import { normaliseMac } from '../../domain/ot/records.js';
import type { Store } from '../../store/store.js';
import { deviceIdentityIndex, deviceMemory } from '../ot-inventory/memory.js';
import type { SourcedAlert } from './sources.js';

/** The device of an alert as ot-inventory knows it, or why it is not known. */
export interface AlertDeviceMatch {
  /** ot-inventory's key of the device. */
  readonly key?: string | undefined;
  /** The device's CI (what ot-inventory wrote), for `cmdb_ci`. */
  readonly ci?: string | undefined;
  readonly name?: string | undefined;
  readonly site?: string | undefined;
  readonly zone?: string | undefined;
  /** Why no CI is linked, when none is. */
  readonly why?: string | undefined;
}

/**
 * Finds the device of an alert among those ot-inventory recorded, and its CI. When ot-inventory
 * reads the same source, the alert's device key is ot-inventory's key. Otherwise the device is
 * recognised by the one device identity (domain/ot/identity.ts: same sensor, then a unique MAC,
 * then a unique IP) from the alert's sensor and source address (the sensor API's v2 address is
 * "IP or MAC", sensor-alert-apis.md). Retired devices link no CI.
 *
 * @example
 * const devices = new AlertDevices({ store, integrationId }, { sameSource: true, keysCarrySensor: true });
 * const match = await devices.find(sourced); // { key: 'line-1/42', ci: '…', name: 'PLC-7' } or { why }
 */
export class AlertDevices {
  private index: Promise<DeviceIdentityIndex> | undefined;

  constructor(
    private readonly scope: { readonly store: Store; readonly integrationId: string },
    private readonly options: {
      /** ot-inventory reads the alerts' source: device keys are shared. */
      readonly sameSource: boolean;
      /** ot-inventory's keys are `<sensor>/<id>` (its sensor source), so matches stay on the alert's sensor. */
      readonly keysCarrySensor: boolean;
    },
  ) {}

  async find(sourced: SourcedAlert): Promise<AlertDeviceMatch> {
    const key = this.options.sameSource ? sourced.deviceKey : await this.recognise(sourced);
    if (typeof key === 'object') return key;
    if (!key) return { why: 'the alert names no device' };
    const device = await deviceMemory(this.scope).one(key);
    if (!device) return { key, why: `ot-inventory has not recorded device ${key}` };
    const facts = {
      key,
      name: device.data?.name,
      site: device.data?.site,
      zone: device.data?.zone,
    };
    if (device.retiredAt) return { ...facts, why: `device ${key} was retired by ot-inventory` };
    if (!device.remoteSysId) return { ...facts, why: `ot-inventory has written no CI for device ${key} yet` };
    return { ...facts, ci: device.remoteSysId };
  }

  private async recognise(sourced: SourcedAlert): Promise<string | { why: string } | undefined> {
    const address = sourced.alert.sourceAddress;
    if (!address) return undefined;
    const mac = normaliseMac(address);
    const index = await (this.index ??= deviceIdentityIndex(this.scope));
    const found = index.recognise({
      ...(this.options.keysCarrySensor && sourced.alert.sensor ? { sensor: sourced.alert.sensor } : {}),
      macs: mac ? [mac] : [],
      ips: mac ? [] : [address],
    });
    return 'key' in found ? found.key : { why: `the alert's device is not recognised: ${found.reason}` };
  }
}
