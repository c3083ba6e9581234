import { gzipSync } from 'node:zlib';
import { SecurityCenter } from '@azure/arm-security';
import { createPipelineRequest } from '@azure/core-rest-pipeline';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, type RunningServer } from '../../../sandbox/common/serve.js';
import { generateSandboxTls, type SandboxTls } from '../../../sandbox/common/tls.js';
import { systemClock } from '../../domain/clock.js';
import { UpstreamError } from '../../errors.js';
import { RequestCounters } from '../../runtime/http/counters.js';
import { createServiceHttp } from '../common.js';
import { createDefenderSources } from '../index.js';
import { createHttpTransport } from '../../runtime/http/transport.js';
import { StaticTokenCredential, createCredential } from './credentials.js';
import {
  PIPELINE_RETRY_POLICY_NAMES,
  armScopeOf,
  SnowlineHttpClient,
  createAzurePipeline,
  removeSdkRetries,
} from './pipeline.js';
import { ClientSecretCredential, DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity';

let tls: SandboxTls;
let https: RunningServer;
let http: RunningServer;
let hits = 0;

beforeAll(async () => {
  tls = await generateSandboxTls();
  const app = new Hono();
  app.get('/gzip', () => {
    hits++;
    return new Response(gzipSync(JSON.stringify({ zipped: true })), {
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
    });
  });
  app.all('*', (c) => {
    hits++;
    return c.json({ value: [], authorization: c.req.header('authorization') ?? null });
  });
  https = await listen(app, { tls });
  http = await listen(app, { tls: null });
});
afterAll(async () => {
  await https?.close();
  await http?.close();
});

const credential = new StaticTokenCredential('secret-token-value', systemClock);

function defenderConfig(armUrl: string, caFile?: string) {
  return {
    tenantId: 'tenant',
    armUrl,
    authorityHost: 'https://login.microsoftonline.com',
    auth: { type: 'token' as const, token: 'secret-token-value' },
    subscriptions: [],
    sensors: [],
    tls: caFile ? { caFile } : {},
  };
}

describe('armScopeOf', () => {
  // compare-azure-government-global-azure.md; the scope is the ARM resource with /.default.
  it("asks for the ARM endpoint's own audience, so a sovereign cloud's tokens are its own", () => {
    expect(armScopeOf('https://management.azure.com')).toBe('https://management.azure.com/.default');
    expect(armScopeOf('https://management.usgovcloudapi.net/')).toBe(
      'https://management.usgovcloudapi.net/.default',
    );
    expect(armScopeOf('https://management.chinacloudapi.cn')).toBe(
      'https://management.chinacloudapi.cn/.default',
    );
  });
});

describe('createAzurePipeline', () => {
  it('has no retry or decompression policy of its own, and a bearer policy', () => {
    const names = createAzurePipeline({ credential, scope: armScopeOf('https://management.azure.com') })
      .getOrderedPolicies()
      .map((p) => p.name);
    for (const retry of PIPELINE_RETRY_POLICY_NAMES) expect(names).not.toContain(retry);
    expect(names).not.toContain('decompressResponsePolicy');
    expect(names).toContain('bearerTokenAuthenticationPolicy');
    expect(names).toContain('redirectPolicy');
  });

  it('strips the retry policies of an @azure/arm-security client', () => {
    const sdk = new SecurityCenter(credential, 'sub', { endpoint: https.url });
    const before = sdk.pipeline.getOrderedPolicies().map((p) => p.name);
    expect(before).toContain('defaultRetryPolicy');
    expect(removeSdkRetries(sdk.pipeline)).toContain('defaultRetryPolicy');
    const after = sdk.pipeline.getOrderedPolicies().map((p) => p.name);
    for (const retry of PIPELINE_RETRY_POLICY_NAMES) expect(after).not.toContain(retry);
    expect(after).toContain('bearerTokenAuthenticationPolicy');
  });
});

describe('bearer tokens and TLS', () => {
  it('refuses to send a bearer token over plain http (raw and SDK paths), before any request', async () => {
    const sources = createDefenderSources(defenderConfig(http.url), {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    hits = 0;
    for (const apiVersion of ['2025-05-04', '2021-06-01'] as const) {
      const error = await (async () => {
        for await (const _ of sources.arm.listAssessments('sub', apiVersion)) void _;
      })().catch((e: unknown) => e);
      expect((error as Error).message).toMatch(
        /Bearer token authentication is not permitted for non-TLS protected \(non-https\) URLs/,
      );
    }
    expect(hits).toBe(0);
    await sources.close();
  });

  it('works over https when the sandbox CA is trusted through tls.caFile', async () => {
    const sources = createDefenderSources(defenderConfig(https.url, tls.caFile), {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    const response = await sources.arm.request('GET', `${https.url}/x?api-version=1`);
    expect(response.status).toBe(200);
    expect(JSON.parse(response.bodyAsText!)).toMatchObject({ authorization: 'Bearer secret-token-value' });
    await sources.close();
  });

  it('fails with a message naming defender.tls.caFile when the CA is not trusted', async () => {
    const sources = createDefenderSources(defenderConfig(https.url), {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    const error = await sources.arm.request('GET', `${https.url}/x?api-version=1`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UpstreamError);
    expect((error as Error).message).toMatch(/TLS certificate is not trusted .*set defender\.tls\.caFile/);
    await sources.close();
  });
});

describe('SnowlineHttpClient', () => {
  it('decodes a gzip body (identity asks for compression, undici does not decode)', async () => {
    const transport = createHttpTransport({ caFile: tls.caFile });
    const { http: resilient } = createServiceHttp('entra', {
      transport,
      clock: systemClock,
      counters: new RequestCounters(),
    });
    const response = await new SnowlineHttpClient(resilient).sendRequest(
      createPipelineRequest({ url: `${https.url}/gzip` }),
    );
    expect(JSON.parse(response.bodyAsText!)).toEqual({ zipped: true });
    expect(response.headers.get('content-encoding')).toBeUndefined();
    await transport.close();
  });
});

describe('createCredential', () => {
  const base = defenderConfig('https://management.azure.com');

  it('builds the credential of each auth type', () => {
    expect(
      createCredential(
        { ...base, auth: { type: 'clientSecret', clientId: 'app', clientSecret: 's3cret' } },
        { clock: systemClock },
      ),
    ).toBeInstanceOf(ClientSecretCredential);
    expect(
      createCredential(
        { ...base, auth: { type: 'managedIdentity', clientId: 'mi' } },
        { clock: systemClock },
      ),
    ).toBeInstanceOf(ManagedIdentityCredential);
    expect(
      createCredential({ ...base, auth: { type: 'managedIdentity' } }, { clock: systemClock }),
    ).toBeInstanceOf(DefaultAzureCredential);
    expect(createCredential(base, { clock: systemClock })).toBeInstanceOf(StaticTokenCredential);
  });

  it('wraps an identity credential so that a rate limit at Entra surfaces as RateLimitedError', () => {
    const transport = createHttpTransport();
    const { http: entra } = createServiceHttp('entra', {
      transport,
      clock: systemClock,
      counters: new RequestCounters(),
    });
    const wrapped = createCredential(
      { ...base, auth: { type: 'clientSecret', clientId: 'app', clientSecret: 's3cret' } },
      { clock: systemClock, httpClient: new SnowlineHttpClient(entra) },
    ) as unknown as { credential: unknown };
    expect(wrapped.credential).toBeInstanceOf(ClientSecretCredential);
  });

  it('never shows a static token when serialised or inspected', async () => {
    const token = new StaticTokenCredential('do-not-print-me', systemClock);
    expect(JSON.stringify(token)).not.toContain('do-not-print-me');
    expect(String(token)).not.toContain('do-not-print-me');
    const { inspect } = await import('node:util');
    expect(inspect(token)).not.toContain('do-not-print-me');
    expect((await token.getToken()).token).toBe('do-not-print-me');
  });
});
