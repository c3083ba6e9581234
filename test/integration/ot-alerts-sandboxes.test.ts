import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtAlertsPage } from '../../src/api/dashboard/ot-alerts-page.js';
import type { ApiDeps } from '../../src/api/route.js';
import { listOtAlertsRoute } from '../../src/api/routes/list-ot-alerts.js';
import { servicenowWebhookRoutes } from '../../src/api/webhooks/servicenow.js';
import { createLogger } from '../../src/logging.js';
import { ticketSyncWebhook } from '../../src/sync/ticket-sync/webhook.js';
import type { LoadedConfig } from '../../src/config/load.js';
import { systemClock } from '../../src/domain/clock.js';
import { RequestCounters } from '../../src/runtime/http/counters.js';
import { connectServiceNow } from '../../src/servicenow/index.js';
import { encodeQuery, where } from '../../src/servicenow/query.js';
import { referenceValue, stringValue, type SnRecord } from '../../src/servicenow/values.js';
import { openStore } from '../../src/store/store.js';
import { otAlertMemories, type AlertTicketMemory } from '../../src/sync/ot-alerts/memory.js';
import { ciNameOf } from '../support/estate.js';
import { startSandboxes, type Sandboxes } from '../support/sandboxes.js';
import { syncOnce } from '../support/sync.js';

/**
 * ot-alerts end to end from the default source: alerts of the cloud-connected sensors from
 * Resource Graph, closed through ARM, devices recognised among the sensors' inventory (the
 * configuration `snowline sandbox --write-config` writes), against both sandboxes. What the
 * tickets must be is computed from the Defender sandbox's ground truth (`/_sandbox/alerts`).
 */

