/**
 * ServiceNow sandbox: a local emulator of the ServiceNow REST APIs Snowline uses (Table, IRE,
 * Batch, Aggregate, Import Set, OAuth), with the business rules a real instance enforces and a
 * `/_sandbox/*` control API for tests. An independent implementation of the platform as
 * ServiceNow's public documentation (ServiceNow/ServiceNowDocs) describes it: it imports no engine
 * code.
 */
import type { Hono } from 'hono';
import { generateSandboxTls, type SandboxTls } from '../common/tls.js';
import { listen, type NetworkLatency } from '../common/serve.js';
import { buildApp, type AppOptions, type SandboxControl } from './app.js';
import { Faults, RateLimits, Stats } from './control.js';
import { Instance, type InstanceConfig, type SandboxAccounts } from './instance.js';
import { WebhookDispatcher } from './webhook.js';

export { ApiError, Instance, SandboxClock, integrationRoles, defaultInstanceConfig } from './instance.js';
export type { Caller, InstanceConfig, RuntimeConfig, SandboxAccounts } from './instance.js';
export { escapeQueryValue, formatEncodedQuery, parseEncodedQuery } from './query.js';
export type { EncodedQuery, QueryCondition, QueryOperator } from './query.js';
export { signWebhook } from './webhook.js';
export type { SandboxControl } from './app.js';

/** Options of {@link startServiceNowSandbox}. */
export interface ServiceNowSandboxOptions {
  /** Loopback host; default '127.0.0.1'. */
  host?: string;
  /** 0 = a free port (default). */
  port?: number;
  /** TLS material from `sandbox/common/tls.ts`; null = plain http (debug only); generated when absent. */
  tls?: SandboxTls | null;
  /** SQLite file to keep the instance between runs; in memory when absent. */
  persistFile?: string;
  /** A round trip added to every API request (`--latency`, `--jitter`). */
  latency?: NetworkLatency;
  /** Initial sandbox clock (default: real time). */
  now?: Date;
  /** Records inserted at start, e.g. `{ sys_user: [...], sys_user_group: [...] }`. */
  seed?: Record<string, Array<Record<string, string>>>;
  /** Switches for contract gaps (UNVERIFIED defaults). */
  config?: Partial<InstanceConfig>;
  /** HTTP-layer options (body size limit, Link header on single pages). */
  http?: Omit<AppOptions, 'seed'>;
}

/** A running sandbox. */
export interface ServiceNowSandbox {
  /** Base URL, e.g. `https://127.0.0.1:PORT`. */
  url: string;
  /** The integration user (all roles Snowline needs, not admin) and its OAuth client. */
  credentials: { user: string; password: string; clientId: string; clientSecret: string };
  /** A user with only `itil` (ACL tests, `snowline doctor`). */
  lowPrivilegeCredentials: { user: string; password: string };
  /** User the client-credentials grant acts as (appears in `sys_updated_by`). */
  oauthAppUser: string;
  /** PEM of the CA to trust (null without TLS). */
  caCert: string | null;
  /** Path of the CA PEM file (null without TLS). */
  caFile: string | null;
  /** Direct access to the instance, counters and fault state (in-process tests). */
  control: SandboxControl;
  close(): Promise<void>;
}

/** Options of {@link createServiceNowApp}. */
export interface ServiceNowAppOptions {
  now?: Date;
  persistFile?: string;
  seed?: Record<string, Array<Record<string, string>>>;
  config?: Partial<InstanceConfig>;
  http?: Omit<AppOptions, 'seed'>;
}

/**
 * Builds the sandbox's hono app and its control objects, for in-process use.
 *
 * @example
 * const { app, control } = createServiceNowAppWithControl();
 * const { user, password } = control.instance.accounts;
 * await app.request('/api/now/table/incident', { headers: { authorization: basic(user, password) } });
 */
export function createServiceNowAppWithControl(options: ServiceNowAppOptions = {}): {
  app: Hono;
  control: SandboxControl;
  accounts: SandboxAccounts;
} {
  const instance = new Instance({
    now: options.now,
    persistFile: options.persistFile,
    seed: options.seed,
    config: options.config,
  });
  const control: SandboxControl = {
    instance,
    stats: new Stats(),
    faults: new Faults(),
    rateLimits: new RateLimits(),
    webhooks: new WebhookDispatcher(instance),
  };
  instance.onChange((e) => {
    if (e.operation === 'insert') control.stats.inserted(e.table);
  });
  const app = buildApp(control, { ...options.http, seed: options.seed });
  return { app: app as unknown as Hono, control, accounts: instance.accounts };
}

/** The sandbox's hono app (see {@link createServiceNowAppWithControl} for its control objects). */
export function createServiceNowApp(options: ServiceNowAppOptions = {}): Hono {
  return createServiceNowAppWithControl(options).app;
}

/**
 * Starts the sandbox on loopback, over HTTPS with a CA generated for this start (unless
 * `tls: null`).
 *
 * @example
 * const sn = await startServiceNowSandbox();
 * // trust sn.caCert; log in with sn.credentials
 * await sn.close();
 */
export async function startServiceNowSandbox(
  options: ServiceNowSandboxOptions = {},
): Promise<ServiceNowSandbox> {
  const tls = options.tls === undefined ? await generateSandboxTls() : options.tls;
  const { app, control, accounts } = createServiceNowAppWithControl(options);
  const server = await listen(app, {
    host: options.host ?? '127.0.0.1',
    port: options.port ?? 0,
    tls,
    ...(options.latency ? { latency: options.latency } : {}),
  });
  return {
    url: server.url,
    credentials: {
      user: accounts.user,
      password: accounts.password,
      clientId: accounts.clientId,
      clientSecret: accounts.clientSecret,
    },
    lowPrivilegeCredentials: { user: accounts.lowPrivilegeUser, password: accounts.lowPrivilegePassword },
    oauthAppUser: accounts.oauthAppUser,
    caCert: tls?.caCert ?? null,
    caFile: tls?.caFile ?? null,
    control,
    async close() {
      control.faults.releaseHeld();
      await server.close();
      await control.webhooks.clear();
      control.instance.store.close();
    },
  };
}
