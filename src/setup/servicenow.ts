import type { IntegrationConfig } from '../config/schema.js';
import {
  businessRuleCondition,
  businessRuleScript,
  webhookPropertyNames,
  type RuleScope,
} from './business-rule.js';
import { serviceNowRequirements, ticketTablesInUse } from './requirements.js';

/**
 * What a ServiceNow admin applies for one integration, as files to review before applying:
 * the webhook's system properties, the business rule (form fields, condition, script), the
 * integration user's roles and the OAuth application. Nothing here talks to the instance. Form
 * names, fields and choices are from ServiceNow/ServiceNowDocs (branch australia, under
 * `markdown/`), cited beside each.
 */

/** One file of the setup: `name` is its file name under `--out`. */
export interface SetupFile {
  readonly name: string;
  readonly title: string;
  readonly content: string;
}

/** How the setup is generated. */
export interface SetupOptions {
  readonly scope: RuleScope;
  /**
   * Snowline's webhook as the instance reaches it. Snowline's configuration has only the address it
   * listens on, not the one a proxy or a MID Server exposes to the instance: without this option the
   * output leaves `<snowline host>` for the admin to fill in.
   */
  readonly webhookUrl?: string;
  readonly midServer?: string;
  /** Print the configured webhook secret instead of saying where it is. */
  readonly showSecret?: boolean;
}

/** The webhook URL shown when none is given. */
export const WEBHOOK_URL_PLACEHOLDER = 'https://<snowline host>/api/v1/webhooks/servicenow';

function systemProperties(integration: IntegrationConfig, options: SetupOptions): string {
  const names = webhookPropertyNames(integration.id, options.scope);
  const secret = integration.flows.ticketSync?.webhook.secret;
  const secretValue =
    secret === undefined
      ? `<none configured: set integrations[id=${integration.id}].flows.ticketSync.webhook.secret first (e.g. openssl rand -base64 32), then use the same value here>`
      : options.showSecret
        ? secret
        : `<the value of integrations[id=${integration.id}].flows.ticketSync.webhook.secret in Snowline's configuration (printed with --show-secret)>`;
  return [
    '# System Properties [sys_properties] > New (navigation filter: sys_properties.list).',
    '# Types string and password2 (two-way encrypted): ServiceNowDocs',
    '# application-development/servicenow-sdk/property-api-now-ts.md, platform-administration/r_FieldTypes.md.',
    '',
    `Name:  ${names.url}`,
    'Type:  string',
    `Value: ${options.webhookUrl ?? WEBHOOK_URL_PLACEHOLDER}`,
    '',
    `Name:  ${names.secret}`,
    'Type:  password2',
    `Value: ${secretValue}`,
    '',
  ].join('\n');
}

function businessRule(integration: IntegrationConfig, options: SetupOptions): string {
  const tables = ticketTablesInUse(integration);
  return [
    '# System Definition > Business Rules > New, once per table below (same fields, same script).',
    '# Fields and the When choices (before, after, async, display): ServiceNowDocs',
    '# api-reference/business-rules-classic/c_BusinessRules.md. Async: a slow or unreachable',
    "# Snowline never delays a person's save; polling is the backstop for anything the rule misses.",
    ...(options.scope === 'global'
      ? []
      : [
          `# In scoped application ${options.scope.app}: a rule on another scope's table may be async with a script (same page).`,
        ]),
    '',
    `Name:      Snowline webhook (${integration.id})`,
    `Table:     ${tables.join(', ')}`,
    'Active:    true',
    'Advanced:  true',
    'When:      async',
    'Insert:    true',
    'Update:    true',
    'Condition: see business-rule.condition.js',
    'Script:    see business-rule.script.js',
    '',
  ].join('\n');
}

