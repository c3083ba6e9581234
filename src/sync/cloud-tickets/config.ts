import { z } from 'zod';
import { enabled, ruleName, schedule, verify } from '../../config/common.js';
import { DEFAULT_TICKET_TABLE, TICKET_TABLES } from '../../domain/tickets/tables.js';

/** `flows.cloudTickets`: the configuration section of flow cloud-tickets (composed by config/schema.ts). */
export const cloudTicketsSection = z
  .strictObject({
    enabled,
    schedule,
    verify,
    managementGroups: z
      .array(z.string().min(1))
      .default([])
      .meta({
        description:
          'Management group ids whose assessments are read through Resource Graph (`securityresources`, metadata inline) instead of ARM per subscription; empty = defender.subscriptions through ARM.',
        examples: [['contoso-prod']],
      }),
    rules: z
      .array(
        z
          .strictObject({
            name: ruleName('high-critical'),
            when: z
              .strictObject({
                severities: z
                  .array(z.enum(['Low', 'Medium', 'High', 'Critical']))
                  .optional()
                  .meta({ description: 'Recommendation severities.', examples: [['High', 'Critical']] }),
                recommendations: z
                  .array(z.string().min(1))
                  .optional()
                  .meta({
                    description: 'Assessment keys (GUIDs) or display names (case-insensitive).',
                    examples: [['4fb67663-9ab9-475d-b026-8c544cced439']],
                  }),
                subscriptions: z
                  .array(z.string().min(1))
                  .optional()
                  .meta({
                    description: 'Subscription ids.',
                    examples: [['20ff7fc3-e762-44dd-bd96-b71116dcdc23']],
                  }),
                resourceTypes: z
                  .array(z.string().min(1))
                  .optional()
                  .meta({
                    description:
                      'Azure resource types (case-insensitive); `subscription` for subscription-level recommendations.',
                    examples: [['Microsoft.Compute/virtualMachines']],
                  }),
                categories: z
                  .array(z.string().min(1))
                  .optional()
                  .meta({
                    description: 'Recommendation categories (case-insensitive).',
                    examples: [['Compute', 'Data']],
                  }),
              })
              .default({})
              .meta({
                description: 'Conditions, all of which must hold; an absent condition matches anything.',
              }),
            table: z
              .enum(TICKET_TABLES)
              .default(DEFAULT_TICKET_TABLE)
              .meta({
                description: 'The ticket table.',
                examples: [DEFAULT_TICKET_TABLE],
              }),
            assignmentGroup: z
              .string()
              .min(1)
              .optional()
              .meta({
                description: 'sys_user_group name for assignment_group.',
                examples: ['Cloud Security'],
              }),
            caller: z
              .string()
              .min(1)
              .optional()
              .meta({
                description: 'Email of the incident caller (caller_id).',
                examples: ['secops@contoso.com'],
              }),
            owner: z
              .discriminatedUnion('type', [
                z
                  .strictObject({
                    type: z.literal('tag'),
                    value: z
                      .string()
                      .min(1)
                      .meta({ description: 'Tag key.', examples: ['owner'] }),
                  })
                  .meta({
                    description:
                      "The owner's email is the value of this tag on the resource (Defender's ByTag).",
                  }),
                z
                  .strictObject({
                    type: z.literal('email'),
                    value: z
                      .string()
                      .min(3)
                      .meta({ description: 'Email.', examples: ['secops@contoso.com'] }),
                  })
                  .meta({ description: "A fixed owner email (Defender's Manually)." }),
              ])
              .optional()
              .meta({
                description:
                  'Owner of the governance assignment, and assigned_to when it resolves to one user.',
              }),
            dueDays: z
              .number()
              .int()
              .min(0)
              .max(3650)
              .default(30)
              .meta({
                description: 'remediationDueDate is the ticket creation plus this many days.',
                examples: [14],
              }),
            gracePeriod: z
              .boolean()
              .default(false)
              .meta({
                description:
                  'isGracePeriod of the governance assignments (secure score unaffected until due).',
                examples: [true],
              }),
            grouping: z
              .enum(['none', 'recommendation', 'resource', 'owner'])
              .default('none')
              .meta({
                description:
                  'none = one ticket per assessment; recommendation = one per recommendation per subscription; resource = one per resource; owner = one per owner per subscription.',
                examples: ['recommendation'],
              }),
          })
          .meta({
            description:
              'A ticket rule: the first rule whose conditions match an Unhealthy assessment decides.',
          }),
      )
      .default([])
      .meta({
        description: 'Ticket rules, first match wins; an assessment no rule matches gets no ticket.',
      }),
    governanceRules: z
      .strictObject({
        adopt: z
          .boolean()
          .default(false)
          .meta({
            description:
              'Also apply the enabled Defender governance rules of ruleType ServiceNow found at the read scopes (after the rules above, by rulePriority), so Snowline opens the tickets Defender would.',
            examples: [true],
          }),
        table: z
          .enum(TICKET_TABLES)
          .default(DEFAULT_TICKET_TABLE)
          .meta({
            description:
              'Ticket table of adopted governance rules: their ticket type has no public schema (docs/cloud-tickets.md).',
            examples: [DEFAULT_TICKET_TABLE],
          }),
      })
      .default({ adopt: false, table: DEFAULT_TICKET_TABLE })
      .meta({ description: 'Adopting Defender governance rules of ruleType ServiceNow.' }),
    impactUrgency: z
      .strictObject({
        Critical: z.strictObject({
          impact: z.number().int().min(1).max(3),
          urgency: z.number().int().min(1).max(3),
        }),
        High: z.strictObject({
          impact: z.number().int().min(1).max(3),
          urgency: z.number().int().min(1).max(3),
        }),
        Medium: z.strictObject({
          impact: z.number().int().min(1).max(3),
          urgency: z.number().int().min(1).max(3),
        }),
        Low: z.strictObject({
          impact: z.number().int().min(1).max(3),
          urgency: z.number().int().min(1).max(3),
        }),
      })
      .default({
        Critical: { impact: 1, urgency: 1 },
        High: { impact: 1, urgency: 2 },
        Medium: { impact: 2, urgency: 2 },
        Low: { impact: 3, urgency: 3 },
      })
      .meta({
        description: 'Severity → ticket impact and urgency (1 High … 3 Low); the instance derives priority.',
      }),
    close: z
      .strictObject({
        incidentCloseCode: z
          .string()
          .min(1)
          .default('Solution provided')
          .meta({
            description:
              'Incident close_code when Snowline resolves it (state 6); must be a choice of the instance.',
            examples: ['Solution provided'],
          }),
        problemResolutionCode: z
          .enum(['fix_applied', 'risk_accepted', 'canceled'])
          .default('fix_applied')
          .meta({
            description: 'Problem resolution_code when Snowline resolves it (state 106).',
            examples: ['fix_applied'],
          }),
        notes: z
          .string()
          .min(1)
          .default(
            'Defender for Cloud reports every resource of this ticket Healthy or Not applicable; resolved by Snowline.',
          )
          .meta({
            description: 'close_notes (and problem cause/fix notes) written when Snowline resolves a ticket.',
          }),
      })
      .default({
        incidentCloseCode: 'Solution provided',
        problemResolutionCode: 'fix_applied',
        notes:
          'Defender for Cloud reports every resource of this ticket Healthy or Not applicable; resolved by Snowline.',
      })
      .meta({
        description:
          'How tickets are closed when their assessments are Healthy (change requests are Canceled with the notes).',
      }),
    reopen: z
      .enum(['reopen', 'new'])
      .default('reopen')
      .meta({
        description:
          'When an assessment of a ticket Snowline resolved turns Unhealthy again: reopen = move a Resolved incident back to In Progress and a Resolved problem back to Root Cause Analysis (a new ticket when it can not be reopened); new = always a new ticket.',
        examples: ['reopen'],
      }),
    onTicketDeleted: z
      .enum(['recreate', 'record'])
      .default('recreate')
      .meta({
        description:
          'When a ticket Snowline opened is deleted on the instance while Defender still reports its assessments Unhealthy: recreate = open a new ticket (a deletion is most often a cleanup, a clone or a mistake, and the finding is still open); record = keep the deletion as a person’s decision, like a ticket closed by hand (no new ticket until an assessment turns Healthy and Unhealthy again or coolOffDays pass).',
        examples: ['recreate'],
      }),
    coolOffDays: z
      .number()
      .min(0)
      .default(30)
      .meta({
        description:
          'A ticket a person closed while its assessments were Unhealthy suppresses a new one until an assessment turns Healthy and Unhealthy again, or this many days pass.',
        examples: [30],
      }),
    directoryCacheMinutes: z
      .number()
      .min(0)
      .default(60)
      .meta({
        description: 'How long user and group look-ups (email → sys_user) are cached.',
        examples: [60],
      }),
    batchSize: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(50)
      .meta({
        description:
          "New tickets created per Batch API call (each still carries its correlation_id); keep a call well under the instance's 30 s batch timeout.",
        examples: [50],
      }),
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(64)
      .default(4)
      .meta({
        description:
          "Tickets kept in step at once, and governance-assignment writes of one ticket in flight at once, so the PUTs (one per assessment: ARM has no batch) overlap instead of waiting one round trip after another; ARM's in-flight bound (4) still caps the requests. 1 syncs one ticket and one assignment at a time.",
        examples: [4],
      }),
  })
  .meta({
    description:
      'Flow cloud-tickets: Unhealthy Defender for Cloud recommendations → incident / problem / change_request, linked to governance assignments.',
  });

/** The flow's configuration section (`flows.cloudTickets`), with defaults applied. */
export type CloudTicketsConfig = z.output<typeof cloudTicketsSection>;
