import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Hono, type Context } from 'hono';
import type { IntegrationConfig } from '../../config/schema.js';
import type { Clock } from '../../domain/clock.js';
import { FLOWS, isFlow } from '../../domain/flows.js';
import type { Logger } from '../../logging.js';
import { assignmentMemory, ticketMemory, type TicketMemory } from '../../sync/cloud-tickets/memory.js';
import type { RunDispatcher } from '../../sync/kernel/dispatch.js';
import { SecretScrubber } from '../../secrets.js';
import { getRun } from '../../store/models/runs.js';
import { otAlertsFlow } from '../../sync/ot-alerts/flow.js';
import { alertTicketsPage } from '../../sync/ot-alerts/memory.js';
import { OtAlertsPage } from './ot-alerts-page.js';
import type { Store } from '../../store/store.js';
import { NotFoundError } from '../../errors.js';
import {
  endSession,
  isSameOrigin,
  isValidToken,
  requireSession,
  startSession,
  type SessionVariables,
} from './auth.js';
import { DASHBOARD_CSS } from './css.js';
import {
  allLinks,
  entityStates,
  field,
  findRuns,
  lastRunPerFlow,
  liveCounts,
  needsAttention,
  recordSnapshot,
  recordsById,
  recordsByPrefix,
  runEvents,
  snapshots,
  stateLabel,
  withServiceNow,
  type LiveCounts,
} from './data.js';
import type { PageContext } from './layout.js';
import {
  InventoryPage,
  LoginPage,
  OverviewPage,
  PlanView,
  RunPage,
  RunsPage,
  TicketsPage,
  VulnerabilitiesPage,
  type InventoryDevice,
  type InventorySensor,
  type TicketRow,
  type VulnerabilityRow,
} from './pages.js';
import { deviceMemory } from '../../sync/ot-inventory/memory.js';
import { detectionSourceOf } from '../../sync/ot-vulnerabilities/config.js';

/** What the dashboard needs from `snowline serve` (or a test). */
export interface DashboardDeps {
  readonly store: Store;
  /** The configured integrations; the first is shown unless `?integration=` names another. */
  readonly integrations: readonly IntegrationConfig[];
  /** Tokens accepted at sign-in (`api.tokens`). */
  readonly apiTokens: readonly string[];
  /** Where the Dry run and Run now buttons send their runs. */
  readonly dispatcher: RunDispatcher;
  readonly clock: Clock;
  /** Every secret value of the configuration (`LoadedConfig.secrets`): scrubbed from every page as a last net. */
  readonly secrets?: readonly string[];
  /** Base of the Azure portal links; default `https://portal.azure.com`. */
  readonly azurePortalUrl?: string;
  readonly logger?: Logger;
}

const require = createRequire(import.meta.url);

/** htmx 2 from node_modules, read once: the dashboard works offline and never loads a CDN. */
function htmxSource(): string {
  return readFileSync(require.resolve('htmx.org/dist/htmx.min.js'), 'utf8');
}

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/** Devices shown per zone in the inventory tree (the Purdue view counts all of them). */
const DEVICES_PER_ZONE = 500;

/**
 * The web dashboard as a hono sub-app, to be mounted at `/` by `snowline serve`. Server-rendered
 * with hono/jsx; htmx is served from `/assets/`. Every page needs a session: sign in at `/login`
 * with an API token, kept in an HTTP-only SameSite=Strict cookie. Every POST is checked for its
 * origin and CSRF token.
 *
 * @example
 * app.route('/', dashboardRoutes({ store, integrations: config.integrations, apiTokens: config.api.tokens, dispatcher, clock }));
 */
