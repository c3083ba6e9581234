import type { SnowlineConfig } from './schema.js';

/** Something a valid configuration should change: what, where, and what to do. */
export interface ConfigWarning {
  /** Key path, e.g. `integrations[0].flows.ticketSync.intervalSeconds`. */
  readonly path: string;
  readonly message: string;
}

/**
 * Microsoft retired the on-premises management console: "Defender for IoT now recommends using
 * Microsoft cloud services or existing IT infrastructure for central monitoring and sensor
 * management, and plans to retire the on-premises management console on January 1st, 2025"
 * (MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/roles-on-premises.md).
 */
export const CONSOLE_RETIRED =
  'reads the on-premises management console, which Microsoft retired on January 1st, 2025 (https://learn.microsoft.com/azure/defender-for-iot/organizations/roles-on-premises): it keeps working while yours runs, but read from the sensors (source: sensor) for on-premises and air-gapped sites, or from Resource Graph (source: resourceGraph) for cloud-connected sensors; see docs/getting-started.md, "Which Defender source"';

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
    const flows = integration.flows;
    for (const [key, flow] of [
      ['otInventory', flows.otInventory],
      ['otVulnerabilities', flows.otVulnerabilities],
    ] as const)
      if (flow?.source === 'console' && flow.enabled !== false)
        warnings.push({ path: `integrations[${i}].flows.${key}.source`, message: CONSOLE_RETIRED });
    if (flows.otVulnerabilities?.sourceName !== undefined)
      warnings.push({
        path: `integrations[${i}].flows.otVulnerabilities.sourceName`,
        message: flows.otVulnerabilities.detectionSource
          ? 'is deprecated and ignored because detectionSource is set; remove it'
          : `is deprecated; it is still read, but write detectionSource: ${flows.otVulnerabilities.sourceName} instead`,
      });
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
