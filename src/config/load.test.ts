import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { minimalConfigInput } from '../../test/support/config.js';
import { ConfigError } from '../errors.js';
import { createLogger } from '../logging.js';
import { SecretScrubber } from '../secrets.js';
import { EXAMPLE_CONFIG, EXAMPLE_ENV_VARS } from './example.js';
import { configJsonSchema, type JsonSchemaNode } from './json-schema.js';
import { parseConfigText } from './load.js';
import { formatConfigYaml, redactedConfig } from './show.js';

const minimal = minimalConfigInput();

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfigText(text, 'test.yaml', env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the configuration to be rejected');
}

function withChange(change: (c: any) => void): string {
  const copy = structuredClone(minimal) as any;
  change(copy);
  return stringify(copy);
}

describe('configuration loading', () => {
  it('applies defaults to a minimal file', () => {
    const { config } = parseConfigText(stringify(minimal), 'test.yaml', {});
    expect(config.store.url).toBe('./.snowline/snowline.sqlite');
    expect(config.integrations[0]!.servicenow.limits).toEqual({ maxInFlight: 4, maxWaitSeconds: 60 });
    expect(config.integrations[0]!.defender.armUrl).toBe('https://management.azure.com');
    expect(Object.isFrozen(config.integrations[0]!.servicenow)).toBe(true);
  });

  it('accepts the example `config init` writes once its variables are set', () => {
    const env = Object.fromEntries(EXAMPLE_ENV_VARS.map((name) => [name, `value-of-${name.toLowerCase()}`]));
    const { config, secrets } = parseConfigText(EXAMPLE_CONFIG, 'example', env);
    expect(config.integrations[0]!.defender.subscriptions).toEqual(['value-of-azure_subscription_id']);
    expect(secrets).toEqual(
      expect.arrayContaining([
        'value-of-servicenow_client_secret',
        'value-of-azure_client_secret',
        'value-of-snowline_api_token',
      ]),
    );
  });

  it('names the key of a wrong type, with an example of a good value', () => {
    const problems = problemsOf(
      withChange((c) => (c.integrations[0].servicenow.limits = { maxInFlight: 'four' })),
    );
    expect(problems).toEqual([
      {
        path: 'integrations[0].servicenow.limits.maxInFlight',
        message: 'must be a number, not a string',
        example: '4',
      },
    ]);
  });

  it('names an unknown key and suggests the one probably meant', () => {
    const problems = problemsOf(
      withChange((c) => (c.integrations[0].servicenow.instanceURL = 'https://x.service-now.com')),
    );
    expect(problems[0]!.path).toBe('integrations[0].servicenow.instanceURL');
    expect(problems[0]!.message).toMatch(/unknown key; did you mean "instanceUrl"\?/);
  });

  it('names a secret whose environment variable is missing, without running anything', () => {
    const problems = problemsOf(
      withChange((c) => (c.integrations[0].servicenow.auth.password = '${SN_PASSWORD}')),
    );
    expect(problems).toEqual([
      {
        path: 'integrations[0].servicenow.auth.password',
        message: 'environment variable SN_PASSWORD is not set; export it or put the value in the file',
      },
    ]);
    const { config } = parseConfigText(
      withChange((c) => (c.integrations[0].servicenow.auth.password = '${SN_PASSWORD}')),
      't',
      { SN_PASSWORD: 'from-env-1' },
    );
    expect(config.integrations[0]!.servicenow.auth).toMatchObject({ password: 'from-env-1' });
  });

  it('names a secret that is absent', () => {
    const problems = problemsOf(withChange((c) => delete c.integrations[0].servicenow.auth.password));
    expect(problems).toEqual([
      {
        path: 'integrations[0].servicenow.auth.password',
        message: 'is required',
        example: '${SERVICENOW_PASSWORD}',
      },
    ]);
  });

  it('names a malformed URL', () => {
    const problems = problemsOf(
      withChange((c) => (c.integrations[0].servicenow.instanceUrl = 'acme.service-now.com')),
    );
    expect(problems).toEqual([
      {
        path: 'integrations[0].servicenow.instanceUrl',
        message: 'must be an absolute http(s) URL',
        example: 'https://acme.service-now.com',
      },
    ]);
    const store = problemsOf(withChange((c) => (c.store = { url: 'postgres://user:pw@[bad' })));
    expect(store).toEqual([
      {
        path: 'store.url',
        message: 'is not a valid postgres:// URL',
        example: 'postgres://snowline:${PGPASSWORD}@db:5432/snowline',
      },
    ]);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf(
      withChange((c) => {
        c.integrations[0].defender.auth = { type: 'kerberos' };
        c.integrations[0].id = 'Plant A';
        c.log = { level: 'loud' };
        c.extra = true;
      }),
    );
    expect(problems.map((p) => p.path).sort()).toEqual([
      'extra',
      'integrations[0].defender.auth.type',
      'integrations[0].id',
      'log.level',
    ]);
  });

  it('rejects YAML syntax errors and duplicate integration ids', () => {
    expect(problemsOf('integrations: [\n  - id: a\n')[0]!.message).toMatch(/^YAML syntax error at line/);
    const twice = stringify({ integrations: [minimal.integrations[0], minimal.integrations[0]] });
    expect(problemsOf(twice)).toEqual([
      {
        path: 'integrations[1].id',
        message: 'duplicate integration id "plant-a": ids must be unique',
        example: 'plant-a',
      },
    ]);
  });

  it('keeps a literal ${ written as $${', () => {
    const { config } = parseConfigText(
      withChange((c) => (c.integrations[0].name = 'cost $${PRICE}')),
      't',
      {},
    );
    expect(config.integrations[0]!.name).toBe('cost ${PRICE}');
  });
});