export function dashboardRoutes(deps: DashboardDeps): Hono {
  const app = new Hono<{ Variables: SessionVariables }>();
  const scrubber = new SecretScrubber([...(deps.secrets ?? []), ...deps.apiTokens]);
  const portal = (deps.azurePortalUrl ?? 'https://portal.azure.com').replace(/\/$/, '');
  const htmx = htmxSource();

  app.use('*', async (c, next) => {
    await next();
    c.header('content-security-policy', CSP);
    c.header('x-content-type-options', 'nosniff');
    c.header('referrer-policy', 'same-origin');
    c.header('cache-control', c.req.path.startsWith('/assets/') ? 'public, max-age=3600' : 'no-store');
  });

  /** Renders a page, with any secret that slipped into its text replaced (a net under the net). */
  const render = async (c: Context, node: unknown, status: 200 | 400 | 404 | 502 = 200) =>
    c.html(scrubber.scrub(`<!doctype html>${await String(node)}`), status);
  const fragment = async (c: Context, node: unknown) => c.html(scrubber.scrub(await String(node)));

  app.get('/assets/htmx.min.js', (c) =>
    c.body(htmx, 200, { 'content-type': 'text/javascript; charset=utf-8' }),
  );
  app.get('/assets/dashboard.css', (c) =>
    c.body(DASHBOARD_CSS, 200, { 'content-type': 'text/css; charset=utf-8' }),
  );

  app.get('/login', (c) => render(c, <LoginPage />));
  app.post('/login', async (c) => {
    if (!isSameOrigin(c)) return c.text('refused: this request came from another site', 403);
    const body = await c.req.parseBody();
    const token = typeof body.token === 'string' ? body.token : undefined;
    if (!isValidToken(deps.apiTokens, token)) {
      return render(
        c,
        <LoginPage error="That token is not one of api.tokens. Check the configuration." />,
        400,
      );
    }
    startSession(c, token!);
    return c.redirect('/', 303);
  });

  app.use('*', requireSession(deps.apiTokens));

  app.post('/logout', (c) => {
    endSession(c);
    return c.redirect('/login', 303);
  });

  const pageOf = (
    c: Context<{ Variables: SessionVariables }>,
  ): PageContext & { integration: IntegrationConfig } => {
    const wanted = c.req.query('integration');
    const integration = deps.integrations.find((i) => i.id === wanted) ?? deps.integrations[0];
    if (!integration) throw new Error('the dashboard needs at least one integration in the configuration');
    return {
      csrf: c.get('csrf'),
      integrationIds: deps.integrations.map((i) => i.id),
      integrationId: integration.id,
      integration,
    };
  };

  /** Reads the instance; a failure is shown on the page instead of failing it (the store part still shows). */
  const live = async <T,>(integration: IntegrationConfig, fn: Parameters<typeof withServiceNow<T>>[2]) => {
    try {
      return { value: await withServiceNow(integration, deps.clock, fn) };
    } catch (error) {
      deps.logger?.warn({ err: error, integration: integration.id }, 'dashboard could not read ServiceNow');
      return { error: scrubber.scrub(error instanceof Error ? error.message : String(error)) };
    }
  };

  app.get('/', async (c) => {
    const page = pageOf(c);
    const id = page.integrationId;
    const lastRuns = await lastRunPerFlow(deps.store, id);
    const attention = await needsAttention(deps.store, id, lastRuns);
    const devices = (await entityStates(deps.store, id, 'ot-inventory', 'device')).filter(
      (d) =>
        d.retired_at === null &&
        !deviceMemory({ store: deps.store, integrationId: id }).parse(d.data)?.deleted,
    ).length;
    const sensors = (await entityStates(deps.store, id, 'ot-inventory', 'sensor')).length;
    const counts = await live(page.integration, (client) => liveCounts(client, page.integration));
    if (counts.value) await recordSnapshot(deps.store, deps.clock, id, counts.value);
    const history = await snapshots(deps.store, id);
    return render(
      c,
      <OverviewPage
        page={page}
        lastRuns={lastRuns}
        attention={attention}
        devices={devices}
        sensors={sensors}
        live={counts.value ?? ({ error: counts.error } as { error: string } | LiveCounts)}
        history={history}
      />,
    );
  });

  app.get('/inventory', async (c) => {
    const page = pageOf(c);
    const id = page.integrationId;
    const deviceStates = await entityStates(deps.store, id, 'ot-inventory', 'device');
    const sensorStates = await entityStates(deps.store, id, 'ot-inventory', 'sensor');
    const instance = page.integration.servicenow.instanceUrl.replace(/\/$/, '');
    const ciUrl = (table: string | null, sysId: string | null) =>
      table && sysId
        ? `${instance}/nav_to.do?uri=${encodeURIComponent(`${table}.do?sys_id=${sysId}`)}`
        : undefined;
    const read = await live(page.integration, async (client) => {
      const levels = new Map<string, string>();
      for (const row of await recordsByPrefix(
        client,
        'cmdb_ot_entity',
        // "OT discovery source ID" (sgc-microsoft-d4iot-azure-classes.md), where ot-inventory writes the device's key.
        'ot_correlation_id',
        `${id}:device:`,
        ['ot_device', 'purdue_level'],
      )) {
        levels.set(field(row, 'ot_device').value, field(row, 'purdue_level').value);
      }
      const nids = await recordsById(
        client,
        'cmdb_ci_nids',
        sensorStates.map((s) => s.remote_sys_id).filter((s): s is string => !!s),
        ['name', 'zone', 'connection_state', 'life_cycle_stage_status'],
      );
      return { levels, nids };
    });
    const devices: InventoryDevice[] = deviceStates.map((state) => {
      const memory = deviceMemory({ store: deps.store, integrationId: page.integrationId }).parse(state.data);
      return {
        key: state.source_key,
        name: memory?.name ?? state.source_key,
        type: memory?.deviceType ?? 'unknown',
        site: memory?.site ?? '(no site)',
        zone: memory?.zone ?? '(no zone)',
        level: (state.remote_sys_id && read.value?.levels.get(state.remote_sys_id)) || 'unknown',
        ...(ciUrl(state.remote_table, state.remote_sys_id)
          ? { ciUrl: ciUrl(state.remote_table, state.remote_sys_id)! }
          : {}),
        retired: state.retired_at !== null || memory?.deleted === true,
      };
    });
    const sensors: InventorySensor[] = sensorStates.map((state) => {
      const record = state.remote_sys_id ? read.value?.nids.get(state.remote_sys_id) : undefined;
      // A reference to life_cycle_stage_status: its display value is the status name.
      const learning = record ? field(record, 'life_cycle_stage_status').display : '';
      return {
        name: record ? field(record, 'name').display : state.source_key,
        zone: record ? field(record, 'zone').display : '',
        connection: record ? field(record, 'connection_state').display || 'unknown' : 'unknown',
        learning: /^learning( mode)?$/i.test(learning) ? 'yes' : learning ? 'no' : 'unknown',
        ...(ciUrl(state.remote_table, state.remote_sys_id)
          ? { ciUrl: ciUrl(state.remote_table, state.remote_sys_id)! }
          : {}),
      };
    });
    return render(
      c,
      <InventoryPage
        page={page}
        devices={devices}
        sensors={sensors}
        limitPerZone={DEVICES_PER_ZONE}
        {...(read.error ? { liveError: read.error } : {})}
      />,
    );
  });

  app.get('/vulnerabilities', async (c) => {
    const page = pageOf(c);
    const by = c.req.query('by') === 'device' ? 'device' : 'cve';
    const config = page.integration.flows.otVulnerabilities;
    const instance = page.integration.servicenow.instanceUrl.replace(/\/$/, '');
    const read = config
      ? await live(page.integration, (client) =>
          recordsByPrefix(client, 'sn_vul_vulnerable_item', 'source', detectionSourceOf(config), [
            'number',
            'state',
            'severity',
            'first_found',
            'last_found',
            'cmdb_ci',
            'vulnerability',
          ]),
        )
      : { value: [] };
    const rows: VulnerabilityRow[] = (read.value ?? []).map((r) => ({
      number: field(r, 'number').display,
      cve: field(r, 'vulnerability').display || field(r, 'vulnerability').value,
      device: field(r, 'cmdb_ci').display || field(r, 'cmdb_ci').value,
      state: field(r, 'state').display,
      severity: field(r, 'severity').display,
      firstFound: field(r, 'first_found').value,
      lastFound: field(r, 'last_found').value,
      url: `${instance}/nav_to.do?uri=${encodeURIComponent(`sn_vul_vulnerable_item.do?sys_id=${field(r, 'sys_id').value}`)}`,
    }));
    return render(
      c,
      <VulnerabilitiesPage
        page={page}
        by={by}
        rows={rows}
        {...(read.error ? { liveError: read.error } : {})}
      />,
    );
  });

  app.get('/tickets', async (c) => {
    const page = pageOf(c);
    const id = page.integrationId;
    const instance = page.integration.servicenow.instanceUrl.replace(/\/$/, '');
    const ticketMemories = ticketMemory({ store: deps.store, integrationId: id });
    const assignmentMemories = assignmentMemory({ store: deps.store, integrationId: id });
    const tickets = (await entityStates(deps.store, id, 'cloud-tickets', ticketMemories.entity))
      .map((s) => ticketMemories.parse(s.data))
      .filter((m): m is TicketMemory => m !== undefined);
    const assignments = new Map(
      (await entityStates(deps.store, id, 'cloud-tickets', assignmentMemories.entity)).map((s) => [
        s.source_key,
        s,
      ]),
    );
    const links = await allLinks(deps.store, id);
    const read = await live(page.integration, async (client) => {
      const found = new Map<string, Awaited<ReturnType<typeof recordsById>>>();
      for (const table of new Set(tickets.map((t) => t.table))) {
        found.set(
          table,
          await recordsById(
            client,
            table,
            tickets.filter((t) => t.table === table).map((t) => t.sysId),
            ['number', 'state', 'assigned_to', 'due_date'],
          ),
        );
      }
      return found;
    });
    const tenant = page.integration.defender.tenantId;
    const rows: TicketRow[] = tickets.map((t) => {
      const record = read.value?.get(t.table)?.get(t.sysId);
      return {
        number: t.number,
        table: t.table,
        serviceNowState: record ? field(record, 'state').display : read.error ? 'unknown' : 'not found',
        owner: record ? field(record, 'assigned_to').display || 'nobody' : 'unknown',
        dueDate: (record ? field(record, 'due_date').value : '') || t.dueDate.slice(0, 10),
        snowlineStatus: t.status,
        defenderStatus: (() => {
          const covered = links.filter((l) => l.ticket_sys_id === t.sysId);
          const live = covered.filter(
            (l) => l.governance_assignment_id && !assignments.get(l.assessment_id)?.retired_at,
          );
          if (covered.length === 0) return 'no assignment';
          return live.length
            ? `assignment points at ${t.number} (${stateLabel(t.table, t.state)})`
            : 'assignment removed';
        })(),
        ticketUrl: `${instance}/nav_to.do?uri=${encodeURIComponent(`${t.table}.do?sys_id=${t.sysId}`)}`,
        recommendations: links
          .filter((l) => l.ticket_sys_id === t.sysId)
          .map((l) => {
            const assignment = assignments.get(l.assessment_id);
            const data = assignmentMemories.parse(assignment?.data);
            return {
              assessmentId: l.assessment_id,
              ...(data?.resourceId ? { portalUrl: `${portal}/#@${tenant}/resource${data.resourceId}` } : {}),
              assignment: l.governance_assignment_id
                ? `governance assignment ${l.governance_assignment_id}`
                : 'no assignment',
            };
          }),
      };
    });
    return render(
      c,
      <TicketsPage page={page} tickets={rows} {...(read.error ? { liveError: read.error } : {})} />,
    );
  });

  const runsFilter = (c: Context) => {
    const flow = c.req.query('flow');
    const status = c.req.query('status');
    const dry = c.req.query('dry');
    return {
      ...(flow && isFlow(flow) ? { flow } : {}),
      ...(status ? { status } : {}),
      ...(dry === '0' || dry === '1' ? { dry } : {}),
    };
  };

  const runsPage = async (
    c: Context<{ Variables: SessionVariables }>,
    extra: { plan?: Parameters<typeof PlanView>[0]['plan']; message?: string } = {},
  ) => {
    const page = pageOf(c);
    const filter = runsFilter(c);
    const runs = await findRuns(deps.store, page.integrationId, {
      ...(filter.flow ? { flow: filter.flow } : {}),
      ...(filter.status ? { status: filter.status } : {}),
      ...(filter.dry ? { dryRun: filter.dry === '1' } : {}),
    });
    return render(c, <RunsPage page={page} runs={runs} filter={filter} {...extra} />);
  };

  app.get('/ot-alerts', async (c) => {
    const page = pageOf(c);
    const instance = page.integration.servicenow.instanceUrl.replace(/\/$/, '');
    // The store's view (what Snowline last recorded): the page costs the instance nothing.
    const { tickets } = await alertTicketsPage(deps.store, page.integrationId, {
      status: 'open',
      limit: 1000,
    });
    const rows = tickets.map((ticket) => ({
      ticket,
      url: `${instance}/nav_to.do?uri=${encodeURIComponent(`${ticket.table}.do?sys_id=${ticket.sysId}`)}`,
    }));
    return render(
      c,
      <OtAlertsPage page={page} rows={rows} enabled={otAlertsFlow.enabled(page.integration)} />,
    );
  });

  app.get('/runs', (c) => runsPage(c));

  app.post('/runs/dry-run', async (c) => {
    const page = pageOf(c);
    const ticket = await deps.dispatcher.dispatch({
      integrationId: page.integrationId,
      dryRun: true,
      trigger: 'api',
    });
    if (ticket.kind !== 'done') {
      const message = 'The dry run was queued for a worker; its plan shows on its run page when done.';
      return c.req.header('hx-request')
        ? fragment(c, <p class="message">{message}</p>)
        : runsPage(c, { message });
    }
    const view = <PlanView plan={ticket.result.plan} runId={ticket.result.summary.runId} />;
    return c.req.header('hx-request') ? fragment(c, view) : runsPage(c, { plan: ticket.result.plan });
  });

  app.post('/runs/run-now', async (c) => {
    const page = pageOf(c);
    const ticket = await deps.dispatcher.dispatch({
      integrationId: page.integrationId,
      dryRun: false,
      trigger: 'api',
    });
    if (ticket.kind === 'done') {
      const suffix =
        page.integrationIds.length > 1 ? `?integration=${encodeURIComponent(page.integrationId)}` : '';
      return c.redirect(`/runs/${encodeURIComponent(ticket.result.summary.runId)}${suffix}`, 303);
    }
    return runsPage(c, { message: `Queued for a worker (${ticket.jobIds.length} jobs); refresh to see it.` });
  });

  app.get('/runs/:id', async (c) => {
    const page = pageOf(c);
    let run;
    try {
      run = await getRun(deps.store.db, page.integrationId, c.req.param('id'));
    } catch (error) {
      if (error instanceof NotFoundError)
        return c.text(`no run ${c.req.param('id')} for integration ${page.integrationId}`, 404);
      throw error;
    }
    const filter = {
      ...(c.req.query('action') ? { action: c.req.query('action')! } : {}),
      ...(c.req.query('side') ? { side: c.req.query('side')! } : {}),
      ...(c.req.query('flow') ? { flow: c.req.query('flow')! } : {}),
      ...(c.req.query('entity') ? { entity: c.req.query('entity')! } : {}),
    };
    const { events, total } = await runEvents(deps.store, page.integrationId, run.id, filter);
    const { flows, ...row } = run;
    flows.sort((a, b) => FLOWS.indexOf(a.flow as never) - FLOWS.indexOf(b.flow as never));
    return render(
      c,
      <RunPage page={page} run={row} flows={flows} events={events} total={total} filter={filter} />,
    );
  });

  return app as unknown as Hono;
}
