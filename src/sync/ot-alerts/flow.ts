import type { FlowSummary } from '../../domain/flows.js';
import type { PlanAction } from '../../domain/plan.js';
import {
  DEFAULT_ALERT_IMPACT_URGENCY,
  alertCorrelationId,
  alertDeviceRef,
  alertGroupKey,
  alertTicketContent,
  alertTicketResolution,
  alertsWorkNote,
  closedFirstWorkNote,
  isAlertsWorkNote,
  isClosedFirstWorkNote,
  closeActionFor,
  highestAlertSeverity,
  isAlertTicketDone,
  matchAlertRule,
  placeAlerts,
  type AlertRule,
  type OtAlert,
} from '../../domain/ot-alerts/alerts.js';
import { TICKET_TABLE_SPECS } from '../../domain/tickets/tables.js';
import { UpstreamError, isRateLimitedError, isSnowlineError } from '../../errors.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import { stringValue, type SnRecord } from '../../servicenow/values.js';
import { createIfAbsent } from '../../store/correlation-lock.js';
import type { EntityStateUpdate } from '../../store/models/entity-state.js';
import { advanceWatermark, getWatermark } from '../../store/models/watermarks.js';
import { toSnDateTime } from '../../domain/time.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import { ServiceNowDirectory } from '../cloud-tickets/directory.js';
import { defineFlow, type FlowContext } from '../kernel/flow.js';
import { eachInLanes, readAhead } from '../kernel/lanes.js';
import { withTicketLock } from '../kernel/ticket-lock.js';
import type { OtAlertsConfig } from './config.js';
import { AlertDevices, type AlertDeviceMatch } from './devices.js';
import { otAlertMemories, type AlertTicketMemory } from './memory.js';
import { otAlertsSource, type AlertSource, type CloseOutcome, type SourcedAlert } from './sources.js';

export type { OtAlertsConfig } from './config.js';

const FLOW = 'ot-alerts' as const;

/** How far before Snowline's last recorded note a note already written is looked for: the two clocks' skew. */
const NOTE_CLOCK_SKEW_MS = 15 * 60_000;
/**
 * Alert closes of one ticket in flight at once: ARM's own in-flight bound (the Defender client's
 * agent) still caps them; the same default as cloud-tickets' `concurrency`.
 */
const CLOSE_LANES = 4;
/** The reason's words for a note found already written. */
const ALREADY_NOTED =
  'the work note is already on the ticket (written by a run that ended before recording it)';

/** The ticket fields ot-alerts reads back (poll and webhook alike). */
export const ALERT_TICKET_FIELDS = ['sys_id', 'number', 'state', 'close_code', 'correlation_id'] as const;

/** What the flow body needs besides its context. */
export interface OtAlertsDeps {
  readonly source: AlertSource;
  readonly servicenow: ServiceNowClient;
  /** ot-inventory's source (undefined: not configured); device keys are shared when it is the alerts' source. */
  readonly inventorySource?: string | undefined;
  readonly directory?: ServiceNowDirectory;
}

/** ot-alerts' own counters (created, updated, resolved and errors come from its decisions). */
export interface OtAlertsCounters {
  unchanged: number;
  /** New alerts read this run (not seen before). */
  alerts: number;
  /** New alerts added to an open ticket as a work note. */
  joined: number;
  /** New alerts noted on a ticket closed less than reopenAfterMinutes before. */
  held: number;
  /** New alerts no rule opens a ticket for. */
  silenced: number;
  /** Alert records that did not parse (reported and skipped). */
  problems: number;
  /** Alerts Snowline closed (or learned, or handled) in Defender because their ticket was closed. */
  closedInDefender: number;
  /** Alerts of closed tickets left open in Defender because the source has no documented write. */
  keptOpenInDefender: number;
  /** Alerts noticed closed in Defender first (a work note, or the ticket resolved). */
  closedFirstInDefender: number;
  /** Alerts closed on both sides before either close reached the other. */
  conflicts: number;
}

/** The summary of an ot-alerts run. */
export type OtAlertsSummary = FlowSummary & OtAlertsCounters;

/** ot-alerts' own counters, at zero. */
export function otAlertsCounters(): OtAlertsCounters {
  return {
    unchanged: 0,
    alerts: 0,
    joined: 0,
    held: 0,
    silenced: 0,
    problems: 0,
    closedInDefender: 0,
    keptOpenInDefender: 0,
    closedFirstInDefender: 0,
    conflicts: 0,
  };
}

