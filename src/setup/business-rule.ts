import { WEBHOOK_TOLERANCE_SECONDS } from '../api/webhooks/signature.js';
import { integrationCorrelationPrefix } from '../domain/tickets/rules.js';
import { TICKET_FIELDS } from '../sync/ticket-sync/engine.js';

/**
 * The push-mode business rule of flow ticket-sync, as text an admin pastes into ServiceNow:
 * its advanced condition and its script. Both are ES5 (a global application's scripts run in
 * "ES5 Standards" mode: ServiceNow/ServiceNowDocs australia
 * `markdown/api-reference/scripts/c_JS_modes.md`), and a test parses them with an ES5 parser and
 * runs them against stand-ins of the ServiceNow APIs they call and Snowline's real webhook route.
 *
 * Every ServiceNow API used, with its page (ServiceNow/ServiceNowDocs, branch australia, paths
 * under `markdown/api-reference/`):
 * - `current` (a GlideRecord; `previous` is not available to async rules) and `gs`:
 *   `business-rules-classic/c_BusinessRules.md`, "Global variables in business rules".
 * - `current.getValue(name)` (a string, or null when empty), `getTableName()`, `getUniqueValue()`:
 *   `server-api-reference/c_GlideRecordAPI.md` (scoped: `c_GlideRecordScopedAPI.md`).
 * - `gs.getProperty(key)`: `server-api-reference/c_GlideSystemAPI.md` (scoped:
 *   `c_GlideSystemScopedAPI.md`).
 * - `new GlideDateTime().getNumericValue()` (ms since the epoch, GMT):
 *   `server-api-reference/c_GlideDateTimeAPI.md` (scoped: `c_GlideDateTimeScoped.md`).
 * - `generateMac(key, algorithm, data)`: the key "Must be Base64 encoded", algorithm
 *   `HmacSHA256`, returns the "MAC in base64 format"; global `new GlideCertificateEncryption` with
 *   `GlideStringUtil.base64Encode(key)` (`server-api-reference/c_GlideCertificateEncryptionAPI.md`),
 *   scoped `new CertificateEncryption` with `gs.base64Encode(key)`
 *   (`server-api-reference/c_CertificateEncryptionScopedAPI.md`, `c_GlideSystemScopedAPI.md`).
 * - `new sn_ws.RESTMessageV2()`, `setEndpoint`, `setHttpMethod('post')`, `setRequestHeader`,
 *   `setRequestBody`, `execute()` → `getStatusCode()`, and for a MID Server `setMIDServer(name)`
 *   with `executeAsync()` ("All REST messages sent through a MID Server are asynchronous"):
 *   `server-api-reference/c_RESTMessageV2API.md`, `c_RESTResponseV2API.md`,
 *   `web-services/r_RESTMessageV2MIDServerExample.md`.
 *
 * UNVERIFIED (no page says; searched the pages above and the whole australia branch for
 * "charset", "UTF-8" with generateMac / setRequestBody): which bytes `generateMac` signs and
 * `setRequestBody` sends for characters outside ASCII. The script sidesteps both: it escapes every
 * non-ASCII character of the JSON body as `\uXXXX`, so the body is ASCII and the bytes are the
 * same in any charset. The secret should be ASCII too (`openssl rand -base64 32`) for
 * `base64Encode` to give the key bytes Snowline uses.
 */

/** Where the rule runs: the global scope, or a scoped application (its scope name, `x_acme_snowline`). */
export type RuleScope = 'global' | { readonly app: string };

/** What the script is generated for. */
export interface BusinessRuleOptions {
  readonly integrationId: string;
  readonly scope: RuleScope;
  /** Send through this MID Server (an instance that cannot reach Snowline directly). */
  readonly midServer?: string;
}

/** The system properties the script reads, named per integration so that two can share an instance. */
export function webhookPropertyNames(
  integrationId: string,
  scope: RuleScope,
): { readonly url: string; readonly secret: string } {
  // A scoped application's properties carry its scope name as prefix (UNVERIFIED that the
  // platform enforces it; it is how the docs' scoped examples name theirs).
  const prefix = `${scope === 'global' ? 'snowline' : scope.app}.${integrationId}.webhook`;
  return { url: `${prefix}.url`, secret: `${prefix}.secret` };
}

/**
 * The ticket fields the delivery carries: those ticket-sync reads ({@link TICKET_FIELDS}), plus
 * `sys_updated_by`, which ticket-sync does not decide on (it names only the last writer) but which
 * lets whoever reads a delivery see who changed the ticket.
 */
