/**
 * Benchmark of flow ticket-sync, the way a user runs its poll: the sandboxes in their own process
 * (`dist/sandbox/main.js`), Snowline as `snowline sync --job ticket-sync` in another, timed from
 * outside with its peak RSS read from /proc (VmHWM), so `peakRssMb` is Snowline's alone.
 *
 * 1. Seeding, untimed, through the sandboxes' control API and Snowline's store: N incidents as
 *    cloud-tickets leaves them (correlation ids, `/_sandbox/seed`), each linked to one governance
 *    assignment (`/_sandbox/servicenow-integration/assignments`: the record an ARM PUT with that
 *    key leaves) on one of the first N assessments ARM lists, and remembered as a link in the store.
 * 2. Polling: a first poll (takes the tickets in, nothing to write), then all N tickets changed
 *    (reassigned to users with email, as the system: not Snowline's echo) and one poll: tickets per
 *    second, and ARM requests per change as the Defender sandbox counted them (Resource Graph
 *    queries included; target ≤ 1.05: one PUT per change, the current assignments read ahead a
 *    page at a time); then an unchanged poll. Each poll's wall time includes the process's start,
 *    configuration and store check (the flow's own time is `engineSeconds`).
 * 3. Webhook latency: a person changes a ticket in the ServiceNow sandbox (reassigns it, or
 *    resolves it); the sandbox's business rule posts the signed webhook to Snowline's route,
 *    served on loopback in THIS process (bench/webhook.ts, not `snowline serve`); the latency is
 *    the time from the start of the person's PATCH until Snowline handled the delivery (the
 *    Defender sandbox answered the PUT / DELETE). p50 / p95 / max over `--samples` deliveries
 *    (default 500); each delivery's outcome is then read back from the Defender sandbox (the new
 *    owner's email on the assignment, or the assignment gone for a resolved ticket).
 *
 * `--size demo|large|N` sets the number of tickets (demo 1,000, large 10,000, N); `--tickets`
 * overrides it. `--estate fitted|demo|large|N` is the Defender estate the sandbox serves: `large`
 * is the 100,000-device estate (200,000 assessments), the default with `--size large` so that
 * `npm run bench -- --size large` measures every flow on the same estate; otherwise the default
 * is `fitted`, just enough devices for the tickets' assessments (about 3.3 per device), as the
 * in-process bench had it.
 * `--latency MS` and `--jitter MS` add a round trip to every API request of both sandboxes.
 * Prints one JSON object in the shape of bench/harness.ts `FlowBenchResult` (`records` are the
 * changed tickets, `wallMs` the changed poll's time; no replay or naive client) and writes it to
 * `--out` (default bench/results/<date>-ticket-sync[-<latency>ms].json). Not a test: nothing here
 * asserts a time. Run `npm run build` first.
 *
 *   npx tsx bench/ticket-sync.ts [--size demo|large|N] [--tickets N] [--estate fitted|demo|large|N] [--samples 500] [--latency 0] [--jitter 0] [--out FILE] [--json]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfigFile } from '../src/config/load.js';
import type { IntegrationConfig } from '../src/config/schema.js';
import { systemClock } from '../src/domain/clock.js';
import { assignmentKeyFor, parseAssessmentId, ticketNumberDigits } from '../src/domain/tickets/rules.js';
import { RequestCounters } from '../src/runtime/http/counters.js';
import { connectServiceNow } from '../src/servicenow/index.js';
import { stringValue } from '../src/servicenow/values.js';
import { createDefenderSources } from '../src/sources/index.js';
import { upsertLink } from '../src/store/models/links.js';
import { openStore } from '../src/store/store.js';
import { measuredSync, round, startSandbox, writeBenchConfig, type FlowBenchResult } from './flow-bench.js';
import { NETWORK_OPTIONS, requireBuild, useNetwork, type SandboxProcess } from './harness.js';
import { BENCH_WEBHOOK_SECRET, benchPerson, latencyQuantiles, timedWebhook } from './webhook.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: 'demo' },
    tickets: { type: 'string' },
    estate: { type: 'string' },
    samples: { type: 'string', default: '500' },
    out: { type: 'string' },
    json: { type: 'boolean', default: false },
    ...NETWORK_OPTIONS,
  },
});
const network = useNetwork(values);
requireBuild();
const size = values.size!;
/** Changed tickets: `--tickets`, else by `--size` (demo 1,000; large 10,000; else the number). */
const N = Number(values.tickets ?? (size === 'demo' ? 1000 : size === 'large' ? 10_000 : size));
const SAMPLES = Number(values.samples);
if (!Number.isInteger(N) || N < 1) throw new Error(`--tickets / --size: a number of tickets, not ${N}`);
if (SAMPLES > N) throw new Error(`--samples ${SAMPLES} needs at least as many tickets (--tickets ${N})`);
/** The sandbox's estate: a dataset, or a number of devices (`fitted`: enough for N assessments). */
const estate = values.estate ?? (size === 'large' ? 'large' : 'fitted');
const ESTATE = estate === 'fitted' ? String(Math.max(200, Math.ceil(N / 3))) : estate;
if (!['demo', 'large'].includes(ESTATE) && !/^[1-9]\d*$/.test(ESTATE))
  throw new Error(`--estate ${ESTATE}: use fitted, demo, large or a number of devices`);