/** The in-process lock key of one alert ticket (poll and webhook take it). */
export function alertTicketLockKey(integrationId: string, correlationId: string): string {
  return `${integrationId}|ot-alerts|${correlationId}`;
}

/** One directory per integration, so group look-ups are cached across runs (with a TTL). */
const directories = new Map<string, ServiceNowDirectory>();

/**
 * Flow ot-alerts: Defender for IoT alerts → tickets (incident, sn_ot_incident or sn_si_incident),
 * and ticket closes back to Defender.
 *
 * Each run first follows the open tickets: their state is read from the instance and the state of
 * their open alerts from Defender (a creation-time read never shows an alert closed later). A
 * ticket Resolved / Closed / Canceled on the instance closes its alerts in Defender through the
 * source's documented write (close-code map `closeActions`), re-reading each alert first; with
 * the sensor source (read-only) the ledger records that the alert stays open. Alerts closed in
 * Defender first are noted on their ticket, which is resolved once all are closed. Then new
 * alerts are read from the creation-time watermark minus the overlap; alerts already decided on
 * are recognised and cost nothing. The first rule that matches decides; alerts of one group go to
 * one ticket (a burst is one ticket with work notes) as {@link placeAlerts} says. A ticket carries
 * the correlation id `snowline:<integration>:oa:<hash of group key and generation>`, searched for
 * before it is created, so a crash between the create and its record adopts it instead of
 * duplicating it. A dry run reads and plans, and writes nothing.
 */
export const otAlertsFlow = defineFlow({
  flow: FLOW,
  dependsOn: ['ot-inventory'],
  config: (integration) => integration.flows.otAlerts,
  // Its tickets: the store check samples them (src/sync/kernel/drift.ts); every run reads the
  // open ones back itself, so there is no verification pass of its own.
  owns: { check: ['ticket'], verify: [] },
  summary: otAlertsCounters,
  countAs: (action) => {
    if (action.action === 'error') return 'errors';
    if (action.entity !== 'ticket') return undefined;
    const byKind = { create: 'created', update: 'updated', resolve: 'resolved' } as const;
    return byKind[action.action as keyof typeof byKind];
  },
  connect: ({ servicenow, defender }, { integration, clock }): OtAlertsDeps => {
    const directory = directories.get(integration.id) ?? new ServiceNowDirectory(clock, 3_600_000);
    directories.set(integration.id, directory);
    return {
      // A configuration the source can not serve fails here, before any request is sent.
      source: otAlertsSource(integration, defender),
      servicenow,
      inventorySource: integration.flows.otInventory?.source,
      directory,
    };
  },
  async run(context, deps, summary) {
    await new OtAlertsRun(context, deps, summary).execute();
  },
});

/** New alerts of one group this run, under the rule that covers them. */
interface AlertGroup {
  readonly key: string;
  readonly rule: AlertRule;
  readonly alerts: SourcedAlert[];
  readonly device: AlertDeviceMatch;
}

/** A group with where its new alerts go. */
interface Placed {
  readonly group: AlertGroup;
  readonly placement: ReturnType<typeof placeAlerts>;
  /** The generation of a ticket opened for it. */
  readonly generation: number;
  readonly current: AlertTicketMemory | undefined;
}

/** The earlier of a failure point and the first alert of a group that failed. */
function earlier(failedFrom: string | undefined, group: AlertGroup): string {
  const first = group.alerts.map((a) => a.alert.raisedAt).sort()[0]!;
  return failedFrom === undefined || first < failedFrom ? first : failedFrom;
}

/** A ticket as the instance holds it now. */
interface LiveTicket {
  readonly state: string;
  readonly closeCode: string | undefined;
}

/**
 * One ot-alerts run (or one webhook delivery: {@link followTicket}). Its parts share the context,
 * the clients and the memories.
 */
export class OtAlertsRun {
  private readonly now: Date;
  private readonly memories: ReturnType<typeof otAlertMemories>;
  private readonly devices: AlertDevices;
  private readonly directory: ServiceNowDirectory;
  /** Tickets searched for by correlation id before this run's creates (undefined: not on the instance). */
  private readonly searched = new Map<string, SnRecord | undefined>();

  constructor(
    private readonly run: FlowContext<OtAlertsConfig>,
    private readonly deps: OtAlertsDeps,
    readonly summary: OtAlertsCounters = otAlertsCounters(),
  ) {
    this.now = run.clock.now();
    this.memories = otAlertMemories({
      store: run.store,
      integrationId: run.integrationId,
      recorder: run.recorder,
    });
    this.devices = new AlertDevices(
      { store: run.store, integrationId: run.integrationId },
      {
        sameSource: deps.inventorySource === deps.source.kind,
        keysCarrySensor: deps.inventorySource === 'sensor',
      },
    );
    this.directory = deps.directory ?? new ServiceNowDirectory(run.clock, 3_600_000);
  }

