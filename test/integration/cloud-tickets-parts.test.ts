import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CloudTicketsSummary } from '../../src/sync/cloud-tickets/flow.js';
import { FLOW_RUNNERS } from '../../src/sync/flows.js';
import { assignments, RULES, tickets } from '../support/cloud-tickets.js';
import { closeSides, openSide, runOnSide, type SplitSide as Side } from '../support/split-runs.js';

/**
 * cloud-tickets split per subscription (scale-out, docs/scale-out.md): the plan, one part per
 * subscription and the sweep, run one after another as the workers would, leave the tickets and
 * governance assignments one whole run leaves on an identical pair of sandboxes; a subscription
 * taken out of the configuration has its tickets resolved by the sweep, as a whole run does.
 */

const dir = mkdtempSync(join(tmpdir(), 'snowline-ct-parts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const NOW = new Date('2026-11-20T08:00:00Z');

describe('cloud-tickets split per subscription', () => {
  let whole: Side;
  let split: Side;

  // 750 devices: the estate's three subscriptions.
  const open = (name: string): Promise<Side> =>
    openSide({ dir, name, devices: 750, seed: 11, now: NOW, flows: { cloudTickets: { rules: RULES } } });

  beforeAll(async () => {
    whole = await open('whole');
    split = await open('split');
  });
  afterAll(() => closeSides([whole, split]));

  /** One run of cloud-tickets, or of one of its parts; its summary. */
  const run = async (side: Side, part?: string) =>
    (await runOnSide(side, 'cloud-tickets', part)) as CloudTicketsSummary;

  /** The plan, each part and the sweep, one after another, by part. */
  async function runParts(side: Side): Promise<Record<string, CloudTicketsSummary>> {
    const integration = side.loaded.config.integrations[0]!;
    const parts = FLOW_RUNNERS.find((r) => r.flow === 'cloud-tickets')!.parts!(integration)!;
    const ran: Record<string, CloudTicketsSummary> = {};
    for (const part of ['plan', ...parts, 'sweep']) ran[part] = await run(side, part);
    return ran;
  }

  /** Tickets and assignments as both sides can compare them: without sys_ids, numbers and run times. */
  async function state(side: Side) {
    const byTable: Record<string, unknown[]> = {};
    for (const table of ['incident', 'problem'])
      byTable[table] = (await tickets(side.sn, table))
        .map(({ sys_id: _id, number: _number, ...rest }) => rest)
        .sort((a, b) => String(a.correlation_id).localeCompare(String(b.correlation_id)));
    const governance = (await assignments(side.sandboxes))
      .map((a) => ({
        id: a.id,
        owner: a.properties.owner,
        due: a.properties.remediationDueDate.slice(0, 10),
        isGracePeriod: a.properties.isGracePeriod,
        status: a.properties.additionalData?.ticketStatus,
        linked: Boolean(a.properties.additionalData?.ticketLink && a.properties.additionalData.ticketNumber),
      }))
      .sort((a, b) => a.id.localeCompare(b.id));
    return { tickets: byTable, governance };
  }

  it('one part per subscription leaves what one whole run leaves', async () => {
    const subscriptions = split.loaded.config.integrations[0]!.defender.subscriptions;
    expect(subscriptions).toHaveLength(3);
    const oneRun = await run(whole);
    const parts = await runParts(split);
    expect(Object.keys(parts)).toEqual(['plan', ...subscriptions.map((id) => `subscription:${id}`), 'sweep']);
    // The plan and the sweep have nothing to write on a first run; each part opens its own tickets.
    expect(parts.plan).toMatchObject({ outcome: 'ok', created: 0 });
    expect(parts.sweep).toMatchObject({ outcome: 'ok', created: 0, resolved: 0 });
    const created = subscriptions.map((id) => parts[`subscription:${id}`]!.created);
    for (const n of created) expect(n).toBeGreaterThan(0);
    expect(created.reduce((a, b) => a + b, 0)).toBe(oneRun.created);
    expect(await state(split)).toEqual(await state(whole));
    // A second split run writes nothing.
    const again = await runParts(split);
    for (const summary of Object.values(again))
      expect(summary).toMatchObject({ outcome: 'ok', created: 0, updated: 0, resolved: 0 });
  });

  it('resolves the tickets of a subscription no longer configured in the sweep, as a whole run does', async () => {
    // The last subscription leaves the configuration; two are left, so the run still splits.
    for (const side of [whole, split]) {
      const config = structuredClone(side.loaded.config);
      const defender = config.integrations[0]!.defender as { subscriptions: string[] };
      defender.subscriptions = defender.subscriptions.slice(0, 2);
      side.loaded = { ...side.loaded, config };
    }
    const oneRun = await run(whole);
    expect(oneRun.resolved).toBeGreaterThan(0);
    const parts = await runParts(split);
    expect(Object.keys(parts)).toHaveLength(4);
    for (const id of split.loaded.config.integrations[0]!.defender.subscriptions)
      expect(parts[`subscription:${id}`]).toMatchObject({ outcome: 'ok', resolved: 0 });
    expect(parts.sweep).toMatchObject({ outcome: 'ok', resolved: oneRun.resolved });
    expect(await state(split)).toEqual(await state(whole));
  });
});
