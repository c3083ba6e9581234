import { readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve, type ServerType } from '@hono/node-server';
import type { Page } from 'playwright-core';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardRoutes } from '../../src/api/dashboard/index.js';
import { sandboxConfig } from '../../src/cli/sandbox-config.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import { formatPurdueLevel, purdueLevelOf } from '../../src/domain/ot/purdue.js';
import { createLogger } from '../../src/logging.js';
import type { RunDispatcher, RunRequest } from '../../src/sync/kernel/dispatch.js';
import { finishRun, startRun } from '../../src/store/models/runs.js';
import { openStore, type Store } from '../../src/store/store.js';
import { FLOW_RUNNERS } from '../../src/sync/flows.js';
import { runFlows } from '../../src/sync/kernel/runner.js';
import { ARTIFACTS, hasChromium, startBrowser, type TestBrowser } from '../support/browser.js';
import { leaks } from '../support/secrets.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';

/*
 * The dashboard end to end: real flow runs against both sandboxes (demo estate) into a real SQLite
 * store, the dashboard served on loopback by @hono/node-server, driven by headless chromium. The
 * numbers it shows are checked against the sandboxes themselves (Aggregate API, table API,
 * /_sandbox dumps), not against the store it reads.
 */

const CANARY_TOKEN = 'canary-api-token-7f3a9c2e51d84b06';
const dir = mkdtempSync(join(tmpdir(), 'snowline-dashboard-'));
const logger = createLogger({ level: 'silent' });

let sandboxes: Sandboxes;
let loaded: LoadedConfig;
let store: Store;
let server: ServerType;
let base: string;
let browser: TestBrowser;
let agent: Agent;
let snToken: string;
const dispatched: RunRequest[] = [];
const html: string[] = [];

async function sn(path: string): Promise<any> {
  const response = await request(`${sandboxes.servicenow.url}${path}`, {
    dispatcher: agent,
    headers: { authorization: `Bearer ${snToken}`, accept: 'application/json' },
  });
  const text = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`GET ${path} → ${response.statusCode}: ${text}`);
  return JSON.parse(text);
}

/** Aggregate API counts grouped by one field, straight from the sandbox. */
async function aggregate(table: string, query: string, groupBy: string): Promise<Record<string, number>> {
  const params = new URLSearchParams({
    sysparm_count: 'true',
    sysparm_query: query,
    sysparm_group_by: groupBy,
  });
  const body = await sn(`/api/now/stats/${table}?${params}`);
  return Object.fromEntries(
    (body.result as { stats: { count: string }; groupby_fields: { value: string }[] }[]).map((g) => [
      g.groupby_fields[0]!.value,
      Number(g.stats.count),
    ]),
  );
}

async function capture(page: Page, name: string): Promise<string> {
  await page.screenshot({ path: join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });
  const content = await page.content();
  html.push(content);
  return content;
}

const total = (record: Record<string, number>) => Object.values(record).reduce((a, b) => a + b, 0);