  async execute(): Promise<void> {
    const open: AlertTicketMemory[] = [];
    for await (const page of this.memories.tickets.all())
      for (const t of page) if (t.data?.status === 'open') open.push(t.data);
    await this.followTickets(open);
    await this.readNewAlerts();
  }

  /**
   * Follows one ticket by its correlation id (a webhook delivery): what a poll does for each open
   * ticket. Answers what was done.
   */
  async followTicket(correlationId: string): Promise<'synced' | 'notOpen' | 'unknown'> {
    const ticket = (await this.memories.tickets.one(correlationId))?.data;
    if (!ticket) return 'unknown';
    // Snowline's own resolve comes back as a delivery too: the ticket is no longer open, no echo.
    if (ticket.status !== 'open') return 'notOpen';
    await this.followTickets([ticket]);
    return 'synced';
  }

  // ---- open tickets: both directions of closing ------------------------------------------

  private async followTickets(open: readonly AlertTicketMemory[]): Promise<void> {
    if (open.length === 0) return;
    const live = await this.liveTickets(open);
    const asked = new Map<string, { raisedAt: string; writeRef?: string }>();
    for (const t of open)
      for (const [key, a] of Object.entries(t.alerts))
        if (a.open) asked.set(key, { raisedAt: a.raisedAt, ...(a.writeRef ? { writeRef: a.writeRef } : {}) });
    const current = asked.size ? await this.deps.source.current(asked) : new Map<string, SourcedAlert>();
    for (const read of open)
      await withTicketLock(alertTicketLockKey(this.run.integrationId, read.correlationId), () =>
        this.guard(read.correlationId, async () => {
          // A webhook delivery (or a poll) may have dealt with it since it was read: each commits
          // what it decided before it lets go of the ticket, so what is recorded now counts.
          const ticket = (await this.memories.tickets.one(read.correlationId))?.data ?? read;
          if (ticket.status !== 'open') return;
          const now = live.get(ticket.sysId);
          if (!now) await this.noticeDeleted(ticket);
          else if (isAlertTicketDone(ticket.table, now.state)) await this.closeAlertsOf(ticket, now, current);
          else await this.noticeDefenderCloses(ticket, now, current);
          await this.run.recorder.flush();
        }),
      );
  }

  /** The state and close code of tickets on the instance, by sys_id (absent: deleted). */
  private async liveTickets(tickets: readonly AlertTicketMemory[]): Promise<Map<string, LiveTicket>> {
    const live = new Map<string, LiveTicket>();
    for (const table of new Set(tickets.map((t) => t.table))) {
      const rows = await this.deps.servicenow.listWhereIn(
        table,
        'sys_id',
        tickets.filter((t) => t.table === table).map((t) => t.sysId),
        ALERT_TICKET_FIELDS,
      );
      for (const row of rows)
        live.set(row.sys_id, { state: stringValue(row.state) ?? '', closeCode: stringValue(row.close_code) });
    }
    return live;
  }

