/**
 * Benchmark of the ServiceNow sandbox (not a timed test): IRE items/s with realistic OT payloads
 * of 100 items (a sensor, 33 devices with NIC + IP, Owns and Detects relations, OT details), and
 * Table API records/s for bulk reads, over HTTPS on loopback.
 *
 * Run: npx tsx bench/servicenow-sandbox.ts [--payloads 60] [--concurrency 4] [--records 20000] [--warmup 5]
 *
 * A few untimed warm-up payloads (other device numbers) run first, so the figures are the
 * steady state rather than JIT compilation and TLS handshakes.
 */
import { Agent, request } from 'undici';
import { startServiceNowSandbox } from '../sandbox/servicenow/index.js';
import { otInventoryPayload } from '../sandbox/servicenow/examples.js';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

const payloads = arg('payloads', 60);
const concurrency = arg('concurrency', 4);
const records = arg('records', 20_000);
const warmup = arg('warmup', 5);
const devicesPerPayload = 33;

const sn = await startServiceNowSandbox();
const agent = new Agent({ connect: { ca: sn.caCert ?? undefined }, connections: concurrency * 2 });
const auth = 'Basic ' + Buffer.from(`${sn.credentials.user}:${sn.credentials.password}`).toString('base64');

async function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const res = await request(sn.url + path, {
    method,
    dispatcher: agent,
    headers: {
      authorization: auth,
      accept: 'application/json',
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${method} ${path} → ${res.statusCode}: ${text.slice(0, 200)}`);
  return JSON.parse(text) as unknown;
}

async function pool<T>(jobs: Array<() => Promise<T>>, width: number): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < jobs.length) {
        const i = next++;
        out[i] = await (jobs[i] as () => Promise<T>)();
      }
    }),
  );
  return out;
}

async function irePhase(label: string, firmware: string): Promise<void> {
  const bodies = Array.from({ length: payloads }, (_, p) =>
    otInventoryPayload({ start: p * devicesPerPayload, devices: devicesPerPayload, firmware }),
  );
  const items = bodies.reduce((n, b) => n + b.items.length, 0);
  const started = performance.now();
  const results = await pool(
    bodies.map((b) => () => call('POST', '/api/now/identifyreconcile?sysparm_data_source=Snowline', b)),
    concurrency,
  );
  const seconds = (performance.now() - started) / 1000;
  const ops = new Map<string, number>();
  for (const r of results as Array<{
    result: { items: Array<{ operation?: string; errorCount: number }> };
  }>) {
    for (const it of r.result.items) {
      const key = it.errorCount ? 'ERROR' : (it.operation ?? '?');
      ops.set(key, (ops.get(key) ?? 0) + 1);
    }
  }
  console.log(
    `IRE ${label.padEnd(9)} ${items} items in ${payloads} payloads: ${seconds.toFixed(2)} s → ${Math.round(items / seconds)} items/s  (${[...ops].map(([k, v]) => `${k} ${v}`).join(', ')})`,
  );
}

console.log(`ServiceNow sandbox benchmark — ${sn.url}, concurrency ${concurrency}, Node ${process.version}`);
for (let w = 0; w < warmup; w++) {
  const body = otInventoryPayload({ start: 10_000_000 + w * devicesPerPayload, devices: devicesPerPayload });
  await call('POST', '/api/now/identifyreconcile?sysparm_data_source=Snowline', body);
  await call('POST', '/api/now/identifyreconcile?sysparm_data_source=Snowline', body);
}
await irePhase('insert', '2.9.4');
await irePhase('no-change', '2.9.4');
await irePhase('update', '3.0.0');

const seedStarted = performance.now();
const batch = 2_000;
for (let i = 0; i < records; i += batch) {
  const rows = Array.from({ length: Math.min(batch, records - i) }, (_, j) => ({
    short_description: `bench incident ${i + j}`,
    correlation_id: `bench:${i + j}`,
    impact: String(1 + ((i + j) % 3)),
    urgency: '2',
  }));
  await call('POST', '/_sandbox/seed', { incident: rows });
}
console.log(`seeded ${records} incidents in ${((performance.now() - seedStarted) / 1000).toFixed(2)} s`);

async function readPhase(label: string, query: string): Promise<void> {
  const limit = 10_000;
  const started = performance.now();
  let read = 0;
  for (let offset = 0; ; offset += limit) {
    const page = (await call(
      'GET',
      `/api/now/table/incident?sysparm_limit=${limit}&sysparm_offset=${offset}${query}`,
    )) as { result: unknown[] };
    read += page.result.length;
    if (page.result.length < limit) break;
  }
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `Table API ${label.padEnd(22)} ${read} records: ${seconds.toFixed(2)} s → ${Math.round(read / seconds)} records/s`,
  );
}

await readPhase('full records', '');
await readPhase('sysparm_fields (4)', '&sysparm_fields=sys_id,number,state,sys_updated_on');
await readPhase(
  'query + ORDERBY',
  '&sysparm_query=impact=1^ORimpact=2^ORDERBYDESCnumber&sysparm_exclude_reference_link=true',
);

await agent.close();
await sn.close();
