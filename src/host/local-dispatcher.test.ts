import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { minimalConfigInput } from '../../test/support/config.js';
import { validateConfig } from '../config/load.js';
import { ManualClock } from '../domain/clock.js';
import { emptyFlowSummary, type Flow } from '../domain/flows.js';
import { ConflictError, InputError, NotFoundError } from '../errors.js';
import { createLogger } from '../logging.js';
import { getRun } from '../store/models/runs.js';
import { openStore, type Store } from '../store/store.js';
import type { FlowRunner } from '../sync/kernel/flow.js';
import { LocalRunDispatcher } from './local-dispatcher.js';
import { SnowlineMetrics } from '../runtime/metrics.js';
import { ShuttingDownError } from './shutdown.js';

const dir = mkdtempSync(join(tmpdir(), 'snowline-dispatch-'));
let store: Store;
beforeAll(async () => {
  store = await openStore(join(dir, 'dispatch.sqlite'));
  await store.migrate();
});
afterAll(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

const { config } = validateConfig(minimalConfigInput(), 'test');
const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));

/** A flow whose real runs wait until its gate is opened (once open, it stays open). */
function gatedRunner(flow: Flow, enabled = true) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const calls: { dryRun: boolean; runId: string }[] = [];
  const runner: FlowRunner = {
    flow,
    enabled: () => enabled,
    async run(context) {
      calls.push({ dryRun: context.dryRun, runId: context.runId });
      if (!context.dryRun) await gate;
      return {
        summary: { ...emptyFlowSummary(), created: 2 },
        plan: [
          { flow, side: 'servicenow', action: 'create', entity: 'device', key: 'd1', reason: 'new device' },
        ],
      };
    },
  };
  return { runner, calls, release: () => open() };
}

function dispatcher(runners: FlowRunner[], metrics?: SnowlineMetrics) {
  return new LocalRunDispatcher({
    integrations: config.integrations,
    store,
    clock,
    logger: createLogger({ level: 'silent' }),
    runners,
    ...(metrics ? { metrics } : {}),
  });
}

describe('LocalRunDispatcher', () => {
  it('refuses a second run of a busy flow with a ConflictError, runs other flows, and frees the flow after', async () => {
    const inventory = gatedRunner('ot-inventory');
    const tickets = gatedRunner('cloud-tickets');
    const d = dispatcher([inventory.runner, tickets.runner]);
    const first = d.dispatch({
      integrationId: 'plant-a',
      flows: ['ot-inventory'],
      dryRun: false,
      trigger: 'api',
    });
    await expect(
      d.dispatch({ integrationId: 'plant-a', flows: ['ot-inventory'], dryRun: false, trigger: 'schedule' }),
    ).rejects.toThrow(ConflictError);
    // A request that names a busy flow among others starts none of them.
    await expect(
      d.dispatch({ integrationId: 'plant-a', dryRun: false, trigger: 'schedule' }),
    ).rejects.toThrow(/already running ot-inventory \(started by api\)/);
    expect(tickets.calls).toHaveLength(0);
    expect(d.running('plant-a')).toEqual(['ot-inventory']);
    // A dry run takes no lock: it plans beside the real run.
    const dry = await d.dispatch({
      integrationId: 'plant-a',
      flows: ['ot-inventory'],
      dryRun: true,
      trigger: 'api',
    });
    expect(dry.kind === 'done' && dry.result.plan.actions.map((a) => a.reason)).toEqual(['new device']);
    inventory.release();
    const ticket = await first;
    expect(ticket.kind).toBe('done');
    expect(d.running('plant-a')).toEqual([]);
    const again = d.dispatch({
      integrationId: 'plant-a',
      flows: ['ot-inventory'],
      dryRun: false,
      trigger: 'api',
    });
    inventory.release();
    const second = await again;
    if (second.kind !== 'done') throw new Error('expected a local run');
    const run = await getRun(store.db, 'plant-a', second.result.summary.runId);
    expect(run).toMatchObject({ trigger: 'api', status: 'ok' });
  });

  it('says what is wrong with a request: unknown integration, unimplemented or disabled flow', async () => {
    const d = dispatcher([gatedRunner('ot-inventory').runner, gatedRunner('cloud-tickets', false).runner]);
    await expect(d.dispatch({ integrationId: 'nope', dryRun: true, trigger: 'api' })).rejects.toThrow(
      NotFoundError,
    );
    await expect(
      d.dispatch({ integrationId: 'plant-a', flows: ['ticket-sync'], dryRun: true, trigger: 'api' }),
    ).rejects.toThrow(/ticket-sync is not implemented/);
    await expect(
      d.dispatch({ integrationId: 'plant-a', flows: ['cloud-tickets'], dryRun: true, trigger: 'api' }),
    ).rejects.toThrow(InputError);
  });

  it('counts real runs and their records in the metrics, not dry runs', async () => {
    const metrics = new SnowlineMetrics({ defaultMetrics: false });
    const inventory = gatedRunner('ot-inventory');
    const d = dispatcher([inventory.runner], metrics);
    await d.dispatch({ integrationId: 'plant-a', dryRun: true, trigger: 'api' });
    const running = d.dispatch({ integrationId: 'plant-a', dryRun: false, trigger: 'api' });
    inventory.release();
    await running;
    const text = await metrics.render();
    expect(text).toContain('snowline_runs_total{integration="plant-a",flow="ot-inventory",outcome="ok"} 1');
    expect(text).toContain(
      'snowline_records_written_total{integration="plant-a",flow="ot-inventory",kind="created"} 2',
    );
    expect(text).toMatch(
      /snowline_last_successful_run_timestamp_seconds\{integration="plant-a",flow="ot-inventory"\} 1793491200/,
    );
  });

  it('close() refuses new runs and waits for the run in flight to end', async () => {
    const inventory = gatedRunner('ot-inventory');
    const d = dispatcher([inventory.runner]);
    const inFlight = d.dispatch({ integrationId: 'plant-a', dryRun: false, trigger: 'schedule' });
    let closed = false;
    const closing = d.close().then(() => (closed = true));
    await expect(d.dispatch({ integrationId: 'plant-a', dryRun: true, trigger: 'api' })).rejects.toThrow(
      ShuttingDownError,
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    inventory.release();
    await closing;
    expect(closed).toBe(true);
    expect((await inFlight).kind).toBe('done');
  });
});