  /**
   * The ticket was Resolved, Closed or Canceled on the instance: each of its alerts still open in
   * Defender is closed there the source's documented way, after a re-read. The conflict rule: a
   * close on either side closes the alert, nothing is reopened; an alert found closed in Defender
   * too is recorded as a conflict and not written again.
   */
  private async closeAlertsOf(
    ticket: AlertTicketMemory,
    live: LiveTicket,
    current: ReadonlyMap<string, SourcedAlert>,
  ): Promise<void> {
    const action = closeActionFor(this.run.config.closeActions, live.closeCode);
    const label = TICKET_TABLE_SPECS[ticket.table].states[live.state] ?? live.state;
    const why = `${ticket.number} is ${label} on the instance${live.closeCode ? ` (close code ${live.closeCode})` : ''}`;
    const alerts = { ...ticket.alerts };
    const close = this.deps.source.close;
    // A burst's ticket carries dozens of alerts, each closed with a re-read and a write: they are
    // sent CLOSE_LANES at a time, then recorded in order. A close that failed leaves its alert
    // open in the store (the ones that succeeded are recorded) and fails the ticket for this run.
    const results = new Map<string, { outcome: CloseOutcome } | { error: unknown }>();
    if (close && !this.run.dryRun) {
      const toClose = Object.entries(ticket.alerts).filter(
        ([key, mark]) => mark.open && mark.writeRef && current.get(key)?.alert.open !== false,
      );
      // Each result is kept, failures too, so that one failure does not stop the other lanes.
      await eachInLanes(toClose, CLOSE_LANES, async ([key, mark]) => {
        try {
          results.set(key, { outcome: await close(mark.writeRef!, action) });
        } catch (error) {
          results.set(key, { error });
        }
      });
    }
    let failure: unknown;
    for (const [key, mark] of Object.entries(ticket.alerts)) {
      if (!mark.open) continue;
      const base = { side: 'defender' as const, entity: 'alert', key, target: { id: mark.writeRef ?? key } };
      const now = current.get(key);
      if (now && !now.alert.open) {
        this.summary.conflicts += 1;
        alerts[key] = { ...mark, open: false, outcome: 'closedInDefender' };
        await this.decide({
          ...base,
          action: 'skip',
          reason: `${why}, and the alert is Closed in Defender too: nothing written (a close on either side closes it)`,
        });
        continue;
      }
      if (!close || !mark.writeRef) {
        this.summary.keptOpenInDefender += 1;
        alerts[key] = { ...mark, outcome: 'keptOpen' };
        await this.decide({
          ...base,
          action: 'skip',
          reason: `${why}, but the alert stays open in Defender: the ${this.deps.source.kind} source has no documented alert write (${this.deps.source.describeClose(action)})`,
        });
        continue;
      }
      const result = this.run.dryRun ? { outcome: 'closed' as const } : results.get(key)!;
      if ('error' in result) {
        failure ??= result.error;
        continue;
      }
      const { outcome } = result;
      if (outcome === 'alreadyClosed') this.summary.conflicts += 1;
      else this.summary.closedInDefender += 1;
      alerts[key] = {
        ...mark,
        open: false,
        outcome: outcome === 'closed' ? 'closedBySnowline' : 'closedInDefender',
      };
      await this.decide(
        {
          ...base,
          action: outcome === 'closed' ? 'resolve' : 'skip',
          reason:
            outcome === 'closed'
              ? `${why}: ${this.deps.source.describeClose(action)}`
              : `${why}; the alert was found Closed in Defender on the re-read before the write: nothing written`,
        },
        { ...ticket, alerts },
      );
    }
    if (failure !== undefined) throw failure;
    const closed: AlertTicketMemory = {
      ...ticket,
      alerts,
      status: 'closed',
      state: live.state,
      closedAt: this.now.toISOString(),
      ...(live.closeCode ? { closeCode: live.closeCode } : {}),
    };
    await this.decide(
      {
        action: 'skip',
        entity: 'ticket',
        key: ticket.correlationId,
        target: { table: ticket.table, id: ticket.sysId },
        reason: `${why}; its alerts follow it to Defender (${this.run.config.closeActions.default} unless the close code maps otherwise)`,
      },
      closed,
    );
  }

  /** Alerts closed in Defender first: a work note, or — when every alert is closed — the ticket resolved. */
  private async noticeDefenderCloses(
    ticket: AlertTicketMemory,
    live: LiveTicket,
    current: ReadonlyMap<string, SourcedAlert>,
  ): Promise<void> {
    const closedNow = Object.entries(ticket.alerts).filter(
      ([key, a]) => a.open && current.get(key)?.alert.open === false,
    );
    if (closedNow.length === 0) {
      this.summary.unchanged += 1;
      return;
    }
    this.summary.closedFirstInDefender += closedNow.length;
    const alerts = { ...ticket.alerts };
    for (const [key, mark] of closedNow)
      alerts[key] = { ...mark, open: false, outcome: 'closedInDefender' as const };
    const stillOpen = Object.values(alerts).filter((a) => a.open && a.outcome !== 'held').length;
    const listed = closedNow.map(([key, a]) => `- ${a.title} (${key})`).join('\n');
    const target = { table: ticket.table, id: ticket.sysId };
    if (stillOpen > 0) {
      const note = closedFirstWorkNote(closedNow.length, stillOpen, listed);
      const unnoted = await this.notYetNoted(
        ticket,
        closedNow.map(([key]) => key),
        isClosedFirstWorkNote,
      );
      if (!this.run.dryRun && unnoted.size > 0)
        await this.deps.servicenow.update(ticket.table, ticket.sysId, { work_notes: note });
      await this.decide(
        {
          action: unnoted.size > 0 ? 'update' : 'skip',
          entity: 'ticket',
          key: ticket.correlationId,
          target,
          reason: `${ticket.number}: ${closedNow.length} alert(s) closed in Defender first, ${stillOpen} still open: ${unnoted.size > 0 ? 'work note' : ALREADY_NOTED}`,
        },
        { ...ticket, alerts, state: live.state, notedAt: this.now.toISOString() },
      );
      return;
    }
    const resolution = alertTicketResolution(
      ticket.table,
      this.run.config.resolve.closeCode,
      this.run.config.resolve.notes,
    );
    let state = resolution.state!;
    if (!this.run.dryRun) {
      const record = await this.deps.servicenow.update(ticket.table, ticket.sysId, {
        ...resolution,
        work_notes: `Snowline: every alert of this ticket was closed in Defender for IoT.\n${listed}`,
      });
      state = stringValue(record.state) ?? state;
    }
    await this.decide(
      {
        action: 'resolve',
        entity: 'ticket',
        key: ticket.correlationId,
        target,
        reason: `${ticket.number}: every alert was closed in Defender first; resolved with close code ${this.run.config.resolve.closeCode}`,
      },
      { ...ticket, alerts, state, status: 'resolved', closedAt: this.now.toISOString() },
    );
  }

