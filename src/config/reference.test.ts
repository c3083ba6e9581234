import { readFileSync } from 'node:fs';
import { format, resolveConfig } from 'prettier';
import { describe, expect, it } from 'vitest';
import { renderConfigReference } from './reference.js';

describe('configuration reference', () => {
  it('docs/configuration.md is what the schema generates (run `npm run docs` after changing the schema)', async () => {
    const options = (await resolveConfig('docs/configuration.md')) ?? {};
    const expected = await format(renderConfigReference(), { ...options, parser: 'markdown' });
    expect(readFileSync('docs/configuration.md', 'utf8')).toBe(expected);
  });
});
