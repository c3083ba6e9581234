import { SecurityCenter } from '@azure/arm-security';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEstate, type Estate } from '../dataset/index.js';
import { startDefenderSandbox, type DefenderSandbox } from './index.js';

/**
 * The official @azure/arm-security 5.0.0 client against the sandbox: a stub TokenCredential
 * that hands out the sandbox's token, and the sandbox CA trusted through the pipeline's
 * `tlsOptions` (TLS verification stays on; the bearer policy refuses plain http anyway).
 */
let estate: Estate;
let sandbox: DefenderSandbox;
let scopes: string[] = [];

beforeAll(async () => {
  estate = generateEstate({ devices: 150, seed: 5 });
  sandbox = await startDefenderSandbox({ estate, behaviour: { armPageSize: 25 } });
});

afterAll(async () => {
  await sandbox.close();
});

function client(): SecurityCenter {
  const credential: TokenCredential = {
    getToken: async (requested): Promise<AccessToken> => {
      scopes = Array.isArray(requested) ? requested : [requested];
      return { token: sandbox.token, expiresOnTimestamp: Date.now() + 3_600_000 };
    },
  };
  return new SecurityCenter(credential, sandbox.subscriptions[0] as string, {
    endpoint: sandbox.url,
    tlsOptions: { ca: sandbox.caCert as string },
    retryOptions: { maxRetries: 0 },
  });
}

describe('@azure/arm-security 5.0.0 against the sandbox', () => {
  it('lists assessments across several pages', async () => {
    const sub = sandbox.subscriptions[0] as string;
    const expected = estate.assessments.filter((a) => a.subscriptionId === sub);
    expect(expected.length).toBeGreaterThan(50);
    const sc = client();
    const seen: string[] = [];
    let pages = 0;
    for await (const page of sc.assessments.list(`subscriptions/${sub}`).byPage()) {
      pages++;
      for (const a of page) seen.push(a.id as string);
      if (pages > 50) break;
    }
    expect(pages).toBe(Math.ceil(expected.length / 25));
    expect(seen).toEqual(
      expected.map((a) => `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}`),
    );
    expect(scopes).toEqual(['https://management.azure.com/.default']);
  });

  it('gets one assessment with metadata', async () => {
    const a = estate.assessments.find(
      (x) => x.code === 'Unhealthy' && x.resourceId.includes('/resourceGroups/'),
    );
    expect(a).toBeDefined();
    const got = await client().assessments.get(a?.resourceId as string, a?.key as string, {
      expand: 'metadata',
    });
    const metadata = estate.assessmentMetadata.find((m) => m.key === a?.key);
    expect(got.name).toBe(a?.key);
    expect(got.status?.code).toBe('Unhealthy');
    expect(got.resourceDetails).toEqual({ source: 'Azure', id: a?.resourceId });
    expect(got.metadata?.displayName).toBe(metadata?.displayName);
    expect(got.metadata?.remediationDescription).toBe(metadata?.remediationDescription);
    expect(got.metadata?.categories).toEqual(metadata?.categories);
    expect(['Low', 'Medium', 'High']).toContain(got.metadata?.severity);
  });

  it('surfaces ARM errors as RestError with the code', async () => {
    const sc = new SecurityCenter(
      {
        getToken: async () => ({ token: 'not-a-sandbox-token', expiresOnTimestamp: Date.now() + 3_600_000 }),
      },
      sandbox.subscriptions[0] as string,
      {
        endpoint: sandbox.url,
        tlsOptions: { ca: sandbox.caCert as string },
        retryOptions: { maxRetries: 0 },
      },
    );
    await expect(sc.assessments.get(`subscriptions/${sandbox.subscriptions[0]}`, 'x')).rejects.toMatchObject({
      statusCode: 401,
      code: 'InvalidAuthenticationToken',
    });
  });
});
