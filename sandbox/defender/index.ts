import { randomBytes } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { Estate } from '../dataset/index.js';
import { listen, type NetworkLatency } from '../common/serve.js';
import { generateSandboxTls, type SandboxTls } from '../common/tls.js';
import { handleArm } from './arm.js';
import { handleIotSecurity, isIotSecurityPath } from './iot-alerts.js';
import { mountControlApi } from './control.js';
import { Faults, Stats, TokenIssuer, armError, countersAndFaults } from './http.js';
import { mountConsoleApi, mountSensorApi, type OtTokens } from './ot.js';
import { handleResourceGraph } from './resource-graph.js';
import { DefenderState, type DefenderSandboxBehaviour } from './state.js';

export { DEFAULT_BEHAVIOUR, DefenderState, type DefenderSandboxBehaviour } from './state.js';
export type { FaultSettings } from './http.js';

/** How to start the Defender sandbox. */
export interface DefenderSandboxOptions {
  /** Loopback host, default `127.0.0.1`. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** TLS material; `undefined` generates a fresh CA, `null` serves plain HTTP (debugging only). */
  tls?: SandboxTls | null;
  estate: Estate;
  /** Start time of the sandbox clock (default: now). The estate's reference time maps to it. */
  now?: Date;
  /** Overrides of the UNVERIFIED defaults (page sizes, LRO polls, ...). */
  behaviour?: Partial<DefenderSandboxBehaviour>;
  /** A round trip added to every API request (`--latency`, `--jitter`). */
  latency?: NetworkLatency;
  /** Fixed credentials (default: random per start). */
  clientId?: string;
  clientSecret?: string;
}

/** A running Defender sandbox. */
export interface DefenderSandbox {
  /** `https://127.0.0.1:PORT`: ARM root, Resource Graph, token endpoint, sensors under `/sensors/<name>`, console under `/console`. */
  url: string;
  tenantId: string;
  /** A valid ARM bearer token (7 days). */
  token: string;
  /** For `POST /{tenantId}/oauth2/v2.0/token` (client credentials). */
  clientId: string;
  clientSecret: string;
  subscriptions: string[];
  /** One base URL and raw access token per sensor. */
  sensors: Array<{ name: string; url: string; token: string }>;
  /** Management console base URL (`<url>/console`) and its raw access token. */
  console: { url: string; token: string };
  /** PEM path of the CA to trust (absent with `tls: null`). */
  caFile?: string;
  caCert?: string;
  /** The live state, for in-process tests. */
  state: DefenderState;
  close(): Promise<void>;
}

/** Everything the app serves from; built by {@link createDefenderRuntime}. */
export interface DefenderRuntime {
  readonly state: DefenderState;
  readonly stats: Stats;
  readonly faults: Faults;
  readonly issuer: TokenIssuer;
  readonly otTokens: OtTokens;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly startTime: number;
  /** Base URL once known (issuer of tokens). */
  baseUrl: string;
}

export function createDefenderRuntime(options: DefenderSandboxOptions): DefenderRuntime {
  const startTime = (options.now ?? new Date()).getTime();
  const state = new DefenderState(options.estate, startTime, options.behaviour);
  const secret = () => randomBytes(20).toString('hex');
  const runtime: DefenderRuntime = {
    state,
    stats: new Stats(),
    faults: new Faults(),
    issuer: new TokenIssuer(options.estate.tenantId, () => runtime.baseUrl),
    otTokens: {
      sensors: new Map(options.estate.sensors.map((s) => [s.name, secret()])),
      console: secret(),
    },
    clientId:
      options.clientId ??
      randomBytes(16)
        .toString('hex')
        .replace(/^(.{8})(.{4})(.{4})(.{4})(.{12})$/, '$1-$2-$3-$4-$5'),
    clientSecret: options.clientSecret ?? secret(),
    startTime,
    baseUrl: 'https://127.0.0.1',
  };
  return runtime;
}

