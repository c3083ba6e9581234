import { z } from 'zod';
import type { DeviceCves } from '../../domain/vulnerabilities/records.js';
import {
  completeDeferredWork,
  deferredWorkPages,
  type DeferredWorkKind,
} from '../../store/models/deferred-work.js';
import type { Store } from '../../store/store.js';
import { FlowMemory, type MemoryScope } from '../kernel/memory.js';

/**
 * What flow ot-vulnerabilities remembers, typed: per device the CI and the CVEs it holds open
 * detections for, per detection its CI, status and item, per CVE its NVD entry (no data); and the
 * devices whose CVEs wait as deferred work of kind `pending` (no CI yet, or a failed write).
 */

const FLOW = 'ot-vulnerabilities' as const;

/** Deferred work kind for devices whose CVEs wait (no CI yet, or a write failed). */
export const PENDING_KIND = 'pending';

/** What the flow remembers per device (entity `device`). */
export const DeviceVulnerabilitiesSchema = z.object({
  ci: z.string(),
  /** CVEs Snowline holds open detections for (closed when no longer reported). */
  cves: z.array(z.string()),
});
export type DeviceVulnerabilities = z.infer<typeof DeviceVulnerabilitiesSchema>;

/** What the flow remembers per detection (entity `detection`). */
export const DetectionMemorySchema = z.object({
  ci: z.string(),
  status: z.enum(['open', 'fixed', 'stale', 'other']),
  item: z.string().optional(),
});
export type DetectionMemory = z.infer<typeof DetectionMemorySchema>;

/**
 * What the flow remembers per NVD entry (entity `vulnerability`): whether Snowline created it
 * (then it follows Defender's details) or found it (then only its empty fields are filled).
 * Entries recorded before this was kept parse as found.
 */
export const VulnerabilityMemorySchema = z.object({ created: z.boolean().optional() });

/** The flow's memories for a run (its recorder overlaid). */
export function vulnerabilityMemories(scope: Omit<MemoryScope, 'flow'>) {
  const of = { ...scope, flow: FLOW };
  return {
    devices: new FlowMemory(of, 'device', DeviceVulnerabilitiesSchema),
    detections: new FlowMemory(of, 'detection', DetectionMemorySchema),
    vulnerabilities: new FlowMemory(of, 'vulnerability', VulnerabilityMemorySchema),
    /** Unclassed hardware CIs created for devices without one (`requireCiMatch: false`). */
    hardware: new FlowMemory(of, 'hardware', z.unknown()),
  };
}

/** The partition key of one device's pending CVEs. */
export function pendingPartition(deviceKey: string): string {
  return `device:${deviceKey}`;
}

/** One device's pending CVEs. */
export interface PendingDevice {
  readonly deviceKey: string;
  readonly payload: DeviceCves | undefined;
  /** When a run last kept the device pending (its clock reading): a run handles each device once. */
  readonly keptAt?: string;
}

/** The pending work of one integration's ot-vulnerabilities. */
export function pendingKind(integrationId: string): DeferredWorkKind {
  return { integrationId, flow: FLOW, kind: PENDING_KIND };
}

/** Pending devices, a page at a time, in key order. */
export async function* pendingDevices(
  store: Store,
  integrationId: string,
  pageSize = 200,
): AsyncGenerator<PendingDevice[]> {
  for await (const rows of deferredWorkPages(store.db, pendingKind(integrationId), pageSize)) {
    yield rows.map((row) => {
      const deviceKey = row.partitionKey.slice('device:'.length);
      const parsed = parsePayload(row.payload);
      if (!parsed) return { deviceKey, payload: undefined };
      const { keptAt, ...payload } = parsed;
      return { deviceKey, payload, ...(typeof keptAt === 'string' ? { keptAt } : {}) };
    });
  }
}

/** Removes the pending work of the given devices (those written, or superseded). */
export async function completePending(
  store: Store,
  integrationId: string,
  deviceKeys: readonly string[],
): Promise<void> {
  await completeDeferredWork(store.db, pendingKind(integrationId), deviceKeys.map(pendingPartition));
}

function parsePayload(text: string | null): (DeviceCves & { keptAt?: unknown }) | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as DeviceCves & { keptAt?: unknown };
    return typeof value.deviceKey === 'string' && Array.isArray(value.cves) ? value : undefined;
  } catch {
    return undefined;
  }
}
