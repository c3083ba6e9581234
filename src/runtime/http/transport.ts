import { readFileSync } from 'node:fs';
import { checkServerIdentity, rootCertificates, type PeerCertificate } from 'node:tls';
import { Agent, EnvHttpProxyAgent, ProxyAgent, request, type Dispatcher } from 'undici';
import { ConfigError } from '../../errors.js';

/** One outbound HTTP request. */
export interface HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Uint8Array;
  /**
   * True when sending it twice does no harm (GET, PUT, DELETE, an IRE payload). A create that
   * may have reached the server is not resent blindly: the caller searches by correlation key.
   * Defaults by method.
   */
  readonly idempotent?: boolean;
}

/** A fully read response. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: Buffer;
}

/** Sends requests; the bottom of every client's stack. */
export interface HttpTransport {
  send(request: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
}

/**
 * How requests reach their origin: through the proxy the environment names (`HTTPS_PROXY`,
 * `HTTP_PROXY`, `NO_PROXY`; when unset), never through one (`none`), or through this one (a URL,
 * or a URL with credentials for a proxy that asks for Basic authentication).
 */
export type ProxySetting =
  | 'none'
  | string
  | { readonly url: string; readonly username?: string | undefined; readonly password?: string | undefined };

/** Options for {@link createHttpTransport}. */
export interface TransportOptions {
  /** PEM file of extra CAs to trust, added to the system's (verification stays on). */
  readonly caFile?: string;
  /** The proxy setting of this side; the environment's when omitted. */
  readonly proxy?: ProxySetting | undefined;
  /**
   * SHA-256 fingerprint of the one server certificate to accept (hex, colons optional), checked
   * after the usual verification: pins a sensor's self-signed certificate.
   */
  readonly pinSha256?: string | undefined;
  /** Who the pin belongs to, for the error (`defender.sensors[1] (line-2)`). */
  readonly pinOwner?: string | undefined;
  /** Connections kept per origin. */
  readonly connections?: number;
  readonly headersTimeoutMs?: number;
  readonly bodyTimeoutMs?: number;
}

/**
 * The certificate authorities to trust: Node's bundled roots plus those of `caFile`. Node
 * replaces its roots when `ca` is given, so both are passed, else a corporate CA file would
 * silently stop public certificates from verifying.
 */
export function trustedCas(caFile: string | undefined, key = 'tls.caFile'): string[] | undefined {
  if (!caFile) return undefined;
  let pem: string;
  try {
    pem = readFileSync(caFile, 'utf8');
  } catch (error) {
    throw new ConfigError([
      {
        path: key,
        message: `cannot read ${caFile} (${(error as NodeJS.ErrnoException).code ?? 'error'}); give the path of a PEM file`,
      },
    ]);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError([{ path: key, message: `${caFile} holds no PEM certificate` }]);
  }
  return [...rootCertificates, pem];
}

/**
 * An undici-based transport with keep-alive connections and TLS verification always on.
 *
 * @example
 * const transport = createHttpTransport({ caFile: '/etc/snowline/ca.pem' });
 * const response = await transport.send({ method: 'GET', url: 'https://acme.service-now.com/api/now/table/incident' });
 */
export function createHttpTransport(options: TransportOptions = {}): HttpTransport {
  const agent = dispatcherFor(options);
  return {
    async send(req) {
      const response = await request(req.url, {
        method: req.method as Dispatcher.HttpMethod,
        headers: req.headers,
        body: req.body,
        dispatcher: agent,
      });
      const body = Buffer.from(await response.body.arrayBuffer());
      return { status: response.statusCode, headers: response.headers, body };
    },
    close: () => agent.close(),
  };
}

/**
 * The undici dispatcher of a transport. TLS to the origin is verified with the trusted CAs in
 * every case; through a proxy it runs inside the CONNECT tunnel (undici's `requestTls`), so the
 * proxy sees only the origin's host and port, never the request.
 */
function dispatcherFor(options: TransportOptions): Dispatcher {
  const ca = trustedCas(options.caFile);
  const pin = options.pinSha256;
  const tls = {
    rejectUnauthorized: true,
    ...(ca ? { ca } : {}),
    ...(pin
      ? {
          checkServerIdentity: (host: string, cert: PeerCertificate) =>
            checkServerIdentity(host, cert) ?? pinMismatch(cert, pin, options.pinOwner ?? host),
        }
      : {}),
  };
  const agent = {
    connections: options.connections ?? 16,
    keepAliveTimeout: 30_000,
    headersTimeout: options.headersTimeoutMs ?? 120_000,
    bodyTimeout: options.bodyTimeoutMs ?? 300_000,
  };
  const proxy = options.proxy;
  if (proxy === 'none') return new Agent({ ...agent, connect: tls });
  // undici reads HTTPS_PROXY / HTTP_PROXY / NO_PROXY (either case) and goes direct when unset.
  if (proxy === undefined) return new EnvHttpProxyAgent({ ...agent, connect: tls, requestTls: tls });
  const { url, username, password } = typeof proxy === 'string' ? { url: proxy } : proxy;
  return new ProxyAgent({
    ...agent,
    uri: url,
    requestTls: tls,
    ...(username !== undefined
      ? { token: `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` }
      : {}),
  });
}

/** A server certificate that verified but is not the one pinned (`tls.pinSha256`). */
export class CertificatePinError extends Error {
  constructor(
    readonly owner: string,
    fingerprint: string,
  ) {
    super(
      `${owner}: its certificate (SHA-256 ${fingerprint}) is not the one tls.pinSha256 pins; check the pin, or the appliance's certificate if it was replaced`,
    );
    this.name = 'CertificatePinError';
  }
}

/** The pin error when the certificate's SHA-256 fingerprint is not `pin`; undefined when it is. */
function pinMismatch(cert: PeerCertificate, pin: string, owner: string): Error | undefined {
  const normal = (hex: string) => hex.replace(/:/g, '').toUpperCase();
  return normal(cert.fingerprint256) === normal(pin)
    ? undefined
    : new CertificatePinError(owner, cert.fingerprint256);
}
