import { z } from 'zod';
import { enabled, ruleName, schedule } from '../../config/common.js';
import {
  ALERT_SEVERITIES,
  ALERT_TICKET_TABLES,
  DEFAULT_ALERT_IMPACT_URGENCY,
} from '../../domain/ot-alerts/alerts.js';

const impactUrgency = z.strictObject({
  impact: z.number().int().min(1).max(3),
  urgency: z.number().int().min(1).max(3),
});

const closeAction = z.enum(['close', 'learn']);

/** `flows.otAlerts`: the configuration section of flow ot-alerts (composed by config/schema.ts). */
export const otAlertsSection = z
  .strictObject({
    enabled,
    schedule,
    source: z
      .enum(['resourceGraph', 'sensor', 'console'])
      .default('resourceGraph')
      .meta({
        description:
          'Where alerts come from: Azure Resource Graph `iotsecurityresources` (cloud-connected sensors; alerts are closed or learned through ARM), the OT sensor API `GET /api/v1/alerts` (read-only: closing a ticket leaves the alert open in Defender, and the ledger says so), or the management console `/external/v1/alerts` (retired by Microsoft on 2025-01-01; handle / handleAndLearn).',
        examples: ['resourceGraph'],
      }),
    rules: z
      .array(
        z
          .strictObject({
            name: ruleName('critical-ot'),
            when: z
              .strictObject({
                severities: z
                  .array(z.enum(ALERT_SEVERITIES))
                  .optional()
                  .meta({
                    description:
                      'Severities of either scale (sensor Warning/Minor/Major/Critical, Azure Informational/Low/Medium/High); a value matches its equal on the other scale (High = Critical, Medium = Major, Low = Minor and Warning).',
                    examples: [['Critical', 'Major']],
                  }),
                engines: z
                  .array(z.string().min(1))
                  .optional()
                  .meta({
                    description: 'Sensor engines (case-insensitive).',
                    examples: [['Malware', 'Policy Violation']],
                  }),
                alertTypes: z
                  .array(z.string().min(1))
                  .optional()
                  .meta({
                    description: 'Azure alert types or alert titles (case-insensitive).',
                    examples: [['Unauthorized PLC Programming']],
                  }),
                sites: z
                  .array(z.string().min(1))
                  .optional()
                  .meta({ description: 'Site names (case-insensitive).', examples: [['Plant A']] }),
                zones: z
                  .array(z.string().min(1))
                  .optional()
                  .meta({ description: 'Zone names (case-insensitive).', examples: [['Line 1']] }),
              })
              .default({})
              .meta({
                description: 'Conditions, all of which must hold; an absent condition matches anything.',
              }),
            ticket: z
              .boolean()
              .default(true)
              .meta({
                description:
                  'false: alerts this rule matches open no ticket (put such a rule first to silence them).',
                examples: [false],
              }),
            table: z
              .enum(ALERT_TICKET_TABLES)
              .default('incident')
              .meta({
                description:
                  'incident, sn_ot_incident (OT Incident Management) or sn_si_incident (Security Incident Response); `snowline doctor` checks the plugin and roles of the tables in use.',
                examples: ['incident'],
              }),
            grouping: z
              .enum(['none', 'device', 'alertType', 'device+alertType'])
              .default('device+alertType')
              .meta({
                description:
                  'none = one ticket per alert; device = one per device; alertType = one per alert type; device+alertType = one per alert type per device (a burst is one ticket).',
                examples: ['device+alertType'],
              }),
            windowMinutes: z
              .number()
              .int()
              .min(0)
              .max(525_600)
              .default(1440)
              .meta({
                description:
                  "A new alert joins its group's open ticket (as a work note) when raised within this many minutes of the ticket's last alert; later, it opens the next ticket.",
                examples: [60],
              }),
            assignmentGroup: z
              .string()
              .min(1)
              .optional()
              .meta({ description: 'sys_user_group name for assignment_group.', examples: ['OT Security'] }),
          })
          .meta({ description: 'An alert rule: the first rule whose conditions match an alert decides.' }),
      )
      .default([
        {
          name: 'all',
          when: {},
          ticket: true,
          table: 'incident',
          grouping: 'device+alertType',
          windowMinutes: 1440,
        },
      ])
      .meta({
        description:
          'Alert rules, first match wins; an alert no rule matches gets no ticket. Default: one rule for every alert.',
      }),
    reopenAfterMinutes: z
      .number()
      .int()
      .min(0)
      .default(60)
      .meta({
        description:
          'A new alert of a group whose ticket was closed less than this many minutes before opens no ticket (it is noted on the closed one); later, it opens the next ticket.',
        examples: [60],
      }),
    overlapMinutes: z
      .number()
      .int()
      .min(0)
      .max(10_080)
      .default(60)
      .meta({
        description:
          'New alerts are read from the newest creation time seen minus this overlap (alerts reach the source late); alerts already ticketed are recognised and skipped.',
        examples: [60],
      }),
    lookbackDays: z
      .number()
      .int()
      .min(1)
      .max(90)
      .default(7)
      .meta({
        description:
          'On the first run, alerts raised this many days back are read (Defender closes unanswered alerts after 90 days).',
        examples: [7],
      }),
    closeActions: z
      .strictObject({
        default: closeAction.default('close').meta({
          description:
            'What closing a ticket does to its alerts in Defender: close (Azure status Closed; console handle) or learn (Azure learn; console handleAndLearn: the traffic becomes baseline).',
          examples: ['close'],
        }),
        byCloseCode: z
          .record(z.string().min(1), closeAction)
          .default({})
          .meta({
            description:
              'Per ticket close code (close_code, case-insensitive), the action instead of the default.',
            examples: [{ 'Known error': 'learn' }],
          }),
      })
      .default({ default: 'close', byCloseCode: {} })
      .meta({
        description: 'Ticket Resolved / Closed / Canceled → its open alerts closed in Defender this way.',
      }),
    resolve: z
      .strictObject({
        closeCode: z
          .string()
          .min(1)
          .default('Solution provided')
          .meta({
            description:
              'close_code written when every alert of a ticket was closed in Defender and Snowline resolves it; must be a choice of the table on the instance.',
            examples: ['Solution provided'],
          }),
        notes: z
          .string()
          .min(1)
          .default(
            'Every Defender for IoT alert of this ticket was closed in Defender; resolved by Snowline.',
          )
          .meta({ description: 'close_notes written then.' }),
      })
      .default({
        closeCode: 'Solution provided',
        notes: 'Every Defender for IoT alert of this ticket was closed in Defender; resolved by Snowline.',
      })
      .meta({ description: 'How a ticket is resolved when its alerts were closed in Defender first.' }),
    impactUrgency: z
      .strictObject({
        Critical: impactUrgency,
        Major: impactUrgency,
        Minor: impactUrgency,
        Warning: impactUrgency,
        High: impactUrgency,
        Medium: impactUrgency,
        Low: impactUrgency,
        Informational: impactUrgency,
      })
      .default(DEFAULT_ALERT_IMPACT_URGENCY)
      .meta({
        description:
          'Severity (both scales) → ticket impact and urgency (1 High … 3 Low); the instance derives priority.',
      }),
  })
  .meta({
    description:
      'Flow ot-alerts: Defender for IoT alerts → incident / sn_ot_incident / sn_si_incident, grouped into tickets; ticket closed → alerts closed in Defender (where the source can), alerts closed in Defender → ticket resolved.',
  });

/** The flow's configuration section (`flows.otAlerts`), with defaults applied. */
export type OtAlertsConfig = z.output<typeof otAlertsSection>;
