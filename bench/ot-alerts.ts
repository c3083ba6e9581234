/**
 * Benchmark of flow ot-alerts (docs/ot-alerts.md), the way a user runs it: the sandboxes in their
 * own process (`dist/sandbox/main.js`), Snowline as `snowline sync` in another, timed from
 * outside with its peak RSS read from /proc, on the sandbox-written configuration (ot-inventory
 * from the sensors, alerts from Resource Graph, one incident per device and alert type).
 *
 * 1. ot-inventory runs first (timed apart) so that the device CIs exist.
 * 2. **Initial backlog**: ot-alerts' first run over every alert of the estate: alerts per second,
 *    requests per alert as the sandboxes counted them, and the ground truth read back from the
 *    Defender sandbox: every open alert on exactly one ticket (the ticket Snowline remembers for
 *    it, and that ticket on the instance). The floor is one Table API create per ticket the
 *    instance received (tickets have no Batch create here: each is searched for by correlation id
 *    first, `store/correlation-lock.ts`).
 * 3. **No-op**: the same run again writes nothing.
 * 4. **Webhook**: a person resolves `--samples` tickets (default 200, fewer when the estate has
 *    fewer) in the ServiceNow sandbox, whose business rule posts the signed webhook to Snowline's
 *    route served on loopback in this process; the latency is from the start of the person's
 *    PATCH until Snowline answered the delivery, by which time the ticket's alerts were closed in
 *    Defender (the handler answers once the ARM PATCHes and the store commit are done). p50 / p95 /
 *    max; then each ticket's alerts are read back from the Defender sandbox: all Closed, and
 *    learned exactly where the close code was "Known error".
 * 5. **Poll**: with the webhook deregistered, the person resolves another `--samples` tickets and
 *    one `snowline sync --job ot-alerts` closes their alerts: seconds, ARM requests per alert
 *    closed, and the same read-back.
 *
 *   npx tsx bench/ot-alerts.ts [--size demo|large|N] [--samples 200] [--latency 0] [--jitter 0] [--json]
 *
 * Prints one JSON object in the shape of bench/harness.ts `FlowBenchResult` (`records` are the
 * alerts of the initial backlog; no replay or naive client) and writes
 * bench/results/<date>-ot-alerts.json. Not a test: nothing here asserts a time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile } from '../src/config/load.js';
import { stringValue } from '../src/servicenow/values.js';
import { openStore } from '../src/store/store.js';
import { otAlertMemories, type AlertTicketMemory } from '../src/sync/ot-alerts/memory.js';
import {
  benchArgs,
  benchNetwork,
  measuredSync,
  report,
  round,
  startSandbox,
  timedSync,
  writeBenchConfig,
  writeResults,
  type FlowBenchResult,
} from './flow-bench.js';
import type { SandboxProcess } from './harness.js';
import {
  BENCH_WEBHOOK_SECRET,
  benchPerson,
  latencyQuantiles,
  timedWebhook,
  type PersonClient,
} from './webhook.js';

const { sizes, json, values } = benchArgs({ samples: { type: 'string', default: '200' } });
const SAMPLES = Number(values.samples);
if (!Number.isInteger(SAMPLES) || SAMPLES < 1)
  throw new Error(`--samples is a number of tickets, not ${values.samples}`);
const log = (line: string) => process.stderr.write(`${line}\n`);

/** The part of the flow's `--json` summary the benchmark reads. */
interface Summary {
  outcome: string;
  created: number;
  updated: number;
  resolved: number;
  errors: number;
  alerts: number;
  joined: number;
  problems: number;
  closedInDefender: number;
}

/** An alert as the Defender sandbox's control API shows it (`GET /_sandbox/alerts`): the ground truth. */
interface SandboxAlert {
  resourceId: string;
  status: string;
  learned: boolean;
}

/** The sandbox configuration's flows (src/cli/sandbox-config.ts), with the webhook's secret known here. */
const FLOWS = {
  otInventory: { source: 'sensor', sensorValidation: 'auto' },
  otAlerts: {
    source: 'resourceGraph',
    lookbackDays: 30,
    rules: [{ name: 'ot-alerts', table: 'incident', grouping: 'device+alertType' }],
    closeActions: { default: 'close', byCloseCode: { 'Known error': 'learn' } },
  },
  ticketSync: { webhook: { secret: BENCH_WEBHOOK_SECRET } },
};

/** Every alert of the Defender sandbox, by ARM id (lower case, as ARM ids compare). */
async function sandboxAlerts(sandbox: SandboxProcess): Promise<Map<string, SandboxAlert>> {
  const alerts = (await sandbox.control('defender', 'GET', '/_sandbox/alerts')) as SandboxAlert[];
  return new Map(alerts.map((a) => [a.resourceId.toLowerCase(), a]));
}

