import type { Kysely } from 'kysely';
import type { Clock } from '../../domain/clock.js';
import type { Database } from '../schema.js';

/** Where a watermark applies: an integration's flow, per scope (a sensor, a console, a table). */
export interface WatermarkRef {
  readonly integrationId: string;
  readonly flow: string;
  readonly scope: string;
}

/** The stored watermark, or undefined before the first complete read. */
export async function getWatermark(db: Kysely<Database>, ref: WatermarkRef): Promise<string | undefined> {
  const row = await db
    .selectFrom('watermark')
    .select('value')
    .where('integration_id', '=', ref.integrationId)
    .where('flow', '=', ref.flow)
    .where('scope', '=', ref.scope)
    .executeTakeFirst();
  return row?.value;
}

/**
 * Moves a watermark forward to `value`, and never back: a late or replayed batch must not make
 * the next read skip less (harmless) or — after a move back and forth — lose records. Values
 * compare as strings, so store sortable forms (ISO 8601 times, zero-padded numbers).
 *
 * @returns true when the watermark moved.
 */
export async function advanceWatermark(
  db: Kysely<Database>,
  clock: Clock,
  ref: WatermarkRef,
  value: string,
): Promise<boolean> {
  const now = clock.now().toISOString();
  const result = await db
    .insertInto('watermark')
    .values({ integration_id: ref.integrationId, flow: ref.flow, scope: ref.scope, value, updated_at: now })
    .onConflict((oc) =>
      oc
        .columns(['integration_id', 'flow', 'scope'])
        .doUpdateSet({ value, updated_at: now })
        .where('watermark.value', '<', value),
    )
    .executeTakeFirst();
  return Number(result.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Forgets a watermark, so the next run reads the source in full. */
export async function resetWatermark(db: Kysely<Database>, ref: WatermarkRef): Promise<void> {
  await db
    .deleteFrom('watermark')
    .where('integration_id', '=', ref.integrationId)
    .where('flow', '=', ref.flow)
    .where('scope', '=', ref.scope)
    .execute();
}
