/**
 * Benchmark of flow ticket-sync.
 *
 * 1. Polling throughput: N tickets Snowline opened (seeded with correlation ids, each linked to
 *    one governance assignment, as cloud-tickets leaves them), all changed (reassigned to users
 *    with email), then one `ticket-sync` poll: tickets per second, and ARM requests per change as
 *    the Defender sandbox counted them (Resource Graph queries included; target ≤ 1.05: one PUT per
 *    change, the current assignments read ahead a page at a time); then an unchanged poll.
 * 2. Webhook latency: a person changes a ticket in the ServiceNow sandbox (reassigns it, or
 *    resolves it); the sandbox's business rule posts the signed webhook to the route served on
 *    loopback; the latency is the time from the start of the person's PATCH until Snowline handled
 *    the delivery (the Defender sandbox answered the PUT / DELETE). p50 / p95 / max over
 *    `--samples` deliveries (default 500); each delivery's outcome is then checked in Defender
 *    (the new owner's email on the assignment, or the assignment gone for a resolved ticket).
 *
 * Both sandboxes run in this process (one event loop with Snowline: the figures and the peak RSS
 * include their work). `--latency MS` and `--jitter MS` add a round trip to every request of
 * both sandboxes. Prints one JSON object in the shape of bench/harness.ts `FlowBenchResult`
 * (`records` are the changed tickets, `wallMs` the changed poll's time; no replay or naive
 * client). Not a test: nothing here asserts a time.
 *
 *   npx tsx bench/ticket-sync.ts [--size N|demo|large] [--tickets N] [--samples 500] [--latency 0] [--jitter 0] [--json]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../src/domain/clock.js';
import { assignmentKeyFor, parseAssessmentId, ticketNumberDigits } from '../src/domain/tickets/rules.js';
import { createLogger } from '../src/logging.js';
import { RequestCounters } from '../src/runtime/http/counters.js';
import { connectServiceNow } from '../src/servicenow/index.js';
import { stringValue } from '../src/servicenow/values.js';
import { createDefenderSources } from '../src/sources/index.js';
import { upsertLink } from '../src/store/models/links.js';
import { openStore } from '../src/store/store.js';
import type { TicketSyncSummary } from '../src/sync/ticket-sync/engine.js';
import { ticketSyncFlow } from '../src/sync/ticket-sync/flow.js';
import { startSandboxes } from '../test/support/sandboxes.js';
import { NETWORK_OPTIONS, useNetwork } from './harness.js';
import { quantileMs, timedWebhook } from './webhook.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'demo' },
    tickets: { type: 'string' },
    samples: { type: 'string', default: '500' },
    json: { type: 'boolean', default: false },
    ...NETWORK_OPTIONS,
  },
});
const network = useNetwork(values);
const size = values.size!;
/** Changed tickets: `--tickets`, else one per device of `--size` (demo 1,000; large 10,000). */
const N = Number(values.tickets ?? (size === 'demo' ? 1000 : size === 'large' ? 10_000 : size));
const SAMPLES = Number(values.samples);
if (!Number.isInteger(N) || N < 1) throw new Error(`--tickets / --size: a number of tickets, not ${N}`);
if (SAMPLES > N) throw new Error(`--samples ${SAMPLES} needs at least as many tickets (--tickets ${N})`);
const SECRET = 'bench-webhook-secret-0123456789abcdef';
const log = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