  /** A ticket deleted on the instance: remembered closed; its alerts are left as they are in Defender. */
  private async noticeDeleted(ticket: AlertTicketMemory): Promise<void> {
    await this.decide(
      {
        action: 'skip',
        entity: 'ticket',
        key: ticket.correlationId,
        target: { table: ticket.table, id: ticket.sysId },
        reason: `${ticket.number} was deleted on the instance; its alerts are left as they are in Defender`,
      },
      { ...ticket, status: 'closed', closedAt: this.now.toISOString() },
    );
  }

  // ---- new alerts -------------------------------------------------------------------------

  private async readNewAlerts(): Promise<void> {
    const ref = {
      integrationId: this.run.integrationId,
      flow: FLOW,
      scope: `alerts:${this.deps.source.kind}`,
    };
    const watermark = await getWatermark(this.run.store.db, ref);
    const since = watermark
      ? new Date(Date.parse(watermark) - this.run.config.overlapMinutes * 60_000)
      : new Date(this.now.getTime() - this.run.config.lookbackDays * 86_400_000);
    const groups = new Map<string, AlertGroup>();
    let newest: string | undefined;
    let unread = false;
    // An alert the source lists twice (its id in another case: Azure ids are case-insensitive, and
    // the key is lower-cased) is one alert: its first listing is grouped, on one ticket once.
    const readNow = new Set<string>();
    for await (const page of readAhead(this.deps.source.newAlerts(since))) {
      for (const part of page.unread ?? []) {
        unread = true;
        await this.decide({
          side: 'defender',
          action: 'error',
          entity: 'alert',
          key: part.part,
          reason: `${part.part} could not be read (${part.why}); its new alerts are read next run`.slice(
            0,
            2000,
          ),
        });
      }
      for (const problem of page.problems) {
        this.summary.problems += 1;
        this.run.logger.warn(
          { source: problem.source, index: problem.index },
          'malformed alert record skipped',
        );
        await this.decide({
          side: 'defender',
          action: 'error',
          entity: 'alert',
          key: problem.key ?? `${problem.source}#${problem.index}`,
          reason: `malformed alert record, skipped: ${problem.error.message}`.slice(0, 2000),
        });
      }
      const seen = await this.memories.alerts.get(page.items.map((i) => i.alert.key));
      for (const item of page.items) {
        if (newest === undefined || item.alert.raisedAt > newest) newest = item.alert.raisedAt;
        if (seen.has(item.alert.key) || readNow.has(item.alert.key) || !item.alert.open) continue;
        readNow.add(item.alert.key);
        this.summary.alerts += 1;
        await this.group(item, groups);
      }
    }
    let failedFrom: string | undefined;
    const placed: Placed[] = [];
    for (const group of groups.values()) {
      const ok = await this.guard(group.key, async () => void placed.push(await this.placementOf(group)));
      if (!ok) failedFrom = earlier(failedFrom, group);
    }
    await this.searchBeforeCreates(placed);
    for (const p of placed) {
      const group = p.group;
      const ok = await this.guard(group.key, () => this.placeGroup(p));
      if (!ok) failedFrom = earlier(failedFrom, group);
    }
    // The watermark moves only past what was decided and recorded, never past a group that failed,
    // and not at all while a part of the source could not be read (its alerts would be skipped).
    const moveTo = failedFrom ?? newest;
    if (!this.run.dryRun && moveTo && !unread) {
      await this.run.recorder.flush();
      await advanceWatermark(this.run.store.db, this.run.clock, ref, moveTo);
    }
  }

