/**
 * A small HTTPS client for tests against a started sandbox: trusts the sandbox CA (TLS
 * verification stays on) and speaks JSON. Used by the sandbox's own tests; engine tests may use it
 * too, but should prefer Snowline's real client.
 */
import { Agent, request } from 'undici';
import type { ServiceNowSandbox } from './index.js';

/** A parsed response. */
export interface TestResponse<T = unknown> {
  status: number;
  headers: Record<string, string>;
  body: T;
  text: string;
}

/** A JSON client bound to one sandbox and one identity. */
export class SandboxClient {
  private readonly agent: Agent;

  constructor(
    private readonly sandbox: Pick<ServiceNowSandbox, 'url' | 'caCert'>,
    private authorization: string | undefined,
  ) {
    this.agent = new Agent(sandbox.caCert ? { connect: { ca: sandbox.caCert } } : {});
  }

  /** A client logging in with Basic auth. */
  static basic(
    sandbox: Pick<ServiceNowSandbox, 'url' | 'caCert'>,
    user: string,
    password: string,
  ): SandboxClient {
    return new SandboxClient(sandbox, 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64'));
  }

  withBearer(token: string): SandboxClient {
    return new SandboxClient(this.sandbox, `Bearer ${token}`);
  }

  async call<T = unknown>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<TestResponse<T>> {
    const h: Record<string, string> = { accept: 'application/json', ...headers };
    if (this.authorization) h.authorization = this.authorization;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await request(this.sandbox.url + path, {
      method: method as 'GET',
      headers: h,
      body: payload,
      dispatcher: this.agent,
      headersTimeout: 20_000,
      bodyTimeout: 20_000,
    });
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    const flat: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers))
      flat[k] = Array.isArray(v) ? v.join(', ') : String(v ?? '');
    return { status: res.statusCode, headers: flat, body: parsed as T, text };
  }

  get<T = unknown>(path: string): Promise<TestResponse<T>> {
    return this.call<T>('GET', path);
  }

  post<T = unknown>(path: string, body: unknown, headers?: Record<string, string>): Promise<TestResponse<T>> {
    return this.call<T>('POST', path, body, headers);
  }

  patch<T = unknown>(path: string, body: unknown): Promise<TestResponse<T>> {
    return this.call<T>('PATCH', path, body);
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}