describe.skipIf(!hasChromium)('dashboard in a browser', () => {
  beforeAll(async () => {
    sandboxes = await startSandboxes({ size: 'demo' });
    agent = new Agent({ connect: { ca: readFileSync(sandboxes.ready.caFile!) } });
    ({ loaded } = sandboxConfig(sandboxes.ready, {
      storeUrl: join(dir, 'dashboard.sqlite'),
      apiToken: CANARY_TOKEN,
      integrationId: 'sandbox',
    }));
    store = await openStore(loaded.config.store.url);
    await store.migrate();
    const integration = loaded.config.integrations[0]!;
    const dispatcher: RunDispatcher = {
      async dispatch(req) {
        dispatched.push(req);
        const result = await runFlows({
          integration,
          store,
          clock: systemClock,
          logger,
          runners: FLOW_RUNNERS,
          dryRun: req.dryRun,
          trigger: req.trigger,
          ...(req.flows ? { only: req.flows } : {}),
        });
        return { kind: 'done', result };
      },
      close: async () => {},
    };
    // The first sync, as `snowline sync` would run it.
    await dispatcher.dispatch({ integrationId: 'sandbox', dryRun: false, trigger: 'cli' });
    dispatched.length = 0;
    // A failed run whose error quotes a secret: the page must show it redacted.
    const failed = await startRun(store.db, systemClock, {
      integrationId: 'sandbox',
      trigger: 'api',
      dryRun: true,
    });
    await finishRun(store.db, systemClock, failed, {
      summary: { runId: failed, jobs: {} },
      error: `token ${sandboxes.ready.servicenow.clientSecret} refused`,
    });

    const app = dashboardRoutes({
      store,
      integrations: loaded.config.integrations,
      apiTokens: loaded.config.api.tokens,
      dispatcher,
      clock: systemClock,
      secrets: loaded.secrets,
      logger,
    });
    server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
    await new Promise<void>((done) => server.once('listening', () => done()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

    const oauth = await request(`${sandboxes.servicenow.url}/oauth_token.do`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: sandboxes.ready.servicenow.clientId,
        client_secret: sandboxes.ready.servicenow.clientSecret,
      }).toString(),
    });
    snToken = ((await oauth.body.json()) as { access_token: string }).access_token;
    browser = await startBrowser();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((done) => (server ? server.close(done) : done(undefined)));
    await store?.close();
    await agent?.close();
    await sandboxes?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('sends a visitor without a session to sign in, refuses a wrong token, accepts an API token', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base}/`);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.fill('input[name=token]', 'not-a-token');
    await page.click('button[type=submit]');
    await expect(page.textContent('[role=alert]')).resolves.toContain('not one of api.tokens');
    await page.fill('input[name=token]', CANARY_TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(`${base}/`);
    const cookie = (await browser.context.cookies(base)).find((c) => c.name === 'snowline_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    // htmx comes from our own server, not a CDN.
    const htmx = await page.request.get(`${base}/assets/htmx.min.js`);
    expect(htmx.status()).toBe(200);
    expect(await htmx.text()).toContain('htmx');
    await page.close();
  });

  it('overview: last runs and the counts now equal what the instance holds', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base}/`);
    const content = await capture(page, 'overview');
    expect(content).toContain('Last run per flow');
    for (const { flow } of FLOW_RUNNERS) {
      await expect(page.textContent(`[data-testid=last-runs] tr[data-flow=${flow}] .outcome`)).resolves.toBe(
        'ok',
      );
    }
    const items = await aggregate('sn_vul_vulnerable_item', 'source=Snowline^state!=3', 'severity');
    const tickets = await aggregate(
      'incident',
      'correlation_idSTARTSWITHsnowline:sandbox:ct:^stateNOT IN6,7,8',
      'impact',
    );
    expect(total(items)).toBeGreaterThan(0);
    expect(total(tickets)).toBeGreaterThan(0);
    expect(Number(await page.textContent('[data-testid=open-items]'))).toBe(total(items));
    expect(Number(await page.textContent('[data-testid=open-tickets]'))).toBe(total(tickets));
    const severityLabel: Record<string, string> = { '1': 'Critical', '2': 'High', '3': 'Medium', '4': 'Low' };
    for (const [value, n] of Object.entries(items)) {
      const label = severityLabel[value] ?? value;
      expect(
        Number(
          await page.textContent(
            `[data-testid=by-severity] tr[data-severity="${label}"] [data-counter=items]`,
          ),
        ),
      ).toBe(n);
    }
    // Devices: the store's count (what the page shows) equals the OT entities on the instance.
    const entities = await sn(
      `/api/now/stats/cmdb_ot_entity?sysparm_count=true&sysparm_query=${encodeURIComponent('ot_correlation_idSTARTSWITHsandbox:device:')}`,
    );
    expect(Number(await page.textContent('[data-testid=devices]'))).toBe(Number(entities.result.stats.count));
    // The chart has its first point.
    expect(await page.locator('[data-testid=chart-items] circle').count()).toBeGreaterThan(0);
    await page.close();
  });

  it('inventory: the Purdue view shows each level with the counts the CMDB holds; sensors show their state', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base}/inventory`);
    await capture(page, 'inventory');
    const levels = await aggregate(
      'cmdb_ot_entity',
      'ot_correlation_idSTARTSWITHsandbox:device:',
      'purdue_level',
    );
    expect(Object.keys(levels).length).toBeGreaterThan(1);
    for (const [level, n] of Object.entries(levels)) {
      expect(Number(await page.textContent(`[data-testid="level-${level || 'unknown'}"]`))).toBe(n);
    }
    // Every band of the Purdue model is shown, an empty one with 0.
    for (const level of ['0.0', '1.0', '2.0', '3.0', '4.0', '5.0'])
      expect(Number(await page.textContent(`[data-testid="level-${level}"]`))).toBe(levels[level] ?? 0);
    // And with the estate as Defender serves it: every device of a sensor that feeds the CMDB
    // (connected and not learning, as its Resource Graph resource says), at its type's level or
    // else its sensor's configured level (the sensor API reports no Purdue level), per type.
    const estate = await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=devices,sensors');
    const served = estate.sensors as {
      id: number;
      name: string;
      connected?: boolean;
      learningMode?: boolean;
    }[];
    const feeding = new Set(
      served.filter((s) => s.connected !== false && s.learningMode !== true).map((s) => s.id),
    );
    const configured = new Map(
      loaded.config.integrations[0]!.defender.sensors.map((s) => [s.name, s.purdueLevel]),
    );
    const sensorLevel = new Map(served.map((s) => [s.id, configured.get(s.name)]));
    const expected = new Map<string, number>();
    for (const d of estate.devices as { type: string; sensorId: number }[]) {
      if (!feeding.has(d.sensorId)) continue;
      const at = sensorLevel.get(d.sensorId);
      const level = formatPurdueLevel(
        purdueLevelOf({ deviceType: d.type }, at === undefined ? {} : { sensorLevel: at }),
      )!;
      expected.set(`${level}|${d.type}`, (expected.get(`${level}|${d.type}`) ?? 0) + 1);
    }
    const shown = new Map<string, number>();
    for (const band of await page.locator('[data-testid=purdue] .band').all()) {
      const level = (await band.getAttribute('data-level'))!;
      for (const item of await band.locator('li[data-type]').all()) {
        shown.set(
          `${level}|${await item.getAttribute('data-type')}`,
          Number(await item.locator('.n').textContent()),
        );
      }
    }
    expect(shown.size).toBeGreaterThan(3);
    expect(shown).toEqual(expected);
    // Sensors: connection state and learning mode as Defender reports them.
    const dump = await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=sensors');
    const sensors = dump.sensors as { name: string; connected?: boolean; learningMode?: boolean }[];
    expect(sensors.length).toBeGreaterThan(0);
    for (const s of sensors) {
      const row = page.locator(`[data-testid=sensors] tr[data-sensor="${s.name}"]`);
      if (s.connected !== undefined)
        await expect(row.locator('[data-field=connection]').textContent()).resolves.toBe(
          // The sensor source takes the state from the sensor's Resource Graph resource
          // (sensorStatus: Ok / Disconnected), written to the CI as is.
          s.connected ? 'Ok' : 'Disconnected',
        );
      if (s.learningMode !== undefined)
        await expect(row.locator('[data-field=learning]').textContent()).resolves.toBe(
          s.learningMode ? 'yes' : 'no',
        );
    }
    // A device links to its CI on the instance.
    const link = await page.locator('tr[data-device] a').first().getAttribute('href');
    const sysId = /sys_id%3D([0-9a-f]{32})/.exec(link ?? '')?.[1];
    expect(sysId).toBeDefined();
    const ci = await sn(`/api/now/table/cmdb_ci/${sysId}?sysparm_fields=sys_id,name`);
    expect(ci.result.sys_id).toBe(sysId);
    await page.close();
  });

  it('tickets: a ticket leads to its record in ServiceNow and to the resource whose assignment points back', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base}/tickets`);
    await capture(page, 'tickets');
    const row = page.locator('[data-testid=tickets] tr[data-ticket]').first();
    const number = await row.getAttribute('data-ticket');
    const snLink = await row.locator('[data-testid=servicenow-link]').getAttribute('href');
    const sysId = /sys_id%3D([0-9a-f]{32})/.exec(snLink ?? '')?.[1];
    const record = await sn(
      `/api/now/table/incident/${sysId}?sysparm_display_value=true&sysparm_fields=number,state`,
    );
    expect(record.result.number).toBe(number);
    await expect(row.locator('[data-field=state]').textContent()).resolves.toBe(record.result.state);
    const azureLink = await row.locator('[data-testid=azure-link]').first().getAttribute('href');
    const resourceId = decodeURIComponent(
      /\/resource(\/subscriptions\/.+)$/.exec(azureLink ?? '')?.[1] ?? '',
    );
    expect(resourceId).toMatch(/^\/subscriptions\//);
    const dump = await sandboxes.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments');
    const pointing = JSON.stringify(dump.governanceAssignments)
      .toLowerCase()
      .includes(resourceId.toLowerCase());
    expect(pointing).toBe(true);
    const assignment = (dump.governanceAssignments as any[]).find((a) =>
      JSON.stringify(a).toLowerCase().includes(resourceId.toLowerCase()),
    );
    expect(JSON.stringify(assignment)).toContain(number!.replace(/^[A-Z]+0*/, ''));
    await page.close();
  });

  it('runs: a dry run shows its plan, writes nothing; run now runs; the ledger filters by action', async () => {
    // A new CVE on a synced device: the plan must say it would be detected.
    const device = sandboxes.estate.devices.find((d) => d.cves.length > 0)!;
    await sandboxes.control('defender', 'POST', `/_sandbox/devices/${device.id}/cves`, {
      cveId: 'CVE-2026-99901',
      score: '9.8',
    });
    const page = await browser.context.newPage();
    await page.goto(`${base}/runs`);
    const ledgerBefore = await store.db
      .selectFrom('ledger_event')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    await page.click('[data-testid=dry-run]');
    await page.waitForSelector('#plan [data-testid=plan]', { timeout: 120_000 });
    await capture(page, 'dry-run-plan');
    expect(dispatched.at(-1)).toMatchObject({ integrationId: 'sandbox', dryRun: true });
    const planText = await page.textContent('[data-testid=plan-actions]');
    expect(planText).toContain('CVE-2026-99901');
    const ledgerAfter = await store.db
      .selectFrom('ledger_event')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirst();
    expect(Number(ledgerAfter?.n)).toBe(Number(ledgerBefore?.n));

    await page.click('[data-testid=run-now]');
    await page.waitForURL(/\/runs\/[0-9a-f-]{36}$/, { timeout: 120_000 });
    expect(dispatched.at(-1)).toMatchObject({ dryRun: false });
    await page.goto(`${page.url()}?action=create`);
    await capture(page, 'run-ledger');
    const actions = await page
      .locator('[data-testid=ledger] tr[data-action]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-action')));
    expect(actions.length).toBeGreaterThan(0);
    expect(new Set(actions)).toEqual(new Set(['create']));
    expect(await page.textContent('[data-testid=ledger]')).toContain('CVE-2026-99901');
    await page.close();
  });

  it('refuses a POST without the CSRF token or from another origin, and nothing runs', async () => {
    const page = await browser.context.newPage();
    await page.goto(`${base}/runs`);
    const before = dispatched.length;
    const bare = await page.request.post(`${base}/runs/run-now`, { form: { x: '1' } });
    expect(bare.status()).toBe(403);
    const csrf = await page.locator('input[name=_csrf]').first().inputValue();
    const foreign = await page.request.post(`${base}/runs/run-now`, {
      form: { _csrf: csrf },
      headers: { origin: 'https://evil.example' },
    });
    expect(foreign.status()).toBe(403);
    const wrong = await page.request.post(`${base}/runs/dry-run`, { headers: { 'x-csrf-token': 'nope' } });
    expect(wrong.status()).toBe(403);
    expect(dispatched.length).toBe(before);
    await page.close();
  });

  it('shows no secret anywhere: the canary token and every configured secret are absent from every page', async () => {
    const page = await browser.context.newPage();
    for (const path of [
      '/',
      '/inventory',
      '/vulnerabilities?by=cve',
      '/vulnerabilities?by=device',
      '/tickets',
      '/runs?dry=1',
    ]) {
      await page.goto(`${base}${path}`);
      await capture(page, path.replace(/[^a-z]+/g, '-').replace(/^-|-$/g, '') || 'home');
    }
    // The failed run quoting the client secret shows it redacted.
    await page.goto(`${base}/runs?status=failed`);
    const failed = await page.locator('[data-testid=runs] tr[data-run] a').first().getAttribute('href');
    await page.goto(`${base}${failed}`);
    const runPage = await capture(page, 'failed-run');
    expect(runPage).toContain('[REDACTED]');
    const secrets = [...loaded.secrets, CANARY_TOKEN];
    expect(secrets.length).toBeGreaterThan(5);
    writeFileSync(join(ARTIFACTS, 'dashboard-pages.html'), html.join('\n\n'));
    // In every form a leak takes (encoded, Base64, a 12-character slice of a long one), not just as typed.
    expect(leaks(secrets, ...html).map((s) => `a secret of ${s.length} chars`)).toEqual([]);
    await page.close();
  });
});
