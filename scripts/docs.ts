// Regenerates the documentation pages that are derived from code (tests fail when they are stale).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigReference } from '../src/config/reference.js';
import { renderSetupExample, withSetupSection } from '../src/setup/example.js';
import { renderOtInventoryReference } from '../src/sync/ot-inventory/reference.js';

const pages: Record<string, () => string> = {
  'docs/configuration.md': renderConfigReference,
  'docs/ot-inventory.md': renderOtInventoryReference,
  // Only the block after the marker line is generated; the rest of the page is written by hand.
  'docs/ticket-sync.md': () =>
    withSetupSection(readFileSync('docs/ticket-sync.md', 'utf8'), renderSetupExample()),
};
for (const [path, render] of Object.entries(pages)) {
  writeFileSync(path, render());
  console.error(`wrote ${path}`);
}
