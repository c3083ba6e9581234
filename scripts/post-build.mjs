// Makes the built CLI executable so `npx snowline` works right after `npm ci` (tsc keeps the
// shebang but not the file mode).
import { chmodSync, existsSync } from 'node:fs';

const entry = new URL('../dist/cli.js', import.meta.url);
if (existsSync(entry)) chmodSync(entry, 0o755);
