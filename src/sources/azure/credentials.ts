import type { HttpClient, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import {
  ClientSecretCredential,
  DefaultAzureCredential,
  ManagedIdentityCredential,
  type AccessToken,
  type TokenCredential,
} from '@azure/identity';
import type { IntegrationConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import { isRateLimitedError, type RateLimitedError } from '../../errors.js';

/** Hosts of the public and sovereign Entra authorities, which MSAL can discover by itself. */
const KNOWN_AUTHORITY_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.microsoftonline.us',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
]);

/**
 * A credential that always returns one configured ARM token (`auth.type: token`): for the
 * sandbox and short manual tests. The token is kept in a private field, so that logging or
 * serialising the credential never prints it.
 */
export class StaticTokenCredential implements TokenCredential {
  readonly #token: string;

  constructor(
    token: string,
    private readonly clock: Clock,
    /** How long each returned token is declared valid; the pipeline asks again after that. */
    private readonly lifetimeMs = 3_600_000,
  ) {
    if (!token) throw new TypeError('a static token must not be empty');
    this.#token = token;
  }

  async getToken(): Promise<AccessToken> {
    return { token: this.#token, expiresOnTimestamp: this.clock.now().getTime() + this.lifetimeMs };
  }

  toJSON(): Record<string, string> {
    return { type: 'StaticTokenCredential' };
  }
}

/** Options for {@link createCredential}. */
export interface CredentialOptions {
  readonly clock: Clock;
  /**
   * HttpClient for token requests (a {@link SnowlineHttpClient} on the `entra` service), so
   * that they use the configured CA file and are counted. Identity keeps its own short retry
   * policy on top: token endpoints are not where long rate limits happen.
   */
  readonly httpClient?: HttpClient;
}

/**
 * The `TokenCredential` of the `defender.auth` configuration:
 * - `clientSecret`: `ClientSecretCredential` against the configured `authorityHost`;
 * - `managedIdentity`: `ManagedIdentityCredential` for a user-assigned identity (`clientId`),
 *   else `DefaultAzureCredential` (environment, workload identity, managed identity, CLI…);
 * - `token`: a {@link StaticTokenCredential}.
 *
 * Secrets are passed to the credential and never logged.
 *
 * @example
 * const credential = createCredential(integration.defender, { clock: systemClock });
 */
export function createCredential(
  config: IntegrationConfig['defender'],
  options: CredentialOptions,
): TokenCredential {
  if (config.auth.type === 'token') return new StaticTokenCredential(config.auth.token, options.clock);
  if (!options.httpClient) return identityCredential(config, undefined);
  const watched = new RateLimitWatchingHttpClient(options.httpClient);
  return new DeferringCredential(identityCredential(config, watched), watched);
}

function identityCredential(
  config: IntegrationConfig['defender'],
  httpClient: HttpClient | undefined,
): TokenCredential {
  const auth = config.auth;
  const common = {
    authorityHost: config.authorityHost,
    ...(httpClient ? { httpClient } : {}),
  };
  switch (auth.type) {
    case 'clientSecret':
      return new ClientSecretCredential(config.tenantId, auth.clientId, auth.clientSecret, {
        ...common,
        // MSAL validates an authority by asking login.microsoftonline.com about it; a private
        // authority (an emulator, an air-gapped proxy) cannot be discovered that way.
        disableInstanceDiscovery: !KNOWN_AUTHORITY_HOSTS.has(new URL(config.authorityHost).hostname),
      });
    case 'managedIdentity':
      return auth.clientId
        ? new ManagedIdentityCredential({ clientId: auth.clientId, ...common })
        : new DefaultAzureCredential({ tenantId: config.tenantId, ...common });
    case 'token':
      throw new TypeError('static tokens need no identity client');
  }
}

/** Remembers the last {@link RateLimitedError} raised while talking to Entra. */
class RateLimitWatchingHttpClient implements HttpClient {
  private last: RateLimitedError | undefined;

  constructor(private readonly inner: HttpClient) {}

  async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
    try {
      return await this.inner.sendRequest(request);
    } catch (error) {
      if (isRateLimitedError(error)) this.last = error;
      throw error;
    }
  }

  /** The rate limit seen since the last call, if any. */
  take(): RateLimitedError | undefined {
    const last = this.last;
    this.last = undefined;
    return last;
  }
}

/**
 * MSAL wraps every transport failure into an authentication error, which would turn a long
 * `Retry-After` from Entra into a failed run. This restores the deferral: when the token
 * request failed because of a rate limit, the `RateLimitedError` itself is thrown.
 */
class DeferringCredential implements TokenCredential {
  constructor(
    private readonly inner: TokenCredential,
    private readonly client: RateLimitWatchingHttpClient,
  ) {}

  async getToken(...args: Parameters<TokenCredential['getToken']>): Promise<AccessToken | null> {
    this.client.take();
    try {
      return await this.inner.getToken(...args);
    } catch (error) {
      throw this.client.take() ?? error;
    }
  }

  /** The identity credential underneath (for `instanceof` checks and diagnostics). */
  get credential(): TokenCredential {
    return this.inner;
  }
}