function integrationUser(integration: IntegrationConfig): string {
  const { roles } = serviceNowRequirements(integration);
  const auth = integration.servicenow.auth;
  const userName = 'username' in auth && auth.username ? auth.username : 'svc_snowline';
  return [
    '# User Administration > Users > New: a dedicated user, not a person (its changes are',
    "# recognised as Snowline's own). Web service access only: the user cannot sign in to the UI",
    '# (ServiceNowDocs government-industry/government-industry/edit-an-assignment-group-psds.md).',
    '# Roles: the least the enabled flows need, the ones `snowline doctor` checks (one of each line).',
    '',
    `User ID:                  ${userName}`,
    'Web service access only:  true',
    ...(roles.length === 0
      ? ['Roles:                    none (no enabled flow writes to ServiceNow)']
      : ['Roles:', ...roles.map((r) => `  ${r.anyOf.join(' or ')}   (${r.flows.join(', ')}: ${r.why})`)]),
    '',
  ].join('\n');
}

function oauthApplication(integration: IntegrationConfig): string {
  const auth = integration.servicenow.auth;
  const lines = [
    '# System OAuth > Application Registry > New > Create an OAuth API endpoint for external clients',
    '# (ServiceNowDocs platform-security/authentication/t_CreateEndpointforExternalClients.md; role oauth_admin).',
    '',
    `Name:          Snowline (${integration.id})`,
    'Client Secret: leave blank: the instance generates it; put it in servicenow.auth.clientSecret',
  ];
  if (auth.type === 'basic')
    return [
      ...lines,
      '',
      '# This integration signs in with Basic auth (servicenow.auth.type: basic): no OAuth entry is',
      '# needed. To switch, create the entry above and set servicenow.auth to type oauth.',
      '',
    ].join('\n');
  if (auth.grant === 'password')
    return [
      ...lines,
      '',
      "# Grant password: Snowline sends the integration user's name and password with the client's.",
      '',
    ].join('\n');
  return [
    ...lines,
    'OAuth Application User: the integration user (add the field with Configure > Form Design)',
    '# (platform-security/authentication/add-oauth-application-user.md; the docs ask for the REST API',
    '# Auth Scope with this grant type.)',
    '',
    '# Grant client_credentials needs this system property (System Properties [sys_properties] > New;',
    '# platform-security/authentication/create-cc-sys-prop.md):',
    'Name:  glide.oauth.inbound.client.credential.grant_type.enabled',
    'Type:  true | false',
    'Value: true',
    '',
  ].join('\n');
}

/**
 * The setup of one integration as files, in the order an admin applies them.
 *
 * @example
 * serviceNowSetup(integration, { scope: 'global' }).map((f) => f.name)
 * // ['system-properties.txt', 'business-rule.txt', 'business-rule.condition.js', 'business-rule.script.js', …]
 */
export function serviceNowSetup(integration: IntegrationConfig, options: SetupOptions): SetupFile[] {
  const script = businessRuleScript({
    integrationId: integration.id,
    scope: options.scope,
    ...(options.midServer ? { midServer: options.midServer } : {}),
  });
  return [
    {
      name: 'system-properties.txt',
      title: '1. System properties of the webhook',
      content: systemProperties(integration, options),
    },
    {
      name: 'business-rule.txt',
      title: '2. Business rule (ticket-sync push mode)',
      content: businessRule(integration, options),
    },
    {
      name: 'business-rule.condition.js',
      title: '2a. Business rule: Condition (ES5)',
      content: `${businessRuleCondition(integration.id)}\n`,
    },
    { name: 'business-rule.script.js', title: '2b. Business rule: Script (ES5)', content: script },
    { name: 'integration-user.txt', title: '3. Integration user', content: integrationUser(integration) },
    { name: 'oauth-application.txt', title: '4. OAuth application', content: oauthApplication(integration) },
  ];
}

/** The files as one text, each under a `==> name <==` header (what the command prints). */
export function formatSetup(files: readonly SetupFile[]): string {
  return files.map((f) => `==> ${f.name} <== ${f.title}\n\n${f.content}`).join('\n');
}
