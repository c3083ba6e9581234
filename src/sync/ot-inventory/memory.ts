import { z } from 'zod';
import {
  DeviceIdentityIndex,
  identityKeysFor,
  identityKeysOf,
  type DeviceFacts,
  type IdentityKey,
  type Recognition,
} from '../../domain/ot/identity.js';
import type { RunScratch } from '../../store/models/scratch.js';
import { FlowMemory, type MemoryScope } from '../kernel/memory.js';

/**
 * What flow ot-inventory remembers of a device (entity `device`, keyed by the Defender device
 * key): enough to retire it when it is no longer reported, and to map its connections when an
 * incremental source does not repeat it.
 */
export const DeviceMemorySchema = z.object({
  name: z.string(),
  deviceType: z.string(),
  zone: z.string().optional(),
  site: z.string().optional(),
  nics: z.array(z.object({ mac: z.string().optional(), ip: z.string().optional() })).optional(),
  /** Reported deleted by an incremental source (the console's deleteddevices). */
  deleted: z.boolean().optional(),
  /** Defender's last seen as last written to `last_discovered` (ISO time). */
  discoveredAt: z.string().optional(),
  /** The connector's native key it was written under (Resource Graph: the Azure resource id). */
  nativeKey: z.string().optional(),
});

/** What ot-inventory remembers of a device. */
export type DeviceMemory = z.infer<typeof DeviceMemorySchema>;

/** The devices ot-inventory remembers (their CI sys_id is the entity state's remote sys_id). */
export function deviceMemory(scope: Omit<MemoryScope, 'flow'>): FlowMemory<DeviceMemory> {
  return new FlowMemory({ ...scope, flow: 'ot-inventory' }, 'device', DeviceMemorySchema);
}

/**
 * The devices ot-inventory recorded and did not retire, indexed for the one device identity
 * (domain/ot/identity.ts): how flows whose source keys devices otherwise find ot-inventory's device.
 */
export async function deviceIdentityIndex(scope: Omit<MemoryScope, 'flow'>): Promise<DeviceIdentityIndex> {
  const index = new DeviceIdentityIndex();
  for await (const page of deviceMemory(scope).all())
    for (const state of page)
      if (!state.retiredAt && state.data) index.add({ key: state.key, nics: state.data.nics ?? [] });
  return index;
}

/** The scratch kind of {@link StoredDeviceIdentity}'s rows. */
const IDENTITY = 'identity';
/** Between an address key and a device key in a row's key (no key holds this character). */
const SEPARATOR = '\u001f';

/**
 * {@link deviceIdentityIndex} kept in a run's scratch table instead of in memory: one row per
 * (address key, device), read back for a page of facts at a time, so a run that recognises
 * devices does not hold every device of the estate (issue #24: about 1.7 KB a device with the
 * Resource Graph clues). The rule is the index's own: a page's look-ups rebuild an index of just
 * the keys its facts ask for.
 *
 * @example
 * const identity = await StoredDeviceIdentity.build({ store, integrationId }, scratch);
 * const [found] = await identity.recognise([{ sensor: 'line-1', macs: ['00-1A-2B-3C-4D-5E'], ips: [] }]);
 */
export class StoredDeviceIdentity {
  private constructor(private readonly scratch: RunScratch) {}

  /** Indexes the devices ot-inventory recorded and did not retire into `scratch`. */
  static async build(scope: Omit<MemoryScope, 'flow'>, scratch: RunScratch): Promise<StoredDeviceIdentity> {
    for await (const page of deviceMemory(scope).all())
      await scratch.put(
        IDENTITY,
        page.flatMap((state) =>
          !state.retiredAt && state.data
            ? identityKeysOf({ key: state.key, nics: state.data.nics ?? [] }).map((k) => ({
                key: `${sortKeyOf(k)}${SEPARATOR}${state.key}`,
                sortKey: sortKeyOf(k),
                data: state.key,
              }))
            : [],
        ),
      );
    return new StoredDeviceIdentity(scratch);
  }

  /** Each of these facts recognised (or why not), with one look-up for all of them. */
  async recognise(all: readonly DeviceFacts[]): Promise<Recognition[]> {
    const asked = all.flatMap((facts) => identityKeysFor(facts));
    const rows = await this.scratch.bySortKeys<string>(IDENTITY, asked.map(sortKeyOf));
    const index = new DeviceIdentityIndex();
    for (const row of rows) {
      const kind = row.sortKey.startsWith('MAC|') ? 'MAC' : 'IP';
      if (row.data) index.addKey({ kind, key: row.sortKey.slice(kind.length + 1), value: '' }, row.data);
    }
    return all.map((facts) => index.recognise(facts));
  }
}

function sortKeyOf(key: IdentityKey): string {
  return `${key.kind}|${key.key}`;
}

/** What ot-inventory remembers of a connection: Defender's last seen as last written to `last_communication`. */
export const ConnectionMemorySchema = z.object({ communicatedAt: z.string().optional() });

/** What ot-inventory remembers of a connection. */
export type ConnectionMemory = z.infer<typeof ConnectionMemorySchema>;

/** The connections ot-inventory remembers. */
export function connectionMemory(scope: Omit<MemoryScope, 'flow'>): FlowMemory<ConnectionMemory> {
  return new FlowMemory({ ...scope, flow: 'ot-inventory' }, 'connection', ConnectionMemorySchema);
}

/** Entities ot-inventory records without flow-specific data (sites, sensors). */
export function inventoryEntities(
  scope: Omit<MemoryScope, 'flow'>,
  entity: 'site' | 'sensor',
): FlowMemory<unknown> {
  return new FlowMemory({ ...scope, flow: 'ot-inventory' }, entity, z.unknown());
}
