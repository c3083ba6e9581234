// Regenerates the documentation pages that are derived from code (tests fail when they are stale).
import { writeFileSync } from 'node:fs';
import { renderConfigReference } from '../src/config/reference.js';
import { renderOtInventoryReference } from '../src/sync/ot-inventory/reference.js';

const pages: Record<string, () => string> = {
  'docs/configuration.md': renderConfigReference,
  'docs/ot-inventory.md': renderOtInventoryReference,
};
for (const [path, render] of Object.entries(pages)) {
  writeFileSync(path, render());
  console.error(`wrote ${path}`);
}
