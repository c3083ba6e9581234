import { describe, expect, it } from 'vitest';
import { ManualClock } from '../domain/clock.js';
import { RequestCounters } from '../runtime/http/counters.js';
import { ResilientHttpClient } from '../runtime/http/resilient-client.js';
import type { HttpRequest, HttpResponse } from '../runtime/http/transport.js';
import { RequestLimiter } from '../runtime/http/limiter.js';
import { BasicAuth } from './auth.js';
import { BATCH_SETTLE_MS, ServiceNowClient, type BatchItem } from './client.js';

const json = (body: unknown, status = 200): HttpResponse => ({
  status,
  headers: {},
  body: Buffer.from(JSON.stringify(body)),
});

/** A client over a scripted transport; `waits` records every backoff wait instead of sleeping. */
function scripted(answer: (request: HttpRequest) => HttpResponse | Error) {
  const clock = new ManualClock(new Date('2026-11-01T00:00:00Z'));
  const counters = new RequestCounters();
  const sent: HttpRequest[] = [];
  const waits: number[] = [];
  const http = new ResilientHttpClient({
    service: 'servicenow',
    counters,
    clock,
    limiter: new RequestLimiter({ service: 'servicenow', maxInFlight: 1, maxWaitMs: 1_000, clock }),
    wait: async (ms) => void waits.push(ms),
    transport: {
      async send(request) {
        sent.push(request);
        const result = answer(request);
        if (result instanceof Error) throw result;
        return result;
      },
      close: async () => {},
    },
  });
  const client = new ServiceNowClient({
    instanceUrl: 'https://sn.test',
    auth: new BasicAuth('u', 'p'),
    http,
    clock,
  });
  return { client, sent, waits, counters };
}

const insert = (id: string, key: string): BatchItem => ({
  id,
  method: 'POST',
  url: '/api/now/table/sn_vul_nvd_entry?sysparm_fields=sys_id',
  body: { id: key },
  identity: { id: key },
});

const served = (request: HttpRequest) =>
  (JSON.parse(String(request.body)) as { rest_requests: { id: string }[] }).rest_requests.map((r) => ({
    id: r.id,
    status_code: 201,
    body: Buffer.from(JSON.stringify({ result: { sys_id: `new-${r.id}` } })).toString('base64'),
  }));

describe('ServiceNowClient.batch after a failed call', () => {
  it('waits until an unanswered call is certainly over, then re-sends only the inserts not found', async () => {
    let batches = 0;
    const { client, sent, waits } = scripted((request) => {
      if (request.method === 'GET') return json({ result: [{ sys_id: 'applied-1', id: 'CVE-1' }] }); // the reset call applied item 1
      if (batches++ === 0) return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      return json({ serviced_requests: served(request), unserviced_requests: [] });
    });
    const results = await client.batch([insert('1', 'CVE-1'), insert('2', 'CVE-2')]);

    expect(results).toEqual([
      { id: '1', status: 201, body: { result: { sys_id: 'applied-1', id: 'CVE-1' } } },
      { id: '2', status: 201, body: { result: { sys_id: 'new-2' } } },
    ]);
    // The search came after the settle wait, and asked for exactly the two ids.
    expect(waits).toHaveLength(1);
    expect(waits[0]).toBeGreaterThan(BATCH_SETTLE_MS - 5_000);
    const search = new URL(sent[1]!.url);
    expect(search.pathname).toBe('/api/now/table/sn_vul_nvd_entry');
    expect(search.searchParams.get('sysparm_query')).toBe('idINCVE-1,CVE-2^ORDERBYsys_created_on');
    const resent = JSON.parse(String(sent[2]!.body)) as { rest_requests: { id: string }[] };
    expect(resent.rest_requests.map((r) => r.id)).toEqual(['2']);
  });

  it('re-sends a call with no insert as it is, and gives up after the last attempt', async () => {
    const { client, sent, counters } = scripted(() => json({ error: { message: 'boom' } }, 500));
    const patch: BatchItem = {
      id: '1',
      method: 'PATCH',
      url: '/api/now/table/sn_vul_detection/abc',
      body: { status: '1' },
    };
    await expect(client.batch([patch])).rejects.toMatchObject({ status: 500 });
    expect(sent.map((r) => r.method)).toEqual(['POST', 'POST', 'POST', 'POST', 'POST']);
    expect(counters.retries).toBe(4);
  });

  it('does not re-send on a failure a re-send can not mend (403)', async () => {
    const { client, sent } = scripted(() => json({ error: { message: 'no' } }, 403));
    await expect(client.batch([insert('1', 'CVE-1')])).rejects.toMatchObject({ status: 403 });
    expect(sent).toHaveLength(1);
  });
});

describe('ServiceNowClient.createOnce after a failed insert', () => {
  it('takes the record a lost answer committed, found by its identity, instead of inserting it twice', async () => {
    const { client, sent, counters } = scripted((request) => {
      if (request.method === 'GET') return json({ result: [{ sys_id: 'committed', name: 'Siemens' }] });
      return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    });
    const company = await client.createOnce('core_company', { name: 'Siemens' }, { name: 'Siemens' });
    expect(company.sys_id).toBe('committed');
    expect(sent.map((r) => r.method)).toEqual(['POST', 'GET']);
    expect(new URL(sent[1]!.url).searchParams.get('sysparm_query')).toBe(
      'name=Siemens^ORDERBYsys_created_on',
    );
    expect(counters.retries).toBe(1);
  });

  it('inserts again when the search finds nothing, and not at all on a refusal a re-send can not mend', async () => {
    let posts = 0;
    const { client, sent } = scripted((request) => {
      if (request.method === 'GET') return json({ result: [] });
      return posts++ === 0
        ? json({ error: { message: 'boom' } }, 500)
        : json({ result: { sys_id: 'new' } }, 201);
    });
    expect((await client.createOnce('core_company', { name: 'ABB' }, { name: 'ABB' })).sys_id).toBe('new');
    expect(sent.map((r) => r.method)).toEqual(['POST', 'GET', 'POST']);

    const refused = scripted(() => json({ error: { message: 'no' } }, 403));
    await expect(
      refused.client.createOnce('core_company', { name: 'X' }, { name: 'X' }),
    ).rejects.toMatchObject({
      status: 403,
    });
    expect(refused.sent).toHaveLength(1);
  });
});
