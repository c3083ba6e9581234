import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock, type Clock } from '../../src/domain/clock.js';
import type { Flow } from '../../src/domain/flows.js';
import { createLogger } from '../../src/logging.js';
import { openStore, type Store } from '../../src/store/store.js';
import { FLOW_RUNNERS } from '../../src/sync/flows.js';
import { runFlows, type RunResult } from '../../src/sync/kernel/runner.js';

/** How {@link runOnce} runs. */
export interface RunOnceOptions {
  /** Flows to run (in dependency order); every enabled one when omitted. */
  readonly only?: readonly Flow[];
  readonly dryRun?: boolean;
  /** A verification run (`snowline sync --verify`). */
  readonly verify?: boolean;
  readonly clock?: Clock;
}

/**
 * One `snowline sync` in this process on an open store: the configuration's first integration,
 * every enabled flow (or `only` those), as the CLI runs it.
 */
export async function runOnce(
  loaded: LoadedConfig,
  store: Store,
  options: RunOnceOptions = {},
): Promise<RunResult> {
  return runFlows({
    integration: loaded.config.integrations[0]!,
    store,
    clock: options.clock ?? systemClock,
    logger: createLogger({ level: 'silent' }),
    runners: FLOW_RUNNERS,
    ...(options.only ? { only: options.only } : {}),
    ...(options.dryRun ? { dryRun: true } : {}),
    ...(options.verify ? { verify: true } : {}),
    trigger: 'cli',
  });
}

/**
 * {@link runOnce} against the store at `storeUrl` (the configured one by default), opened with
 * the configured `store.commitBatch`, migrated and closed around the run.
 */
export async function syncOnce(
  loaded: LoadedConfig,
  storeUrl: string = loaded.config.store.url,
  only?: readonly Flow[],
): Promise<RunResult> {
  const store = await openStore(storeUrl, { commitBatch: loaded.config.store.commitBatch });
  try {
    await store.migrate();
    return await runOnce(loaded, store, only ? { only } : {});
  } finally {
    await store.close();
  }
}