/** The integration id of bench/harness.ts `writeBenchConfig`. */
const INTEGRATION = 'bench';
const log = (line: string) => {
  if (!values.json) process.stderr.write(`${line}\n`);
};

/** The part of the flow's `sync --json` summary the benchmark reads. */
interface Summary {
  outcome: string;
  tickets: number;
  updated: number;
  errors: number;
  requests: { servicenow: number; defender: number };
  durationMs: number;
}

type ServiceNowConnection = ReturnType<typeof connectServiceNow>;

/** The correlation id cloud-tickets would have given the i-th ticket. */
const correlationOf = (i: number) => `snowline:${INTEGRATION}:ct:bench-${String(i).padStart(6, '0')}`;

/**
 * N incidents as cloud-tickets opens them, each with one governance assignment in Defender and its
 * link in Snowline's store. Returns the tickets' sys_ids and their assessments' ids, by index.
 */
async function seedTickets(
  sandbox: SandboxProcess,
  reader: ServiceNowConnection,
  integration: IntegrationConfig,
  storePath: string,
): Promise<{ sysIds: string[]; assessmentIds: string[] }> {
  // The first N assessments as ARM lists them, subscription by subscription: reading no more than
  // that (the control API's dump of a large estate is 200,000 assessments, about 100 MB).
  const defender = createDefenderSources(integration.defender, {
    clock: systemClock,
    counters: new RequestCounters(),
  });
  const assessmentIds: string[] = [];
  try {
    for (const subscriptionId of integration.defender.subscriptions) {
      for await (const page of defender.arm.listAssessments(subscriptionId)) {
        assessmentIds.push(...page.items.map((a) => a.id));
        if (assessmentIds.length >= N) break;
      }
      if (assessmentIds.length >= N) break;
    }
  } finally {
    await defender.close();
  }
  assessmentIds.length = Math.min(assessmentIds.length, N);
  if (assessmentIds.length < N)
    throw new Error(`the estate has only ${assessmentIds.length} assessments; give a larger --estate`);

  const sysIds: string[] = [];
  for (let i = 0; i < N; i += 1000) {
    const rows = assessmentIds.slice(i, i + 1000).map((_, j) => ({
      short_description: `Benchmark ticket ${i + j}`,
      correlation_id: correlationOf(i + j),
      state: '1',
    }));
    const seeded = await sandbox.control('servicenow', 'POST', '/_sandbox/seed', { incident: rows });
    sysIds.push(...(seeded.result.incident as string[]));
  }
  const numbers = new Map(
    (
      await reader.client.listAll('incident', {
        query: `correlation_idSTARTSWITHsnowline:${INTEGRATION}:ct:bench-`,
        fields: ['sys_id', 'number'],
      })
    ).map((r) => [r.sys_id, stringValue(r.number)!]),
  );

  const store = await openStore(storePath);
  try {
    await store.migrate();
    const due = new Date(Date.now() + 14 * 86_400_000).toISOString();
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < N) {
          const i = next++;
          const assessmentId = assessmentIds[i]!;
          const sysId = sysIds[i]!;
          const number = numbers.get(sysId)!;
          const assignmentKey = assignmentKeyFor(INTEGRATION, assessmentId);
          // The record Snowline's own PUT of this key would have left (same validation, same key).
          await sandbox.control('defender', 'POST', '/_sandbox/servicenow-integration/assignments', {
            assessmentId,
            assignmentKey,
            properties: {
              remediationDueDate: due,
              isGracePeriod: true,
              additionalData: {
                ticketNumber: ticketNumberDigits(number)!,
                ticketLink: reader.client.recordUrl('incident', sysId),
                ticketStatus: 'New',
              },
            },
          });
          await upsertLink(store.db, systemClock, INTEGRATION, {
            assessmentId,
            subscriptionId: parseAssessmentId(assessmentId)!.subscriptionId,
            ticketTable: 'incident',
            ticketSysId: sysId,
            ticketNumber: number,
            correlationId: correlationOf(i),
            governanceAssignmentId: assignmentKey,
          });
        }
      }),
    );
  } finally {
    await store.close();
  }
  return { sysIds, assessmentIds };
}

