import { z } from 'zod';
import { DeviceIdentityIndex } from '../../domain/ot/identity.js';
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
