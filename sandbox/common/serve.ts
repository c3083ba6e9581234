import type { AddressInfo } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer } from 'node:http';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { SandboxTls } from './tls.js';

/** A sandbox HTTP(S) server listening on loopback. */
export interface RunningServer {
  /** Base URL, e.g. `https://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections and closes open ones. */
  close(): Promise<void>;
}

/** How to listen: loopback host, port (0 = a free one), and TLS material or none (`--no-tls`). */
export interface ListenOptions {
  readonly host?: string;
  readonly port?: number;
  readonly tls?: SandboxTls | null;
}

/**
 * Serves a hono app on loopback over HTTPS (or plain HTTP when `tls` is null, for debugging).
 * Sandboxes only ever listen on loopback: they are test doubles, never exposed services.
 */
export async function listen(app: Hono, options: ListenOptions = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const tls = options.tls ?? null;
  return new Promise((resolve, reject) => {
    const server = serve(
      {
        fetch: app.fetch,
        hostname: host,
        port: options.port ?? 0,
        ...(tls
          ? { createServer: createHttpsServer, serverOptions: { key: tls.key, cert: tls.cert } }
          : { createServer: createHttpServer }),
      },
      (info: AddressInfo) => {
        const scheme = tls ? 'https' : 'http';
        const shownHost = host.includes(':') ? `[${host}]` : host;
        resolve({
          url: `${scheme}://${shownHost}:${info.port}`,
          port: info.port,
          close: () =>
            new Promise<void>((done) => {
              server.close(() => done());
              (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
            }),
        });
      },
    );
    server.once('error', reject);
  });
}