function aadError(c: Context, status: number, error: string, description: string, code: number): Response {
  return c.json(
    {
      error,
      error_description: `AADSTS${code}: ${description}`,
      error_codes: [code],
      timestamp: new Date().toISOString().replace('T', ' ').slice(0, 19) + 'Z',
      trace_id: randomBytes(16).toString('hex'),
      correlation_id: randomBytes(16).toString('hex'),
    },
    status as 400,
  );
}

function requireBearer(c: Context, runtime: DefenderRuntime): Response | null {
  const header = c.req.header('authorization');
  const challenge = `Bearer authorization_uri="${runtime.baseUrl}/${runtime.state.estate.tenantId}", error="invalid_token", error_description="The authentication failed."`;
  if (!header) {
    c.header('WWW-Authenticate', challenge);
    return armError(
      c,
      401,
      'AuthenticationFailed',
      "Authentication failed. The 'Authorization' header is missing.",
    );
  }
  const m = /^Bearer\s+(.+)$/i.exec(header);
  const problem = m
    ? runtime.issuer.check((m[1] as string).trim())
    : "The 'Authorization' header is not a Bearer token.";
  if (problem) {
    c.header('WWW-Authenticate', challenge);
    return armError(c, 401, 'InvalidAuthenticationToken', problem);
  }
  const audience = runtime.issuer.audienceProblem((m![1] as string).trim(), [
    runtime.baseUrl,
    new URL(c.req.url).origin,
  ]);
  if (audience) {
    c.header('WWW-Authenticate', challenge);
    return armError(c, 401, 'InvalidAuthenticationTokenAudience', audience);
  }
  return null;
}

/**
 * The Defender sandbox as a hono app: ARM (Microsoft.Security, Microsoft.IoTSecurity alerts), Resource Graph, the OAuth
 * token endpoint, one OT sensor API per sensor, the management console, and `/_sandbox`.
 */
export function createDefenderApp(runtime: DefenderRuntime): Hono {
  const { state } = runtime;
  const tenantId = state.estate.tenantId;
  const app = new Hono();
  app.onError((err, c) => {
    // Never a crash: any bug surfaces as an ARM-shaped 500.
    console.error('defender sandbox error', err);
    return armError(c, 500, 'InternalServerError', 'The sandbox hit an internal error.');
  });
  app.use('*', countersAndFaults(runtime.stats, runtime.faults));

  mountControlApi(app, {
    state,
    stats: runtime.stats,
    faults: runtime.faults,
    startTime: runtime.startTime,
    describe: (origin) => ({
      url: origin,
      tenantId,
      clientId: runtime.clientId,
      clientSecret: runtime.clientSecret,
      tokenEndpoint: `${origin}/${tenantId}/oauth2/v2.0/token`,
      subscriptions: state.estate.subscriptions.map((s) => s.id),
      sensors: state.estate.sensors.map((s) => ({
        name: s.name,
        url: `${origin}/sensors/${s.name}`,
        token: runtime.otTokens.sensors.get(s.name),
      })),
      console: { url: `${origin}/console`, token: runtime.otTokens.console },
    }),
  });
  mountSensorApi(app, state, runtime.otTokens);
  mountConsoleApi(app, state, runtime.otTokens);

  // ---- Microsoft identity platform (client credentials) -----------------------------------
  app.post('/:tenant/oauth2/v2.0/token', async (c) => {
    if (c.req.param('tenant').toLowerCase() !== tenantId.toLowerCase()) {
      return aadError(c, 400, 'invalid_request', `Tenant '${c.req.param('tenant')}' not found.`, 90002);
    }
    let form: Record<string, unknown>;
    try {
      form = (await c.req.parseBody()) as Record<string, unknown>;
    } catch {
      return aadError(
        c,
        400,
        'invalid_request',
        'The request body must be application/x-www-form-urlencoded.',
        900144,
      );
    }
    if (form['grant_type'] !== 'client_credentials') {
      return aadError(
        c,
        400,
        'unsupported_grant_type',
        "The grant type must be 'client_credentials'.",
        70003,
      );
    }
    if (typeof form['client_id'] !== 'string' || form['client_id'] === '') {
      return aadError(
        c,
        400,
        'invalid_request',
        "The request body must contain the parameter: 'client_id'.",
        900144,
      );
    }
    if (form['client_id'] !== runtime.clientId) {
      return aadError(
        c,
        400,
        'unauthorized_client',
        `Application with identifier '${form['client_id']}' was not found in the directory.`,
        700016,
      );
    }
    if (form['client_secret'] !== runtime.clientSecret) {
      return aadError(c, 401, 'invalid_client', 'Invalid client secret provided.', 7000215);
    }
    if (typeof form['scope'] !== 'string' || !form['scope'].endsWith('/.default')) {
      return aadError(c, 400, 'invalid_scope', "The scope must be a resource's '/.default' scope.", 1002012);
    }
    const lifetime = state.behaviour.tokenLifetimeSeconds;
    // The token is for the scope's resource ("<resource>/.default").
    const { token } = runtime.issuer.issue(
      runtime.clientId,
      lifetime,
      form['scope'].slice(0, -'/.default'.length),
    );
    return c.json({
      token_type: 'Bearer',
      expires_in: lifetime,
      ext_expires_in: lifetime,
      access_token: token,
    });
  });

  app.get('/:tenant/v2.0/.well-known/openid-configuration', (c) => {
    const origin = new URL(c.req.url).origin;
    const t = c.req.param('tenant');
    return c.json({
      token_endpoint: `${origin}/${t}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${origin}/${t}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${origin}/${tenantId}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${origin}/oidc/userinfo`,
      authorization_endpoint: `${origin}/${t}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${origin}/${t}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${origin}/${t}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'tid'],
      kerberos_endpoint: `${origin}/${t}/kerberos`,
      tenant_region_scope: null,
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    });
  });

  app.get('/common/discovery/instance', (c) => {
    const host = new URL(c.req.url).host;
    const origin = new URL(c.req.url).origin;
    return c.json({
      tenant_discovery_endpoint: `${origin}/${tenantId}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    });
  });

  // ---- ARM and Resource Graph (bearer token) -----------------------------------------------
  app.all('*', async (c) => {
    const denied = requireBearer(c, runtime);
    if (denied) return denied;
    if (/^\/+providers\/microsoft\.resourcegraph\/resources\/?$/i.test(c.req.path))
      return handleResourceGraph(c, state);
    if (isIotSecurityPath(c.req.path)) return handleIotSecurity(c, state);
    return handleArm(c, state);
  });
  return app;
}