/** The alert tickets Snowline remembers. */
async function rememberedTickets(storePath: string): Promise<AlertTicketMemory[]> {
  const store = await openStore(storePath);
  try {
    const tickets: AlertTicketMemory[] = [];
    for await (const page of otAlertMemories({ store, integrationId: 'bench' }).tickets.all())
      for (const t of page) if (t.data) tickets.push(t.data);
    return tickets;
  } finally {
    await store.close();
  }
}

/**
 * The ground truth after the initial run: each open alert in Defender on exactly one remembered
 * ticket, and each remembered ticket on the instance (by correlation id, exactly once).
 */
async function groundTruth(
  sandbox: SandboxProcess,
  tickets: readonly AlertTicketMemory[],
  person: PersonClient,
) {
  const alerts = await sandboxAlerts(sandbox);
  const onTickets = new Map<string, number>();
  for (const t of tickets)
    for (const a of Object.values(t.alerts))
      if (a.writeRef)
        onTickets.set(a.writeRef.toLowerCase(), (onTickets.get(a.writeRef.toLowerCase()) ?? 0) + 1);
  let open = 0;
  let onNone = 0;
  let onSeveral = 0;
  for (const [id, a] of alerts) {
    if (a.status === 'Closed') continue;
    open++;
    const n = onTickets.get(id) ?? 0;
    if (n === 0) onNone++;
    if (n > 1) onSeveral++;
  }
  const onInstance = await person.client.listAll('incident', {
    query: 'correlation_idSTARTSWITHsnowline:bench:oa:',
    fields: ['sys_id', 'correlation_id'],
  });
  const perCorrelation = new Map<string, number>();
  for (const r of onInstance) {
    const id = stringValue(r.correlation_id)!;
    perCorrelation.set(id, (perCorrelation.get(id) ?? 0) + 1);
  }
  return {
    openAlerts: open,
    openAlertsOnNoTicket: onNone,
    openAlertsOnSeveralTickets: onSeveral,
    ticketsRemembered: tickets.length,
    ticketsOnInstance: onInstance.length,
    ticketsMissingOnInstance: tickets.filter((t) => !perCorrelation.has(t.correlationId)).length,
    duplicateTicketsOnInstance: [...perCorrelation.values()].filter((n) => n > 1).length,
  };
}

/** Resolution a person gives the i-th ticket: every fourth "Known error" (learn), else "Solution provided" (close). */
function resolutionOf(i: number): { closeCode: string; learn: boolean } {
  return i % 4 === 3
    ? { closeCode: 'Known error', learn: true }
    : { closeCode: 'Solution provided', learn: false };
}

async function resolve(person: PersonClient, ticket: AlertTicketMemory, i: number) {
  return person.client.update('incident', ticket.sysId, {
    state: '6',
    close_code: resolutionOf(i).closeCode,
    close_notes: 'Benchmark.',
  });
}

/** Each resolved ticket's alerts as Defender holds them now: closed, and learned exactly where asked. */
async function closedOutcomes(
  sandbox: SandboxProcess,
  resolved: readonly AlertTicketMemory[],
  offset: number,
) {
  const alerts = await sandboxAlerts(sandbox);
  const wrong: string[] = [];
  let checked = 0;
  resolved.forEach((ticket, i) => {
    const { learn } = resolutionOf(offset + i);
    for (const a of Object.values(ticket.alerts)) {
      if (!a.writeRef || !a.open) continue;
      checked++;
      const now = alerts.get(a.writeRef.toLowerCase());
      if (now?.status !== 'Closed' || now.learned !== learn)
        wrong.push(
          `${ticket.number} ${a.writeRef}: ${now ? `${now.status}, learned ${now.learned}` : 'gone'}`,
        );
    }
  });
  if (wrong.length) log(`alerts not closed as asked (${wrong.length}): ${wrong.slice(0, 3).join('; ')}`);
  return { alertsChecked: checked, alertsWrong: wrong.length };
}

