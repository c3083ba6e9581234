import { Hono } from 'hono';
import { connect } from 'node:tls';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen, withLatency, type RunningServer } from './serve.js';
import { generateSandboxTls, type SandboxTls } from './tls.js';

describe('withLatency', () => {
  const app = new Hono();
  app.post('/echo', async (c) => c.json({ type: c.req.header('content-type'), body: await c.req.text() }));

  it('is the app itself without latency', () => {
    expect(withLatency(app, undefined)).toBe(app.fetch);
    expect(withLatency(app, { ms: 0 })).toBe(app.fetch);
  });

  it('keeps a request’s headers and body through the wait (the ot-inventory replay lost them)', async () => {
    const fetch = withLatency(app, { ms: 1, jitterMs: 1, seed: 7 });
    const response = await fetch(
      new Request('http://sandbox/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"items":[1,2]}',
      }),
    );
    expect(await response.json()).toEqual({ type: 'application/json', body: '{"items":[1,2]}' });
  });
});

describe('listen over TLS', () => {
  const firstAnswer = 'x'.repeat(8 * 1024 * 1024);
  const app = new Hono();
  app.post('/first', async (c) => c.text(firstAnswer + (await c.req.text())));
  app.post('/second', async (c) => c.text(`received ${(await c.req.text()).length} bytes`));
  let tls: SandboxTls;
  let server: RunningServer;

  beforeAll(async () => {
    tls = await generateSandboxTls();
    server = await listen(app, { tls });
  });
  afterAll(() => server.close());

  const post = (path: string, body: string) =>
    `POST ${path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n${body}`;

  it('answers a POST that arrives while the previous answer is still being written, without resetting the connection (issue #24)', async () => {
    // The ot-inventory replay at 50 ms had IRE posts reset: one arrived while Node still counted
    // the previous answer as unwritten, so Node paused the socket and its parser, and the TLS layer
    // handed the rest of the post to the paused parser (HPE_PAUSED: connection destroyed). Here the
    // client stops reading the first answer, so it is still being written when the second post
    // (several TLS records) arrives.
    const socket = connect({ host: '127.0.0.1', port: server.port, ca: tls.caCert, servername: 'localhost' });
    await once(socket, 'secureConnect');
    socket.on('error', () => undefined);
    socket.write(post('/first', 'a'));
    const received: Buffer[] = [(await once(socket, 'data'))[0] as Buffer];
    socket.pause();
    await sleep(200);
    const secondBody = 'b'.repeat(256 * 1024);
    socket.write(post('/second', secondBody));
    await sleep(200);

    const secondAnswer = `received ${secondBody.length} bytes`;
    const ended = new Promise<'closed' | 'answered'>((resolve) => {
      socket.on('close', () => resolve('closed'));
      socket.on('data', (chunk: Buffer) => {
        received.push(chunk);
        if (Buffer.concat(received.slice(-2)).toString('latin1').endsWith(secondAnswer)) resolve('answered');
      });
    });
    socket.resume();
    const outcome = await Promise.race([ended, sleep(10_000, 'timed out')]);
    socket.destroy();

    expect(outcome).toBe('answered');
    expect(
      Buffer.concat(received)
        .toString('latin1')
        .match(/HTTP\/1\.1 200 OK/g),
    ).toHaveLength(2);
  });
});