const dir = mkdtempSync(join(tmpdir(), 'snowline-ota-sb-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The ground truth of one alert (`GET /_sandbox/alerts`). */
interface TruthAlert {
  id: number;
  uuid: string;
  resourceId: string;
  type: string;
  title: string;
  status: string;
  learned: boolean;
  time: string;
  sourceDevice: number | null;
  destinationDevice: number;
  burst: number | null;
}

describe('ot-alerts from Resource Graph against both sandboxes', () => {
  let sandboxes: Sandboxes;
  let loaded: LoadedConfig;
  const storeUrl = join(dir, 'ota.sqlite');
  let truth: TruthAlert[];

  const truthNow = async (): Promise<TruthAlert[]> =>
    sandboxes.control('defender', 'GET', '/_sandbox/alerts');
  const deviceOf = (a: TruthAlert) =>
    sandboxes.estate.devices.find((d) => d.id === (a.sourceDevice ?? a.destinationDevice))!;

  async function tickets(): Promise<SnRecord[]> {
    const { client, close } = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    try {
      const rows = await client.listAll('incident', {
        query: encodeQuery({ where: [where('correlation_id', 'STARTSWITH', 'snowline:sandbox:oa:')] }),
        fields: ['sys_id', 'number', 'state', 'cmdb_ci', 'correlation_id', 'short_description'],
      });
      const cis = new Map(
        (await client.listAll('cmdb_ci', { fields: ['sys_id', 'name'], pageSize: 1000 })).map((ci) => [
          ci.sys_id,
          stringValue(ci.name),
        ]),
      );
      return rows.map((r) => ({ ...r, ciName: cis.get(referenceValue(r.cmdb_ci) ?? '') ?? null }));
    } finally {
      await close();
    }
  }

  async function memories(): Promise<AlertTicketMemory[]> {
    const store = await openStore(storeUrl);
    try {
      const found: AlertTicketMemory[] = [];
      for await (const page of otAlertMemories({ store, integrationId: 'sandbox' }).tickets.all())
        for (const t of page) if (t.data) found.push(t.data);
      return found;
    } finally {
      await store.close();
    }
  }

  const writes = async () =>
    (await sandboxes.control('servicenow', 'GET', '/_sandbox/stats')).writes as number;

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 150, seed: 23 });
    const base = sandboxes.config(storeUrl);
    const flows = base.config.integrations[0]!.flows;
    // The written configuration's inventory and alerts sections; one ticket per device and type
    // over the whole month the estate's alerts span (the window is tested in ot-alerts-flow.test.ts).
    loaded = sandboxes.config(storeUrl, {
      otInventory: flows.otInventory,
      // Its webhook secret signs the deliveries of every ticket of the integration (ct: and oa:).
      ticketSync: flows.ticketSync,
      otAlerts: {
        ...flows.otAlerts,
        rules: [{ name: 'ot-alerts', grouping: 'device+alertType', windowMinutes: 100_000 }],
      },
    });
    expect(flows.otAlerts).toMatchObject({ enabled: true, source: 'resourceGraph' });
    truth = await truthNow();
  });
  afterAll(async () => sandboxes?.close());

  it('opens one incident per device and alert type of the open alerts, linked to the device CI, bursts included', async () => {
    const { summary } = await syncOnce(loaded, storeUrl);
    expect(summary.jobs['ot-inventory']).toMatchObject({ outcome: 'ok' });
    const result = summary.jobs['ot-alerts']!;
    expect(result, String(result.error)).toMatchObject({ outcome: 'ok', errors: 0 });

    const open = truth.filter((a) => a.status !== 'Closed');
    const groups = new Set(open.map((a) => `${deviceOf(a).uuid}|${a.type}`));
    expect(result.created).toBe(groups.size);
    expect(result.alerts).toBe(open.length);
    const rows = await tickets();
    expect(rows).toHaveLength(groups.size);
    expect(new Set(rows.map((r) => stringValue(r.correlation_id))).size).toBe(rows.length);

    // A burst is one ticket carrying every open alert of it, on the burst's device CI.
    const bursts = [...new Set(open.filter((a) => a.burst !== null).map((a) => a.burst))];
    expect(bursts.length).toBeGreaterThan(0);
    const kept = await memories();
    for (const burst of bursts) {
      const alerts = open.filter((a) => a.burst === burst);
      const ticket = kept.find((t) => alerts.every((a) => a.resourceId.toLowerCase() in t.alerts))!;
      expect(ticket, `burst ${burst}`).toBeDefined();
      const row = rows.find((r) => r.sys_id === ticket.sysId)!;
      const device = deviceOf(alerts[0]!);
      // A device whose sensor fed ot-inventory has a CI; the others are named without one.
      if (
        sandboxes.estate.sensors.find((s) => s.id === device.sensorId)?.connected &&
        !sandboxes.estate.sensors.find((s) => s.id === device.sensorId)?.learningMode
      )
        expect((row as { ciName?: string | null }).ciName).toBe(ciNameOf(device));
    }
    // Requests per alert: what a burst-heavy estate costs.
    console.info(
      `ot-alerts first run: ${open.length} alerts, ${groups.size} tickets, ${result.requests.servicenow} ServiceNow and ${result.requests.defender} Defender requests (${((result.requests.servicenow + result.requests.defender) / open.length).toFixed(2)} per alert), ${Math.round(result.durationMs)} ms`,
    );
  });

  it('writes nothing on a second, unchanged run', async () => {
    const before = await writes();
    const { summary } = await syncOnce(loaded, storeUrl, ['ot-alerts']);
    expect(summary.jobs['ot-alerts']).toMatchObject({
      outcome: 'ok',
      created: 0,
      updated: 0,
      resolved: 0,
      errors: 0,
      closedInDefender: 0,
    });
    expect(await writes()).toBe(before);
  });

  it('closes the alerts of an incident resolved in ServiceNow in Defender, learning them for close code Known error', async () => {
    const kept = await memories();
    const closing = kept.find((t) => Object.keys(t.alerts).length >= 2 && t.status === 'open')!;
    const { client, close } = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    await client.update('incident', closing.sysId, {
      state: '6',
      close_code: 'Known error',
      close_notes: 'known traffic',
    });
    await close();
    const { summary } = await syncOnce(loaded, storeUrl, ['ot-alerts']);
    const count = Object.keys(closing.alerts).length;
    expect(summary.jobs['ot-alerts']).toMatchObject({ outcome: 'ok', closedInDefender: count, errors: 0 });
    const after = await truthNow();
    for (const key of Object.keys(closing.alerts)) {
      const alert = after.find((a) => a.resourceId.toLowerCase() === key)!;
      expect(alert).toMatchObject({ status: 'Closed', learned: true });
    }
    const again = await syncOnce(loaded, storeUrl, ['ot-alerts']);
    expect(again.summary.jobs['ot-alerts']).toMatchObject({ closedInDefender: 0, conflicts: 0 });
  });

  it('resolves an incident once every alert of it was closed in Defender first', async () => {
    const kept = await memories();
    const target = kept.find((t) => t.status === 'open' && Object.keys(t.alerts).length >= 2)!;
    for (const key of Object.keys(target.alerts)) {
      const uuid = key.split('/').at(-1)!;
      await sandboxes.control('defender', 'POST', `/_sandbox/alerts/${uuid}/close`, {});
    }
    const { summary } = await syncOnce(loaded, storeUrl, ['ot-alerts']);
    expect(summary.jobs['ot-alerts']).toMatchObject({ resolved: 1, closedInDefender: 0, errors: 0 });
    const row = (await tickets()).find((r) => r.sys_id === target.sysId)!;
    expect(stringValue(row.state)).toBe('6');
  });

  it('closes the alerts of an incident resolved in ServiceNow within seconds through the webhook', async () => {
    const store = await openStore(storeUrl);
    const webhook = ticketSyncWebhook({
      config: loaded.config,
      store,
      clock: systemClock,
      logger: createLogger({ level: 'silent' }),
    });
    const app = new Hono();
    app.route('/api/v1/webhooks/servicenow', servicenowWebhookRoutes(webhook.deps));
    const server = await new Promise<ServerType>((resolve) => {
      const s = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(s));
    });
    try {
      await sandboxes.control('servicenow', 'POST', '/_sandbox/webhooks', {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/webhooks/servicenow`,
        secret: loaded.config.integrations[0]!.flows.ticketSync!.webhook.secret,
        tables: ['incident'],
      });
      const target = (await memories()).find((t) => t.status === 'open')!;
      const { client, close } = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
        clock: systemClock,
        counters: new RequestCounters(),
      });
      await client.update('incident', target.sysId, {
        state: '6',
        close_code: 'Solution provided',
        close_notes: 'done',
      });
      await close();
      const keys = Object.keys(target.alerts);
      const started = Date.now();
      for (;;) {
        const after = await truthNow();
        if (keys.every((k) => after.find((a) => a.resourceId.toLowerCase() === k)?.status === 'Closed'))
          break;
        if (Date.now() - started > 5000) throw new Error('the alerts were not closed within 5 s');
        await sleep(25);
      }
      const after = await truthNow();
      for (const k of keys)
        expect(after.find((a) => a.resourceId.toLowerCase() === k)).toMatchObject({ learned: false });
      const deliveries = (await sandboxes.control('servicenow', 'GET', '/_sandbox/webhooks')).deliveries as {
        sys_id: string;
        status: number;
      }[];
      expect(deliveries.filter((d) => d.sys_id === target.sysId).map((d) => d.status)).toEqual([200]);
    } finally {
      await sandboxes.control('servicenow', 'DELETE', '/_sandbox/webhooks');
      await new Promise((resolve) => server.close(resolve));
      await webhook.close();
      await store.close();
    }
    // The poll that follows finds the ticket closed already: nothing is written twice.
    const { summary } = await syncOnce(loaded, storeUrl, ['ot-alerts']);
    expect(summary.jobs['ot-alerts']).toMatchObject({ closedInDefender: 0, conflicts: 0, errors: 0 });
  });

  it('turns a new burst on one device into one incident', async () => {
    const device = sandboxes.estate.devices.find(
      (d) =>
        sandboxes.estate.sensors.find((s) => s.id === d.sensorId)?.connected &&
        !sandboxes.estate.sensors.find((s) => s.id === d.sensorId)?.learningMode,
    )!;
    const raised = (await sandboxes.control('defender', 'POST', '/_sandbox/alerts', {
      deviceId: device.id,
      count: 30,
      intervalSeconds: 5,
    })) as { alerts: TruthAlert[] };
    const { summary } = await syncOnce(loaded, storeUrl, ['ot-alerts']);
    const result = summary.jobs['ot-alerts']!;
    expect(result).toMatchObject({ outcome: 'ok', alerts: 30, errors: 0 });
    expect((result.created as number) + (result.updated as number)).toBe(1);
    const kept = await memories();
    const holders = kept.filter((t) => raised.alerts.some((a) => a.resourceId.toLowerCase() in t.alerts));
    expect(holders).toHaveLength(1);
    expect(raised.alerts.every((a) => a.resourceId.toLowerCase() in holders[0]!.alerts)).toBe(true);
  });

  it('lists the tickets through the API and the open ones on the dashboard page, by severity and site', async () => {
    const store = await openStore(storeUrl);
    try {
      const app = new Hono();
      const deps = { config: loaded.config, store } as unknown as ApiDeps;
      app.get('/ot-alerts', (c) => listOtAlertsRoute.handler(c, deps));
      const all = (await (await app.request('/ot-alerts?limit=5')).json()) as {
        tickets: { status: string; severity: string; alerts: unknown[]; servicenow: { number: string } }[];
        nextCursor: string | null;
      };
      expect(all.tickets).toHaveLength(5);
      expect(all.nextCursor).not.toBeNull();
      const open = (await (await app.request('/ot-alerts?status=open&limit=200')).json()) as typeof all;
      const kept = (await memories()).filter((t) => t.status === 'open');
      expect(open.tickets.map((t) => t.servicenow.number).sort()).toEqual(kept.map((t) => t.number).sort());
      expect(open.tickets.every((t) => t.status === 'open' && t.alerts.length > 0)).toBe(true);

      const html = OtAlertsPage({
        page: { csrf: 'x', integrationIds: ['sandbox'], integrationId: 'sandbox' },
        rows: kept.map((ticket) => ({ ticket, url: `https://sn/${ticket.sysId}` })),
        enabled: true,
      }).toString();
      expect(html).toContain(`${kept.length} open tickets`);
      for (const t of kept) {
        expect(html).toContain(t.number);
        expect(html).toContain(`data-severity="${t.severity}"`);
        if (t.site) expect(html).toContain(`data-site="${t.site}"`);
      }
    } finally {
      await store.close();
    }
  });
});

