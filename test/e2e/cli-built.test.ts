import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/**
 * The built package as a user runs it (npm test builds first): `npx snowline` works right after
 * install, and exit codes reach the shell.
 */
describe.skipIf(!existsSync('dist/cli.js'))('built snowline binary', () => {
  it('answers --help through npx with every command', () => {
    const out = execFileSync('npx', ['--no-install', 'snowline', '--help'], { encoding: 'utf8' });
    const commands = [...out.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]);
    expect(commands).toEqual(
      expect.arrayContaining([
        'config',
        'migrate',
        'sync',
        'ticket',
        'serve',
        'sandbox',
        'demo',
        'worker',
        'doctor',
      ]),
    );
  });

  it('exits 2 for a missing config and prints nothing on stdout', () => {
    const result = spawnSync(
      process.execPath,
      ['dist/cli.js', '--config', '/nonexistent/snowline.yaml', 'config', 'check'],
      { encoding: 'utf8' },
    );
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('does not exist');
  });
});
