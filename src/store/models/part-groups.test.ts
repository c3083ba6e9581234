import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../../test/support/databases.js';
import { systemClock } from '../../domain/clock.js';
import { openStore } from '../store.js';
import { finishPart, openPartGroup, settlePartGroup } from './part-groups.js';

const postgresUrl = inject('postgresUrl');
const dir = mkdtempSync(join(tmpdir(), 'snowline-part-groups-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const backends = [
  { name: 'sqlite', available: true, url: async () => join(dir, 'groups.sqlite') },
  {
    name: 'postgres',
    available: postgresUrl !== null,
    url: () => createTestDatabase(postgresUrl!, 'groups'),
  },
];

describe.each(backends)('part groups on $name', ({ available, url }) => {
  it.skipIf(!available)(
    'exactly one finisher is told it finished the last part; a retried part counts once; a finished group is gone',
    async () => {
      const store = await openStore(await url());
      try {
        await store.migrate();
        const parts = Array.from({ length: 8 }, (_, i) => `sensor:s${i}`);
        await openPartGroup(store.db, systemClock, {
          id: 'g1',
          integrationId: 'plant',
          flow: 'ot-inventory',
          parts: parts.length,
        });
        // A part whose job ran twice (a retry after its answer was lost) is counted once.
        expect(await finishPart(store.db, systemClock, 'g1', 'sensor:s0')).toBe('more');
        expect(await finishPart(store.db, systemClock, 'g1', 'sensor:s0')).toBe('again');
        // The rest end at once (on PostgreSQL, each call its own connection and transaction).
        const outcomes = await Promise.all(
          parts.slice(1).map((part) => finishPart(store.db, systemClock, 'g1', part)),
        );
        expect(outcomes.filter((o) => o === 'last')).toHaveLength(1);
        expect(outcomes.filter((o) => o === 'more')).toHaveLength(parts.length - 2);
        // A late retry after the group finished does not start a second sweep, and leaves no row.
        expect(await finishPart(store.db, systemClock, 'g1', 'sensor:s3')).toBe('again');
        const left = await store.db
          .selectFrom('part_group_done' as never)
          .select('part' as never)
          .execute();
        expect(left).toEqual([]);
      } finally {
        await store.close();
      }
    },
  );

  it.skipIf(!available)(
    'a group settled to the parts really queued: the sweep comes from whichever of settling and the last part is later',
    async () => {
      const store = await openStore(await url());
      try {
        await store.migrate();
        const open = (id: string) =>
          openPartGroup(store.db, systemClock, {
            id,
            integrationId: 'plant',
            flow: 'ot-inventory',
            parts: 4,
          });
        // Two of four parts joined jobs an earlier run left waiting: two queued, both finish after.
        await open('g2');
        expect(await settlePartGroup(store.db, 'g2', 2)).toBe('more');
        expect(await finishPart(store.db, systemClock, 'g2', 'sensor:a')).toBe('more');
        expect(await finishPart(store.db, systemClock, 'g2', 'sensor:b')).toBe('last');
        // Both queued parts finished before the group was settled: settling queues the sweep.
        await open('g3');
        expect(await finishPart(store.db, systemClock, 'g3', 'sensor:a')).toBe('more');
        expect(await finishPart(store.db, systemClock, 'g3', 'sensor:b')).toBe('more');
        expect(await settlePartGroup(store.db, 'g3', 2)).toBe('last');
        expect(await finishPart(store.db, systemClock, 'g3', 'sensor:c')).toBe('again');
        // Every part joined an earlier run's job: nothing to wait for.
        await open('g4');
        expect(await settlePartGroup(store.db, 'g4', 0)).toBe('last');
      } finally {
        await store.close();
      }
    },
  );
});
