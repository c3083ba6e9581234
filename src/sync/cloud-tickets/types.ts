import type { CoveredAssessment, TicketRule } from '../../domain/tickets/rules.js';
import type { TicketTable } from '../../domain/tickets/tables.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import type { ArmClient, ResourceGraphClient } from '../../sources/index.js';
import type { ServiceNowDirectory } from './directory.js';
import type { TicketMemory } from './memory.js';

export type { CloudTicketsConfig } from './config.js';

/** What the flow body needs besides its context: the clients and the subscriptions it reads. */
export interface CloudTicketsDeps {
  /**
   * Subscriptions whose assessments are read (`defender.subscriptions`; in a part of a run split
   * per subscription, the part's own; none in its plan and sweep).
   */
  readonly subscriptions: readonly string[];
  /**
   * In a part of a run split per subscription: whether a remembered ticket is this part's (its
   * assessments' subscription is the part's; in the sweep, a subscription no longer configured).
   * Every ticket is the run's when absent.
   */
  readonly ownsTicket?: (ticket: TicketMemory) => boolean;
  readonly arm: ArmClient;
  /** For owner tags of resources (`resources` table); without it, tag owners stay unknown. */
  readonly resourceGraph?: ResourceGraphClient;
  readonly servicenow: ServiceNowClient;
  /** A directory shared across runs (its cache has a TTL); one per run when absent. */
  readonly directory?: ServiceNowDirectory;
}

/** An owner, assignment group or caller that did not resolve to exactly one active record. */
export interface DirectoryProblem {
  readonly kind: 'owner' | 'caller' | 'assignmentGroup';
  readonly value: string;
  /** 0 when nothing matched, else how many records did. */
  readonly matches: number;
  readonly ticket: string;
}

/** cloud-tickets' own counters (created, updated, resolved, deleted and errors come from its decisions). */
export interface CloudTicketsCounters {
  unchanged: number;
  /** Unhealthy assessments a rule covers. */
  covered: number;
  /** Tickets the rules call for this run. */
  groups: number;
  assignmentsWritten: number;
  /** Tickets a person closed while Unhealthy that still hold back a new one. */
  suppressed: number;
  reopened: number;
  /** Tickets (and their assignments) Defender's own ServiceNow integration made, taken over this run. */
  adopted: number;
  directoryProblems: DirectoryProblem[];
}

/** A rule as the flow applies it: a config rule, or the settings of a ticket created by hand. */
export type AppliedRule = TicketRule;

/** A live ticket found on the instance by correlation id. */
export interface LiveTicket {
  readonly table: TicketTable;
  readonly sysId: string;
  readonly number: string;
  readonly state: string;
}

/**
 * A governance assignment someone other than Snowline made with a ServiceNow ticket on it
 * (Defender's own ServiceNow integration): Snowline adopts it and its ticket instead of opening
 * its own.
 */
export interface OtherAssignment {
  readonly assignmentKey: string;
  readonly owner?: string | undefined;
  readonly remediationDueDate: Date;
  readonly isGracePeriod?: boolean | undefined;
  readonly ticketNumber?: number | undefined;
  readonly ticketLink?: string | undefined;
  readonly ticketStatus?: string | undefined;
}

/** The covered assessments of one ticket this run, under the rule that covers them. */
export interface TicketGroup {
  readonly key: string;
  readonly rule: AppliedRule;
  readonly manual: boolean;
  /** Set for the group of one assessment whose ticket Defender's own integration made (to adopt). */
  readonly other?: OtherAssignment;
  readonly assessments: CoveredAssessment[];
  /** statusChangeDate per assessment id. */
  readonly changes: Record<string, string | null>;
}

/** An assessment's status as read this run. */
export interface SeenStatus {
  readonly code: string;
  readonly statusChangeDate: string | null;
}

/** The api-version assessments and their metadata are read at (Critical exists only from here). */
export const ASSESSMENTS_API_VERSION = '2025-05-04' as const;