/**
 * Starts the Defender sandbox on loopback (HTTPS with a fresh CA unless `tls: null`).
 *
 * @example
 * const sandbox = await startDefenderSandbox({ estate: generateEstate({ size: 'demo' }) });
 * // GET `${sandbox.url}/subscriptions/${sandbox.subscriptions[0]}/providers/Microsoft.Security/assessments?api-version=2021-06-01`
 * await sandbox.close();
 */
export async function startDefenderSandbox(options: DefenderSandboxOptions): Promise<DefenderSandbox> {
  const tls = options.tls === undefined ? await generateSandboxTls() : options.tls;
  const runtime = createDefenderRuntime(options);
  const app = createDefenderApp(runtime);
  const server = await listen(app, {
    ...(options.host ? { host: options.host } : {}),
    port: options.port ?? 0,
    tls,
    ...(options.latency ? { latency: options.latency } : {}),
  });
  runtime.baseUrl = server.url;
  const { estate } = options;
  return {
    url: server.url,
    tenantId: estate.tenantId,
    token: runtime.issuer.issue(runtime.clientId, 7 * 86_400).token,
    clientId: runtime.clientId,
    clientSecret: runtime.clientSecret,
    subscriptions: estate.subscriptions.map((s) => s.id),
    sensors: estate.sensors.map((s) => ({
      name: s.name,
      url: `${server.url}/sensors/${s.name}`,
      token: runtime.otTokens.sensors.get(s.name) as string,
    })),
    console: { url: `${server.url}/console`, token: runtime.otTokens.console },
    ...(tls ? { caFile: tls.caFile, caCert: tls.caCert } : {}),
    state: runtime.state,
    close: async () => {
      runtime.faults.releaseAll();
      await server.close();
    },
  };
}