  /** Puts a new alert into its group under the first matching rule, or records why it gets no ticket. */
  private async group(item: SourcedAlert, groups: Map<string, AlertGroup>): Promise<void> {
    const rule = matchAlertRule(this.run.config.rules, item.alert);
    if (!rule || !rule.ticket) {
      this.summary.silenced += 1;
      const skipped = rule ? `rule ${rule.name} opens no ticket` : 'no rule matches it';
      await this.run.recorder.decide(
        {
          flow: FLOW,
          side: 'defender',
          action: 'skip',
          entity: 'alert',
          key: item.alert.key,
          reason: `${item.alert.title} (${item.alert.severity}): ${skipped}`,
        },
        { states: { alert: [this.memories.alerts.state(item.alert.key, { skipped })] } },
      );
      return;
    }
    const device = await this.devices.find(item);
    const alert: OtAlert = {
      ...item.alert,
      site: item.alert.site ?? device.site,
      zone: item.alert.zone ?? device.zone,
    };
    const key = alertGroupKey(rule, alert, alertDeviceRef(alert, device.key));
    const group = groups.get(key) ?? { key, rule, alerts: [], device };
    group.alerts.push({ ...item, alert });
    groups.set(key, group);
  }

  /** Sends the new alerts of a group where {@link placeAlerts} says: a new ticket, a work note, or held. */
  /** Where the new alerts of a group go ({@link placeAlerts}), from the group's current ticket. */
  private async placementOf(group: AlertGroup): Promise<Placed> {
    group.alerts.sort((a, b) =>
      a.alert.raisedAt < b.alert.raisedAt ? -1 : a.alert.raisedAt > b.alert.raisedAt ? 1 : 0,
    );
    const first = group.alerts[0]!.alert.raisedAt;
    const pointer = (await this.memories.groups.one(group.key))?.data;
    const current = pointer ? (await this.memories.tickets.one(pointer.correlationId))?.data : undefined;
    const placement = placeAlerts(
      current && {
        status: current.status === 'open' ? 'open' : 'closed',
        number: current.number,
        lastAlertAt: current.lastAlertAt,
        closedAt: current.closedAt,
      },
      first,
      { windowMinutes: group.rule.windowMinutes, reopenAfterMinutes: this.run.config.reopenAfterMinutes },
    );
    return { group, placement, generation: (pointer?.generation ?? 0) + 1, current };
  }

  /** Sends the new alerts of a group where its placement says: a new ticket, a work note, or held. */
  private async placeGroup({ group, placement, generation, current }: Placed): Promise<void> {
    if (placement.kind === 'open') return this.openTicket(group, generation, placement.reason);
    await this.addToTicket(group, current!, placement.kind, placement.reason);
  }

  /**
   * Searches the instance once per table (100 correlation ids a query) for the tickets this run
   * is about to open: one an interrupted run created is adopted, and the others need no search of
   * their own (a ticket costs one request, not two). A failed search leaves each to its own.
   */
  private async searchBeforeCreates(placed: readonly Placed[]): Promise<void> {
    if (this.run.dryRun) return;
    const byTable = new Map<string, string[]>();
    for (const p of placed)
      if (p.placement.kind === 'open') {
        const ids = byTable.get(p.group.rule.table) ?? [];
        ids.push(alertCorrelationId(this.run.integrationId, p.group.key, p.generation));
        byTable.set(p.group.rule.table, ids);
      }
    for (const [table, ids] of byTable) {
      try {
        const found = await this.findTickets(table, ids);
        for (const id of ids) this.searched.set(id, found.get(id));
      } catch (error) {
        if (isRateLimitedError(error) || !isSnowlineError(error)) throw error;
        this.run.logger.warn(
          { table, err: error },
          'tickets not searched in advance; each is searched before its create',
        );
      }
    }
  }

