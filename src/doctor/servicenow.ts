import type { IntegrationConfig } from '../config/schema.js';
import { UpstreamError } from '../errors.js';
import type { ServiceNowClient } from '../servicenow/client.js';
import { encodeQuery, where } from '../servicenow/query.js';
import type { DoctorCheck } from './report.js';
import { serviceNowRequirements } from '../setup/requirements.js';
import { classesInMap, classSubstitutes, withAncestors } from '../domain/ot/classes.js';

/** The first page of `table` (one row) to see whether it exists and the user may read it. */
async function probeRead(client: ServiceNowClient, table: string): Promise<'ok' | UpstreamError> {
  try {
    for await (const page of client.list(table, { fields: ['sys_id'], pageSize: 1 })) {
      void page;
      break;
    }
    return 'ok';
  } catch (error) {
    if (error instanceof UpstreamError) return error;
    throw error;
  }
}

/**
 * Checks the ServiceNow side of one integration as its integration user: sign-in, every table the
 * enabled flows need (present, readable), the user's roles for writing them, and the
 * discovery-source choice ot-inventory writes as. Nothing is written: write access is judged from
 * the roles the platform's ACLs require (a doctor must not create records on production).
 */
export async function checkServiceNow(
  client: ServiceNowClient,
  integration: IntegrationConfig,
): Promise<DoctorCheck[]> {
  const checks: DoctorCheck[] = [];
  const { tables, roles } = serviceNowRequirements(integration);
  let user: { sys_id?: unknown; user_name?: unknown } | undefined;
  try {
    // The platform evaluates gs.getUserName() for the caller: the integration user, whatever
    // the authentication (basic, OAuth password or client credentials).
    const rows = await client.listAll('sys_user', {
      query: 'user_name=javascript:gs.getUserName()',
      fields: ['sys_id', 'user_name'],
      pageSize: 1,
    });
    user = rows[0];
    checks.push({
      id: 'servicenow.sign-in',
      status: user ? 'pass' : 'fail',
      detail: user
        ? `signed in to ${integration.servicenow.instanceUrl} as ${String(user.user_name)}`
        : 'signed in, but the user cannot read its own sys_user record',
      ...(user ? {} : { fix: 'give the integration user a role (e.g. itil) so it can read sys_user' }),
    });
  } catch (error) {
    checks.push({
      id: 'servicenow.sign-in',
      status: 'fail',
      detail: error instanceof Error ? error.message : String(error),
      fix: 'check integrations[].servicenow.instanceUrl and the credentials (servicenow.auth)',
    });
    return checks;
  }
  if (!user) return checks;

  for (const { table, plugin } of tables) {
    const result = await probeRead(client, table);
    if (result === 'ok') {
      checks.push({
        id: `servicenow.table.${table}`,
        status: 'pass',
        detail: `${table} exists and is readable`,
      });
    } else if (result.status === 400 || result.status === 404) {
      checks.push({
        id: `servicenow.table.${table}`,
        status: 'fail',
        detail: `${table} does not exist on the instance`,
        fix: `activate ${plugin}`,
      });
    } else if (result.status === 403) {
      checks.push({
        id: `servicenow.table.${table}`,
        status: 'fail',
        detail: `${table} exists but the integration user may not read it (403 ACL)`,
        fix: `grant the integration user a role that reads ${table} (see the role checks below)`,
      });
    } else {
      checks.push({ id: `servicenow.table.${table}`, status: 'fail', detail: result.message });
    }
  }

  const userName = String(user.user_name);
  let held: Set<string> | undefined;
  try {
    const links = await client.listAll('sys_user_has_role', {
      query: encodeQuery({ where: [where('user', '=', String(user.sys_id))] }),
      fields: ['role'],
      displayValue: 'true',
    });
    held = new Set(links.map((l) => displayOf(l.role)));
  } catch (error) {
    checks.push({
      id: 'servicenow.roles',
      status: 'fail',
      detail: `cannot read the roles of ${userName}: ${error instanceof Error ? error.message : String(error)}`,
      fix: 'let the integration user read sys_user_has_role, or check its roles by hand against docs/doctor.md',
    });
  }
  if (held) {
    const has = held;
    for (const role of roles) {
      const ok = has.has('admin') || role.anyOf.some((r) => has.has(r));
      checks.push({
        id: `servicenow.role.${role.anyOf.join('|')}`,
        status: ok ? 'pass' : 'fail',
        detail: ok
          ? `${userName} may ${role.why}`
          : `${userName} has none of ${role.anyOf.join(', ')}: it cannot ${role.why}`,
        ...(ok ? {} : { fix: `grant ${role.anyOf[0]} to ${userName}` }),
      });
    }
  }

  if (integration.flows.otInventory?.enabled) {
    const source = integration.flows.otInventory.dataSource;
    try {
      const choices = await client.listAll('sys_choice', {
        query: encodeQuery({
          where: [
            where('name', '=', 'cmdb_ci'),
            where('element', '=', 'discovery_source'),
            where('value', '=', source),
          ],
        }),
        fields: ['value', 'inactive'],
      });
      const active = choices.some((c) => String(c.inactive ?? 'false') !== 'true');
      checks.push({
        id: 'servicenow.discovery-source',
        status: active ? 'pass' : 'fail',
        detail: active
          ? `cmdb_ci.discovery_source has the choice "${source}"`
          : `cmdb_ci.discovery_source has no active choice "${source}": IRE rejects every payload from an unknown data source`,
        ...(active
          ? {}
          : {
              fix: `add a sys_choice (table cmdb_ci, element discovery_source, value "${source}"), or set flows.otInventory.dataSource to an existing choice`,
            }),
      });
    } catch (error) {
      checks.push({
        id: 'servicenow.discovery-source',
        status: 'fail',
        detail: `cannot read sys_choice: ${error instanceof Error ? error.message : String(error)}`,
        fix: `check by hand that cmdb_ci.discovery_source has the choice "${source}"`,
      });
    }
    checks.push(await checkClasses(client, classesInMap(integration.flows.otInventory.classMap)));
  }
  return checks;
}