/** One `snowline sync --job ticket-sync`, with what the sandboxes counted around it. */
async function poll(sandbox: SandboxProcess, configPath: string) {
  const run = await measuredSync<Summary>(sandbox.ready, sandbox.agent, configPath, 'ticket-sync');
  const { servicenow: sn, defender: df } = run.counts;
  return {
    ...run,
    writes: { servicenow: sn.writes, defender: df.writes },
    counted: { servicenowRequests: sn.total, armRequests: df.arm, resourceGraphQueries: df.resourceGraph },
  };
}

/**
 * A person changes `SAMPLES` tickets (every fourth resolved, the others reassigned); each change
 * is timed until Snowline's webhook route handled it, then its outcome is read back from Defender.
 */
async function webhookLatency(
  sandbox: SandboxProcess,
  configPath: string,
  storePath: string,
  tickets: { sysIds: readonly string[]; assessmentIds: readonly string[] },
  people: readonly { sysId: string; email: string }[],
) {
  const { config } = loadConfigFile(configPath);
  const control = (...args: Parameters<SandboxProcess['control']>) => sandbox.control(...args);
  const store = await openStore(storePath);
  const webhook = await timedWebhook({
    control,
    config,
    store,
    secret: BENCH_WEBHOOK_SECRET,
    tables: ['incident'],
  });
  const person = await benchPerson(control, config.integrations[0]!.servicenow);
  const latencies: number[] = [];
  let missing = 0;
  /** What each delivery must leave in Defender: the new owner's email, or no assignment. */
  const expected: { index: number; owner: string | null }[] = [];
  try {
    for (let i = 0; i < SAMPLES; i++) {
      const sysId = tickets.sysIds[i]!;
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
      if (handled === undefined) missing++;
      else latencies.push(handled - t);
      expected.push({ index: i, owner: close ? null : assignee.email });
    }
  } finally {
    await person.close();
    await webhook.close();
    await store.close();
  }
  // Each delivery's outcome, as the Defender sandbox holds it now (read after the timing).
  const dump = (await sandbox.control('defender', 'GET', '/_sandbox/dump?what=governanceAssignments')) as {
    governanceAssignments: { id: string; properties: { owner?: string } }[];
  };
  const assignments = new Map(dump.governanceAssignments.map((a) => [a.id.toLowerCase(), a]));
  const wrong: string[] = [];
  for (const { index, owner } of expected) {
    const assessmentId = tickets.assessmentIds[index]!;
    const id = `${assessmentId}/governanceAssignments/${assignmentKeyFor(INTEGRATION, assessmentId)}`;
    const now = assignments.get(id.toLowerCase());
    const ok = owner === null ? now === undefined : now?.properties.owner === owner;
    if (!ok)
      wrong.push(
        `${tickets.sysIds[index]}: expected ${owner ?? 'no assignment'}, found ${now ? (now.properties.owner ?? 'no owner') : 'none'}`,
      );
  }
  if (wrong.length)
    process.stderr.write(`webhook outcomes wrong (${wrong.length}): ${wrong.slice(0, 3).join('; ')}\n`);
  return {
    what: 'person changes a ticket (PATCH start) → Snowline handled the delivery in this process, Defender written',
    samples: latencies.length,
    missing,
    outcomesChecked: expected.length,
    outcomesWrong: wrong.length,
    ...latencyQuantiles(latencies),
    targetP95Ms: 2000,
  };
}