  /** Opens the ticket of a group (or adopts the one an interrupted run created under its correlation id). */
  private async openTicket(group: AlertGroup, generation: number, why: string): Promise<void> {
    const correlationId = alertCorrelationId(this.run.integrationId, group.key, generation);
    const table = group.rule.table;
    const alerts = group.alerts.map((a) => a.alert);
    const reason = `${alerts.length} alert(s) covered by rule ${group.rule.name} (grouped by ${group.rule.grouping}): ${why}${
      group.device.ci ? '' : `; no CI linked (${group.device.why ?? 'unknown device'})`
    }`;
    const action = { action: 'create' as const, entity: 'ticket', key: correlationId, target: { table } };
    if (this.run.dryRun) {
      await this.decide({ ...action, reason });
      return;
    }
    const content = alertTicketContent(alerts, group.device, {
      impactUrgency: this.run.config.impactUrgency ?? DEFAULT_ALERT_IMPACT_URGENCY,
      grouping: group.rule.grouping,
    });
    const search = async () => (await this.findTickets(table, [correlationId])).get(correlationId);
    const found = this.searched.has(correlationId) ? this.searched.get(correlationId) : await search();
    let record: SnRecord;
    let adopted: boolean;
    if (found) {
      // Written by an earlier run that stopped before recording it: adopt, never duplicate.
      record = found;
      adopted = true;
    } else {
      const values = { ...content, correlation_id: correlationId, ...(await this.assignment(group.rule)) };
      const outcome = await createIfAbsent(this.run.store, correlationId, search, () =>
        this.deps.servicenow.createOnce(table, values, { correlation_id: correlationId }),
      );
      record = 'existing' in outcome ? outcome.existing : outcome.created;
      adopted = 'existing' in outcome;
    }
    const number = stringValue(record.number) ?? record.sys_id;
    const lastAlertAt = alerts.at(-1)!.raisedAt;
    const ticket: AlertTicketMemory = {
      groupKey: group.key,
      generation,
      correlationId,
      table,
      sysId: record.sys_id,
      number,
      state: stringValue(record.state) ?? '',
      status: 'open',
      rule: group.rule.name,
      createdAt: this.now.toISOString(),
      lastAlertAt,
      severity: highestAlertSeverity(alerts.map((a) => a.severity)),
      ...(alerts[0]!.site ? { site: alerts[0]!.site } : {}),
      ...(group.device.name ? { device: group.device.name } : {}),
      alerts: Object.fromEntries(group.alerts.map((a) => [a.alert.key, this.mark(a)])),
    };
    await this.decide(
      {
        ...action,
        ...(adopted ? { action: 'skip' as const } : {}),
        target: { table, id: record.sys_id },
        reason: adopted
          ? `${number} already carries this correlation id (written by an earlier run that did not finish); adopted, not created again`
          : `${number}: ${reason}`,
      },
      ticket,
      group,
    );
  }

  /** Adds new alerts to a group's ticket: a work note on an open one (a burst), or on a closed one (held). */
  private async addToTicket(
    group: AlertGroup,
    ticket: AlertTicketMemory,
    kind: 'join' | 'hold',
    reason: string,
  ): Promise<void> {
    const alerts = group.alerts.map((a) => a.alert);
    if (kind === 'join') this.summary.joined += alerts.length;
    else this.summary.held += alerts.length;
    // A note a killed run already wrote lists these alerts: only the ones it does not list are noted.
    const unnoted = await this.notYetNoted(
      ticket,
      alerts.map((a) => a.key),
      isAlertsWorkNote,
    );
    const toNote = alerts.filter((a) => unnoted.has(a.key));
    if (!this.run.dryRun && toNote.length > 0)
      await this.deps.servicenow.update(ticket.table, ticket.sysId, {
        work_notes: alertsWorkNote(toNote, kind === 'join' ? 'same group, within the window' : reason),
      });
    const marks = Object.fromEntries(
      group.alerts.map((a) => [
        a.alert.key,
        { ...this.mark(a), ...(kind === 'hold' ? { outcome: 'held' as const } : {}) },
      ]),
    );
    const lastAlertAt = [ticket.lastAlertAt, ...alerts.map((a) => a.raisedAt)].sort().at(-1)!;
    await this.decide(
      {
        action: 'update',
        entity: 'ticket',
        key: ticket.correlationId,
        target: { table: ticket.table, id: ticket.sysId },
        reason: `${alerts.length} new alert(s): ${reason}${toNote.length < alerts.length ? `; ${alerts.length - toNote.length} of them ${ALREADY_NOTED}` : ''}`,
      },
      {
        ...ticket,
        notedAt: this.now.toISOString(),
        lastAlertAt,
        severity: highestAlertSeverity([ticket.severity, ...alerts.map((a) => a.severity)]),
        alerts: { ...ticket.alerts, ...marks },
      },
      group,
    );
  }

