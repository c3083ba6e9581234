// Regenerates the documentation pages that are derived from code.
import { writeFileSync } from 'node:fs';
import { renderConfigReference } from '../src/config/reference.js';

writeFileSync('docs/configuration.md', renderConfigReference());
console.error('wrote docs/configuration.md');
