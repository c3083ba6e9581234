import type { Clock } from '../domain/clock.js';
import { UpstreamError } from '../errors.js';
import type { ResilientHttpClient } from '../runtime/http/resilient-client.js';

/** Supplies the Authorization header for ServiceNow requests. */
export interface ServiceNowAuth {
  /** Headers to add to a request (refreshing a token first when needed). */
  headers(): Promise<Record<string, string>>;
  /** Forgets a token the instance refused, so the next request gets a new one. */
  invalidate(): void;
  /** True when a 401 may be cured by a new token (OAuth), false when retrying is pointless (Basic). */
  readonly renewable: boolean;
}

/** Basic authentication as the integration user. */
export class BasicAuth implements ServiceNowAuth {
  readonly renewable = false;
  private readonly value: string;

  constructor(username: string, password: string) {
    this.value = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }

  async headers(): Promise<Record<string, string>> {
    return { Authorization: this.value };
  }

  invalidate(): void {}
}

/** Options for {@link OAuthTokenProvider}. */
export interface OAuthOptions {
  readonly instanceUrl: string;
  readonly grant: 'client_credentials' | 'password';
  readonly clientId: string;
  readonly clientSecret: string;
  readonly username?: string;
  readonly password?: string;
  readonly http: ResilientHttpClient;
  readonly clock: Clock;
  /** Refresh this long before expiry, so a token never expires in flight. */
  readonly refreshSkewMs?: number;
}

interface Token {
  readonly accessToken: string;
  readonly refreshToken: string | undefined;
  readonly expiresAt: number;
}

/**
 * OAuth 2.0 against `/oauth_token.do`: client credentials (recommended) or password grant, with
 * the refresh token used when the instance gives one. Tokens are refreshed before they expire,
 * and concurrent callers share one refresh in flight.
 */
export class OAuthTokenProvider implements ServiceNowAuth {
  readonly renewable = true;
  private token: Token | undefined;
  private pending: Promise<Token> | undefined;

  constructor(private readonly options: OAuthOptions) {}

  async headers(): Promise<Record<string, string>> {
    const token = await this.current();
    return { Authorization: `Bearer ${token.accessToken}` };
  }

  invalidate(): void {
    this.token = this.token ? { ...this.token, expiresAt: 0 } : undefined;
  }

  private async current(): Promise<Token> {
    const now = this.options.clock.now().getTime();
    if (this.token && this.token.expiresAt - (this.options.refreshSkewMs ?? 60_000) > now) return this.token;
    this.pending ??= this.fetchToken().finally(() => (this.pending = undefined));
    this.token = await this.pending;
    return this.token;
  }

  private async fetchToken(): Promise<Token> {
    const o = this.options;
    const refresh = this.token?.refreshToken;
    const form = new URLSearchParams({ client_id: o.clientId, client_secret: o.clientSecret });
    if (refresh) {
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', refresh);
    } else if (o.grant === 'password') {
      form.set('grant_type', 'password');
      form.set('username', o.username ?? '');
      form.set('password', o.password ?? '');
    } else {
      form.set('grant_type', 'client_credentials');
    }
    const response = await o.http.send({
      method: 'POST',
      url: `${o.instanceUrl.replace(/\/$/, '')}/oauth_token.do`,
      headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
      body: form.toString(),
      idempotent: true,
    });
    if (response.status !== 200) {
      if (refresh) {
        // A refresh token can be revoked or expire before the access token's owner notices: start over.
        this.token = undefined;
        return this.fetchToken();
      }
      throw new UpstreamError(
        'servicenow',
        response.status,
        `ServiceNow refused the OAuth ${o.grant} request (HTTP ${response.status}); check the client id and secret${o.grant === 'password' ? ', the user and password' : ' and that the client credentials grant is enabled (glide.oauth.inbound.client.credential.grant_type.enabled)'}`,
        { code: 'AUTH', retryable: response.status >= 500 },
      );
    }
    const body = JSON.parse(response.body.toString('utf8')) as {
      access_token?: string;
      refresh_token?: string;
      expires_in?: number | string;
    };
    if (!body.access_token)
      throw new UpstreamError('servicenow', 200, 'the OAuth token response has no access_token', {
        code: 'AUTH',
      });
    const lifetimeMs = Number(body.expires_in ?? 1800) * 1000;
    return {
      accessToken: body.access_token,
      refreshToken: body.refresh_token || undefined,
      expiresAt: o.clock.now().getTime() + lifetimeMs,
    };
  }
}
