import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { generateSandboxTls } from '../../sandbox/common/tls.js';
import { validateConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import { emptyFlowSummary } from '../../src/domain/flows.js';
import { createLogger } from '../../src/logging.js';
import type { LocalRunDispatcher } from '../../src/host/local-dispatcher.js';
import { startBoss } from '../../src/host/queue/boss.js';
import { FlowRunWorker } from '../../src/host/queue/worker.js';
import { startServe } from '../../src/host/serve.js';
import { openStore } from '../../src/store/store.js';
import type { FlowRunner } from '../../src/sync/kernel/flow.js';
import { minimalConfigInput } from '../support/config.js';
import { createTestDatabase } from '../support/databases.js';

/** One run of a flow at a time (409) and a graceful shutdown, through the API of a real server. */

const dir = mkdtempSync(join(tmpdir(), 'snowline-api-runs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a flow that is running', () => {
  it('gets 409 for a second run, and a shutdown refuses new runs, fails readiness and waits for it', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // A flow of this test that holds its run open until released.
    const slow: FlowRunner = {
      flow: 'ticket-sync',
      enabled: () => true,
      async run() {
        await gate;
        return { summary: { ...emptyFlowSummary(), updated: 3 }, plan: [] };
      },
    };
    const token = 'api-runs-test-token-0123456789';
    const loaded = validateConfig(
      { ...minimalConfigInput(), store: { url: join(dir, 'runs.sqlite') }, api: { tokens: [token] } },
      'test',
    );
    const serving = await startServe({
      loaded,
      cwd: dir,
      logger: createLogger({ level: 'silent' }),
      runners: [slow],
      port: 0,
    });
    const post = (body: unknown) =>
      fetch(`${serving.url}/api/v1/runs`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });

    const first = post({ flows: ['ticket-sync'] });
    for (
      let i = 0;
      i < 200 && (serving.dispatcher as LocalRunDispatcher).running('plant-a').length === 0;
      i++
    )
      await new Promise((r) => setTimeout(r, 25));
    expect((serving.dispatcher as LocalRunDispatcher).running('plant-a')).toEqual(['ticket-sync']);

    const second = await post({ flows: ['ticket-sync'] });
    expect(second.status).toBe(409);
    expect(((await second.json()) as any).error).toMatchObject({
      code: 'CONFLICT',
      message: expect.stringMatching(/already running ticket-sync \(started by api\)/),
    });

    let closed = false;
    const closing = serving.close().then(() => (closed = true));
    const ready = await fetch(`${serving.url}/api/v1/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ status: 'not-ready', accepting: false });
    const refused = await post({ dryRun: true });
    expect(refused.status).toBe(503);
    expect(((await refused.json()) as any).error.code).toBe('SHUTTING_DOWN');
    expect(closed).toBe(false);

    release();
    const done = await first;
    expect(done.status).toBe(200);
    expect(await done.json()).toMatchObject({
      status: 'ok',
      summary: { jobs: { 'ticket-sync': { updated: 3 } } },
    });
    await closing;
    expect(closed).toBe(true);
  });
});

describe('api.tls', () => {
  it('serves HTTPS with the configured certificate, verified against its CA', async () => {
    const tls = await generateSandboxTls(dir);
    writeFileSync(join(dir, 'cert.pem'), tls.cert);
    writeFileSync(join(dir, 'key.pem'), tls.key);
    const token = 'tls-test-token-0123456789';
    const loaded = validateConfig(
      {
        ...minimalConfigInput(),
        store: { url: 'tls.sqlite' },
        api: { tokens: [token], tls: { certFile: 'cert.pem', keyFile: 'key.pem' } },
      },
      'test',
    );
    const serving = await startServe({
      loaded,
      cwd: dir,
      logger: createLogger({ level: 'silent' }),
      port: 0,
    });
    const agent = new Agent({ connect: { ca: tls.caCert } });
    try {
      expect(serving.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const runs = await request(`${serving.url}/api/v1/runs`, {
        dispatcher: agent,
        headers: { authorization: `Bearer ${token}` },
      });
      expect(runs.statusCode).toBe(200);
      expect(await runs.body.json()).toEqual({ runs: [] });
      // Without the CA the certificate is refused: verification is on.
      await expect(fetch(`${serving.url}/api/v1/health`)).rejects.toThrow();
    } finally {
      await agent.close();
      await serving.close();
    }
  });

  it('says which TLS file can not be read, and does not start', async () => {
    const loaded = validateConfig(
      {
        ...minimalConfigInput(),
        store: { url: 'tls-missing.sqlite' },
        api: { tokens: ['t0123456789'], tls: { certFile: 'missing-cert.pem', keyFile: 'key.pem' } },
      },
      'test',
    );
    await expect(
      startServe({ loaded, cwd: dir, logger: createLogger({ level: 'silent' }), port: 0 }),
    ).rejects.toThrow(/api\.tls\.certFile .*missing-cert\.pem can not be read \(ENOENT\)/);
  });
});

const postgresUrl = inject('postgresUrl');

describe.skipIf(postgresUrl === null)('serve on a PostgreSQL store', () => {
  it('queues a requested run for `snowline worker` (202 with its job) and a worker runs it', async () => {
    const fast: FlowRunner = {
      flow: 'ticket-sync',
      enabled: () => true,
      run: async () => ({ summary: { ...emptyFlowSummary(), updated: 2 }, plan: [] }),
    };
    const token = 'api-queue-test-token-0123456789';
    const url = await createTestDatabase(postgresUrl!, 'serve');
    const loaded = validateConfig(
      {
        ...minimalConfigInput(),
        store: { url },
        api: { tokens: [token] },
        queue: { pollingIntervalSeconds: 0.5 },
      },
      'test',
    );
    const logger = createLogger({ level: 'silent' });
    const serving = await startServe({ loaded, cwd: dir, logger, runners: [fast], port: 0 });
    const auth = { authorization: `Bearer ${token}` };
    const boss = await startBoss(url, loaded.config.queue, { supervise: false });
    const store = await openStore(url);
    const worker = new FlowRunWorker({
      boss,
      config: loaded.config,
      store,
      clock: systemClock,
      logger,
      runners: [fast],
      worker: 'test-worker',
    });
    try {
      const queued = await fetch(`${serving.url}/api/v1/runs`, {
        method: 'POST',
        headers: { ...auth, 'content-type': 'application/json' },
        body: JSON.stringify({ flows: ['ticket-sync'] }),
      });
      expect(queued.status).toBe(202);
      expect(((await queued.json()) as { jobIds: string[] }).jobIds).toHaveLength(1);
      await worker.start();
      type Run = { status: string; summary: { jobs: Record<string, { updated: number }> } };
      let ran: Run | undefined;
      for (let i = 0; i < 200 && !ran; i++) {
        const { runs } = (await (await fetch(`${serving.url}/api/v1/runs`, { headers: auth })).json()) as {
          runs: Run[];
        };
        ran = runs.find((r) => r.status === 'ok');
        if (!ran) await new Promise((r) => setTimeout(r, 50));
      }
      expect(ran?.summary.jobs['ticket-sync']?.updated).toBe(2);
    } finally {
      await worker.stop();
      await boss.stop({ graceful: false, wait: true });
      await store.close();
      await serving.close();
    }
  });
});
