import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { minimalConfigInput } from '../../../test/support/config.js';
import { validateConfig } from '../../config/load.js';
import { ManualClock } from '../../domain/clock.js';
import { emptyFlowSummary, type Flow } from '../../domain/flows.js';
import { RateLimitedError } from '../../errors.js';
import { createLogger } from '../../logging.js';
import type { RequestCounters } from '../../runtime/http/counters.js';
import { ResilientHttpClient } from '../../runtime/http/resilient-client.js';
import type { HttpResponse } from '../../runtime/http/transport.js';
import { RequestLimiter } from '../../runtime/http/limiter.js';
import { getRun } from '../../store/models/runs.js';
import { openStore, type Store } from '../../store/store.js';
import { runFlows } from './runner.js';
import { type FlowRunner } from './flow.js';

const dir = mkdtempSync(join(tmpdir(), 'snowline-runner-'));
let store: Store;
beforeAll(async () => {
  store = await openStore(join(dir, 'runner.sqlite'));
  await store.migrate();
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const { config } = validateConfig(minimalConfigInput(), 'test');

describe('runFlows', () => {
  it('runs flows in dependency order; a deferral or a failure does not stop the others', async () => {
    const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));
    const order: Flow[] = [];
    const runner = (flow: Flow, behaviour: () => void): FlowRunner => ({
      flow,
      enabled: () => true,
      async run() {
        order.push(flow);
        behaviour();
        return {
          summary: { ...emptyFlowSummary(), created: 1 },
          plan: [{ flow, side: 'servicenow', action: 'create', entity: 'device', key: flow, reason: 'test' }],
        };
      },
    });
    const { summary, plan } = await runFlows({
      integration: config.integrations[0]!,
      store,
      clock,
      logger: createLogger({ level: 'silent' }),
      trigger: 'cli',
      runners: [
        runner('ticket-sync', () => {}),
        runner('cloud-tickets', () => {
          throw new RateLimitedError('servicenow', new Date('2026-11-01T01:00:00Z'));
        }),
        runner('ot-vulnerabilities', () => {
          throw new Error('boom');
        }),
        runner('ot-inventory', () => {}),
      ],
    });
    expect(order).toEqual(['ot-inventory', 'ot-vulnerabilities', 'cloud-tickets', 'ticket-sync']);
    expect(plan.actions.map((a) => a.key)).toEqual(['ot-inventory', 'ticket-sync']);
    expect(summary.jobs['ot-inventory']).toMatchObject({ outcome: 'ok', created: 1 });
    expect(summary.jobs['ot-vulnerabilities']).toMatchObject({ outcome: 'failed', errors: 1, error: 'boom' });
    expect(summary.jobs['cloud-tickets']).toMatchObject({
      outcome: 'deferred',
      retryAt: '2026-11-01T01:00:00.000Z',
    });
    const run = await getRun(store.db, 'plant-a', summary.runId);
    expect(run.status).toBe('failed');
    expect(run.flows.map((f) => [f.flow, f.outcome]).sort()).toEqual([
      ['cloud-tickets', 'deferred'],
      ['ot-inventory', 'ok'],
      ['ot-vulnerabilities', 'failed'],
      ['ticket-sync', 'ok'],
    ]);
  });

  it('runs the enabled flows, or only the flows asked for', async () => {
    const ran: Flow[] = [];
    const make = (flow: Flow): FlowRunner => ({
      flow,
      enabled: () => flow !== 'ot-inventory',
      run: async () => (ran.push(flow), { summary: emptyFlowSummary(), plan: [] }),
    });
    const { summary } = await runFlows({
      integration: config.integrations[0]!,
      store,
      clock: new ManualClock(),
      logger: createLogger({ level: 'silent' }),
      trigger: 'api',
      runners: [make('ot-inventory'), make('ticket-sync'), make('cloud-tickets')],
      only: ['ticket-sync'],
    });
    expect(ran).toEqual(['ticket-sync']);
    ran.length = 0;
    const enabled = await runFlows({
      integration: config.integrations[0]!,
      store,
      clock: new ManualClock(),
      logger: createLogger({ level: 'silent' }),
      trigger: 'api',
      runners: [make('ot-inventory'), make('ticket-sync'), make('cloud-tickets')],
    });
    expect(Object.keys(enabled.summary.jobs)).toEqual(['cloud-tickets', 'ticket-sync']);
    expect(ran).toEqual(['cloud-tickets', 'ticket-sync']);
    expect(Object.keys(summary.jobs)).toEqual(['ticket-sync']);
    expect((await getRun(store.db, 'plant-a', summary.runId)).status).toBe('ok');
  });

  it('reports the requests a failed flow sent and the retries it made, as a successful one does', async () => {
    const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));
    // Each service answers 500 twice, then 200: two retries per request, then success.
    const answers = new Map<string, number>();
    const http = (service: string, counters: RequestCounters) =>
      new ResilientHttpClient({
        service,
        counters,
        clock,
        limiter: new RequestLimiter({ service, maxInFlight: 1, maxWaitMs: 1_000, clock }),
        backoff: { baseMs: 1, maxMs: 1, maxAttempts: 5 },
        transport: {
          async send(): Promise<HttpResponse> {
            const n = (answers.get(service) ?? 0) + 1;
            answers.set(service, n);
            return { status: n <= 2 ? 500 : 200, headers: {}, body: Buffer.from('{}') };
          },
          close: async () => {},
        },
      });
    const failing: FlowRunner = {
      flow: 'ot-vulnerabilities',
      enabled: () => true,
      async run(context) {
        await http('servicenow', context.counters).send({
          method: 'GET',
          url: 'https://sn.test/api/now/table/x',
        });
        await http('console', context.counters).send({ method: 'GET', url: 'https://console.test/devices' });
        throw new Error('boom after writing');
      },
    };
    const { summary } = await runFlows({
      integration: config.integrations[0]!,
      store,
      clock,
      logger: createLogger({ level: 'silent' }),
      trigger: 'cli',
      runners: [failing],
    });
    const expected = { requests: { servicenow: 3, defender: 3 }, retries: 4 };
    expect(summary.jobs['ot-vulnerabilities']).toMatchObject({
      outcome: 'failed',
      error: 'boom after writing',
      ...expected,
    });
    const run = await getRun(store.db, 'plant-a', summary.runId);
    expect(run.flows[0]).toMatchObject({
      flow: 'ot-vulnerabilities',
      outcome: 'failed',
      retries: 4,
      requests_servicenow: 3,
      requests_defender: 3,
    });
  });
});
