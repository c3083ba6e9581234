import { z } from 'zod';
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
});

/** What ot-inventory remembers of a device. */
export type DeviceMemory = z.infer<typeof DeviceMemorySchema>;

/** The devices ot-inventory remembers (their CI sys_id is the entity state's remote sys_id). */
export function deviceMemory(scope: Omit<MemoryScope, 'flow'>): FlowMemory<DeviceMemory> {
  return new FlowMemory({ ...scope, flow: 'ot-inventory' }, 'device', DeviceMemorySchema);
}

/** Entities ot-inventory records without flow-specific data (sites, sensors, connections). */
export function inventoryEntities(
  scope: Omit<MemoryScope, 'flow'>,
  entity: 'site' | 'sensor' | 'connection',
): FlowMemory<unknown> {
  return new FlowMemory({ ...scope, flow: 'ot-inventory' }, entity, z.unknown());
}
