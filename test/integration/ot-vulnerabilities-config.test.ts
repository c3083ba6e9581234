import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from '../../src/cli/program.js';

/**
 * `snowline config check` on the pairing of ot-vulnerabilities' source with ot-inventory's: the
 * flow finds each device's CI in what ot-inventory recorded, by its key or (Resource Graph CVEs
 * over a sensor inventory) by the cross-source identity rule; a pairing no rule covers is a
 * configuration error, reported before anything runs. The retired console is warned about.
 */

const dir = mkdtempSync(join(tmpdir(), 'snowline-otv-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function check(flows: Record<string, unknown>) {
  const path = join(dir, `${Object.keys(flows).join('-')}-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    path,
    stringify({
      store: { url: join(dir, 'store.sqlite') },
      log: { level: 'silent' },
      integrations: [
        {
          id: 'plant-a',
          servicenow: {
            instanceUrl: 'https://acme.service-now.com',
            auth: { type: 'basic', username: 'svc', password: 'pw-123456' },
          },
          defender: {
            tenantId: 't',
            auth: { type: 'token', token: 'tok' },
            console: { url: 'https://10.1.0.10', token: 'console-token-1' },
          },
          flows,
        },
      ],
    }),
  );
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) =>
    new Writable({ write: (chunk, _e, done) => (append(String(chunk)), done()) });
  const code = await runCli(['--config', path, 'config', 'check'], {
    stdout: sink((s) => (stdout += s)),
    stderr: sink((s) => (stderr += s)),
    env: {},
    cwd: dir,
  });
  return { code, stdout, stderr };
}

describe('snowline config check on the ot-vulnerabilities source', () => {
  it('accepts the source ot-inventory reads, warning (exit 0) that the console is retired', async () => {
    const { code, stderr } = await check({
      otInventory: { source: 'console' },
      otVulnerabilities: { source: 'console' },
    });
    expect(code).toBe(0);
    // MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/roles-on-premises.md
    for (const flow of ['otInventory', 'otVulnerabilities'])
      expect(stderr).toContain(
        `warning: integrations[0].flows.${flow}.source reads the on-premises management console, which Microsoft retired on January 1st, 2025 (https://learn.microsoft.com/azure/defender-for-iot/organizations/roles-on-premises)`,
      );
    const sensors = await check({
      otInventory: { source: 'sensor' },
      otVulnerabilities: { source: 'sensor' },
    });
    expect(sensors).toMatchObject({ code: 0, stderr: '' });
  });

  it('accepts Resource Graph CVEs over a Resource Graph or a sensor inventory', async () => {
    for (const inventory of ['resourceGraph', 'sensor'])
      expect(
        await check({ otInventory: { source: inventory }, otVulnerabilities: { source: 'resourceGraph' } }),
      ).toMatchObject({ code: 0, stderr: '' });
  });

  it('reports a pairing no identity rule covers with its key path, what to do and a fitting example', async () => {
    const { code, stderr } = await check({
      otInventory: { source: 'sensor' },
      otVulnerabilities: { source: 'console' },
    });
    expect(code).toBe(2);
    expect(stderr).toContain(
      'integrations[0].flows.otVulnerabilities.source: is console but flows.otInventory.source is sensor: devices read from console can be recognised only in an inventory read from console',
    );
    expect(stderr).toMatch(/\(example: resourceGraph\)/);
    const graph = await check({
      otInventory: { source: 'console' },
      otVulnerabilities: { source: 'resourceGraph' },
    });
    expect(graph.code).toBe(2);
    expect(graph.stderr).toContain('recognised only in an inventory read from resourceGraph or sensor');
  });

  it('reports ot-vulnerabilities without ot-inventory', async () => {
    const alone = await check({ otVulnerabilities: { source: 'console' } });
    expect(alone.code).toBe(2);
    expect(alone.stderr).toContain(
      'integrations[0].flows.otInventory: flow ot-vulnerabilities finds each device CI in what ot-inventory recorded',
    );
  });

  it('does not hold a disabled ot-vulnerabilities against the file', async () => {
    const { code } = await check({
      otInventory: { source: 'sensor' },
      otVulnerabilities: { source: 'console', enabled: false },
    });
    expect(code).toBe(0);
  });
});
