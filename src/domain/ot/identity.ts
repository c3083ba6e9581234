import { normaliseMac } from './records.js';

/**
 * One device identity across Defender sources: how a device read from one source (Resource
 * Graph, a sensor, the console) is recognised in what ot-inventory recorded from another.
 *
 * Each source keys devices its own way — Resource Graph by the device resource's name (a GUID,
 * Azure/azure-rest-api-specs specification/iotsecurity/resource-manager/Microsoft.IoTSecurity/
 * preview/2021-02-01-preview/devices.json), a sensor by its numeric `id`
 * (MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/api/sensor-inventory-apis.md),
 * the console by `u_id` — and Microsoft documents no field that carries one source's key in
 * another (searched: the device schemas above, the Resource Graph tables reference, the sensor
 * and console API pages). What the sources do share are the facts a device is seen by: the
 * sensor that sees it (Resource Graph `properties.sensor.name`, the sensor's own name) and its
 * network interfaces. Snowline's rule, built on those and on what the CMDB itself identifies
 * hardware by (NIC lookup on MAC address, ServiceNow/ServiceNowDocs
 * markdown/servicenow-platform/configuration-management-database-cmdb/ire.md):
 *
 * 1. Only devices of the same sensor are compared (a device key `<sensor>/<id>` names it; a key
 *    without a sensor is compared with every device).
 * 2. A MAC address the device has that exactly one candidate has: that candidate.
 * 3. Otherwise (no MAC on one side), an IP address exactly one candidate has: that candidate.
 * 4. Otherwise the device is not recognised, and why is said: no candidate shares an address, or
 *    several do (a MAC or IP that two devices of the sensor share identifies neither).
 *
 * Two candidates matched by different MACs also leave the device unrecognised.
 */

/** A device as ot-inventory recorded it: its key and interfaces. */
export interface KnownDevice {
  readonly key: string;
  readonly nics: readonly { readonly mac?: string | undefined; readonly ip?: string | undefined }[];
}

/** What is known of the device to recognise (`DeviceClues` of the vulnerability records). */
export interface DeviceFacts {
  readonly sensor?: string | undefined;
  readonly macs: readonly string[];
  readonly ips: readonly string[];
}

/** The outcome of {@link DeviceIdentityIndex.recognise}: the known device's key, or why there is none. */
export type Recognition = { readonly key: string } | { readonly reason: string };

/** The sensor a `<sensor>/<id>` key names, or undefined for keys of sources without one. */
export function sensorOfKey(key: string): string | undefined {
  const slash = key.indexOf('/');
  return slash > 0 ? key.slice(0, slash) : undefined;
}

/**
 * The devices ot-inventory recorded, indexed by (sensor, MAC) and (sensor, IP), for the rule
 * above.
 *
 * @example
 * const index = new DeviceIdentityIndex();
 * index.add({ key: 'line-1/42', nics: [{ mac: '00:1a:2b:3c:4d:5e', ip: '10.1.0.7' }] });
 * index.recognise({ sensor: 'line-1', macs: ['00-1A-2B-3C-4D-5E'], ips: [] }); // { key: 'line-1/42' }
 */
export class DeviceIdentityIndex {
  private readonly byMac = new Map<string, string[]>();
  private readonly byIp = new Map<string, string[]>();
  private count = 0;

  /** Devices indexed so far. */
  get size(): number {
    return this.count;
  }

  add(device: KnownDevice): void {
    this.count += 1;
    for (const key of identityKeysOf(device)) this.addKey(key, device.key);
  }

  /**
   * Indexes one address key of a known device (from {@link identityKeysOf}): how an index of only
   * the keys some devices' facts ask for is rebuilt from a store of them.
   */
  addKey(key: IdentityKey, deviceKey: string): void {
    push(key.kind === 'MAC' ? this.byMac : this.byIp, key.key, deviceKey);
  }

  /** The known device the facts describe, by the rule in this module's comment. */
  recognise(facts: DeviceFacts): Recognition {
    const where = facts.sensor ? ` of sensor ${facts.sensor}` : '';
    const asked = identityKeysFor(facts);
    for (const [kind, map] of [
      ['MAC', this.byMac],
      ['IP', this.byIp],
    ] as const) {
      const { keys, shared } = lookUp(
        map,
        asked.filter((k) => k.kind === kind),
      );
      if (keys.size === 1) return { key: [...keys][0]! };
      if (keys.size > 1)
        return {
          reason: `its ${kind} addresses belong to different devices${where} (${[...keys].join(', ')})`,
        };
      if (shared) return { reason: `its ${kind} address ${shared} is shared by several devices${where}` };
    }
    const addresses = asked.map((k) => k.value);
    return {
      reason: addresses.length
        ? `no device${where} that ot-inventory recorded has its addresses (${addresses.slice(0, 4).join(', ')})`
        : 'the source gives no MAC or IP address to recognise it by',
    };
  }
}

/** One address a device is indexed and looked up by: `<sensor>|<normalised MAC or IP>`. */
export interface IdentityKey {
  readonly kind: 'MAC' | 'IP';
  readonly key: string;
  /** The address itself, for messages. */
  readonly value: string;
}

/** The keys a known device is indexed under: its MACs (normalised) and IPs, under the sensor its key names. */
export function identityKeysOf(device: KnownDevice): IdentityKey[] {
  return identityKeys(
    sensorOfKey(device.key) ?? '',
    device.nics.map((n) => n.mac).filter((m): m is string => m !== undefined),
    device.nics.map((n) => n.ip).filter((ip): ip is string => ip !== undefined),
  );
}

/** The keys facts are looked up by: MACs first, then IPs, each once. */
export function identityKeysFor(facts: DeviceFacts): IdentityKey[] {
  return identityKeys(facts.sensor ?? '', facts.macs, facts.ips);
}

function identityKeys(sensor: string, macs: readonly string[], ips: readonly string[]): IdentityKey[] {
  const macValues = [...new Set(macs.map((m) => normaliseMac(m)).filter((m): m is string => !!m))];
  const ipValues = [...new Set(ips.map((ip) => ip.trim()).filter(Boolean))];
  return [
    ...macValues.map((value) => ({ kind: 'MAC' as const, key: `${sensor}|${value}`, value })),
    ...ipValues.map((value) => ({ kind: 'IP' as const, key: `${sensor}|${value}`, value })),
  ];
}

function lookUp(
  map: ReadonlyMap<string, readonly string[]>,
  asked: readonly IdentityKey[],
): { keys: Set<string>; shared?: string } {
  const keys = new Set<string>();
  let shared: string | undefined;
  for (const { key, value } of asked) {
    const found = map.get(key) ?? [];
    if (found.length === 1) keys.add(found[0]!);
    else if (found.length > 1) shared ??= value;
  }
  return shared === undefined ? { keys } : { keys, shared };
}

function push(map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key);
  if (!list) map.set(key, [value]);
  else if (!list.includes(value)) list.push(value);
}
