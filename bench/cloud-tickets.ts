/**
 * Benchmark of flow cloud-tickets, the way a user would run it: the sandboxes in their own
 * process (`dist/sandbox/main.js`), Snowline as `snowline sync --job cloud-tickets` in another,
 * timed from outside, with its peak RSS read from /proc; a first run and an unchanged re-run.
 *
 *   npx tsx bench/cloud-tickets.ts [--size demo|large|N[,…]] [--json] [--batch 50] [--sample 10000]
 *
 * `N` is a number of devices (the estate has about two assessments per device; `large`: 200,000
 * assessments, a quarter Unhealthy). Rules: High and Critical → incident, one per
 * (recommendation, subscription), owner from the resource's `owner` tag (the sandbox
 * configuration's demo rule); Medium → problem, one per assessment (grouping none), so that many
 * tickets go through the Batch API. Prints one result per size (one JSON object per line with
 * `--json`) and writes bench/results/<date>-cloud-tickets.json. The floor is the fewest write
 * requests that carry the writes: ceil(tickets / batch) Batch calls plus one governance
 * assignment PUT per covered assessment (ARM has no batch for them). Like bench/ot-inventory.ts,
 * each result also carries:
 *
 * - `replay`: the first run's requests to both sides (journaled by the sandboxes: Batch creates
 *   and reads in ServiceNow, reads and governance assignment PUTs in Defender) replayed as the
 *   flow sends them (ServiceNow's in order on one lane, Defender's `--concurrency` at a time)
 *   against a fresh sandbox; `ratio` is Snowline's wall time over the replay's (target ≤ 1.3).
 * - `naive`: the tickets Snowline left, written one Table API request per ticket, then each
 *   governance assignment with one PUT (`--concurrency` at a time), to a fresh sandbox; `ratio`
 *   is its time over Snowline's (target ≥ 10), `servicenowMs` its ServiceNow side alone,
 *   `sameState` whether the canonical dumps of both sides are equal.
 *
 * Above `--sample` devices (10,000) both run on a sample of that many devices with Snowline timed
 * on the same sample, and say so; `--sample 0` leaves them out. Not a test: nothing here asserts
 * a time.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  benchArgs,
  benchNetwork,
  measuredSync,
  report,
  round,
  startSandbox,
  writeBenchConfig,
  writeResults,
  type FlowBenchResult,
} from './flow-bench.js';
import {
  journal,
  journaled,
  measureWithRatios,
  naiveCopy,
  replayFloor,
  withSandbox,
  type RatioRuns,
} from './harness.js';

const { sizes, json, sample, values } = benchArgs({
  batch: { type: 'string', default: '50' },
  concurrency: { type: 'string', default: '4' },
});
const batchSize = Number(values.batch);
/** Tickets kept in step at once (flows.cloudTickets.concurrency): their assignment PUTs overlap. */
const concurrency = Number(values.concurrency);
/**
 * How the flow sends: ServiceNow's requests in order on one lane (a ticket's update names the
 * sys_id its create minted), governance-assignment PUTs `concurrency` at a time.
 */
const lanes = { servicenow: 1, defender: concurrency };

/** The part of the flow's `--json` summary the benchmark reads. */
interface Summary {
  outcome: string;
  created: number;
  updated: number;
  unchanged: number;
  errors: number;
  covered: number;
  groups: number;
  assignmentsWritten: number;
  directoryProblems: unknown[];
}

const RULES = [
  {
    name: 'high-critical',
    when: { severities: ['High', 'Critical'] },
    table: 'incident',
    grouping: 'recommendation',
    owner: { type: 'tag', value: 'owner' },
  },
  { name: 'medium', when: { severities: ['Medium'] }, table: 'problem', grouping: 'none' },
];

/** ServiceNow tables cloud-tickets writes (its rules open incidents and problems). */
const TICKET_TABLES = ['incident', 'problem'];

/**
 * The flow's runs on one sandbox; `withRatios`, the first run journaled and its replay floor and
 * naive client, each on a fresh sandbox.
 */