export const WEBHOOK_RECORD_FIELDS = [...TICKET_FIELDS, 'sys_updated_by'] as const;

/** A JavaScript string literal in single quotes (ES5). */
function literal(value: string): string {
  return `'${value
    .replace(/\\/g, '\\\\')
    .replace(/'/g, "\\'")
    .replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}'`;
}

/**
 * The advanced Condition of the rule: only tickets this integration opened (their
 * `correlation_id` starts with its prefix, `snowline:<integration>:`, whichever flow opened them:
 * the webhook routes cloud-tickets' `ct:` to ticket-sync and ot-alerts' `oa:` to ot-alerts). `current.correlation_id` is a GlideElement, not a
 * string, and ES5 has no `startsWith`: hence `String(…).indexOf(…) === 0`.
 */
export function businessRuleCondition(integrationId: string): string {
  return `String(current.correlation_id).indexOf(${literal(integrationCorrelationPrefix(integrationId))}) === 0`;
}

/**
 * The rule's Script: posts the ticket to Snowline's webhook, signed as the webhook verifies it
 * (docs/ticket-sync.md, "Push mode"). It does not retry: polling is the backstop.
 *
 * @example
 * businessRuleScript({ integrationId: 'plant-a', scope: 'global' }) // '(function executeRule(current, previous) {…'
 */
export function businessRuleScript(options: BusinessRuleOptions): string {
  const names = webhookPropertyNames(options.integrationId, options.scope);
  const global = options.scope === 'global';
  const mac = global ? 'new GlideCertificateEncryption()' : 'new CertificateEncryption()';
  const base64 = global ? 'GlideStringUtil.base64Encode' : 'gs.base64Encode';
  const send = options.midServer
    ? [
        `  request.setMIDServer(${literal(options.midServer)});`,
        '  // Through a MID Server the message is asynchronous: the answer lands in the ECC queue.',
        '  request.executeAsync();',
      ]
    : [
        '  var response = request.execute();',
        '  if (response.getStatusCode() != 200) {',
        "    gs.warn('Snowline webhook answered ' + response.getStatusCode() + ' for ' + record.number);",
        '  }',
      ];
  return [
    `// Snowline ticket-sync push (integration ${options.integrationId}); generated by \`snowline servicenow setup\`.`,
    '(function executeRule(current, previous /* null in async rules */) {',
    `  var url = gs.getProperty(${literal(names.url)});`,
    `  var secret = gs.getProperty(${literal(names.secret)});`,
    '  if (!url || !secret) {',
    `    gs.warn('Snowline webhook: set the system properties ${names.url} and ${names.secret}');`,
    '    return;',
    '  }',
    `  var fields = [${WEBHOOK_RECORD_FIELDS.map(literal).join(', ')}];`,
    '  var record = {};',
    '  for (var i = 0; i < fields.length; i++) {',
    '    var value = current.getValue(fields[i]);',
    "    record[fields[i]] = value === null || value === undefined ? '' : String(value);",
    '  }',
    '  // Non-ASCII characters as \\uXXXX: the body is then ASCII, the same bytes in any charset.',
    '  var body = JSON.stringify({',
    '    table: String(current.getTableName()),',
    '    sys_id: String(current.getUniqueValue()),',
    '    sys_mod_count: record.sys_mod_count,',
    '    sys_updated_on: record.sys_updated_on,',
    '    record: record',
    '  }).replace(/[\\u007f-\\uffff]/g, function (c) {',
    "    return '\\\\u' + ('000' + c.charCodeAt(0).toString(16)).slice(-4);",
    '  });',
    `  // Epoch seconds; Snowline refuses a timestamp more than ${WEBHOOK_TOLERANCE_SECONDS} s from its clock.`,
    '  var timestamp = String(Math.floor(new GlideDateTime().getNumericValue() / 1000));',
    '  // generateMac takes the key base64-encoded and returns the MAC base64-encoded.',
    `  var signature = ${mac}.generateMac(${base64}(secret), 'HmacSHA256', timestamp + '.' + body);`,
    '  var request = new sn_ws.RESTMessageV2();',
    '  request.setEndpoint(url);',
    "  request.setHttpMethod('post');",
    "  request.setRequestHeader('Content-Type', 'application/json');",
    "  request.setRequestHeader('X-Snowline-Timestamp', timestamp);",
    "  request.setRequestHeader('X-Snowline-Signature', String(signature));",
    '  request.setRequestBody(body);',
    ...send,
    '})(current, previous);',
    '',
  ].join('\n');
}