describe.each([
  { source: 'sensor', writes: false },
  { source: 'console', writes: true },
] as const)('ot-alerts from the $source source against both sandboxes', ({ source, writes }) => {
  let sandboxes: Sandboxes;
  let loaded: LoadedConfig;
  const storeUrl = join(dir, `${source}.sqlite`);

  beforeAll(async () => {
    sandboxes = await startSandboxes({ devices: 120, seed: 29 });
    loaded = sandboxes.config(storeUrl, {
      otInventory: { source, sensorValidation: 'auto' },
      otAlerts: {
        source,
        lookbackDays: 30,
        rules: [{ name: 'ot-alerts', grouping: 'device+alertType', windowMinutes: 100_000 }],
      },
    });
  });
  afterAll(async () => sandboxes?.close());

  it(`opens one incident per device and alert type, and a resolved incident ${writes ? 'handles its alerts on the console' : 'leaves its alerts open in Defender, as the ledger says'}`, async () => {
    const truth = (await sandboxes.control('defender', 'GET', '/_sandbox/alerts')) as TruthAlert[];
    const readable = (a: TruthAlert & { sensorId?: number }) =>
      source === 'console' || sandboxes.estate.sensors.find((s) => s.id === a.sensorId)?.connected;
    const open = truth.filter((a) => a.status !== 'Closed' && readable(a));
    const groups = new Set(open.map((a) => `${a.sourceDevice ?? a.destinationDevice}|${a.title}`));
    const { summary } = await syncOnce(loaded, storeUrl);
    const result = summary.jobs['ot-alerts']!;
    expect(result, String(result.error)).toMatchObject({
      outcome: 'ok',
      created: groups.size,
      alerts: open.length,
    });

    const store = await openStore(storeUrl);
    const kept: AlertTicketMemory[] = [];
    for await (const page of otAlertMemories({ store, integrationId: 'sandbox' }).tickets.all())
      for (const t of page) if (t.data) kept.push(t.data);
    await store.close();
    const target = kept.find((t) => Object.keys(t.alerts).length >= 2) ?? kept[0]!;
    const { client, close } = connectServiceNow(loaded.config.integrations[0]!.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    await client.update('incident', target.sysId, {
      state: '6',
      close_code: 'Solution provided',
      close_notes: 'done',
    });
    await close();
    const closing = await syncOnce(loaded, storeUrl, ['ot-alerts']);
    const count = Object.keys(target.alerts).length;
    expect(closing.summary.jobs['ot-alerts']).toMatchObject(
      writes
        ? { closedInDefender: count, keptOpenInDefender: 0 }
        : { closedInDefender: 0, keptOpenInDefender: count },
    );
    const after = (await sandboxes.control('defender', 'GET', '/_sandbox/alerts')) as TruthAlert[];
    const statuses = Object.keys(target.alerts).map((key) => {
      const id =
        source === 'console' ? Number(key.split('/').at(-1)!.split('-')[0]) : Number(key.split('/').at(-1));
      return after.find((a) => a.id === id)!.status;
    });
    if (writes) expect(new Set(statuses)).toEqual(new Set(['Closed']));
    else expect(statuses).not.toContain('Closed');
    const again = await syncOnce(loaded, storeUrl, ['ot-alerts']);
    expect(again.summary.jobs['ot-alerts']).toMatchObject({
      closedInDefender: 0,
      keptOpenInDefender: 0,
      created: 0,
    });
  });
});
