import type { IntegrationConfig } from '../config/schema.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../logging.js';
import { RequestCounters } from '../runtime/http/counters.js';
import { connectServiceNow } from '../servicenow/index.js';
import { createDefenderSources } from '../sources/index.js';
import { checkDefender } from './defender.js';
import type { DoctorReport } from './report.js';
import { checkServiceNow } from './servicenow.js';
import { checkTicketSyncPush } from './ticket-sync.js';

export { formatReport, reportPasses, type DoctorCheck, type DoctorReport } from './report.js';
export { serviceNowRequirements } from '../setup/requirements.js';

/**
 * Checks one integration's ServiceNow instance and Defender tenant for what its enabled flows
 * need, reading only, and says what to fix.
 *
 * @example
 * const report = await runDoctor(integration, { clock: systemClock, logger });
 * process.stdout.write(formatReport(report));
 */
export async function runDoctor(
  integration: IntegrationConfig,
  deps: { readonly clock: Clock; readonly logger: Logger },
): Promise<DoctorReport> {
  const counters = new RequestCounters();
  const servicenow = connectServiceNow(integration.servicenow, { ...deps, counters });
  const defender = createDefenderSources(integration.defender, { ...deps, counters });
  try {
    const checks = [
      ...(await checkServiceNow(servicenow.client, integration)),
      ...(await checkTicketSyncPush(servicenow.client, integration)),
      ...(await checkDefender(defender, integration)),
    ];
    return { integrationId: integration.id, checks };
  } finally {
    await Promise.all([servicenow.close(), defender.close()]);
  }
}
