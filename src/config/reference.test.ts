import { describe, it } from 'vitest';
import { expectGeneratedDoc } from '../../test/support/docs.js';
import { renderOtInventoryReference } from '../sync/ot-inventory/reference.js';
import { renderConfigReference } from './reference.js';

describe('generated documentation', () => {
  it('docs/configuration.md is what the schema generates', async () => {
    await expectGeneratedDoc('docs/configuration.md', renderConfigReference);
  });

  it('docs/ot-inventory.md is what the mapping code generates', async () => {
    await expectGeneratedDoc('docs/ot-inventory.md', renderOtInventoryReference);
  });
});