/** Every key path the schema marks secret, with `[]` for list items and `|type` for union branches. */
function secretPaths(node: JsonSchemaNode, path = ''): string[] {
  const found: string[] = [];
  if (node.secret) found.push(path);
  for (const branch of node.oneOf ?? node.anyOf ?? []) {
    const type = (branch.properties?.type as JsonSchemaNode | undefined)?.const;
    found.push(...secretPaths(branch, type ? `${path}|${String(type)}` : path));
  }
  for (const [key, child] of Object.entries(node.properties ?? {}))
    found.push(...secretPaths(child, path ? `${path}.${key}` : key));
  if (node.items) found.push(...secretPaths(node.items, `${path}[]`));
  return found;
}

describe('secrets', () => {
  // Two integrations so that every branch of every auth union is filled, each secret with its own canary.
  const canaryConfig = {
    store: { url: 'postgres://snowline:CANARY-store-password@db.example:5432/snowline' },
    api: { tokens: ['CANARY-api-token-1', 'CANARY-api-token-2'] },
    integrations: [
      {
        id: 'one',
        servicenow: {
          instanceUrl: 'https://one.service-now.com',
          auth: {
            type: 'oauth',
            grant: 'password',
            clientId: 'c',
            clientSecret: 'CANARY-sn-client-secret',
            username: 'u',
            password: 'CANARY-sn-oauth-password',
          },
          proxy: { url: 'http://proxy.example:3128', username: 'p', password: 'CANARY-sn-proxy-password' },
        },
        defender: {
          tenantId: 't',
          auth: { type: 'clientSecret', clientId: 'c', clientSecret: 'CANARY-azure-client-secret' },
          sensors: [
            {
              name: 's1',
              url: 'https://10.0.0.1',
              token: 'CANARY-sensor-token',
              proxy: {
                url: 'http://ot-proxy.example:3128',
                username: 'p',
                password: 'CANARY-sensor-proxy-password',
              },
            },
          ],
          console: {
            url: 'https://10.0.0.2',
            token: 'CANARY-console-token',
            proxy: {
              url: 'http://ot-proxy.example:3128',
              username: 'p',
              password: 'CANARY-console-proxy-password',
            },
          },
          proxy: { url: 'http://proxy.example:3128', username: 'p', password: 'CANARY-azure-proxy-password' },
        },
        flows: { ticketSync: { webhook: { secret: 'CANARY-webhook-secret' } } },
      },
      {
        id: 'two',
        servicenow: {
          instanceUrl: 'https://two.service-now.com',
          auth: { type: 'basic', username: 'u', password: 'CANARY-sn-basic-password' },
        },
        defender: { tenantId: 't', auth: { type: 'token', token: 'CANARY-azure-static-token' } },
      },
    ],
  };
  const text = stringify(canaryConfig);
  const canaries = [...text.matchAll(/CANARY-[a-z0-9-]+/g)].map((m) => m[0]);

  it('fills every secret field the schema has', () => {
    const covered = new Set<string>();
    const walk = (value: unknown, path: string, node: JsonSchemaNode): void => {
      if (node.secret) covered.add(path);
      const branches = node.oneOf ?? node.anyOf;
      if (branches && value && typeof value === 'object') {
        const type = (value as { type?: string }).type;
        // The branch of a tagged union by its `type`; else (a proxy: "none", a URL, or an object) the object one.
        const branch =
          (type !== undefined
            ? branches.find((b) => (b.properties?.type as JsonSchemaNode | undefined)?.const === type)
            : undefined) ??
          branches.find((b) => b.properties !== undefined && !Array.isArray(value)) ??
          branches[0]!;
        return walk(value, type ? `${path}|${type}` : path, branch);
      }
      if (Array.isArray(value)) return value.forEach((item) => walk(item, `${path}[]`, node.items ?? {}));
      if (value && typeof value === 'object') {
        for (const [key, child] of Object.entries(value))
          walk(child, path ? `${path}.${key}` : key, node.properties?.[key] ?? {});
      }
    };
    walk(canaryConfig, '', configJsonSchema());
    expect([...covered].sort()).toEqual([...new Set(secretPaths(configJsonSchema()))].sort());
  });

  it('never shows a canary in `config show`, logs or error messages', () => {
    const loaded = parseConfigText(text, 'canary.yaml', {});
    expect(loaded.secrets).toEqual(
      expect.arrayContaining(
        canaries.filter((c) => c !== 'CANARY-store-password').concat('CANARY-store-password'),
      ),
    );

    const shown = formatConfigYaml(loaded.config) + JSON.stringify(redactedConfig(loaded.config));
    for (const canary of canaries) expect(shown).not.toContain(canary);
    expect(shown).toContain('[REDACTED]');

    let logged = '';
    const sink = new Writable({ write: (chunk, _e, done) => ((logged += String(chunk)), done()) });
    const log = createLogger({
      level: 'trace',
      scrubber: new SecretScrubber(loaded.secrets),
      destination: sink,
      pretty: false,
    });
    log.info({ config: loaded.config }, 'effective configuration');
    log.error(
      { err: new Error(`request to https://x/?token=${encodeURIComponent('CANARY-sensor-token')} failed`) },
      'CANARY-console-token leaked in a message',
    );
    log.warn(
      { headers: { authorization: `Basic ${Buffer.from('u:CANARY-sn-basic-password').toString('base64')}` } },
      'request',
    );
    for (const canary of canaries) expect(logged).not.toContain(canary);
    expect(logged).toContain('[REDACTED]');

    // A bad file holding canaries: the error names keys, never values.
    const broken = text
      .replace('instanceUrl: https://two.service-now.com', 'instanceUrl: CANARY-sn-basic-password')
      .replace('tenantId: t\n', 'tenantId: t\n      extra: CANARY-azure-static-token\n');
    let message = '';
    try {
      parseConfigText(broken, 'broken.yaml', {});
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/instanceUrl/);
    for (const canary of canaries) expect(message).not.toContain(canary);
  });
});
