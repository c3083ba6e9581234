import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

/** A forward proxy for tests: HTTP CONNECT tunnels only, on loopback, with its own log. */
export interface ConnectProxy {
  readonly url: string;
  /** `host:port` of every tunnel opened, in order. */
  readonly tunnels: string[];
  close(): Promise<void>;
}

/**
 * Starts an HTTP CONNECT proxy on 127.0.0.1. `resolve` maps a requested host to the address it
 * connects to (a test names the sandboxes `sandbox.invalid`, which only this proxy resolves);
 * every target must be a loopback address, and anything else is refused with 403. With
 * `credentials`, a tunnel needs `Proxy-Authorization: Basic …` (407 otherwise).
 */
export async function startConnectProxy(
  options: { resolve?: (host: string) => string; credentials?: { username: string; password: string } } = {},
): Promise<ConnectProxy> {
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => {
    res.writeHead(405).end('CONNECT only');
  });
  server.on('connect', (req, client: Socket, head: Buffer) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    const [host = '', port = '443'] = (req.url ?? '').split(/:(?=\d+$)/);
    if (options.credentials) {
      const expected = `Basic ${Buffer.from(`${options.credentials.username}:${options.credentials.password}`).toString('base64')}`;
      if (req.headers['proxy-authorization'] !== expected) {
        client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n');
        return;
      }
    }
    const target = options.resolve?.(host) ?? host;
    if (!['127.0.0.1', '::1', 'localhost'].includes(target)) {
      client.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    tunnels.push(`${host}:${port}`);
    const upstream = connect(Number(port), target, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(client);
      client.pipe(upstream);
    });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    tunnels,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
