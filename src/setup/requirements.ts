import type { IntegrationConfig } from '../config/schema.js';
import type { Flow } from '../domain/flows.js';
import { TICKET_TABLES, type RegisteredTable, type TicketTable } from '../domain/tickets/tables.js';

/**
 * What the enabled flows of one integration need on the ServiceNow instance: the one list that
 * `snowline doctor` checks, `snowline servicenow setup` prints for the admin, and docs/doctor.md
 * and docs/getting-started.md show (a test holds the docs to it). No I/O.
 */

/** A table a flow needs, and which ServiceNow plugin brings it (what to install when missing). */
export interface RequiredTable {
  readonly table: string;
  readonly plugin: string;
}

/** A role requirement: any one of `anyOf` satisfies it. */
export interface RequiredRole {
  readonly anyOf: readonly string[];
  readonly why: string;
  /** The enabled flows that need it. */
  readonly flows: readonly Flow[];
}

/** The tables and integration-user roles the enabled flows need, each once. */
export interface ServiceNowRequirements {
  readonly tables: readonly RequiredTable[];
  readonly roles: readonly RequiredRole[];
}

const ITSM = 'ITSM (Incident, Problem, Change Management)';

/**
 * What each enabled flow needs on the instance (docs/doctor.md, "Tables and roles per flow").
 *
 * @example
 * serviceNowRequirements(integration).roles.map((r) => r.anyOf.join(' | ')) // ['itil']
 */
export function serviceNowRequirements(integration: IntegrationConfig): ServiceNowRequirements {
  const flows = integration.flows;
  const tables: RequiredTable[] = [];
  const roles: RequiredRole[] = [];
  const addRole = (flow: Flow, anyOf: readonly string[], why: string) => {
    const same = roles.findIndex((r) => r.anyOf.join('|') === anyOf.join('|'));
    if (same === -1) roles.push({ anyOf, why, flows: [flow] });
    else {
      const before = roles[same]!;
      roles[same] = {
        anyOf,
        why: before.why === why ? why : `${before.why}; ${why}`,
        flows: [...before.flows, flow],
      };
    }
  };
  const addTable = (table: string, plugin: string) => {
    if (!tables.some((t) => t.table === table)) tables.push({ table, plugin });
  };
  if (flows.otInventory?.enabled) {
    const ot = 'CMDB CI Class Models with the OT classes (Operational Technology Manager)';
    addTable('cmdb_ci_ot', ot);
    addTable('cmdb_ot_entity', ot);
    addTable('cmdb_ci_nids', ot);
    // Reference tables the mapping reads by name each run (docs/ot-inventory.md, "References").
    addTable('cmdb_ot_entity_type', ot);
    addTable('life_cycle_stage', 'CSDM life cycle (platform)');
    addTable('life_cycle_stage_status', 'CSDM life cycle (platform)');
    addTable('core_company', 'the platform (Company)');
    addTable('cmdb_hardware_product_model', 'the platform (Product Models)');
    if (flows.otInventory.connections.enabled)
      addTable('sn_ot_device_network_connection', 'Industrial Core (sn_ot_core)');
    addRole(
      'ot-inventory',
      ['cmdb_ot_editor', 'cmdb_ot_admin'],
      'read and write the OT CI classes (itil alone cannot read them)',
    );
    addRole('ot-inventory', ['cmdb_nids_admin'], 'write the sensors (cmdb_ci_nids)');
    // "Users must have the itil or asset role to use this API" (ServiceNow/ServiceNowDocs
    // markdown/api-reference/rest-apis/c_IdentifyReconcileAPI.md).
    addRole('ot-inventory', ['itil', 'asset'], 'send CIs to the Identification and Reconciliation API');
  }
  if (flows.otVulnerabilities?.enabled) {
    const vr = 'Vulnerability Response (and OT Vulnerability Response)';
    addTable('sn_vul_nvd_entry', vr);
    addTable('sn_vul_detection', vr);
    addTable('sn_vul_vulnerable_item', vr);
    addRole(
      'ot-vulnerabilities',
      ['sn_vul.vulnerability_write', 'sn_vul.admin'],
      'write NVD entries and detections as a scanner integration does',
    );
  }
  if (flows.cloudTickets?.enabled) {
    for (const table of TICKET_TABLES) addTable(table, ITSM);
    addRole('cloud-tickets', ['itil'], 'create and resolve incidents, problems and changes');
  }
  if (flows.ticketSync?.enabled) {
    // Polling reads every ticket table; a user without email gets a work note on its ticket.
    for (const table of TICKET_TABLES) addTable(table, ITSM);
    addRole('ticket-sync', ['itil'], 'read tickets and write work notes on them');
  }
  if (flows.otAlerts?.enabled) {
    const used = new Set(flows.otAlerts.rules.filter((r) => r.ticket).map((r) => r.table));
    if (used.has('incident')) {
      addTable('incident', ITSM);
      addRole('ot-alerts', ['itil'], 'create, note and resolve incidents for OT alerts');
    }
    if (used.has('sn_ot_incident')) {
      // Store app and roles: ServiceNow/ServiceNowDocs (australia) markdown/operational-technology/
      // operational-technology-incident-management/components-installed-with-operational-technology-service-management.md;
      // resolving needs sn_ot_incident_write (resolve-and-close-ot-incident.md).
      addTable('sn_ot_incident', 'Operational Technology Incident Management (sn_ot_inc_mgmt)');
      addRole(
        'ot-alerts',
        ['sn_ot_incident_write', 'sn_ot_incident_admin'],
        'create, note and resolve OT incidents (sn_ot_incident)',
      );
    }
    if (used.has('sn_si_incident')) {
      // Plugin and roles: ServiceNow/ServiceNowDocs (australia) markdown/security-management/
      // security-incident-response/get-started-with-microsoft-azure-sentinel-integration.md and installed-with-sir.md
      // ("sn_si.integration_user: External tools can provide new security incident records and update
      // security incident records"; sn_si.analyst "create and update security incidents").
      addTable('sn_si_incident', 'Security Incident Response (com.snc.security_incident)');
      addRole(
        'ot-alerts',
        ['sn_si.integration_user', 'sn_si.analyst', 'sn_si.admin'],
        'create, note and close security incidents (sn_si_incident)',
      );
    }
  }
  return { tables, roles };
}

/**
 * The ticket tables the push-mode business rule belongs on: those cloud-tickets' rules (and
 * adopted governance rules) open tickets in — every ticket table when cloud-tickets opens none,
 * since `snowline ticket create --type` may open one in any of them — and those ot-alerts' rules
 * open tickets in (their closes reach Defender through the same webhook).
 */
export function ticketTablesInUse(integration: IntegrationConfig): readonly RegisteredTable[] {
  const cloudTickets = integration.flows.cloudTickets;
  const used = new Set<TicketTable>();
  if (cloudTickets?.enabled) {
    for (const rule of cloudTickets.rules) used.add(rule.table);
    if (cloudTickets.governanceRules.adopt) used.add(cloudTickets.governanceRules.table);
  }
  const tickets: RegisteredTable[] =
    used.size === 0 ? [...TICKET_TABLES] : TICKET_TABLES.filter((t) => used.has(t));
  const otAlerts = integration.flows.otAlerts;
  if (otAlerts?.enabled)
    for (const rule of otAlerts.rules)
      if (rule.ticket && !tickets.includes(rule.table)) tickets.push(rule.table);
  return tickets;
}
