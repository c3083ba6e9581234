import type { Flow } from '../../domain/flows.js';
import { FLOWS } from '../../domain/flows.js';
import { countPlan, type Plan, type PlanAction } from '../../domain/plan.js';
import { formatPurdueLevel } from '../../domain/ot/purdue.js';
import type { LedgerEventRow, RunFlowRow, RunRow } from '../../store/schema.js';
import { LineChart } from './chart.js';
import type { Attention, FlowRun, LiveCounts, Snapshot } from './data.js';
import { CsrfField, duration, External, href, Layout, Stat, when, type PageContext } from './layout.js';

/** The sign-in page: one field for an API token (from `api.tokens`). */
export function LoginPage(props: { error?: string }) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <title>Sign in · Snowline</title>
        <link rel="stylesheet" href="/assets/dashboard.css" />
      </head>
      <body>
        <main class="login">
          <h1>Snowline</h1>
          <form method="post" action="/login">
            <label>
              API token
              <input type="password" name="token" autocomplete="current-password" required />
            </label>
            <button type="submit">Sign in</button>
          </form>
          {props.error ? (
            <p class="error" role="alert">
              {props.error}
            </p>
          ) : null}
          <p class="hint">Use one of the tokens listed under api.tokens in the configuration.</p>
        </main>
      </body>
    </html>
  );
}

const SEVERITY_ORDER = ['Critical', 'High', 'Medium', 'Low', 'None', 'unset'];

