import { readFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import { expect } from 'vitest';

/** Fails unless `path` holds exactly what `render` generates, formatted as `npm run docs` writes it. */
export async function expectGeneratedDoc(path: string, render: () => string): Promise<void> {
  const options = (await resolveConfig(path)) ?? {};
  const expected = await format(render(), { ...options, parser: 'markdown' });
  expect(readFileSync(path, 'utf8'), `${path} is stale: run npm run docs`).toBe(expected);
}
