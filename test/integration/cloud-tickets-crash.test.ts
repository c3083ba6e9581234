import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { systemClock } from '../../src/domain/clock.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow } from '../../src/servicenow/index.js';
import { stringValue } from '../../src/servicenow/values.js';
import { openStore } from '../../src/store/store.js';
import { assignments, highCritical, RULES, syncCloudTickets, tickets } from '../support/cloud-tickets.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';

/**
 * cloud-tickets never duplicates a ticket when a Batch call the instance applied is answered 500,
 * nor when the process is killed -9 between a committed create and its ledger. (Every flow killed
 * at seeded points is test/reliability/crash.test.ts.)
 */

const dir = mkdtempSync(join(tmpdir(), 'snowline-ct-sb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cloud-tickets crash safety', () => {
  let sandboxes: Sandboxes;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 160, seed: 11 });
  });
  afterAll(async () => sandboxes?.close());

  it.each([1, 3, 6])(
    'never duplicates a ticket when ServiceNow write %i commits and is answered 500',
    async (n) => {
      await sandboxes.control('servicenow', 'POST', '/_sandbox/reset');
      await sandboxes.control('defender', 'POST', '/_sandbox/reset');
      const storeUrl = join(dir, `crash-${n}.sqlite`);
      // Two new tickets per Batch API call, so write n (a Batch call) falls amid the creates.
      const loaded = sandboxes.config(storeUrl, { cloudTickets: { rules: [RULES[0]], batchSize: 2 } });
      const store = await openStore(storeUrl);
      await store.migrate();
      try {
        // The instance applies write n and says it failed: the client searches the Batch call's
        // tickets by correlation id, takes the ones it finds as created and re-sends the rest.
        // (A kill -9 at each write is crash.test.ts in test/reliability.)
        await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', { holdWrite: n, holdStatus: 500 });
        const first = await syncCloudTickets(store, loaded);
        const faults = await sandboxes.control('servicenow', 'GET', '/_sandbox/faults');
        expect(faults.writesSeen, 'write n was reached, so the fault happened').toBeGreaterThanOrEqual(n);
        await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', {});
        expect(first.summary.errors).toBe(0);
        expect(first.summary.retries).toBeGreaterThan(0);
        const second = await syncCloudTickets(store, loaded);
        expect(second.summary.created).toBe(0);
        const sn = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
          clock: systemClock,
          counters: new RequestCounters(),
        });
        try {
          const incidents = await tickets(sn, 'incident');
          const ids = incidents.map((i) => stringValue(i.correlation_id));
          expect(new Set(ids).size).toBe(ids.length);
          expect(incidents.length).toBe((await highCritical(sandboxes)).groups.size);
        } finally {
          await sn.close();
        }
      } finally {
        await store.close();
      }
    },
  );
});

describe('cloud-tickets crash safety with a killed process', () => {
  let sandboxes: Sandboxes;
  const src = (path: string) => fileURLToPath(new URL(`../../src/${path}`, import.meta.url));

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 160, seed: 13 });
  });
  afterAll(async () => sandboxes?.close());

  /** One flow run in its own process (the CLI does not register the flow yet). */
  function script(): string {
    const path = join(dir, 'run-cloud-tickets.mts');
    writeFileSync(
      path,
      [
        `import { loadConfigFile } from ${JSON.stringify(src('config/load.ts'))};`,
        `import { systemClock } from ${JSON.stringify(src('domain/clock.ts'))};`,
        `import { createLogger } from ${JSON.stringify(src('logging.ts'))};`,
        `import { openStore } from ${JSON.stringify(src('store/store.ts'))};`,
        `import { cloudTicketsFlow } from ${JSON.stringify(src('sync/cloud-tickets/flow.ts'))};`,
        `import { runFlows } from ${JSON.stringify(src('sync/kernel/runner.ts'))};`,
        'const loaded = loadConfigFile(process.argv[2]!, process.env);',
        'const store = await openStore(loaded.config.store.url, { commitBatch: loaded.config.store.commitBatch });',
        'await store.migrate();',
        "await runFlows({ integration: loaded.config.integrations[0]!, store, clock: systemClock, logger: createLogger({ level: 'silent' }), runners: [cloudTicketsFlow], trigger: 'cli' });",
        'await store.close();',
      ].join('\n'),
    );
    return path;
  }

  it('leaves one ticket per correlation id after kill -9 between a committed create and the ledger', async () => {
    const runner = script();
    for (const killAt of [1, 4]) {
      await sandboxes.control('servicenow', 'POST', '/_sandbox/reset');
      await sandboxes.control('defender', 'POST', '/_sandbox/reset');
      const storeUrl = join(dir, `kill-${killAt}.sqlite`);
      // Two new tickets per Batch API call: the kill lands after batch killAt committed.
      const loaded = sandboxes.config(storeUrl, { cloudTickets: { rules: [RULES[0]], batchSize: 2 } });
      const configPath = join(dir, `kill-${killAt}.yaml`);
      // Records committed after every decision, so the store holds exactly the batches before the kill.
      writeFileSync(
        configPath,
        stringify({
          ...loaded.config,
          store: { ...loaded.config.store, commitBatch: { records: 1, intervalMs: 0 } },
        }),
      );
      await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', { holdWrite: killAt });
      const child = spawn(process.execPath, ['--import', 'tsx', runner, configPath], {
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      let held = 0;
      for (let i = 0; i < 600 && held === 0; i++) {
        held = (await sandboxes.control('servicenow', 'GET', '/_sandbox/faults')).held;
        if (held === 0) await sleep(50);
      }
      expect(held).toBe(1);
      child.kill('SIGKILL');
      await exited;
      await sandboxes.control('servicenow', 'POST', '/_sandbox/faults', {});
      const store = await openStore(storeUrl);
      await store.migrate();
      try {
        // The killed run never recorded the held batch's tickets: the store does not know them.
        const known = await store.db
          .selectFrom('entity_state')
          .select('source_key')
          .where('entity', '=', 'ticket')
          .execute();
        expect(known.length).toBe((killAt - 1) * 2);
        for (let i = 0; i < 2; i++) expect((await syncCloudTickets(store, loaded)).summary.errors).toBe(0);
      } finally {
        await store.close();
      }
      const sn = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
        clock: systemClock,
        counters: new RequestCounters(),
      });
      try {
        const ids = (await tickets(sn, 'incident')).map((i) => stringValue(i.correlation_id));
        expect(new Set(ids).size).toBe(ids.length);
        expect(ids.length).toBe((await highCritical(sandboxes)).groups.size);
        // Every covered assessment has exactly one assignment, pointing at a ticket that exists.
        const sysIds = new Set((await tickets(sn, 'incident')).map((t) => t.sys_id));
        const all = await assignments(sandboxes);
        for (const g of all)
          expect(
            sysIds.has(g.properties.additionalData!.ticketLink!.match(/sys_id%3D([0-9a-f]+)/)![1]!),
          ).toBe(true);
      } finally {
        await sn.close();
      }
    }
  }, 60_000);
});
