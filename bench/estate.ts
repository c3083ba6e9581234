/**
 * Estate generator benchmark: generates `demo` and `large` (or the sizes given as arguments),
 * prints what they hold, how long generation took and the process's peak RSS; then starts the
 * Defender sandbox on the largest estate and times a few full reads (sensor list streaming,
 * console page, Resource Graph page).
 *
 *   npx tsx bench/estate.ts            # demo and large
 *   npx tsx bench/estate.ts demo       # one size
 */
import { Agent, request } from 'undici';
import { estateCounts, generateEstate, type Estate, type EstateSize } from '../sandbox/dataset/index.js';
import { startDefenderSandbox } from '../sandbox/defender/index.js';

const sizes = (process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['demo', 'large']) as EstateSize[];
const mb = (bytes: number) => `${Math.round(bytes / 1024 / 1024)} MB`;

async function timeRead(
  agent: Agent,
  url: string,
  init: { method?: string; headers: Record<string, string>; body?: string },
) {
  const t = performance.now();
  const res = await request(url, {
    method: (init.method ?? 'GET') as 'GET',
    headers: init.headers,
    body: init.body,
    dispatcher: agent,
  });
  const text = await res.body.text();
  return { status: res.statusCode, bytes: text.length, ms: Math.round(performance.now() - t) };
}

async function main(): Promise<void> {
  let largest: Estate | undefined;
  for (const size of sizes) {
    const t = performance.now();
    const estate = generateEstate({ size, seed: 1 });
    const ms = Math.round(performance.now() - t);
    const c = estateCounts(estate);
    console.log(
      `${size.padEnd(6)} generated in ${ms} ms | devices ${c['devices']} | sensors ${c['sensors']} | sites ${c['sites']} | connections ${c['connections']} | device-CVE pairs ${c['deviceCvePairs']} | assessments ${c['assessments']} (unhealthy ${c['unhealthy']}) | subscriptions ${c['subscriptions']} | resources ${c['resources']} | users ${c['users']} | heap ${mb(process.memoryUsage().heapUsed)} | peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}`,
    );
    if (!largest || estate.devices.length > largest.devices.length) largest = estate;
  }
  if (!largest || largest.devices.length === 0) return;

  const t = performance.now();
  const sandbox = await startDefenderSandbox({ estate: largest });
  console.log(`sandbox started in ${Math.round(performance.now() - t)} ms`);
  const agent = new Agent({ connect: { ca: sandbox.caCert as string } });
  // The busiest connected sensor: its full device list is the largest single streamed answer.
  const perSensor = new Map<number, number>();
  for (const d of largest.devices) perSensor.set(d.sensorId, (perSensor.get(d.sensorId) ?? 0) + 1);
  const busiest = [...largest.sensors]
    .filter((s) => s.connected)
    .sort((a, b) => (perSensor.get(b.id) ?? 0) - (perSensor.get(a.id) ?? 0))[0];
  const sensor = sandbox.sensors.find((s) => s.name === busiest?.name);
  if (sensor) {
    const r = await timeRead(agent, `${sensor.url}/api/v1/devices`, {
      headers: { authorization: sensor.token },
    });
    console.log(`sensor ${sensor.name} /api/v1/devices: ${r.status}, ${mb(r.bytes)}, ${r.ms} ms`);
    const cv = await timeRead(agent, `${sensor.url}/api/v1/devices/cves`, {
      headers: { authorization: sensor.token },
    });
    console.log(`sensor ${sensor.name} /api/v1/devices/cves: ${cv.status}, ${mb(cv.bytes)}, ${cv.ms} ms`);
  }
  const page = await timeRead(
    agent,
    `${sandbox.console.url}/external/v3/integration/devices/0?page=10&size=1000`,
    {
      headers: { authorization: sandbox.console.token },
    },
  );
  console.log(`console devices page (1000): ${page.status}, ${page.ms} ms`);
  const argBody = JSON.stringify({
    query:
      "securityresources | where type == 'microsoft.security/assessments' | project id, status = tostring(properties.status.code), severity = tostring(properties.metadata.severity)",
    options: { $top: 1000 },
  });
  const headers = { authorization: `Bearer ${sandbox.token}`, 'content-type': 'application/json' };
  const argUrl = `${sandbox.url}/providers/Microsoft.ResourceGraph/resources?api-version=2024-04-01`;
  const first = await timeRead(agent, argUrl, { method: 'POST', headers, body: argBody });
  const second = await timeRead(agent, argUrl, { method: 'POST', headers, body: argBody });
  console.log(
    `resource graph assessments page (1000 of ${largest.assessments.length}): first ${first.ms} ms, cached ${second.ms} ms`,
  );
  console.log(`peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}`);
  await agent.close();
  await sandbox.close();
}

await main();
