import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import selfsigned from 'selfsigned';

/** A certificate authority generated for one sandbox start, and a loopback server certificate it signed. */
export interface SandboxTls {
  /** PEM of the CA certificate: what a client must trust (Snowline's `tls.caFile`). */
  readonly caCert: string;
  /** Path of a file holding {@link SandboxTls.caCert}, written at generation. */
  readonly caFile: string;
  /** PEM private key of the server certificate. */
  readonly key: string;
  /** PEM server certificate for `localhost`, `sandbox.invalid`, `127.0.0.1` and `::1`, signed by the CA. */
  readonly cert: string;
}

/**
 * Generates a fresh CA and a server certificate for loopback, so that clients talk to the
 * sandbox exactly as to production: TLS verification on, with only the CA file configured.
 * A new CA per start means no private key is ever committed or reused.
 *
 * @param dir where to write `ca.pem`; a new temporary folder when omitted.
 * @example
 * const tls = await generateSandboxTls();
 * https.createServer({ key: tls.key, cert: tls.cert }, handler);
 */
export async function generateSandboxTls(dir?: string): Promise<SandboxTls> {
  const notBeforeDate = new Date(Date.now() - 24 * 3600_000);
  const notAfterDate = new Date(Date.now() + 365 * 24 * 3600_000);
  const ca = await selfsigned.generate([{ name: 'commonName', value: 'Snowline Sandbox CA' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await selfsigned.generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    notBeforeDate,
    notAfterDate,
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false, critical: true },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          // A name no resolver answers (RFC 6761 reserves .invalid): a test that names the
          // sandbox by it reaches it only through a proxy that maps it to loopback.
          { type: 2, value: 'sandbox.invalid' },
          { type: 7, ip: '127.0.0.1' },
          { type: 7, ip: '::1' },
        ],
      },
    ],
  });
  const folder = dir ?? mkdtempSync(join(tmpdir(), 'snowline-sandbox-ca-'));
  const caFile = join(folder, 'ca.pem');
  writeFileSync(caFile, ca.cert, { mode: 0o644 });
  return { caCert: ca.cert, caFile, key: server.private, cert: server.cert };
}