const dir = mkdtempSync(join(tmpdir(), 'snowline-bench-ts-'));
const logger = createLogger({ level: 'silent' });
// Enough devices for N assessments (about 3.3 per device in the generated estate).
const sandboxes = await startSandboxes({
  devices: Math.max(200, Math.ceil(N / 3)),
  seed: 3,
  ...(network.latencyMs > 0 || network.jitterMs > 0
    ? { latency: { ms: network.latencyMs, jitterMs: network.jitterMs, seed: 3 } }
    : {}),
});
try {
  const storePath = join(dir, 'store.sqlite');
  const loaded = sandboxes.config(storePath, { ticketSync: { webhook: { secret: SECRET } } });
  const integration = loaded.config.integrations[0]!;
  const store = await openStore(storePath);
  await store.migrate();
  const counters = new RequestCounters();
  const sn = connectServiceNow(integration.servicenow, { clock: systemClock, counters });
  const defender = createDefenderSources(integration.defender, { clock: systemClock, counters });
  const assessments = sandboxes.estate.assessments
    .slice(0, N)
    .map((a) => ({ id: `${a.resourceId}/providers/Microsoft.Security/assessments/${a.key}` }));
  if (assessments.length < N) throw new Error(`the estate has only ${assessments.length} assessments`);

  // ---- setup: N incidents as cloud-tickets opens them, each with one assignment and its link ----
  const started = performance.now();
  const sysIds: string[] = [];
  for (let i = 0; i < N; i += 1000) {
    const rows = assessments.slice(i, i + 1000).map((_, j) => ({
      short_description: `Benchmark ticket ${i + j}`,
      correlation_id: `snowline:sandbox:ct:bench-${String(i + j).padStart(6, '0')}`,
      state: '1',
    }));
    const seeded = await sandboxes.control('servicenow', 'POST', '/_sandbox/seed', { incident: rows });
    sysIds.push(...(seeded.result.incident as string[]));
  }
  const numbers = new Map(
    (
      await sn.client.listAll('incident', {
        query: 'correlation_idSTARTSWITHsnowline:sandbox:ct:bench-',
        fields: ['sys_id', 'number'],
      })
    ).map((r) => [r.sys_id, stringValue(r.number)!]),
  );
  const due = new Date(Date.now() + 14 * 86_400_000).toISOString();
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (next < N) {
        const i = next++;
        const a = assessments[i]!;
        const parsed = parseAssessmentId(a.id)!;
        const sysId = sysIds[i]!;
        const assignmentKey = assignmentKeyFor('sandbox', a.id);
        await defender.arm.putGovernanceAssignment(parsed.resourceId, parsed.assessmentKey, assignmentKey, {
          remediationDueDate: due,
          isGracePeriod: true,
          additionalData: {
            ticketNumber: ticketNumberDigits(numbers.get(sysId)!)!,
            ticketLink: sn.client.recordUrl('incident', sysId),
            ticketStatus: 'New',
          },
        });
        await upsertLink(store.db, systemClock, 'sandbox', {
          assessmentId: a.id,
          subscriptionId: parsed.subscriptionId,
          ticketTable: 'incident',
          ticketSysId: sysId,
          ticketNumber: numbers.get(sysId)!,
          correlationId: `snowline:sandbox:ct:bench-${String(i).padStart(6, '0')}`,
          governanceAssignmentId: assignmentKey,
        });
      }
    }),
  );
  log(`setup: ${N} tickets, assignments and links in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const poll = async () => {
    const runCounters = new RequestCounters();
    const snRun = connectServiceNow(integration.servicenow, { clock: systemClock, counters: runCounters });
    const dfRun = createDefenderSources(integration.defender, { clock: systemClock, counters: runCounters });
    const before = await writes();
    const t = performance.now();
    try {
      const { summary } = await ticketSyncFlow.execute(
        {
          integrationId: 'sandbox',
          config: integration.flows.ticketSync!,
          store,
          clock: systemClock,
          logger,
          counters: runCounters,
          runId: null,
          dryRun: false,
        },
        {
          servicenow: snRun.client,
          arm: dfRun.arm,
          resourceGraph: dfRun.resourceGraph,
          subscriptions: integration.defender.subscriptions,
        },
      );
      const seconds = (performance.now() - t) / 1000;
      const after = await writes();
      return {
        summary: summary as TicketSyncSummary,
        seconds,
        writes: {
          servicenow: after.servicenow - before.servicenow,
          defender: after.defender - before.defender,
        },
        counted: {
          servicenowRequests: after.servicenowRequests - before.servicenowRequests,
          armRequests: after.arm - before.arm,
          resourceGraphQueries: after.resourceGraph - before.resourceGraph,
        },
      };
    } finally {
      await Promise.all([snRun.close(), dfRun.close()]);
    }
  };
  /** What the sandboxes counted: writes per side, and Defender's ARM and Resource Graph requests. */
  async function writes() {
    const sn = await sandboxes.control('servicenow', 'GET', '/_sandbox/stats');
    const df = await sandboxes.control('defender', 'GET', '/_sandbox/stats');
    return {
      servicenow: sn.writes as number,
      servicenowRequests: sn.total as number,
      defender: df.writes as number,
      arm: ((df.byApi.arm?.total ?? 0) + (df.byApi.resourcegraph?.total ?? 0)) as number,
      resourceGraph: (df.byApi.resourcegraph?.total ?? 0) as number,
    };
  }

  // ---- polling: first sight (nothing to write), then N changed tickets ----
  const first = await poll();
  log(
    `first poll (takes in ${first.summary.tickets} tickets): ${first.seconds.toFixed(1)} s, ${first.writes.defender} Defender writes`,
  );
  const people = (
    await sn.client.listAll('sys_user', { query: 'active=true^emailISNOTEMPTY', fields: ['sys_id', 'email'] })
  ).map((u) => ({ sysId: u.sys_id, email: stringValue(u.email)! }));
  for (let i = 0; i < N; i += 1000) {
    await sandboxes.control('servicenow', 'POST', '/_sandbox/seed', {
      incident: sysIds
        .slice(i, i + 1000)
        .map((sys_id, j) => ({ sys_id, assigned_to: people[(i + j) % people.length]!.sysId })),
    });
  }
  const changed = await poll();
  const unchanged = await poll();
  const polling = {
    tickets: changed.summary.tickets,
    updated: changed.summary.updated,
    errors: changed.summary.errors,
    seconds: Number(changed.seconds.toFixed(2)),
    ticketsPerSecond: Math.round(changed.summary.tickets / changed.seconds),
    requests: changed.summary.requests,
    writes: changed.writes,
    counted: changed.counted,
    // The sandbox's count of ARM requests (Resource Graph included) over the changes it saw written.
    armRequestsPerChange: Number(
      (changed.counted.armRequests / Math.max(1, changed.writes.defender)).toFixed(3),
    ),
    firstPollSeconds: Number(first.seconds.toFixed(2)),
    unchanged: {
      seconds: Number(unchanged.seconds.toFixed(2)),
      writes: unchanged.writes,
      counted: unchanged.counted,
    },
  };
  log(
    `poll of ${N} changed tickets: ${polling.seconds} s, ${polling.ticketsPerSecond} tickets/s, ${polling.updated} assignments updated, requests ${JSON.stringify(polling.requests)}`,
  );

  // ---- webhook latency ----
  const webhook = await timedWebhook({
    control: (...args) => sandboxes.control(...args),
    config: loaded.config,
    store,
    secret: SECRET,
    tables: ['incident'],
  });
  await sandboxes.control('servicenow', 'POST', '/_sandbox/users', {
    user_name: 'bench.person',
    password: 'Bench-person-pw-1',
    roles: ['itil'],
    email: 'bench.person@example.com',
  });
  const person = connectServiceNow(
    {
      ...integration.servicenow,
      auth: { type: 'basic', username: 'bench.person', password: 'Bench-person-pw-1' },
    } as typeof integration.servicenow,
    { clock: systemClock, counters: new RequestCounters() },
  );
  const latencies: number[] = [];
  const failures: string[] = [];
  /** What each delivery must leave in Defender: the new owner's email, or no assignment. */
  const expected: { index: number; owner: string | null }[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const sysId = sysIds[i]!;
    const close = i % 4 === 3;
    const assignee = people[(i + 7) % people.length]!;
    const t = performance.now();
    const record = await person.client.update(
      'incident',
      sysId,
      close
        ? { state: '6', close_code: 'Solution provided', close_notes: 'Benchmark.' }
        : { assigned_to: assignee.sysId },
    );
    const handled = await webhook.handled(sysId, stringValue(record.sys_mod_count));
    if (handled === undefined) failures.push(`${sysId}|${stringValue(record.sys_mod_count)}`);
    else latencies.push(handled - t);
    expected.push({ index: i, owner: close ? null : assignee.email });
  }
  // Each delivery's outcome, as Defender holds it now (read after the timing, through ARM).
  const wrong: string[] = [];
  for (const { index, owner } of expected) {
    const parsed = parseAssessmentId(assessments[index]!.id)!;
    const now = await defender.arm.getGovernanceAssignment(
      parsed.resourceId,
      parsed.assessmentKey,
      assignmentKeyFor('sandbox', assessments[index]!.id),
    );
    const ok = owner === null ? now === undefined : now?.owner === owner;
    if (!ok)
      wrong.push(
        `${sysIds[index]}: expected ${owner ?? 'no assignment'}, found ${now ? (now.owner ?? 'no owner') : 'none'}`,
      );
  }
  if (wrong.length)
    process.stderr.write(`webhook outcomes wrong (${wrong.length}): ${wrong.slice(0, 3).join('; ')}\n`);
  await person.close();
  await webhook.close();
  latencies.sort((a, b) => a - b);
  const webhookLatency = {
    samples: latencies.length,
    missing: failures.length,
    outcomesChecked: expected.length,
    outcomesWrong: wrong.length,
    p50Ms: quantileMs(latencies, 0.5),
    p95Ms: quantileMs(latencies, 0.95),
    maxMs: Number(latencies.at(-1)!.toFixed(1)),
    targetP95Ms: 2000,
  };
  log(
    `webhook latency over ${latencies.length} changes: p50 ${webhookLatency.p50Ms} ms, p95 ${webhookLatency.p95Ms} ms, max ${webhookLatency.maxMs} ms`,
  );

  const result = {
    flow: 'ticket-sync',
    size,
    latencyMs: network.latencyMs,
    jitterMs: network.jitterMs,
    records: polling.tickets,
    wallMs: Math.round(changed.seconds * 1000),
    recordsPerSec: polling.ticketsPerSecond,
    // The floor: one ARM write per change (a governance assignment PUT or DELETE; ARM has no batch).
    requests: {
      servicenow: changed.counted.servicenowRequests,
      defender: changed.counted.armRequests,
      floor: changed.writes.defender,
      ratio: polling.armRequestsPerChange,
    },
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 1024),
    noop: {
      wallMs: Math.round(unchanged.seconds * 1000),
      writes: unchanged.writes.servicenow + unchanged.writes.defender,
    },
    replay: null,
    naive: null,
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
    note: 'sandboxes in the same process as Snowline (peak RSS is of all three); SQLite store',
    webhookLatency,
    polling: { changedTickets: N, ...polling },
  };
  mkdirSync('bench/results', { recursive: true });
  const file = `bench/results/${result.date.slice(0, 10)}-ticket-sync${network.latencyMs ? `-${network.latencyMs}ms` : ''}.json`;
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
  else log(`written to ${file}`);
  await Promise.all([sn.close(), defender.close(), store.close()]);
} finally {
  await sandboxes.close();
  rmSync(dir, { recursive: true, force: true });
}
