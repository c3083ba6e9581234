import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createHttpServer } from 'node:http';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { setTimeout as sleep } from 'node:timers/promises';
import { Random } from '../dataset/random.js';
import type { SandboxTls } from './tls.js';

/** A sandbox HTTP(S) server listening on loopback. */
export interface RunningServer {
  /** Base URL, e.g. `https://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** Stops accepting connections and closes open ones. */
  close(): Promise<void>;
}

/**
 * A network round trip added to every API request, as a real instance far from Snowline has one:
 * `ms` plus a uniform draw in [-jitterMs, +jitterMs] (never below 0), drawn from `seed` so that two
 * runs with the same settings see the same delays in the same order.
 */
export interface NetworkLatency {
  readonly ms: number;
  readonly jitterMs?: number;
  readonly seed?: number;
}

/** How to listen: loopback host, port (0 = a free one), TLS material or none (`--no-tls`), added latency. */
export interface ListenOptions {
  readonly host?: string;
  readonly port?: number;
  readonly tls?: SandboxTls | null;
  readonly latency?: NetworkLatency;
}

/**
 * The app's fetch, each API request answered after the configured latency. The control API
 * (`/_sandbox/*`) is the test harness's, not the platform's, and is answered at once. This is the
 * one place latency is added (fault injection's `latencyMs` is a fault, set per test).
 */
export function withLatency(app: Hono, latency: NetworkLatency | undefined): Hono['fetch'] {
  if (!latency || (latency.ms <= 0 && !latency.jitterMs)) return app.fetch;
  const random = new Random(latency.seed ?? 1);
  const jitter = latency.jitterMs ?? 0;
  return async (request, env, context) => {
    if (new URL(request.url).pathname.startsWith('/_sandbox')) return app.fetch(request, env, context);
    const delay = Math.max(0, latency.ms + (jitter > 0 ? (random.next() * 2 - 1) * jitter : 0));
    // The body is read as it arrives, before the wait: a request left unread for the delay lost
    // its body (the node adapter's lazy body stream), and the handler got an empty POST.
    const body =
      request.method === 'GET' || request.method === 'HEAD' ? undefined : await request.arrayBuffer();
    if (delay > 0) await sleep(delay);
    const delayed = new Request(request.url, {
      method: request.method,
      headers: request.headers,
      ...(body !== undefined ? { body } : {}),
    });
    return app.fetch(delayed, env, context);
  };
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
        fetch: withLatency(app, options.latency),
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
    if (tls) server.on('secureConnection', readThroughStream);
    server.once('error', reject);
  });
}

/**
 * Makes Node's HTTP server read a TLS connection through the socket's stream instead of straight
 * from the TLS layer, so that a well-formed request is never reset (issue #24).
 *
 * Why: a request that arrives while Node still counts the previous answer as unwritten (its write
 * callback comes after the client already has the answer and sent its next request when the
 * sandbox is busy) makes the server pause the socket and its parser, its guard against pipelined
 * floods. Reading in C++, the parser still gets every TLS record decrypted from the same read:
 * paused, it fails (`HPE_PAUSED`) and the server destroys the connection mid-request (Node 20.20).
 * That reset 7 of the 419 IRE posts of the ot-inventory replay at 50 ms; Snowline got through
 * only because it re-sends IRE posts. A real instance answers such a request. Node's server stops
 * reading in C++ once another `data` listener is on the socket (`_http_server.js` unconsume), and
 * the stream holds a paused socket's data back: this listener needs the data for nothing itself.
 * serve.test.ts pins the behaviour.
 */
function readThroughStream(socket: TLSSocket): void {
  socket.on('data', () => undefined);
}
