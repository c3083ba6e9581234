import { inject, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createTestDatabase } from './databases.js';

const clusterUrl = inject('postgresUrl');

describe.skipIf(!clusterUrl)('throwaway PostgreSQL harness', () => {
  it('serves a fresh database on loopback', async () => {
    const url = await createTestDatabase(clusterUrl!);
    expect(new URL(url).hostname).toBe('127.0.0.1');
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query<{ one: number }>('select 1 as one');
    await client.end();
    expect(rows[0]?.one).toBe(1);
  });
});
