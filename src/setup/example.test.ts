import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { expectGeneratedDoc } from '../../test/support/docs.js';
import { parseConfigText } from '../config/load.js';
import { FLOWS, type Flow } from '../domain/flows.js';
import { renderSetupExample, SETUP_EXAMPLE_CONFIG, withSetupSection } from './example.js';
import { serviceNowRequirements } from './requirements.js';

const ENV = { SERVICENOW_CLIENT_SECRET: 'a', AZURE_CLIENT_SECRET: 'b', SNOWLINE_WEBHOOK_SECRET: 'c' };

/** The example integration with only `flow` enabled. */
function withOnly(flow: Flow) {
  const section = {
    'ot-inventory': 'otInventory: { source: resourceGraph }',
    // ot-vulnerabilities needs ot-inventory configured, not enabled.
    'ot-vulnerabilities':
      'otInventory: { source: resourceGraph, enabled: false }\n      otVulnerabilities: { source: resourceGraph }',
    'cloud-tickets': 'cloudTickets: {}',
    'ticket-sync': 'ticketSync: {}',
    'ot-alerts': 'otInventory: { source: resourceGraph, enabled: false }\n      otAlerts: {}',
  }[flow];
  const text = SETUP_EXAMPLE_CONFIG.replace(/ {4}flows:[\s\S]*$/, `    flows:\n      ${section}\n`);
  return parseConfigText(text, flow, ENV).config.integrations[0]!;
}

describe('documentation of the ServiceNow setup', () => {
  it('docs/ticket-sync.md shows what `snowline servicenow setup` prints for the example', async () => {
    await expectGeneratedDoc('docs/ticket-sync.md', () =>
      withSetupSection(readFileSync('docs/ticket-sync.md', 'utf8'), renderSetupExample()),
    );
  });

  it('docs/doctor.md lists, per flow, the roles doctor checks and setup prints', () => {
    const page = readFileSync('docs/doctor.md', 'utf8');
    for (const flow of FLOWS) {
      const row = page.split('\n').find((line) => line.startsWith(`| ${flow} `));
      expect(row, `docs/doctor.md has no row for ${flow}`).toBeDefined();
      const documented = row!
        .split(/(?<!\\)\|/)
        .at(-2)!
        .trim();
      const roles = serviceNowRequirements(withOnly(flow)).roles;
      expect(documented, flow).toBe(
        roles.map((r) => r.anyOf.map((name) => `\`${name}\``).join(' \\| ')).join('; '),
      );
    }
  });
});
