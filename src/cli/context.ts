import { resolve } from 'node:path';
import { loadConfigFile, type LoadedConfig } from '../config/load.js';
import type { IntegrationConfig } from '../config/schema.js';
import { systemClock, type Clock } from '../domain/clock.js';
import { UsageError } from '../errors.js';
import { createLogger, type Logger } from '../logging.js';
import type { SecretScrubber } from '../secrets.js';
import { openStore, type Store } from '../store/store.js';
import type { CliIo } from './io.js';

/** What a command that needs the configuration gets. */
export interface CommandContext {
  readonly loaded: LoadedConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly io: CliIo;
}

/**
 * Loads the configuration named by `--config` (validated before anything runs), registers its
 * secrets with the process-wide scrubber, and creates the logger.
 */
export function loadContext(
  io: CliIo,
  scrubber: SecretScrubber,
  options: { config?: string; logLevel?: string },
): CommandContext {
  const path = resolve(io.cwd, options.config ?? './snowline.yaml');
  const loaded = loadConfigFile(path, io.env);
  scrubber.add(loaded.secrets);
  const logger = createLogger({
    level: options.logLevel ?? loaded.config.log.level,
    scrubber,
    destination: io.stderr,
    pretty: io.stderr === process.stderr ? undefined : false,
  });
  return { loaded, logger, clock: systemClock, io };
}

/** Opens and migrates the configured store, runs `fn`, and closes the store whatever happens. */
export async function withStore<T>(
  context: CommandContext,
  fn: (store: Store, applied: readonly string[]) => Promise<T>,
): Promise<T> {
  const url = context.loaded.config.store.url;
  const store = await openStore(
    /^postgres/i.test(url) || url === ':memory:' ? url : resolve(context.io.cwd, url),
    { commitBatch: context.loaded.config.store.commitBatch },
  );
  try {
    const applied = await store.migrate();
    if (applied.length) context.logger.info({ applied, store: store.location }, 'store migrated');
    return await fn(store, applied);
  } finally {
    await store.close();
  }
}

/** The integration named by `--integration`, or the only one when there is just one. */
export function selectIntegration(context: CommandContext, id?: string): IntegrationConfig {
  const integrations = context.loaded.config.integrations;
  if (id === undefined) {
    if (integrations.length === 1) return integrations[0]!;
    throw new UsageError(
      `the config has ${integrations.length} integrations; choose one with --integration (${integrations.map((i) => i.id).join(', ')})`,
    );
  }
  const found = integrations.find((i) => i.id === id);
  if (!found)
    throw new UsageError(
      `no integration "${id}" in the config; known: ${integrations.map((i) => i.id).join(', ')}`,
    );
  return found;
}
