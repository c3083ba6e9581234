import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * Creates a fresh database on the throwaway cluster and returns its URL, so that test files
 * running in parallel never see each other's rows.
 */
export async function createTestDatabase(clusterUrl: string, prefix = 't'): Promise<string> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const client = new pg.Client({ connectionString: clusterUrl });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(clusterUrl);
  url.pathname = `/${name}`;
  return url.toString();
}
