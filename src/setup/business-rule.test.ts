import { createHmac } from 'node:crypto';
import vm from 'node:vm';
import { parse } from 'acorn';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { servicenowWebhookRoutes } from '../api/webhooks/servicenow.js';
import { ManualClock } from '../domain/clock.js';
import { createLogger } from '../logging.js';
import type { ServiceNowWebhookDelivery } from '../sync/ticket-sync/delivery.js';
import {
  businessRuleCondition,
  businessRuleScript,
  webhookPropertyNames,
  type BusinessRuleOptions,
} from './business-rule.js';

/**
 * The business rule, run as ServiceNow would run it: parsed by an ES5 parser, then executed in a
 * fresh V8 context stripped of ES2015+ built-ins, under stand-ins that do what ServiceNow's docs
 * say the APIs do (ServiceNow/ServiceNowDocs australia, markdown/api-reference/…, cited at each),
 * and its request handed to Snowline's real webhook route.
 */

const SECRET = 'Zm9vYmFyLXNlY3JldC1vZi1wbGFudC1h-0123456789';
const URL_ = 'https://snowline.example.com/api/v1/webhooks/servicenow';
const NOW = new Date('2026-11-22T08:00:00Z');

/** A request the script sent through `sn_ws.RESTMessageV2`. */
interface SentRequest {
  endpoint?: string;
  method?: string;
  headers: Record<string, string>;
  body?: string;
  midServer?: string;
  sentWith?: 'execute' | 'executeAsync';
}

/**
 * GlideElement (server-api-reference/c_GlideElementAPI.md): an object, not a string — it has
 * getValue() and toString(), and no String.prototype methods such as startsWith.
 */
class GlideElement {
  constructor(private readonly value: string | null) {}
  getValue(): string | null {
    return this.value;
  }
  toString(): string {
    return this.value ?? '';
  }
}

/**
 * `current`: a GlideRecord (server-api-reference/c_GlideRecordAPI.md). getValue returns the
 * field's string value, or null when the field is empty or does not exist; each field is also a
 * GlideElement property.
 */
function glideRecord(table: string, fields: Record<string, string | null>): Record<string, unknown> {
  const record: Record<string, unknown> = {
    getValue: (name: string) => (fields[name] === undefined ? null : fields[name]),
    getTableName: () => table,
    getUniqueValue: () => fields.sys_id,
  };
  for (const [name, value] of Object.entries(fields)) record[name] = new GlideElement(value);
  return record;
}

/** Java Mac algorithm names as generateMac takes them ("HmacSHA256, HmacSHA1, HmacMD5, and so on"). */
const MAC_ALGORITHMS: Record<string, string> = { HmacSHA256: 'sha256', HmacSHA1: 'sha1', HmacMD5: 'md5' };

/**
 * generateMac(key, algorithm, data) as c_GlideCertificateEncryptionAPI.md and
 * c_CertificateEncryptionScopedAPI.md define it: the key "Must be Base64 encoded" (the MAC key is
 * the decoded bytes), the result is the "MAC in base64 format". A key that is not base64 is refused.
 * The charset of `data` is not documented (UTF-8 here; the script sends only ASCII).
 */
function generateMac(key: string, algorithm: string, data: string): string {
  const hash = MAC_ALGORITHMS[algorithm];
  if (!hash) throw new Error(`generateMac: unknown algorithm ${algorithm}`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(key) || key.length % 4 !== 0)
    throw new Error('generateMac: the key must be base64 encoded');
  return createHmac(hash, Buffer.from(key, 'base64')).update(data, 'utf8').digest('base64');
}

/** ES2015+ built-ins an ES5 runtime lacks: removed so that a script using them fails here too. */
const STRIP_ES2015 = `
  ['startsWith', 'endsWith', 'includes', 'repeat', 'padStart', 'padEnd', 'trimStart', 'trimEnd', 'codePointAt']
    .forEach(function (m) { delete String.prototype[m]; });
  ['includes', 'find', 'findIndex', 'fill', 'entries', 'keys', 'values'].forEach(function (m) { delete Array.prototype[m]; });
  delete Array.from; delete Array.of; delete Object.assign; delete Object.entries; delete Object.values;
  delete globalThis.Promise; delete globalThis.Map; delete globalThis.Set; delete globalThis.Symbol;
`;

interface InstanceState {
  readonly properties: Record<string, string>;
  readonly scope: 'global' | 'scoped';
  /** The instance's clock (GlideDateTime); Snowline's clock is NOW. */
  readonly instanceNow?: Date;
  readonly status?: number;
}

