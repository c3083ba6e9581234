import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ticketCommand } from '../../src/cli/commands/ticket.js';
import type { CliIo } from '../../src/cli/io.js';
import { SecretScrubber } from '../../src/secrets.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';

/** `snowline ticket create` through its command (the lead registers it in program.ts). */

const dir = mkdtempSync(join(tmpdir(), 'snowline-ct-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function ticket(configPath: string, args: string[]): Promise<{ out: string; error?: unknown }> {
  const stdout = new PassThrough();
  const chunks: Buffer[] = [];
  stdout.on('data', (c: Buffer) => chunks.push(c));
  const io: CliIo = { stdout, stderr: new PassThrough(), env: process.env, cwd: dir };
  const command = ticketCommand(io, new SecretScrubber(), () => ({ config: configPath, logLevel: 'silent' }));
  command.exitOverride();
  for (const sub of command.commands) sub.exitOverride();
  try {
    await command.parseAsync(args, { from: 'user' });
    return { out: Buffer.concat(chunks).toString('utf8') };
  } catch (error) {
    return { out: Buffer.concat(chunks).toString('utf8'), error };
  }
}

describe('snowline ticket create', () => {
  let sandboxes: Sandboxes;
  let configPath: string;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 60, seed: 5 });
    const loaded = sandboxes.config(join(dir, 'store.sqlite'), { cloudTickets: {} });
    configPath = join(dir, 'snowline.yaml');
    writeFileSync(configPath, stringify(loaded.config));
  });
  afterAll(async () => sandboxes?.close());

  it('creates a ticket of each type for an Unhealthy assessment and prints it as JSON', async () => {
    const dump = await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=assessments');
    const unhealthy = (dump.assessments as { id: string; code: string }[]).filter(
      (a) => a.code === 'Unhealthy',
    );
    for (const [i, type] of (['incident', 'problem', 'change_request'] as const).entries()) {
      const { out, error } = await ticket(configPath, [
        'create',
        '--assessment',
        unhealthy[i]!.id,
        '--type',
        type,
        '--due',
        '10',
        '--json',
      ]);
      expect(error).toBeUndefined();
      const result = JSON.parse(out);
      expect(result).toMatchObject({ table: type, created: true });
      expect(result.number).toMatch(/^(INC|PRB|CHG)\d{7}$/);
      const assignments = (
        await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments')
      ).governanceAssignments as {
        id: string;
        properties: { remediationDueDate: string; additionalData: { ticketLink: string } };
      }[];
      const mine = assignments.find((g) => g.id.toLowerCase().startsWith(unhealthy[i]!.id.toLowerCase()))!;
      expect(mine.properties.additionalData.ticketLink).toContain(result.sysId);
    }
  });

  it('refuses a bad --due and an id that is not an assessment id', async () => {
    const bad = await ticket(configPath, [
      'create',
      '--assessment',
      'x',
      '--type',
      'incident',
      '--due',
      'soon',
    ]);
    expect(String(bad.error)).toMatch(/--due/);
    const notId = await ticket(configPath, [
      'create',
      '--assessment',
      '/subscriptions/x',
      '--type',
      'incident',
    ]);
    expect(String(notId.error)).toMatch(/not an assessment id/);
  });
});
