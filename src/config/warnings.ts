import type { SnowlineConfig } from './schema.js';

/** Something a valid configuration should change: what, where, and what to do. */
export interface ConfigWarning {
  /** Key path, e.g. `integrations[0].flows.ticketSync.intervalSeconds`. */
  readonly path: string;
  readonly message: string;
}

/**
 * What `snowline config check` warns about in a configuration that is valid (and runs): keys kept
 * for compatibility that will go, settings that work but are not what the operator likely means.
 *
 * @example
 * configWarnings(config) // [{ path: 'integrations[0].flows.ticketSync.intervalSeconds', message: '…' }]
 */
export function configWarnings(config: SnowlineConfig): ConfigWarning[] {
  const warnings: ConfigWarning[] = [];
  config.integrations.forEach((integration, i) => {
    const ticketSync = integration.flows.ticketSync;
    if (ticketSync?.intervalSeconds !== undefined) {
      const every = `{ every: ${ticketSync.intervalSeconds}s }`;
      warnings.push({
        path: `integrations[${i}].flows.ticketSync.intervalSeconds`,
        message: ticketSync.schedule
          ? `is deprecated and ignored because schedule is set; remove it`
          : `is deprecated; it is still read as the poll interval, but write schedule: ${every} instead`,
      });
    }
  });
  return warnings;
}