function severities(...records: Record<string, number>[]): string[] {
  const seen = new Set(records.flatMap((r) => Object.keys(r)));
  return [...seen].sort((a, b) => {
    const ia = SEVERITY_ORDER.indexOf(a);
    const ib = SEVERITY_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
}

function sum(record: Record<string, number>): number {
  return Object.values(record).reduce((a, b) => a + b, 0);
}

function seriesOf(history: readonly Snapshot[], pick: (s: Snapshot) => Record<string, number>) {
  return severities(...history.map(pick)).map((label) => ({
    label,
    values: history.map((s) => pick(s)[label] ?? 0),
  }));
}

/** Overview: last run per flow, what needs attention, counts now and over time. */
export function OverviewPage(props: {
  page: PageContext;
  lastRuns: ReadonlyMap<Flow, FlowRun>;
  attention: readonly Attention[];
  devices: number;
  sensors: number;
  live: LiveCounts | { error: string };
  history: readonly Snapshot[];
}) {
  const { page, live } = props;
  const points = props.history.map((s) => when(s.takenAt).slice(5, 16));
  return (
    <Layout page={page} title="Overview">
      <section>
        <h2>Last run per flow</h2>
        <table data-testid="last-runs">
          <thead>
            <tr>
              <th>Flow</th>
              <th>Outcome</th>
              <th>Started</th>
              <th>Created</th>
              <th>Updated</th>
              <th>Unchanged</th>
              <th>Retired</th>
              <th>Resolved</th>
              <th>Deleted</th>
              <th>Errors</th>
              <th>Duration</th>
            </tr>
          </thead>
          <tbody>
            {FLOWS.map((flow) => {
              const run = props.lastRuns.get(flow);
              if (!run)
                return (
                  <tr data-flow={flow}>
                    <td>{flow}</td>
                    <td colspan={10}>never run</td>
                  </tr>
                );
              return (
                <tr data-flow={flow}>
                  <td>
                    <a href={href(page, `/runs/${run.run_id}`)}>{flow}</a>
                  </td>
                  <td class={`outcome ${run.outcome}`}>{run.outcome}</td>
                  <td>{when(run.started_at)}</td>
                  <td data-counter="created">{run.created}</td>
                  <td data-counter="updated">{run.updated}</td>
                  <td data-counter="unchanged">{run.unchanged}</td>
                  <td data-counter="retired">{run.retired}</td>
                  <td data-counter="resolved">{run.resolved}</td>
                  <td data-counter="deleted">{run.deleted}</td>
                  <td data-counter="errors">{run.errors}</td>
                  <td>{duration(run.duration_ms)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </section>
      <section>
        <h2>Now</h2>
        <div class="stats">
          <Stat label="OT devices in the CMDB" value={props.devices} testid="devices" />
          <Stat label="sensors" value={props.sensors} testid="sensors" />
          {'error' in live ? (
            <p class="error">{`ServiceNow could not be read: ${live.error}`}</p>
          ) : (
            <>
              <Stat label="open vulnerable items" value={sum(live.openVulnerableItems)} testid="open-items" />
              <Stat label="open tickets" value={sum(live.openTickets)} testid="open-tickets" />
            </>
          )}
        </div>
        {'error' in live ? null : (
          <table data-testid="by-severity">
            <thead>
              <tr>
                <th>Severity</th>
                <th>Open vulnerable items</th>
                <th>Open tickets</th>
              </tr>
            </thead>
            <tbody>
              {severities(live.openVulnerableItems, live.openTickets).map((s) => (
                <tr data-severity={s}>
                  <td>{s}</td>
                  <td data-counter="items">{live.openVulnerableItems[s] ?? 0}</td>
                  <td data-counter="tickets">{live.openTickets[s] ?? 0}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <section class="charts">
        <h2>Over time (one point per run)</h2>
        <LineChart
          title="Open vulnerable items by severity"
          points={points}
          series={seriesOf(props.history, (s) => s.openVulnerableItems)}
          testid="chart-items"
        />
        <LineChart
          title="Open tickets by severity"
          points={points}
          series={seriesOf(props.history, (s) => s.openTickets)}
          testid="chart-tickets"
        />
      </section>
      <section>
        <h2>Needs attention</h2>
        {props.attention.length === 0 ? (
          <p data-testid="attention-none">Nothing: the last run of every flow went through without errors.</p>
        ) : (
          <table data-testid="attention">
            <tbody>
              {props.attention.map((a) => (
                <tr>
                  <td>{a.flow}</td>
                  <td>{when(a.at)}</td>
                  <td>{a.what}</td>
                  <td>{a.runId ? <a href={href(page, `/runs/${a.runId}`)}>run</a> : null}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </Layout>
  );
}

/** A device as the inventory shows it. */
export interface InventoryDevice {
  readonly key: string;
  readonly name: string;
  readonly type: string;
  readonly site: string;
  readonly zone: string;
  readonly level: string;
  readonly ciUrl?: string;
  readonly retired: boolean;
}

/** A sensor as the inventory shows it. */
export interface InventorySensor {
  readonly name: string;
  readonly zone: string;
  readonly connection: string;
  readonly learning: string;
  readonly ciUrl?: string;
}

/** Purdue levels from the top (Enterprise) down to the field. */
/** The Purdue model's levels, as the CMDB holds them (`purdue_level`, one decimal). */
const PURDUE_LEVELS = [0, 1, 2, 3, 4, 5].map((n) => formatPurdueLevel(n)!);

function levelOrder(a: string, b: string): number {
  const na = Number(a);
  const nb = Number(b);
  if (Number.isNaN(na) || Number.isNaN(nb)) return Number.isNaN(na) ? 1 : -1;
  return nb - na;
}

/** OT inventory: the Purdue view, sensors, and sites → zones → devices. */
export function InventoryPage(props: {
  page: PageContext;
  devices: readonly InventoryDevice[];
  sensors: readonly InventorySensor[];
  liveError?: string;
  limitPerZone: number;
}) {
  const active = props.devices.filter((d) => !d.retired);
  const types = [...new Set(active.map((d) => d.type))].sort();
  // Every level of the Purdue model (0–5) has its band, empty ones too, so the view reads as the
  // model; levels outside it (3.5, unknown) join them when devices carry them.
  const levels = [...new Set([...PURDUE_LEVELS, ...active.map((d) => d.level)])].sort(levelOrder);
  const count = (level: string, type?: string) =>
    active.filter((d) => d.level === level && (type === undefined || d.type === type)).length;
  const tree = new Map<string, Map<string, InventoryDevice[]>>();
  for (const d of props.devices) {
    const zones = tree.get(d.site) ?? new Map<string, InventoryDevice[]>();
    tree.set(d.site, zones);
    zones.set(d.zone, [...(zones.get(d.zone) ?? []), d]);
  }
  return (
    <Layout page={props.page} title="OT inventory">
      {props.liveError ? <p class="error">{`ServiceNow could not be read: ${props.liveError}`}</p> : null}
      <section>
        <h2>Purdue view</h2>
        <div class="purdue" data-testid="purdue">
          {levels.map((level) => (
            <div class="band" data-level={level}>
              <div class="band-name">
                {level === 'unknown' ? 'Level unknown' : `Level ${level}`}
                <span class="band-total" data-testid={`level-${level}`}>
                  {String(count(level))}
                </span>
              </div>
              <ul>
                {types
                  .filter((t) => count(level, t) > 0)
                  .map((t) => (
                    <li data-type={t}>
                      {`${t}: `}
                      <span class="n">{String(count(level, t))}</span>
                    </li>
                  ))}
              </ul>
            </div>
          ))}
        </div>
      </section>
      <section>
        <h2>Sensors</h2>
        <table data-testid="sensors">
          <thead>
            <tr>
              <th>Sensor</th>
              <th>Zone</th>
              <th>Connection</th>
              <th>Learning mode</th>
            </tr>
          </thead>
          <tbody>
            {props.sensors.map((s) => (
              <tr data-sensor={s.name}>
                <td>{s.ciUrl ? <External href={s.ciUrl}>{s.name}</External> : s.name}</td>
                <td>{s.zone}</td>
                <td data-field="connection">{s.connection}</td>
                <td data-field="learning">{s.learning}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <section>
        <h2>Sites, zones and devices</h2>
        {[...tree.entries()]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([site, zones]) => (
            <details open data-site={site}>
              <summary>{`${site} (${[...zones.values()].reduce((n, z) => n + z.length, 0)} devices)`}</summary>
              {[...zones.entries()]
                .sort(([a], [b]) => a.localeCompare(b))
                .map(([zone, devices]) => (
                  <details data-zone={zone}>
                    <summary>{`${zone} (${devices.length})`}</summary>
                    <table>
                      <tbody>
                        {devices.slice(0, props.limitPerZone).map((d) => (
                          <tr data-device={d.key}>
                            <td>{d.ciUrl ? <External href={d.ciUrl}>{d.name}</External> : d.name}</td>
                            <td>{d.type}</td>
                            <td>{`Purdue ${d.level}`}</td>
                            <td>{d.retired ? 'retired' : ''}</td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                    {devices.length > props.limitPerZone ? (
                      <p>{`and ${devices.length - props.limitPerZone} more`}</p>
                    ) : null}
                  </details>
                ))}
            </details>
          ))}
      </section>
    </Layout>
  );
}

/** One vulnerable item as the vulnerability page shows it. */
export interface VulnerabilityRow {
  readonly number: string;
  readonly cve: string;
  readonly device: string;
  readonly state: string;
  readonly severity: string;
  readonly firstFound: string;
  readonly lastFound: string;
  readonly url: string;
}

/** Vulnerabilities, by CVE or by device. */
export function VulnerabilitiesPage(props: {
  page: PageContext;
  by: 'cve' | 'device';
  rows: readonly VulnerabilityRow[];
  liveError?: string;
}) {
  const groups = new Map<string, VulnerabilityRow[]>();
  for (const row of props.rows) {
    const key = props.by === 'cve' ? row.cve : row.device;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  return (
    <Layout page={props.page} title="Vulnerabilities">
      <p>
        {'Group by: '}
        <a href={href(props.page, '/vulnerabilities?by=cve')}>CVE</a>
        {' · '}
        <a href={href(props.page, '/vulnerabilities?by=device')}>device</a>
      </p>
      {props.liveError ? <p class="error">{`ServiceNow could not be read: ${props.liveError}`}</p> : null}
      <p data-testid="vulnerability-total">{`${props.rows.length} vulnerable items`}</p>
      {[...groups.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([key, rows]) => (
          <details data-group={key}>
            <summary>{`${key}: ${rows.length} (${rows.filter((r) => r.state !== 'Closed').length} open)`}</summary>
            <table>
              <thead>
                <tr>
                  <th>Item</th>
                  <th>{props.by === 'cve' ? 'Device' : 'CVE'}</th>
                  <th>State</th>
                  <th>Severity</th>
                  <th>First found</th>
                  <th>Last found</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr>
                    <td>
                      <External href={r.url}>{r.number}</External>
                    </td>
                    <td>{props.by === 'cve' ? r.device : r.cve}</td>
                    <td>{r.state}</td>
                    <td>{r.severity}</td>
                    <td>{r.firstFound}</td>
                    <td>{r.lastFound}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </details>
        ))}
    </Layout>
  );
}

/** One ticket with both of its sides. */
export interface TicketRow {
  readonly number: string;
  readonly table: string;
  readonly serviceNowState: string;
  readonly owner: string;
  readonly dueDate: string;
  readonly snowlineStatus: string;
  readonly defenderStatus: string;
  readonly ticketUrl: string;
  readonly recommendations: readonly { assessmentId: string; portalUrl?: string; assignment: string }[];
}

/** Tickets: state on both sides, owner, due date, linked recommendations and resources. */
export function TicketsPage(props: { page: PageContext; tickets: readonly TicketRow[]; liveError?: string }) {
  return (
    <Layout page={props.page} title="Tickets">
      {props.liveError ? <p class="error">{`ServiceNow could not be read: ${props.liveError}`}</p> : null}
      <table data-testid="tickets">
        <thead>
          <tr>
            <th>Ticket</th>
            <th>ServiceNow state</th>
            <th>Owner</th>
            <th>Due</th>
            <th>Defender (governance assignment)</th>
            <th>Recommendations and resources</th>
          </tr>
        </thead>
        <tbody>
          {props.tickets.map((t) => (
            <tr data-ticket={t.number}>
              <td>
                <External href={t.ticketUrl} testid="servicenow-link">
                  {t.number}
                </External>
                <div class="sub">{t.table}</div>
              </td>
              <td data-field="state">{t.serviceNowState}</td>
              <td data-field="owner">{t.owner}</td>
              <td>{t.dueDate}</td>
              <td data-field="defender">
                {t.defenderStatus}
                <div class="sub">{`Snowline: ${t.snowlineStatus}`}</div>
              </td>
              <td>
                <ul>
                  {t.recommendations.map((r) => (
                    <li>
                      {r.portalUrl ? (
                        <External href={r.portalUrl} testid="azure-link">
                          {r.assessmentId}
                        </External>
                      ) : (
                        r.assessmentId
                      )}
                      <div class="sub">{r.assignment}</div>
                    </li>
                  ))}
                </ul>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </Layout>
  );
}

function RunButtons(props: { page: PageContext }) {
  return (
    <div class="run-buttons">
      <form
        method="post"
        action={href(props.page, '/runs/dry-run')}
        hx-post={href(props.page, '/runs/dry-run')}
        hx-target="#plan"
        hx-swap="innerHTML"
        hx-indicator="#busy"
      >
        <CsrfField csrf={props.page.csrf} />
        <button type="submit" data-testid="dry-run">
          Dry run (plan only)
        </button>
      </form>
      <form method="post" action={href(props.page, '/runs/run-now')}>
        <CsrfField csrf={props.page.csrf} />
        <button type="submit" data-testid="run-now">
          Run now
        </button>
      </form>
      <span id="busy" class="htmx-indicator">
        working…
      </span>
    </div>
  );
}

/** Runs: dry-run and run-now buttons, the filterable list. */
export function RunsPage(props: {
  page: PageContext;
  runs: readonly (RunRow & { flows: string })[];
  filter: { flow?: string; status?: string; dry?: string };
  plan?: Plan;
  message?: string;
}) {
  const { page, filter } = props;
  return (
    <Layout page={page} title="Runs">
      <RunButtons page={page} />
      {props.message ? <p class="message">{props.message}</p> : null}
      <div id="plan">{props.plan ? <PlanView plan={props.plan} /> : null}</div>
      <form method="get" class="filters">
        {page.integrationIds.length > 1 ? (
          <input type="hidden" name="integration" value={page.integrationId} />
        ) : null}
        <label>
          Flow
          <select name="flow">
            <option value="">any</option>
            {FLOWS.map((f) => (
              <option value={f} selected={filter.flow === f}>
                {f}
              </option>
            ))}
          </select>
        </label>
        <label>
          Outcome
          <select name="status">
            <option value="">any</option>
            {['ok', 'deferred', 'failed', 'running'].map((s) => (
              <option value={s} selected={filter.status === s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Kind
          <select name="dry">
            <option value="">any</option>
            <option value="0" selected={filter.dry === '0'}>
              real runs
            </option>
            <option value="1" selected={filter.dry === '1'}>
              dry runs
            </option>
          </select>
        </label>
        <button type="submit">Filter</button>
      </form>
      <table data-testid="runs">
        <thead>
          <tr>
            <th>Started</th>
            <th>Trigger</th>
            <th>Kind</th>
            <th>Flows</th>
            <th>Outcome</th>
            <th>Finished</th>
          </tr>
        </thead>
        <tbody>
          {props.runs.map((r) => (
            <tr data-run={r.id}>
              <td>
                <a href={href(page, `/runs/${r.id}`)}>{when(r.started_at)}</a>
              </td>
              <td>{r.trigger}</td>
              <td>{r.dry_run ? 'dry run' : 'run'}</td>
              <td>{r.flows}</td>
              <td class={`outcome ${r.status}`}>{r.status}</td>
              <td>{when(r.finished_at)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </Layout>
  );
}

const PLAN_ROWS = 500;

/** A plan: counts per flow and action, then its actions with their reasons (the first {@link PLAN_ROWS}). */
export function PlanView(props: { plan: Plan; runId?: string }) {
  const { plan } = props;
  const byFlow = new Map<string, PlanAction[]>();
  for (const a of plan.actions) byFlow.set(a.flow, [...(byFlow.get(a.flow) ?? []), a]);
  const kinds = [
    'create',
    'update',
    'retire',
    'revive',
    'resolve',
    'reopen',
    'delete',
    'skip',
    'error',
  ] as const;
  return (
    <section class="plan" data-testid="plan">
      <h2>{`Plan of ${plan.actions.length} decisions (dry run${props.runId ? ` ${props.runId}` : ''}, nothing written)`}</h2>
      <table data-testid="plan-counts">
        <thead>
          <tr>
            <th>Flow</th>
            {kinds.map((k) => (
              <th>{k}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {[...byFlow.entries()].map(([flow, actions]) => {
            const counts = countPlan({ actions });
            return (
              <tr data-flow={flow}>
                <td>{flow}</td>
                {kinds.map((k) => (
                  <td data-action={k}>{counts[k]}</td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
      <table data-testid="plan-actions">
        <thead>
          <tr>
            <th>Flow</th>
            <th>Side</th>
            <th>Action</th>
            <th>Entity</th>
            <th>Key</th>
            <th>Why</th>
          </tr>
        </thead>
        <tbody>
          {plan.actions.slice(0, PLAN_ROWS).map((a) => (
            <tr>
              <td>{a.flow}</td>
              <td>{a.side}</td>
              <td>{a.action}</td>
              <td>{a.entity}</td>
              <td>{a.key}</td>
              <td>{a.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {plan.actions.length > PLAN_ROWS ? (
        <p>{`and ${plan.actions.length - PLAN_ROWS} more decisions`}</p>
      ) : null}
    </section>
  );
}

/** One run: its flows' counters and its ledger events, filterable by action, side, flow and entity. */
export function RunPage(props: {
  page: PageContext;
  run: RunRow;
  flows: readonly RunFlowRow[];
  events: readonly LedgerEventRow[];
  total: number;
  filter: { action?: string; side?: string; flow?: string; entity?: string };
}) {
  const { page, run, filter } = props;
  const actions = ['create', 'update', 'retire', 'revive', 'resolve', 'reopen', 'delete', 'skip', 'error'];
  return (
    <Layout page={page} title={`Run ${run.id}`}>
      <p>
        {`${run.dry_run ? 'Dry run' : 'Run'} started ${when(run.started_at)} by ${run.trigger}, `}
        <span class={`outcome ${run.status}`}>{run.status}</span>
        {run.finished_at ? `, finished ${when(run.finished_at)}` : ''}
      </p>
      {run.error ? <p class="error">{run.error}</p> : null}
      <table data-testid="run-flows">
        <thead>
          <tr>
            <th>Flow</th>
            <th>Outcome</th>
            <th>Created</th>
            <th>Updated</th>
            <th>Unchanged</th>
            <th>Retired</th>
            <th>Resolved</th>
            <th>Deleted</th>
            <th>Errors</th>
            <th>Requests (ServiceNow / Defender)</th>
            <th>Duration</th>
          </tr>
        </thead>
        <tbody>
          {props.flows.map((f) => (
            <tr data-flow={f.flow}>
              <td>{flowLabel(f)}</td>
              <td class={`outcome ${f.outcome}`}>{f.outcome}</td>
              <td>{f.created}</td>
              <td>{f.updated}</td>
              <td>{f.unchanged}</td>
              <td>{f.retired}</td>
              <td>{f.resolved}</td>
              <td>{f.deleted}</td>
              <td>{f.errors}</td>
              <td>{`${f.requests_servicenow} / ${f.requests_defender}`}</td>
              <td>{duration(f.duration_ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Ledger</h2>
      {run.dry_run ? <p>A dry run writes nothing, so it has no ledger events.</p> : null}
      <form method="get" class="filters">
        {page.integrationIds.length > 1 ? (
          <input type="hidden" name="integration" value={page.integrationId} />
        ) : null}
        <label>
          Action
          <select name="action">
            <option value="">any</option>
            {actions.map((a) => (
              <option value={a} selected={filter.action === a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label>
          Side
          <select name="side">
            <option value="">any</option>
            {['servicenow', 'defender', 'local'].map((s) => (
              <option value={s} selected={filter.side === s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Flow
          <select name="flow">
            <option value="">any</option>
            {FLOWS.map((f) => (
              <option value={f} selected={filter.flow === f}>
                {f}
              </option>
            ))}
          </select>
        </label>
        <label>
          Entity
          <input name="entity" value={filter.entity ?? ''} />
        </label>
        <button type="submit">Filter</button>
      </form>
      <p data-testid="ledger-total">{`${props.total} events`}</p>
      <table data-testid="ledger">
        <thead>
          <tr>
            <th>At</th>
            <th>Flow</th>
            <th>Side</th>
            <th>Action</th>
            <th>Entity</th>
            <th>Key</th>
            <th>Remote id</th>
            <th>Reason</th>
          </tr>
        </thead>
        <tbody>
          {props.events.map((e) => (
            <tr data-action={e.action}>
              <td>{when(e.at)}</td>
              <td>{e.flow}</td>
              <td>{e.side}</td>
              <td>{e.action}</td>
              <td>{e.entity}</td>
              <td>{e.entity_key}</td>
              <td>{e.remote_id ?? ''}</td>
              <td>{e.reason}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {props.total > props.events.length ? (
        <p>{`showing the first ${props.events.length}; filter to narrow`}</p>
      ) : null}
    </Layout>
  );
}

/** A run's flow row by name, with the part of a split flow it was (its summary's `part`), if any. */
function flowLabel(row: RunFlowRow): string {
  const part = row.extra ? (JSON.parse(row.extra) as { part?: unknown }).part : undefined;
  return typeof part === 'string' ? `${row.flow} (part ${part})` : row.flow;
}
