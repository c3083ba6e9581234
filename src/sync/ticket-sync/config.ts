import { z } from 'zod';
import { enabled, schedule, secret } from '../../config/common.js';
import { DEFAULT_CLOSED_STATES, TICKET_TABLES, type TicketTable } from '../../domain/tickets/tables.js';

/** The configurable closed states of one ticket table, defaulting to the registry's. */
const closedStateList = (table: TicketTable) =>
  z
    .array(
      z
        .string()
        .regex(/^-?\d+$/, { error: 'must be a state value such as "6" (the stored value, not the label)' }),
    )
    .default([...DEFAULT_CLOSED_STATES[table]])
    .meta({
      description: `${table} states in which a ticket counts as Resolved, Closed or Canceled.`,
      examples: [[...DEFAULT_CLOSED_STATES[table]]],
    });

/** The poll's schedule when the section names none: the backstop of the webhook stays on. */
export const TICKET_SYNC_DEFAULT_SCHEDULE = { every: '60s' } as const;

/** `flows.ticketSync`: the configuration section of flow ticket-sync (composed by config/schema.ts). */
export const ticketSyncSection = z
  .strictObject({
    enabled,
    schedule: schedule.meta({
      description:
        'When `snowline serve` polls: a cron expression (croner, 5 or 6 fields, UTC) or { every: 60s | 15m | 1h }. Default { every: 60s }: polling stays on as the backstop of the webhook.',
      examples: [{ every: '60s' }, '*/5 * * * *'],
    }),
    intervalSeconds: z
      .number()
      .int()
      .min(10, { error: 'must be at least 10 seconds' })
      .optional()
      .meta({
        description:
          'Deprecated: use schedule: { every: <N>s }. Still read as the poll interval when schedule is absent; `snowline config check` warns.',
        examples: [60],
      }),
    overlapSeconds: z
      .number()
      .int()
      .min(0)
      .max(86_400)
      .default(120)
      .meta({
        description:
          'Each poll re-reads tickets updated up to this long before the watermark (sys_updated_on has one-second resolution and commits are not instantaneous); re-read changes are recognised by sys_mod_count and cost no write.',
        examples: [120],
      }),
    pageSize: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(1000)
      .meta({ description: 'Tickets per Table API page when polling.', examples: [1000] }),
    closedStates: z
      .strictObject(
        Object.fromEntries(TICKET_TABLES.map((table) => [table, closedStateList(table)])) as Record<
          TicketTable,
          ReturnType<typeof closedStateList>
        >,
      )
      .default(
        Object.fromEntries(
          TICKET_TABLES.map((table) => [table, [...DEFAULT_CLOSED_STATES[table]]]),
        ) as Record<TicketTable, string[]>,
      )
      .meta({
        description:
          'Per table, the states (stored values) in which a ticket counts as Resolved, Closed or Canceled, for every flow of the integration: ticket-sync deletes its governance assignments (as Defender for Cloud does), cloud-tickets treats it as closed, the dashboard and API stop counting it open.',
      }),
    reopen: z
      .enum(['recreate', 'leave'])
      .default('recreate')
      .meta({
        description:
          "A ticket reopened in ServiceNow (out of a closed state): recreate = put its governance assignments back (same key, due date and grace period, the ticket's owner and status); leave = do nothing.",
        examples: ['recreate'],
      }),
    conflict: z
      .strictObject({
        state: z
          .enum(['servicenow', 'defender'])
          .default('servicenow')
          .meta({
            description:
              'The ticket closed in ServiceNow while a person changed its assignment in Defender since Snowline last wrote it: servicenow = delete it anyway; defender = keep it (recorded as a conflict).',
            examples: ['servicenow'],
          }),
        owner: z
          .enum(['servicenow', 'defender'])
          .default('servicenow')
          .meta({
            description:
              "assigned_to changed in ServiceNow and the assignment owner changed in Defender since Snowline last wrote it: servicenow = the ticket's user email wins; defender = the Defender owner stays.",
            examples: ['servicenow'],
          }),
        health: z
          .enum(['defender', 'servicenow'])
          .default('defender')
          .meta({
            description:
              'A ticket reopened in ServiceNow whose recommendation Defender reports Healthy or Not applicable: defender = no assignment is recreated; servicenow = recreate it anyway.',
            examples: ['defender'],
          }),
      })
      .default({ state: 'servicenow', owner: 'servicenow', health: 'defender' })
      .meta({ description: 'Who wins when both sides changed (every decision is a ledger event).' }),
    webhook: z
      .strictObject({
        secret: secret(
          'Shared secret of the ServiceNow business rule: it signs each POST as base64(HMAC-SHA256(secret, timestamp + "." + body)). Use a distinct, random secret (32+ characters) per integration.',
          '${SNOWLINE_WEBHOOK_SECRET}',
        ).optional(),
      })
      .default({})
      .meta({
        description:
          'Push mode: `POST /api/v1/webhooks/servicenow` of `snowline serve`, called by the business rule in docs/ticket-sync.md. Without a secret the webhook refuses every request of this integration.',
      }),
  })
  .meta({
    description:
      'Flow ticket-sync: ServiceNow → Defender. Tickets Snowline opened that are Resolved / Closed / Canceled lose their governance assignments; a new assigned_to becomes the assignment owner; ticketStatus mirrors the state.',
  });

/** The flow's configuration section (`flows.ticketSync`), with defaults applied. */
export type TicketSyncConfig = z.output<typeof ticketSyncSection>;
