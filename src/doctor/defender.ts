import { CONSOLE_RETIRED } from '../config/warnings.js';
import type { IntegrationConfig } from '../config/schema.js';
import { UpstreamError } from '../errors.js';
import { isCertificateRefusal } from '../runtime/http/resilient-client.js';
import type { DefenderSources } from '../sources/index.js';
import type { DoctorCheck } from './report.js';

/** Reads the first page of `pages` only: enough to prove access, cheap on a large estate. */
async function firstPage(pages: AsyncIterable<unknown>): Promise<void> {
  for await (const page of pages) {
    void page;
    return;
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function statusOf(error: unknown): number | undefined {
  return error instanceof UpstreamError ? error.status : undefined;
}

/**
 * Checks the Defender side of one integration: each sensor's API token, the management console's
 * token, and per subscription that the identity can read Defender for Cloud assessments (the
 * Security Reader role). Writing governance assignments needs Security Admin; that is reported as
 * not checked, because the doctor writes nothing.
 */
export async function checkDefender(
  sources: DefenderSources,
  integration: IntegrationConfig,
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const defender = integration.defender;
  for (const sensor of sources.sensors) {
    const name = sensor.name;
    const index = defender.sensors.findIndex((s) => s.name === name);
    const configured = defender.sensors[index];
    try {
      await firstPage(sensor.devices());
      checks.push({
        id: `defender.sensor.${name}`,
        status: 'pass',
        detail: `sensor ${name} answers with its token`,
      });
    } catch (error) {
      const auth = statusOf(error) === 401 || statusOf(error) === 403;
      checks.push({
        id: `defender.sensor.${name}`,
        status: 'fail',
        detail: messageOf(error),
        fix: auth
          ? `create an API token on sensor ${name} (System settings > Integrations > Access tokens) and set it as its token`
          : isCertificateRefusal(error)
            ? `trust sensor ${name}'s certificate: its own CA in defender.sensors[${index}].tls.caFile (or defender.tls.caFile for all), or its fingerprint in defender.sensors[${index}].tls.pinSha256`
            : `check that ${configured?.url ?? 'the sensor URL'} is reachable from here (defender.sensors[${index}].url, and its proxy)`,
      });
    }
  }
  if (sources.console) {
    try {
      const sensors = await sources.console.sensors();
      checks.push({
        id: 'defender.console',
        status: 'pass',
        // Passes (it works while it runs), and says it is retired: CONSOLE_RETIRED cites Microsoft.
        detail: `management console answers with its token (${sensors.items.length} sensors); it ${CONSOLE_RETIRED}`,
      });
    } catch (error) {
      const auth = statusOf(error) === 401 || statusOf(error) === 403;
      checks.push({
        id: 'defender.console',
        status: 'fail',
        detail: messageOf(error),
        fix: auth
          ? 'create an integration API token on the management console and set defender.console.token'
          : 'check defender.console.url is reachable and its certificate trusted (defender.tls.caFile)',
      });
    }
  }
  for (const subscription of defender.subscriptions) {
    try {
      await firstPage(sources.arm.listAssessments(subscription));
      checks.push({
        id: `defender.subscription.${subscription}.read`,
        status: 'pass',
        detail: `the identity reads Defender for Cloud assessments of subscription ${subscription}`,
      });
    } catch (error) {
      const status = statusOf(error);
      checks.push({
        id: `defender.subscription.${subscription}.read`,
        status: 'fail',
        detail: messageOf(error),
        fix:
          status === 401
            ? 'check defender.tenantId and defender.auth (the identity could not get a token)'
            : `assign the Security Reader role on subscription ${subscription} to the identity Snowline signs in as`,
      });
    }
  }
  if (integration.flows.cloudTickets?.enabled && defender.subscriptions.length > 0) {
    checks.push({
      id: 'defender.governance-write',
      status: 'skip',
      detail:
        'not checked: writing governance assignments needs Security Admin on each subscription, and the doctor writes nothing',
    });
  }
  if (checks.length === 0) {
    checks.push({
      id: 'defender.sources',
      status: 'fail',
      detail: 'no sensor, console or subscription is configured',
      fix: 'configure defender.sensors, defender.console or defender.subscriptions for the enabled flows',
    });
  }
  return checks;
}
