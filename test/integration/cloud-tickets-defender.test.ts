import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/domain/clock.js';
import { createLogger } from '../../src/logging.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow } from '../../src/servicenow/index.js';
import { createDefenderSources } from '../../src/sources/index.js';
import { openStore } from '../../src/store/store.js';
import {
  assessments,
  assignments,
  highCritical,
  RULES,
  severities,
  syncCloudTickets,
  tickets,
} from '../support/cloud-tickets.js';
import { startSandboxes, writeCounts, type Sandboxes } from '../support/sandboxes.js';

/**
 * cloud-tickets and what Defender for Cloud offers besides assessments over ARM: throttling,
 * management groups through Resource Graph, governance rules of ruleType ServiceNow.
 */

const dir = mkdtempSync(join(tmpdir(), 'snowline-ct-sb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const logger = createLogger({ level: 'silent' });

describe('cloud-tickets under ARM throttling', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 60, seed: 3 });
  });
  afterAll(async () => sandboxes?.close());

  it('defers the run on a long Retry-After instead of sleeping or failing', async () => {
    const storeUrl = join(dir, 'throttled.sqlite');
    const loaded = sandboxes.config(storeUrl, { cloudTickets: { rules: [RULES[0]] } });
    const store = await openStore(storeUrl);
    await store.migrate();
    try {
      await sandboxes.control('defender', 'POST', '/_sandbox/faults', {
        error429Rate: 1,
        retryAfterSeconds: 3600,
      });
      const { summary } = await syncCloudTickets(store, loaded);
      expect(summary).toMatchObject({ outcome: 'deferred', retryAt: expect.any(String) });
      expect(Date.parse(summary.retryAt!)).toBeGreaterThan(Date.now() + 3000_000);
      await sandboxes.control('defender', 'POST', '/_sandbox/faults', {});
      const again = await syncCloudTickets(store, loaded);
      expect(again.summary.outcome).toBe('ok');
      expect(again.summary.created).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
  });
});

describe('cloud-tickets for a management group through Resource Graph', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 160, seed: 7 });
  });
  afterAll(async () => sandboxes?.close());

  /** Runs `check` on a new store with the management group configured, and an instance connection. */
  async function withManagementGroup(
    storeName: string,
    check: (
      store: Awaited<ReturnType<typeof openStore>>,
      loaded: ReturnType<Sandboxes['config']>,
      sn: ReturnType<typeof connectServiceNow>,
    ) => Promise<void>,
  ): Promise<void> {
    const loaded = sandboxes.config(join(dir, storeName), {
      cloudTickets: { managementGroups: ['contoso-prod'], rules: [RULES[0]] },
    });
    const store = await openStore(join(dir, storeName));
    await store.migrate();
    const sn = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    try {
      await check(store, loaded, sn);
    } finally {
      await sn.close();
      await store.close();
    }
  }

  it('reads securityresources and opens the same tickets and assignments as the ARM path', async () => {
    await withManagementGroup('mg.sqlite', async (store, loaded, sn) => {
      const { summary } = await syncCloudTickets(store, loaded);
      expect(summary.errors).toBe(0);
      const { covered, groups } = await highCritical(sandboxes);
      expect((await tickets(sn, 'incident')).length).toBe(groups.size);
      expect((await assignments(sandboxes)).length).toBe(covered.length);
      const before = await writeCounts(sandboxes);
      await syncCloudTickets(store, loaded);
      expect(await writeCounts(sandboxes)).toEqual(before);
    });
  });

  it('records each malformed assessment row as its own error decision and opens the same tickets', async () => {
    await sandboxes.control('servicenow', 'POST', '/_sandbox/reset');
    await sandboxes.control('defender', 'POST', '/_sandbox/reset');
    const named = `/subscriptions/${sandboxes.estate.subscriptions[0]!.id}/providers/Microsoft.Security/assessments/x^NQsys_id!=0`;
    await sandboxes.control('defender', 'POST', '/_sandbox/resource-graph/raw-rows', {
      type: 'microsoft.security/assessments',
      records: [null, 'not a row', { id: 42, name: 'x' }, { id: named, name: 'x^NQ', properties: 5 }],
    });
    await withManagementGroup('mg-malformed.sqlite', async (store, loaded, sn) => {
      const { summary } = await syncCloudTickets(store, loaded);
      expect(summary.errors).toBe(4);
      const events = await store.db
        .selectFrom('ledger_event')
        .select(['entity', 'entity_key', 'reason', 'side'])
        .where('action', '=', 'error')
        .orderBy('id')
        .execute();
      // Each record by its position in its page, the rows that carry an id also by that id.
      const positions = events.map((e) => Number(/, record (\d+)\): /.exec(e.reason ?? '')?.[1]));
      const first = positions[0]!;
      expect(positions).toEqual([first, first + 1, first + 2, first + 3]);
      expect(events.map((e) => [e.entity, e.entity_key, e.side])).toEqual([
        ['assessment', `record ${first}`, 'defender'],
        ['assessment', `record ${first + 1}`, 'defender'],
        ['assessment', '42', 'defender'],
        ['assessment', named, 'defender'],
      ]);
      for (const e of events)
        expect(e.reason).toMatch(
          /^malformed assessment record skipped \(resourcegraph assessments, record \d+\): /,
        );
      // The well-formed assessments are ticketed as on a clean read.
      const { covered, groups } = await highCritical(sandboxes);
      expect((await tickets(sn, 'incident')).length).toBe(groups.size);
      expect((await assignments(sandboxes)).length).toBe(covered.length);
    });
  });
});