async function measure(size: string): Promise<FlowBenchResult> {
  const dir = mkdtempSync(join(tmpdir(), 'snowline-bench-oa-'));
  const sandbox = await startSandbox(size);
  const storePath = join(dir, 'bench.sqlite');
  try {
    const configPath = writeBenchConfig(sandbox.ready, dir, FLOWS);
    const inventory = await timedSync(configPath, 'ot-inventory');
    log(`ot-inventory first: ${(inventory.wallMs / 1000).toFixed(1)} s`);

    // ---- the initial backlog, then the no-op ----
    const initial = await measuredSync<Summary>(sandbox.ready, sandbox.agent, configPath, 'ot-alerts');
    const noop = await measuredSync<Summary>(sandbox.ready, sandbox.agent, configPath, 'ot-alerts');
    const s = initial.summary;
    const { servicenow: sn, defender: df } = initial.counts;
    const tickets = sn.inserted.incident ?? 0;
    log(
      `ot-alerts first: ${s.alerts} alerts → ${tickets} tickets in ${(initial.wallMs / 1000).toFixed(1)} s`,
    );
    const person = await benchPerson(
      (...args) => sandbox.control(...args),
      loadConfigFile(configPath).config.integrations[0]!.servicenow,
    );
    const remembered = await rememberedTickets(storePath);
    const truth = await groundTruth(sandbox, remembered, person);

    // ---- webhook: resolve → alerts closed in Defender ----
    const open = remembered.filter(
      (t) => t.status === 'open' && Object.values(t.alerts).some((a) => a.open && a.writeRef),
    );
    const samples = Math.min(SAMPLES, Math.floor(open.length / 2));
    const viaWebhook = open.slice(0, samples);
    const viaPoll = open.slice(samples, 2 * samples);
    const store = await openStore(storePath);
    const webhook = await timedWebhook({
      control: (...args) => sandbox.control(...args),
      config: loadConfigFile(configPath).config,
      store,
      secret: BENCH_WEBHOOK_SECRET,
      tables: ['incident'],
    });
    const latencies: number[] = [];
    let missing = 0;
    const before = await sandbox.control('defender', 'GET', '/_sandbox/stats');
    for (const [i, ticket] of viaWebhook.entries()) {
      const t = performance.now();
      const record = await resolve(person, ticket, i);
      const handled = await webhook.handled(ticket.sysId, stringValue(record.sys_mod_count));
      if (handled === undefined) missing++;
      else latencies.push(handled - t);
    }
    const after = await sandbox.control('defender', 'GET', '/_sandbox/stats');
    await webhook.close();
    await store.close();
    const webhookOutcomes = await closedOutcomes(sandbox, viaWebhook, 0);
    const webhookAlerts = viaWebhook.reduce(
      (n, t) => n + Object.values(t.alerts).filter((a) => a.open).length,
      0,
    );

    // ---- poll: resolve with the webhook off, then one run ----
    for (const [i, ticket] of viaPoll.entries()) await resolve(person, ticket, samples + i);
    const poll = await measuredSync<Summary>(sandbox.ready, sandbox.agent, configPath, 'ot-alerts');
    const pollOutcomes = await closedOutcomes(sandbox, viaPoll, samples);
    await person.close();

    return {
      flow: 'ot-alerts',
      size,
      latencyMs: benchNetwork().latencyMs,
      jitterMs: benchNetwork().jitterMs,
      records: s.alerts,
      wallMs: Math.round(initial.wallMs),
      recordsPerSec: Math.round(s.alerts / (initial.wallMs / 1000)),
      // The floor: one Table API create per ticket the instance received.
      requests: {
        servicenow: sn.total,
        defender: df.total,
        floor: tickets,
        ratio: round(sn.writes / Math.max(1, tickets), 3),
      },
      peakRssMb: Math.round(initial.peakRssMb),
      noop: {
        wallMs: Math.round(noop.wallMs),
        writes: noop.counts.servicenow.writes + noop.counts.defender.writes,
        requests: noop.counts.servicenow.total + noop.counts.defender.total,
        peakRssMb: Math.round(noop.peakRssMb),
        outcome: noop.summary.outcome,
      },
      replay: null,
      naive: null,
      detail: {
        outcome: s.outcome,
        errors: s.errors,
        problems: s.problems,
        ticketsCreated: tickets,
        reported: { created: s.created, joined: s.joined },
        requestsPerAlert: round((sn.total + df.total) / Math.max(1, s.alerts), 3),
        serviceNowRequestsPerTicket: round(sn.total / Math.max(1, tickets), 3),
        serviceNow: {
          total: sn.total,
          writes: sn.writes,
          reads: sn.total - sn.writes,
          inserted: Object.fromEntries(Object.entries(sn.inserted).filter(([, n]) => n > 0)),
        },
        defender: { total: df.total, writes: df.writes },
        inventorySeconds: round(inventory.wallMs / 1000, 1),
        groundTruth: truth,
      },
      webhookLatency: {
        what: 'person resolves a ticket (PATCH start) → Snowline answered the delivery, its alerts closed in Defender',
        samples: latencies.length,
        missing,
        alerts: webhookAlerts,
        armRequests: after.total - before.total,
        armRequestsPerAlert: round((after.total - before.total) / Math.max(1, webhookAlerts), 3),
        ...webhookOutcomes,
        ...latencyQuantiles(latencies),
      },
      poll: {
        tickets: viaPoll.length,
        seconds: round(poll.wallMs / 1000, 2),
        closedInDefender: poll.summary.closedInDefender,
        defenderRequests: poll.counts.defender.total,
        defenderRequestsPerAlertClosed: round(
          poll.counts.defender.total / Math.max(1, poll.summary.closedInDefender),
          3,
        ),
        serviceNowRequests: poll.counts.servicenow.total,
        ...pollOutcomes,
      },
    };
  } finally {
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: FlowBenchResult[] = [];
for (const size of sizes) {
  log(`ot-alerts benchmark: ${size}…`);
  const result = await measure(size);
  results.push(result);
  report(result, json);
}
writeResults('ot-alerts', results);