  /**
   * The keys among `keys` that no work note of the kind `isKind` on the ticket names yet. A run
   * killed after its note was committed on the instance, and before the store recorded it, meets
   * the same alerts again; without this read it would write the note twice (ticket-sync's
   * `noteAlreadyWritten` is the same guard). One Table API read of `sys_journal_field` (the
   * ticket's work notes since Snowline's last recorded note on it, less {@link NOTE_CLOCK_SKEW_MS}
   * for the two clocks); the dry run reads nothing. A journal the integration user may not read
   * (403) reads as no note: the note is then written, at worst twice.
   */
  private async notYetNoted(
    ticket: AlertTicketMemory,
    keys: readonly string[],
    isKind: (note: string) => boolean,
  ): Promise<Set<string>> {
    const unnoted = new Set(keys);
    if (this.run.dryRun) return unnoted;
    const since = new Date(Date.parse(ticket.notedAt ?? ticket.createdAt) - NOTE_CLOCK_SKEW_MS);
    try {
      const notes = await this.deps.servicenow.listAll('sys_journal_field', {
        query: encodeQuery({
          where: [
            where('element_id', '=', ticket.sysId),
            where('element', '=', 'work_notes'),
            where('sys_created_on', '>=', toSnDateTime(since)),
          ],
        }),
        fields: ['value'],
      });
      for (const note of notes) {
        const text = stringValue(note.value) ?? '';
        if (isKind(text)) for (const key of unnoted) if (text.includes(key)) unnoted.delete(key);
      }
    } catch (error) {
      if (!(error instanceof UpstreamError && error.status === 403)) throw error;
    }
    return unnoted;
  }

  /** What a ticket remembers of one of its alerts. */
  private mark(a: SourcedAlert): AlertTicketMemory['alerts'][string] {
    return {
      ...(a.writeRef ? { writeRef: a.writeRef } : {}),
      raisedAt: a.alert.raisedAt,
      severity: a.alert.severity,
      title: a.alert.title,
      open: a.alert.open,
    };
  }

  /** `assignment_group` of a rule's group when it names exactly one active group (else left empty, with a log line). */
  private async assignment(rule: AlertRule): Promise<Record<string, string>> {
    if (!rule.assignmentGroup) return {};
    const match = await this.directory.group(this.deps.servicenow, rule.assignmentGroup);
    if (match.kind === 'one') return { assignment_group: match.sysId };
    this.run.logger.warn(
      { group: rule.assignmentGroup, matches: match.kind === 'several' ? match.count : 0 },
      'assignment group not resolved to exactly one ServiceNow group; left empty',
    );
    return {};
  }

  /** Tickets of a table by correlation id. */
  private async findTickets(
    table: string,
    correlationIds: readonly string[],
  ): Promise<Map<string, SnRecord>> {
    const rows = await this.deps.servicenow.listWhereIn(
      table,
      'correlation_id',
      correlationIds,
      ALERT_TICKET_FIELDS,
    );
    return new Map(rows.map((r) => [stringValue(r.correlation_id) ?? '', r]));
  }

  // ---- recording --------------------------------------------------------------------------

  /**
   * Records a decision (after its write, in a real run) with the ticket state it leaves and, for
   * new alerts, the group's current ticket and each alert's ticket.
   */
  private async decide(
    decision: Omit<PlanAction, 'flow' | 'side'> & { side?: PlanAction['side'] },
    ticket?: AlertTicketMemory,
    group?: AlertGroup,
  ): Promise<void> {
    const states: Record<string, EntityStateUpdate[]> = {};
    if (ticket) {
      const now = this.now.toISOString();
      states.ticket = [
        this.memories.tickets.state(ticket.correlationId, ticket, {
          remoteTable: ticket.table,
          remoteSysId: ticket.sysId,
          lastSeenAt: now,
          lastWrittenAt: now,
        }),
      ];
      if (group) {
        states.group = [
          this.memories.groups.state(group.key, {
            correlationId: ticket.correlationId,
            generation: ticket.generation,
          }),
        ];
        states.alert = group.alerts.map((a) =>
          this.memories.alerts.state(a.alert.key, { correlationId: ticket.correlationId }),
        );
      }
    }
    await this.run.recorder.decide({ flow: FLOW, side: 'servicenow', ...decision }, { states });
  }

  /** Runs one ticket's or group's work; an error other than a rate limit is recorded and the run goes on. */
  private async guard(key: string, work: () => Promise<void>): Promise<boolean> {
    try {
      await work();
      return true;
    } catch (error) {
      if (isRateLimitedError(error) || !isSnowlineError(error)) throw error;
      this.run.logger.warn({ key, err: error }, 'alert ticket not synced');
      await this.decide({
        action: 'error',
        entity: 'ticket',
        key,
        reason: `${error.code}: ${error.message}`.slice(0, 2000),
      });
      return false;
    }
  }
}
