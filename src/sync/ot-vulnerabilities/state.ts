import type { Kysely } from 'kysely';
import type { DeviceCves } from '../../domain/vulnerabilities/records.js';
import { chunksFor } from '../../store/chunks.js';
import type { Database } from '../../store/schema.js';

/**
 * The flow's reads of its own local state that the shared store models do not offer: the
 * pending devices (deferred work of kind `pending`) and all device states, both paged by key so
 * that memory does not grow with the estate.
 */

/** Deferred work kind for devices whose CVEs wait (no CI yet, or a write failed). */
export const PENDING_KIND = 'pending';

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

/** Pending devices of a flow, a page at a time, in key order. */
export async function* pendingDevices(
  db: Kysely<Database>,
  integrationId: string,
  flow: string,
  pageSize = 200,
): AsyncGenerator<PendingDevice[]> {
  let after = '';
  for (;;) {
    const rows = await db
      .selectFrom('deferred_work')
      .select(['partition_key', 'payload'])
      .where('integration_id', '=', integrationId)
      .where('flow', '=', flow)
      .where('kind', '=', PENDING_KIND)
      .where('partition_key', '>', after)
      .orderBy('partition_key')
      .limit(pageSize)
      .execute();
    if (rows.length === 0) return;
    yield rows.map((row) => {
      const parsed = parsePayload(row.payload);
      if (!parsed) return { deviceKey: row.partition_key.slice('device:'.length), payload: undefined };
      const { keptAt, ...payload } = parsed;
      return {
        deviceKey: row.partition_key.slice('device:'.length),
        payload,
        ...(typeof keptAt === 'string' ? { keptAt } : {}),
      };
    });
    after = rows[rows.length - 1]!.partition_key;
    if (rows.length < pageSize) return;
  }
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

/** Removes the pending work of the given devices (those written, or superseded). */
export async function completePending(
  db: Kysely<Database>,
  integrationId: string,
  flow: string,
  deviceKeys: readonly string[],
): Promise<void> {
  for (const chunk of chunksFor(deviceKeys.map(pendingPartition), 1, 500)) {
    await db
      .deleteFrom('deferred_work')
      .where('integration_id', '=', integrationId)
      .where('flow', '=', flow)
      .where('kind', '=', PENDING_KIND)
      .where('partition_key', 'in', chunk)
      .execute();
  }
}
