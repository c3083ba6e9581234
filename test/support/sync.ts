import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import type { Flow } from '../../src/domain/flows.js';
import { createLogger } from '../../src/logging.js';
import { openStore } from '../../src/store/store.js';
import { FLOW_RUNNERS } from '../../src/sync/flows.js';
import { runFlows, type RunResult } from '../../src/sync/kernel/runner.js';

/**
 * One `snowline sync` in this process: the configuration's first integration, every flow (or
 * `only` those), against the store at `storeUrl` (the configured one by default), opened,
 * migrated and closed around the run.
 */
export async function syncOnce(
  loaded: LoadedConfig,
  storeUrl: string = loaded.config.store.url,
  only?: readonly Flow[],
): Promise<RunResult> {
  const store = await openStore(storeUrl);
  try {
    await store.migrate();
    return await runFlows({
      integration: loaded.config.integrations[0]!,
      store,
      clock: systemClock,
      logger: createLogger({ level: 'silent' }),
      runners: FLOW_RUNNERS,
      ...(only ? { only } : {}),
      trigger: 'cli',
    });
  } finally {
    await store.close();
  }
}
