import { join } from 'node:path';
import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import type { Flow, FlowSummary } from '../../src/domain/flows.js';
import { createLogger } from '../../src/logging.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow, type ServiceNowConnection } from '../../src/servicenow/index.js';
import { openStore, type Store } from '../../src/store/store.js';
import { FLOW_RUNNERS } from '../../src/sync/flows.js';
import { runFlows } from '../../src/sync/kernel/runner.js';
import { startSandboxes, type Sandboxes } from './sandboxes.js';

/**
 * One side of a whole-versus-split comparison: its own pair of sandboxes, SQLite store and
 * ServiceNow connection. Two sides opened with the same options start from identical estates.
 */
export interface SplitSide {
  sandboxes: Sandboxes;
  store: Store;
  sn: ServiceNowConnection;
  loaded: LoadedConfig;
}

/** Opens a side: sandboxes of `devices` devices from `seed`, the store `<dir>/<name>.sqlite`, `flows` configured. */
export async function openSide(options: {
  dir: string;
  name: string;
  devices: number;
  seed: number;
  now?: Date;
  flows: Record<string, unknown>;
}): Promise<SplitSide> {
  const sandboxes = await startSandboxes({
    devices: options.devices,
    seed: options.seed,
    ...(options.now ? { now: options.now } : {}),
  });
  const storeUrl = join(options.dir, `${options.name}.sqlite`);
  const loaded = sandboxes.config(storeUrl, options.flows);
  const store = await openStore(storeUrl);
  await store.migrate();
  const sn = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
    clock: systemClock,
    counters: new RequestCounters(),
  });
  return { sandboxes, store, sn, loaded };
}

/** Closes what {@link openSide} opened (a side that failed to open is skipped). */
export async function closeSides(sides: ReadonlyArray<SplitSide | undefined>): Promise<void> {
  for (const side of sides) {
    await side?.sn.close();
    await side?.store.close();
    await side?.sandboxes.close();
  }
}

/** One run of `flow` on a side, whole or one of its parts (`plan`, a part, `sweep`); its summary. */
export async function runOnSide(side: SplitSide, flow: Flow, part?: string): Promise<FlowSummary> {
  const result = await runFlows({
    integration: side.loaded.config.integrations[0]!,
    store: side.store,
    clock: systemClock,
    logger: createLogger({ level: 'silent' }),
    runners: FLOW_RUNNERS,
    only: [flow],
    trigger: 'cli',
    ...(part ? { part } : {}),
  });
  return result.summary.jobs[flow]!;
}
