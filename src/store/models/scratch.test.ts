import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../../test/support/databases.js';
import { openStore, type Store } from '../store.js';
import { RunScratch, SCRATCH_FLUSH_ROWS } from './scratch.js';

const postgresUrl = inject('postgresUrl');
const dir = mkdtempSync(join(tmpdir(), 'snowline-scratch-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const backends = [
  { name: 'sqlite', available: true, url: async () => join(dir, 'scratch.sqlite') },
  {
    name: 'postgres',
    available: postgresUrl !== null,
    url: () => createTestDatabase(postgresUrl!, 'scratch'),
  },
];

describe.each(backends)('run scratch on $name', ({ available, url }) => {
  let store: Store;
  const owner = { integrationId: 'i1', flow: 'cloud-tickets' };

  beforeAll(async () => {
    if (!available) return;
    store = await openStore(await url());
    await store.migrate();
  });
  afterAll(async () => store?.close());

  it.skipIf(!available)('pages keys in JavaScript sort order, punctuation included', async () => {
    const scratch = await RunScratch.open(store.db, owner);
    // PostgreSQL's default collation would put "rule=a-b" and "rule=a|r" by letters alone.
    const keys = [
      'rule=b|a',
      'rule=a|r|s1',
      'rule=a-b',
      'manual|incident|a|x',
      'rule=a|r|s0',
      'Adopted|a',
      'rule=a b',
    ];
    await scratch.put(
      'key',
      keys.map((key) => ({ key })),
    );
    const pages: string[][] = [];
    for await (const page of scratch.keys('key', 3)) pages.push(page);
    expect(pages.flat()).toEqual([...keys].sort());
    expect(pages.map((p) => p.length)).toEqual([3, 3, 1]);
    await scratch.close();
  });

  it.skipIf(!available)(
    'keeps the first or the last write of a key, and reads rows back by sort key in seq order',
    async () => {
      const scratch = await RunScratch.open(store.db, owner);
      await scratch.put('k', [
        { key: 'a', data: 1 },
        { key: 'a', data: 2 },
      ]);
      await scratch.put('k', [{ key: 'a', data: 3 }], 'keep');
      await scratch.put('k', [{ key: 'b', data: 4 }], 'keep');
      await scratch.put('k', [{ key: 'b', data: 5 }]);
      expect(await scratch.get('k', ['a', 'b', 'c'])).toEqual(
        new Map([
          ['a', 2],
          ['b', 5],
        ]),
      );
      await scratch.put('g', [
        { key: '3', seq: 3, sortKey: 'y', data: 'y3' },
        { key: '1', seq: 1, sortKey: 'y', data: 'y1' },
        { key: '2', seq: 2, sortKey: 'x', data: 'x2' },
        { key: '4', seq: 4, sortKey: 'z', data: 'z4' },
      ]);
      expect(await scratch.bySortKeys('g', ['y', 'x'])).toEqual([
        { sortKey: 'x', data: 'x2' },
        { sortKey: 'y', data: 'y1' },
        { sortKey: 'y', data: 'y3' },
      ]);
      const bySeq: string[] = [];
      for await (const rows of scratch.bySeq<string>('g', 3)) bySeq.push(...rows.map((r) => r.data!));
      expect(bySeq).toEqual(['y1', 'x2', 'y3', 'z4']);
      expect(await scratch.count('g')).toBe(4);
      await scratch.close();
      expect(await scratch.count('g')).toBe(0);
    },
  );

  it.skipIf(!available)(
    'holds written rows until a read of their kind, then writes them in call order',
    async () => {
      const scratch = await RunScratch.open(store.db, owner);
      const other = await RunScratch.open(store.db, owner);
      await scratch.put('k', [{ key: 'a', data: 1 }]);
      await scratch.put('k', [{ key: 'a', data: 2 }], 'keep');
      await scratch.put('j', [{ key: 'a', data: 'j' }]);
      await scratch.put('k', [{ key: 'b', data: 3 }]);
      await scratch.put('k', [{ key: 'b', data: 4 }]);
      // Nothing written yet: the store holds none of the run's rows.
      const stored = () =>
        store.db
          .selectFrom('run_scratch')
          .select(['kind', 'key'])
          .where('scratch_id', '=', scratch.id)
          .execute();
      expect(await stored()).toEqual([]);
      // A read of another kind writes nothing; a read of the kind writes every held row.
      expect(await scratch.get('x', ['a'])).toEqual(new Map());
      expect(await stored()).toEqual([]);
      expect(await scratch.get('k', ['a', 'b'])).toEqual(
        new Map([
          ['a', 1],
          ['b', 4],
        ]),
      );
      expect(await scratch.get('j', ['a'])).toEqual(new Map([['a', 'j']]));
      expect(await other.count('k')).toBe(0);
      // Enough held rows are written without a read.
      await scratch.put(
        'many',
        Array.from({ length: SCRATCH_FLUSH_ROWS }, (_, i) => ({ key: String(i) })),
      );
      expect((await stored()).length).toBe(3 + SCRATCH_FLUSH_ROWS);
      // Rows held when the run ends are dropped with the rest.
      await scratch.put('k', [{ key: 'c' }]);
      await scratch.close();
      expect(await stored()).toEqual([]);
      await other.close();
    },
  );

  it.skipIf(!available)(
    'sweeps what a crashed run of the flow left a day ago, and nothing newer',
    async () => {
      const dayAgo = new Date(Date.now() - 25 * 60 * 60 * 1000);
      const crashed = await RunScratch.open(store.db, owner, () => dayAgo);
      await crashed.put('k', [{ key: 'old' }]);
      await crashed.flush();
      const recent = await RunScratch.open(store.db, owner);
      await recent.put('k', [{ key: 'new' }]);
      await RunScratch.open(store.db, owner);
      expect(await crashed.count('k')).toBe(0);
      expect(await recent.count('k')).toBe(1);
      await recent.close();
    },
  );
});