async function measure(): Promise<FlowBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'snowline-bench-ts-'));
  const sandbox = await startSandbox(ESTATE, 3);
  try {
    const storePath = join(dir, 'bench.sqlite');
    const configPath = writeBenchConfig(sandbox.ready, dir, {
      ticketSync: { webhook: { secret: BENCH_WEBHOOK_SECRET } },
    });
    const integration = loadConfigFile(configPath).config.integrations[0]!;
    const reader = connectServiceNow(integration.servicenow, {
      clock: systemClock,
      counters: new RequestCounters(),
    });
    const started = performance.now();
    const tickets = await seedTickets(sandbox, reader, integration, storePath);
    log(
      `setup: ${N} tickets, assignments and links on estate ${ESTATE} in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );

    // ---- polling: first sight (nothing to write), then N changed tickets, then none ----
    const first = await poll(sandbox, configPath);
    log(
      `first poll (takes in ${first.summary.tickets} tickets): ${(first.wallMs / 1000).toFixed(1)} s, ${first.writes.defender} Defender writes`,
    );
    const people = (
      await reader.client.listAll('sys_user', {
        query: 'active=true^emailISNOTEMPTY',
        fields: ['sys_id', 'email'],
      })
    ).map((u) => ({ sysId: u.sys_id, email: stringValue(u.email)! }));
    await reader.close();
    for (let i = 0; i < N; i += 1000) {
      await sandbox.control('servicenow', 'POST', '/_sandbox/seed', {
        incident: tickets.sysIds
          .slice(i, i + 1000)
          .map((sys_id, j) => ({ sys_id, assigned_to: people[(i + j) % people.length]!.sysId })),
      });
    }
    const changed = await poll(sandbox, configPath);
    const unchanged = await poll(sandbox, configPath);
    const seconds = changed.wallMs / 1000;
    const polling = {
      tickets: changed.summary.tickets,
      updated: changed.summary.updated,
      errors: changed.summary.errors,
      seconds: round(seconds, 2),
      engineSeconds: round(changed.summary.durationMs / 1000, 2),
      ticketsPerSecond: Math.round(changed.summary.tickets / seconds),
      requests: changed.summary.requests,
      writes: changed.writes,
      counted: changed.counted,
      // The sandbox's count of ARM requests (Resource Graph included) over the changes it saw written.
      armRequestsPerChange: round(changed.counted.armRequests / Math.max(1, changed.writes.defender), 3),
      firstPollSeconds: round(first.wallMs / 1000, 2),
      firstPollPeakRssMb: Math.round(first.peakRssMb),
      unchanged: {
        seconds: round(unchanged.wallMs / 1000, 2),
        engineSeconds: round(unchanged.summary.durationMs / 1000, 2),
        writes: unchanged.writes,
        counted: unchanged.counted,
      },
    };
    log(
      `poll of ${N} changed tickets: ${polling.seconds} s, ${polling.ticketsPerSecond} tickets/s, ${polling.updated} assignments updated, peak RSS ${Math.round(changed.peakRssMb)} MB, requests ${JSON.stringify(polling.requests)}`,
    );

    const webhook = await webhookLatency(sandbox, configPath, storePath, tickets, people);
    log(
      `webhook latency over ${webhook.samples} changes: p50 ${webhook.p50Ms} ms, p95 ${webhook.p95Ms} ms, max ${webhook.maxMs} ms`,
    );

    return {
      flow: 'ticket-sync',
      size,
      estate: ESTATE,
      latencyMs: network.latencyMs,
      jitterMs: network.jitterMs,
      records: polling.tickets,
      wallMs: Math.round(changed.wallMs),
      recordsPerSec: polling.ticketsPerSecond,
      // The floor: one ARM write per change (a governance assignment PUT or DELETE; ARM has no batch).
      requests: {
        servicenow: changed.counted.servicenowRequests,
        defender: changed.counted.armRequests,
        floor: changed.writes.defender,
        ratio: polling.armRequestsPerChange,
      },
      peakRssMb: Math.round(changed.peakRssMb),
      noop: {
        wallMs: Math.round(unchanged.wallMs),
        writes: unchanged.writes.servicenow + unchanged.writes.defender,
        peakRssMb: Math.round(unchanged.peakRssMb),
      },
      replay: null,
      naive: null,
      date: new Date().toISOString(),
      machine: { cpus: cpus().length, model: cpus()[0]?.model, node: process.version },
      note: 'sandboxes in their own process, each poll a `snowline sync` process (peak RSS is its VmHWM); webhook route in the bench process; SQLite store',
      webhookLatency: webhook,
      polling: { changedTickets: N, ...polling },
    };
  } finally {
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const result = await measure();
const file =
  values.out ??
  `bench/results/${String(result.date).slice(0, 10)}-ticket-sync${network.latencyMs ? `-${network.latencyMs}ms` : ''}.json`;
mkdirSync(join(file, '..'), { recursive: true });
writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
if (values.json) process.stdout.write(`${JSON.stringify(result)}\n`);
else log(`written to ${file}`);