async function measure(
  size: string,
  withRatios: boolean,
): Promise<{ result: FlowBenchResult; ratios?: RatioRuns | undefined }> {
  const dir = mkdtempSync(join(tmpdir(), 'snowline-bench-ct-'));
  const sandbox = await startSandbox(size);
  try {
    const configPath = writeBenchConfig(sandbox.ready, dir, {
      cloudTickets: { rules: RULES, batchSize, concurrency },
    });
    if (withRatios) await journal(sandbox, true);
    const initial = await measuredSync<Summary>(sandbox.ready, sandbox.agent, configPath, 'cloud-tickets');
    const requests = withRatios ? await journaled(sandbox) : undefined;
    if (withRatios) await journal(sandbox, false);
    const noop = await measuredSync<Summary>(sandbox.ready, sandbox.agent, configPath, 'cloud-tickets');
    const s = initial.summary;
    const { servicenow: sn, defender: df } = initial.counts;
    // What the sandboxes received, not what Snowline reports: tickets inserted, assignments PUT.
    const tickets = TICKET_TABLES.reduce((n, t) => n + (sn.inserted[t] ?? 0), 0);
    const assignments = df.assignmentsWritten;
    const floor = Math.ceil(tickets / batchSize) + assignments;
    const parts = { tables: TICKET_TABLES, governanceAssignments: true };
    const ratios = requests && {
      snowlineMs: initial.wallMs,
      naive: await withSandbox(size, (fresh) => naiveCopy(sandbox, fresh, { ...parts, lanes })),
      replay: await withSandbox(size, (fresh) =>
        replayFloor(fresh, requests, lanes, { ...parts, recorded: sandbox }),
      ),
    };
    const result: FlowBenchResult = {
      flow: 'cloud-tickets',
      size,
      latencyMs: benchNetwork().latencyMs,
      jitterMs: benchNetwork().jitterMs,
      records: s.covered,
      wallMs: Math.round(initial.wallMs),
      recordsPerSec: Math.round(s.covered / (initial.wallMs / 1000)),
      requests: {
        servicenow: sn.total,
        defender: df.total,
        floor,
        ratio: round((sn.writes + df.writes) / floor, 3),
      },
      peakRssMb: Math.round(initial.peakRssMb),
      noop: {
        wallMs: Math.round(noop.wallMs),
        writes: noop.counts.servicenow.writes + noop.counts.defender.writes,
      },
      detail: {
        batchSize,
        outcome: s.outcome,
        errors: s.errors,
        ticketsCreated: tickets,
        groups: s.groups,
        assignmentsWritten: assignments,
        reported: { created: s.created, assignmentsWritten: s.assignmentsWritten },
        directoryProblems: s.directoryProblems.length,
        serviceNow: { ...sn, reads: sn.total - sn.writes },
        defender: { ...df, reads: df.total - df.writes },
        serviceNowRequestsPerTicket: round(sn.total / tickets, 3),
        serviceNowWritesPerTicket: round(sn.writes / tickets, 4),
        defenderRequestsPerAssignment: round(df.total / assignments, 3),
        defenderWritesPerAssignment: round(df.writes / assignments, 3),
        noop: {
          ofInitial: round(noop.wallMs / initial.wallMs, 3),
          outcome: noop.summary.outcome,
          serviceNowRequests: noop.counts.servicenow.total,
          defenderRequests: noop.counts.defender.total,
          unchanged: noop.summary.unchanged,
          peakRssMb: Math.round(noop.peakRssMb),
        },
      },
    };
    return { result, ratios };
  } finally {
    await sandbox.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const results: FlowBenchResult[] = [];
for (const size of sizes) {
  process.stderr.write(`cloud-tickets benchmark: ${size}…\n`);
  const { main, replay, naive } = await measureWithRatios(size, sample, measure);
  const result = { ...main.result, replay, naive };
  results.push(result);
  report(result, json);
}
writeResults('cloud-tickets', results);
