import type { IntegrationConfig } from '../config/schema.js';
import { UpstreamError } from '../errors.js';
import type { ServiceNowClient } from '../servicenow/client.js';
import { encodeQuery, where } from '../servicenow/query.js';
import { stringValue } from '../servicenow/values.js';
import { webhookPropertyNames } from '../setup/business-rule.js';
import { ticketTablesInUse } from '../setup/requirements.js';
import type { DoctorCheck } from './report.js';

const SETUP = 'run `snowline servicenow setup` and apply what it prints (docs/ticket-sync.md, "Push mode")';

/**
 * Checks ticket-sync's push mode on the instance, when a webhook secret is configured: the two
 * system properties the business rule reads, and an active business rule on each ticket table
 * that reads them — what `snowline servicenow setup` prints. Both tables are commonly readable by
 * admins only (the sandbox allows only admin; UNVERIFIED: no ServiceNowDocs page lists their
 * ACLs), so a refused read is a `skip` that says what to check by hand, not a failure. Column
 * names of `sys_script` (`collection`, `active`, `script`) are UNVERIFIED: the business-rule pages
 * give form labels (Table, Active, Script: api-reference/business-rules-classic/c_BusinessRules.md).
 * Whether the instance can reach Snowline's webhook is not testable from here.
 */
export async function checkTicketSyncPush(
  client: ServiceNowClient,
  integration: IntegrationConfig,
): Promise<DoctorCheck[]> {
  const ticketSync = integration.flows.ticketSync;
  if (!ticketSync?.enabled || !ticketSync.webhook.secret) return [];
  const names = webhookPropertyNames(integration.id, 'global');
  const checks: DoctorCheck[] = [];

  const properties = await readOrWhy(() =>
    client.listWhereIn('sys_properties', 'name', [names.url, names.secret], ['name']),
  );
  if (typeof properties === 'string') {
    checks.push({
      id: 'servicenow.ticket-sync.properties',
      status: 'skip',
      detail: `cannot read sys_properties (${properties}); check by hand that ${names.url} and ${names.secret} exist`,
    });
  } else {
    const found = new Set(properties.map((p) => stringValue(p.name)));
    const missing = [names.url, names.secret].filter((n) => !found.has(n));
    checks.push(
      missing.length === 0
        ? {
            id: 'servicenow.ticket-sync.properties',
            status: 'pass',
            detail: `${names.url} and ${names.secret} are set`,
          }
        : {
            id: 'servicenow.ticket-sync.properties',
            status: 'fail',
            detail: `system propert${missing.length > 1 ? 'ies' : 'y'} ${missing.join(', ')} missing: the business rule cannot sign its deliveries`,
            fix: SETUP,
          },
    );
  }

  const tables = ticketTablesInUse(integration);
  const rules = await readOrWhy(() =>
    client.listAll('sys_script', {
      query: encodeQuery({
        where: [
          where('collection', 'IN', [...tables]),
          where('active', '=', 'true'),
          // The rule `snowline servicenow setup` prints reads the webhook URL from this property.
          where('script', 'LIKE', names.url),
        ],
      }),
      fields: ['collection'],
    }),
  );
  if (typeof rules === 'string') {
    checks.push({
      id: 'servicenow.ticket-sync.business-rules',
      status: 'skip',
      detail: `cannot read sys_script (${rules}); check by hand for an active async business rule on ${tables.join(', ')} that reads ${names.url}`,
    });
  } else {
    const covered = new Set(rules.map((r) => stringValue(r.collection)));
    const missing = tables.filter((t) => !covered.has(t));
    checks.push(
      missing.length === 0
        ? {
            id: 'servicenow.ticket-sync.business-rules',
            status: 'pass',
            detail: `an active business rule posts changes of ${tables.join(', ')} to Snowline`,
          }
        : {
            id: 'servicenow.ticket-sync.business-rules',
            status: 'fail',
            detail: `no active business rule posts changes of ${missing.join(', ')} to Snowline: those reach Defender only on ticket-sync's poll`,
            fix: SETUP,
          },
    );
  }
  checks.push({
    id: 'servicenow.ticket-sync.reachable',
    status: 'skip',
    detail:
      "whether the instance reaches Snowline's webhook is not testable from here: resolve a test ticket and watch for `ServiceNow webhook` in Snowline's log",
  });
  return checks;
}

/** The rows, or why they could not be read (an ACL, a table the instance lacks). */
async function readOrWhy<T>(read: () => Promise<T>): Promise<T | string> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof UpstreamError && error.status !== 429)
      return error.status === 403 ? 'the integration user may not read it (403 ACL)' : error.message;
    throw error;
  }
}