/** Runs `script` with `current` under the stand-ins; returns what it sent and what it logged. */
function runOnInstance(
  script: string,
  current: Record<string, unknown>,
  instance: InstanceState,
): { sent: SentRequest[]; warnings: string[] } {
  const sent: SentRequest[] = [];
  const warnings: string[] = [];
  const base64Encode = (source: string) => Buffer.from(String(source), 'utf8').toString('base64');
  const now = instance.instanceNow ?? NOW;
  // sn_ws.RESTMessageV2 (server-api-reference/c_RESTMessageV2API.md): the empty constructor
  // needs setEndpoint and setHttpMethod (GET POST PUT PATCH DELETE HEAD, not case sensitive).
  class RESTMessageV2 {
    private readonly request: SentRequest = { headers: {} };
    setEndpoint(endpoint: string) {
      this.request.endpoint = String(endpoint);
    }
    setHttpMethod(method: string) {
      const upper = String(method).toUpperCase();
      if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'].includes(upper))
        throw new Error(`unsupported HTTP method ${method}`);
      this.request.method = upper;
    }
    setRequestHeader(name: string, value: string) {
      this.request.headers[String(name)] = String(value);
    }
    setRequestBody(body: string) {
      this.request.body = String(body);
    }
    setMIDServer(name: string) {
      this.request.midServer = String(name);
    }
    private send(how: 'execute' | 'executeAsync') {
      if (!this.request.endpoint || !this.request.method)
        throw new Error('RESTMessageV2(): set the endpoint and the HTTP method first');
      sent.push({ ...this.request, sentWith: how });
      // RESTResponseV2 (server-api-reference/c_RESTResponseV2API.md).
      return { getStatusCode: () => instance.status ?? 200 };
    }
    execute() {
      return this.send('execute');
    }
    executeAsync() {
      return this.send('executeAsync');
    }
  }
  // GlideDateTime (server-api-reference/c_GlideDateTimeAPI.md): getNumericValue() is ms since
  // 1970-01-01 00:00:00 GMT.
  class GlideDateTime {
    getNumericValue() {
      return now.getTime();
    }
  }
  // GlideSystem (c_GlideSystemAPI.md / c_GlideSystemScopedAPI.md): getProperty(key, alt).
  const gs: Record<string, unknown> = {
    getProperty: (key: string, alt?: unknown) => instance.properties[key] ?? alt ?? null,
    warn: (message: string) => warnings.push(String(message)),
    info: () => undefined,
  };
  const globals: Record<string, unknown> = {
    current,
    previous: null, // "Not available on async operations" (c_BusinessRules.md)
    gs,
    GlideDateTime,
    sn_ws: { RESTMessageV2 },
  };
  if (instance.scope === 'global') {
    globals.GlideCertificateEncryption = class {
      generateMac = generateMac;
    };
    // As the global generateMac example uses it (c_GlideCertificateEncryptionAPI.md).
    globals.GlideStringUtil = { base64Encode };
  } else {
    globals.CertificateEncryption = class {
      generateMac = generateMac;
    };
    gs.base64Encode = base64Encode; // c_GlideSystemScopedAPI.md, base64Encode(String source)
  }
  const context = vm.createContext(globals);
  vm.runInContext(STRIP_ES2015, context);
  vm.runInContext(script, context, { timeout: 1000 });
  return { sent, warnings };
}

/** Snowline's webhook route, mounted where `snowline serve` mounts it, recording what it hands on. */
function snowlineWebhook(secret: string) {
  const handled: { integrationId: string; delivery: ServiceNowWebhookDelivery }[] = [];
  const app = new Hono().route(
    '/api/v1/webhooks/servicenow',
    servicenowWebhookRoutes({
      receivers: [{ integrationId: 'plant-a', secret }],
      clock: new ManualClock(NOW),
      logger: createLogger({ level: 'silent' }),
      async handle(integrationId, delivery) {
        handled.push({ integrationId, delivery });
        return 'synced';
      },
    }),
  );
  const deliver = async (request: SentRequest) => {
    const response = await app.request(request.endpoint!, {
      method: request.method!,
      headers: request.headers,
      body: request.body!,
    });
    return response.status;
  };
  return { handled, deliver };
}

const TICKET = {
  sys_id: '0123456789abcdef0123456789abcdef',
  number: 'INC0010001',
  state: '6',
  assigned_to: null, // empty: getValue returns null
  correlation_id: 'snowline:plant-a:ct:Xr3aZ',
  sys_mod_count: '4',
  sys_updated_on: '2026-11-22 07:59:59',
  sys_updated_by: 'jürgen.müller', // non-ASCII: escaped so the body is ASCII
};

const VARIANTS: readonly (BusinessRuleOptions & { readonly name: string })[] = [
  { name: 'global, direct', integrationId: 'plant-a', scope: 'global' },
  {
    name: 'global, through a MID Server',
    integrationId: 'plant-a',
    scope: 'global',
    midServer: 'mid-plant-a',
  },
  { name: 'scoped application', integrationId: 'plant-a', scope: { app: 'x_acme_snowline' } },
];