/**
 * Which CI classes the ot-inventory map names that the instance lacks (read from sys_db_object):
 * their devices are written as the nearest ancestor the instance has, which doctor reports as a
 * failure with the plugin to install. A class map the instance fully holds passes.
 */
async function checkClasses(client: ServiceNowClient, classNames: readonly string[]): Promise<DoctorCheck> {
  let missing: Map<string, string>;
  try {
    missing = classSubstitutes(classNames, await client.existingTables(withAncestors(classNames)));
  } catch (error) {
    return {
      id: 'servicenow.ci-classes',
      status: 'fail',
      detail: `cannot read sys_db_object to see which CI classes exist: ${error instanceof Error ? error.message : String(error)}`,
      fix: 'let the integration user read sys_db_object, or compare the classes in docs/ot-inventory.md with the instance by hand',
    };
  }
  if (missing.size === 0)
    return {
      id: 'servicenow.ci-classes',
      status: 'pass',
      detail: `all ${classNames.length} CI classes of the class map exist`,
    };
  return {
    id: 'servicenow.ci-classes',
    status: 'fail',
    detail: `the instance lacks ${missing.size} CI class(es) of the class map; their devices are written as the nearest ancestor: ${[
      ...missing,
    ]
      .map(([c, instead]) => `${c} → ${instead}`)
      .join(', ')}`,
    fix: 'activate the plugins that bring them (OT classes: Operational Technology Manager / Industrial Core), or map those subtypes elsewhere with flows.otInventory.classMap',
  };
}

/** A display value as the Table API returns it: a string, or `{display_value}` with references. */
function displayOf(value: unknown): string {
  if (value && typeof value === 'object' && 'display_value' in value)
    return String((value as { display_value: unknown }).display_value);
  return String(value ?? '');
}