describe('cloud-tickets adopting a Defender governance rule of ruleType ServiceNow', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 60, seed: 7 });
  });
  afterAll(async () => sandboxes?.close());

  it('opens the tickets the rule describes, with its owner source and timeframe', async () => {
    const storeUrl = join(dir, 'governance.sqlite');
    const loaded = sandboxes.config(storeUrl, {
      cloudTickets: { governanceRules: { adopt: true, table: 'problem' } },
    });
    const integration = loaded.config.integrations[0]!;
    const subscription = integration.defender.subscriptions[0]!;
    const severity = severities(sandboxes);
    const unhealthy = (await assessments(sandboxes)).filter((a) => a.code === 'Unhealthy');
    const key = unhealthy.find(
      (a) => severity.get(a.assessmentKey.toLowerCase()) === 'Medium',
    )!.assessmentKey;
    const defender = createDefenderSources(integration.defender, {
      clock: systemClock,
      counters: new RequestCounters(),
      logger,
    });
    try {
      const url = `${integration.defender.armUrl}/subscriptions/${subscription}/providers/Microsoft.Security/governanceRules/ad9a8e26-29d9-4829-bb30-e597a58cdbb8?api-version=2022-01-01-preview`;
      const response = await defender.arm.request(
        'PUT',
        url,
        JSON.stringify({
          properties: {
            displayName: 'Medium recommendation to ServiceNow',
            rulePriority: 100,
            ruleType: 'ServiceNow',
            sourceResourceType: 'Assessments',
            remediationTimeframe: '5.00:00:00',
            isGracePeriod: false,
            ownerSource: { type: 'Manually', value: 'secops@contoso.example' },
            conditionSets: [
              { conditions: [{ property: '$.AssessmentKey', value: JSON.stringify([key]), operator: 'In' }] },
            ],
          },
        }),
      );
      expect(response.status).toBe(201);
    } finally {
      await defender.close();
    }
    const store = await openStore(storeUrl);
    await store.migrate();
    const sn = connectServiceNow(integration.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    try {
      const { summary } = await syncCloudTickets(store, loaded);
      expect(summary.errors).toBe(0);
      const covered = unhealthy.filter((a) => a.assessmentKey === key);
      expect((await tickets(sn, 'problem')).length).toBe(covered.length);
      expect((await tickets(sn, 'incident')).length).toBe(0);
      for (const g of await assignments(sandboxes)) {
        expect(g.properties.owner).toBe('secops@contoso.example');
        expect(g.id.toLowerCase()).toContain(key.toLowerCase());
      }
      expect((await assignments(sandboxes)).length).toBe(covered.length);
    } finally {
      await sn.close();
      await store.close();
    }
  });
});

describe('cloud-tickets keeps the assignment writes of one ticket in flight together', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 60, seed: 3 });
  });
  afterAll(async () => sandboxes?.close());

  it('PUTs the assignments of a ticket `concurrency` at once, and one at a time with 1', async () => {
    // The (subscription, recommendation) with the most Unhealthy assessments: one ticket for them all.
    const perTicket = new Map<string, number>();
    for (const a of await assessments(sandboxes))
      if (a.code === 'Unhealthy') {
        const key = `${a.resourceId.split('/')[2]}|${a.assessmentKey}`;
        perTicket.set(key, (perTicket.get(key) ?? 0) + 1);
      }
    const [top, covered] = [...perTicket].sort((a, b) => b[1] - a[1])[0]!;
    expect(covered).toBeGreaterThanOrEqual(4);
    const [subscription, recommendation] = top.split('|') as [string, string];
    const rule = {
      name: 'one-ticket',
      when: { recommendations: [recommendation], subscriptions: [subscription] },
      table: 'incident',
      grouping: 'recommendation',
    };
    // Each run on a store of its own: the second finds the ticket and writes every assignment again.
    const mostWritesInFlight = async (concurrency: number) => {
      const storeUrl = join(dir, `lanes-${concurrency}.sqlite`);
      const store = await openStore(storeUrl);
      await store.migrate();
      try {
        await sandboxes.control('defender', 'POST', '/_sandbox/stats/reset');
        const loaded = sandboxes.config(storeUrl, { cloudTickets: { rules: [rule], concurrency } });
        const { summary } = await syncCloudTickets(store, loaded);
        expect(summary).toMatchObject({ errors: 0, assignmentsWritten: covered });
        return (await sandboxes.control('defender', 'GET', '/_sandbox/stats')).mostWritesInFlight as number;
      } finally {
        await store.close();
      }
    };
    await sandboxes.control('defender', 'POST', '/_sandbox/faults', { latencyMs: 20 });
    try {
      expect(await mostWritesInFlight(1)).toBe(1);
      const most = await mostWritesInFlight(3);
      expect(most).toBeGreaterThan(1);
      expect(most).toBeLessThanOrEqual(3);
    } finally {
      await sandboxes.control('defender', 'POST', '/_sandbox/faults', {});
    }
  });
});