function propertiesFor(options: BusinessRuleOptions, secret = SECRET): Record<string, string> {
  const names = webhookPropertyNames(options.integrationId, options.scope);
  return { [names.url]: URL_, [names.secret]: secret };
}

describe('the ticket-sync business rule', () => {
  it('is ES5: an ES5 parser accepts the script of every variant and the condition', () => {
    const es5 = (code: string) => parse(code, { ecmaVersion: 5, sourceType: 'script' });
    for (const variant of VARIANTS) expect(() => es5(businessRuleScript(variant))).not.toThrow();
    expect(() => es5(businessRuleCondition('plant-a'))).not.toThrow();
    // The parser is strict about ES5: what global scripts cannot use fails it.
    for (const modern of ['let a = 1;', 'const a = 1;', 'var f = () => 1;', 'var s = `x${1}`;'])
      expect(() => es5(modern), modern).toThrow();
  });

  it('runs only for tickets of its integration (the condition, on a GlideElement)', () => {
    const condition = businessRuleCondition('plant-a');
    const holds = (correlationId: string | null) =>
      vm.runInNewContext(`${STRIP_ES2015}\n${condition}`, {
        current: glideRecord('incident', { ...TICKET, correlation_id: correlationId }),
      }) as boolean;
    expect(holds('snowline:plant-a:ct:Xr3aZ')).toBe(true);
    expect(holds('snowline:plant-b:ct:Xr3aZ')).toBe(false);
    expect(holds('vendor:snowline:plant-a:ct:')).toBe(false);
    expect(holds(null)).toBe(false);
  });

  for (const variant of VARIANTS)
    it(`${variant.name}: posts a delivery Snowline's webhook accepts`, async () => {
      const { sent, warnings } = runOnInstance(businessRuleScript(variant), glideRecord('incident', TICKET), {
        properties: propertiesFor(variant),
        scope: variant.scope === 'global' ? 'global' : 'scoped',
      });
      expect(warnings).toEqual([]);
      expect(sent).toHaveLength(1);
      const request = sent[0]!;
      expect(request.midServer).toBe(variant.midServer);
      expect(request.sentWith).toBe(variant.midServer ? 'executeAsync' : 'execute');
      expect(request.body).toMatch(/^[\x20-\x7e]*$/);

      const snowline = snowlineWebhook(SECRET);
      expect(await snowline.deliver(request)).toBe(200);
      expect(snowline.handled).toEqual([
        {
          integrationId: 'plant-a',
          delivery: {
            table: 'incident',
            sys_id: TICKET.sys_id,
            sys_mod_count: '4',
            sys_updated_on: TICKET.sys_updated_on,
            record: { ...TICKET, assigned_to: '' },
          },
        },
      ]);
    });

  it('signed with a secret Snowline does not hold: refused with 401, nothing handed on', async () => {
    const variant = VARIANTS[0]!;
    const { sent } = runOnInstance(businessRuleScript(variant), glideRecord('incident', TICKET), {
      properties: propertiesFor(variant, 'a-different-secret-0123456789abcdef'),
      scope: 'global',
    });
    const snowline = snowlineWebhook(SECRET);
    expect(await snowline.deliver(sent[0]!)).toBe(401);
    expect(snowline.handled).toEqual([]);
  });

  it("timestamped by the instance's clock: refused when it is more than 300 s off Snowline's", async () => {
    const variant = VARIANTS[0]!;
    const { sent } = runOnInstance(businessRuleScript(variant), glideRecord('problem', TICKET), {
      properties: propertiesFor(variant),
      scope: 'global',
      instanceNow: new Date(NOW.getTime() - 301_000),
    });
    const snowline = snowlineWebhook(SECRET);
    expect(await snowline.deliver(sent[0]!)).toBe(401);
  });

  it('without its system properties: sends nothing and says which to set', () => {
    const { sent, warnings } = runOnInstance(
      businessRuleScript(VARIANTS[0]!),
      glideRecord('incident', TICKET),
      { properties: {}, scope: 'global' },
    );
    expect(sent).toEqual([]);
    expect(warnings).toEqual([expect.stringContaining('snowline.plant-a.webhook.secret')]);
  });

  it('logs an answer other than 200 (the rule does not retry: polling is the backstop)', () => {
    const { warnings } = runOnInstance(businessRuleScript(VARIANTS[0]!), glideRecord('incident', TICKET), {
      properties: propertiesFor(VARIANTS[0]!),
      scope: 'global',
      status: 401,
    });
    expect(warnings).toEqual(['Snowline webhook answered 401 for INC0010001']);
  });
});
