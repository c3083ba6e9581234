import { ClientSecretCredential } from '@azure/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateEstate } from '../dataset/index.js';
import { startDefenderSandbox, type DefenderSandbox } from './index.js';
import { TestClient } from './test-support.js';

let sandbox: DefenderSandbox;
let client: TestClient;

beforeAll(async () => {
  sandbox = await startDefenderSandbox({ estate: generateEstate({ devices: 30, seed: 2 }) });
  client = new TestClient(sandbox);
});

afterAll(async () => {
  await client.close();
  await sandbox.close();
});

describe('@azure/identity ClientSecretCredential against the sandbox token endpoint', () => {
  it('gets a token with authorityHost = sandbox URL and instance discovery off, and the token works on ARM', async () => {
    const credential = new ClientSecretCredential(sandbox.tenantId, sandbox.clientId, sandbox.clientSecret, {
      authorityHost: sandbox.url,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: sandbox.caCert as string },
      retryOptions: { maxRetries: 0 },
    });
    // The sandbox stands in for ARM: its tokens are for its own origin ("<resource>/.default").
    const token = await credential.getToken(`${sandbox.url}/.default`);
    expect(token.token.split('.')).toHaveLength(3);
    expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now());
    const res = await client.call(
      'GET',
      `/subscriptions/${sandbox.subscriptions[0]}/providers/Microsoft.Security/assessments?api-version=2021-06-01`,
      {
        auth: `Bearer ${token.token}`,
      },
    );
    expect(res.status).toBe(200);
    // A token for another cloud's ARM (the public cloud's scope, asked by a client configured for
    // a sovereign one) is refused, as ARM refuses a token of the wrong audience.
    const other = await credential.getToken('https://management.azure.com/.default');
    const refused = await client.call(
      'GET',
      `/subscriptions/${sandbox.subscriptions[0]}/providers/Microsoft.Security/assessments?api-version=2021-06-01`,
      { auth: `Bearer ${other.token}` },
    );
    expect(refused.status).toBe(401);
    expect(refused.json).toMatchObject({ error: { code: 'InvalidAuthenticationTokenAudience' } });
  });

  it('fails with a wrong secret', async () => {
    const credential = new ClientSecretCredential(sandbox.tenantId, sandbox.clientId, 'wrong-secret', {
      authorityHost: sandbox.url,
      disableInstanceDiscovery: true,
      tlsOptions: { ca: sandbox.caCert as string },
      retryOptions: { maxRetries: 0 },
    });
    await expect(credential.getToken(`${sandbox.url}/.default`)).rejects.toThrow(
      /invalid_client|AADSTS7000215/,
    );
  });
});
