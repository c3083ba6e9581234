import { Cron } from 'croner';
import { z } from 'zod';

/**
 * Pieces of the configuration schema that several sections share: secrets and schedules. The
 * flow sections live with their flows (`src/sync/<flow>/config.ts`); `schema.ts` composes them.
 */

/** Marks a string as a secret. Use `${ENV_VAR}` in the file rather than the value itself. */
export function secret(description: string, example = '${SNOWLINE_SECRET}') {
  return z
    .string({ error: 'must be a string (quote it, or use ${ENV_VAR})' })
    .min(1, { error: 'must not be empty' })
    .meta({ secret: true, description, examples: [example] });
}

/** A proxy URL: http(s), host and port. */
const proxyUrl = z.url({
  protocol: /^https?$/,
  error: 'must be an http(s) URL of the proxy, e.g. http://proxy:3128',
});

/**
 * How one side reaches its endpoints: absent, through the proxy the environment names
 * (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`); `none`, directly; a URL, through that proxy; or
 * `{ url, username, password }` for a proxy that asks for Basic authentication.
 */
export function proxy(side: string) {
  return z
    .union(
      [
        z.literal('none'),
        proxyUrl,
        z.strictObject({
          url: proxyUrl,
          username: z.string().min(1).optional(),
          password: secret('Proxy password.', '${PROXY_PASSWORD}').optional(),
        }),
      ],
      { error: 'must be "none", a proxy URL such as http://proxy:3128, or { url, username, password }' },
    )
    .optional()
    .meta({
      description: `How ${side} is reached: absent, through the proxy of HTTPS_PROXY / HTTP_PROXY (NO_PROXY excludes hosts); "none", directly; a URL, through that proxy; { url, username, password } for a proxy with Basic authentication.`,
      examples: ['http://proxy.plant.local:3128', 'none'],
    });
}

/**
 * The stable name of a ticket rule (cloud-tickets, ot-alerts): part of every ticket key, so
 * renaming a rule opens new tickets.
 */
export function ruleName(example: string) {
  return z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$/, {
      error: 'must be 1-40 letters, digits, _ . or -, starting with a letter or digit',
    })
    .meta({
      description:
        'Stable name of the rule; it is part of every ticket key, so renaming a rule opens new tickets.',
      examples: [example],
    });
}

/** `enabled` of every flow section: a configured flow runs unless switched off. */
export const enabled = z
  .boolean()
  .default(true)
  .meta({ description: 'Run this flow.', examples: [true] });

/** `every: 60s` as `snowline serve` reads it: a whole number of seconds (s), minutes (m) or hours (h). */
export const EVERY_PATTERN = /^([1-9][0-9]{0,5})\s*(s|m|h)$/;

/**
 * When `snowline serve` runs a flow: a croner expression (5 or 6 fields, e.g. `*\/15 * * * *`),
 * or `{ every: 60s }`. A flow without one runs only when triggered (API, dashboard, CLI) or
 * when a deferred run is due.
 */
export const schedule = z
  .union(
    [
      z
        .string()
        .min(1)
        .refine((value) => cronProblem(value) === undefined, {
          error: (issue) =>
            `is not a cron expression: ${cronProblem(String(issue.input))}; use 5 or 6 fields like "*/15 * * * *", or { every: 60s }`,
        }),
      z.strictObject({
        every: z
          .string()
          .regex(EVERY_PATTERN, {
            error: 'must be a number with s, m or h, e.g. 60s, 15m or 1h',
          })
          .meta({
            description: 'Run every this long (s, m or h), starting at the first second after serve starts.',
            examples: ['60s'],
          }),
      }),
    ],
    { error: 'must be a cron expression like "*/15 * * * *" or { every: 60s }' },
  )
  .optional()
  .meta({
    description:
      'When `snowline serve` runs this flow: a cron expression (croner, 5 or 6 fields, UTC) or { every: 60s | 15m | 1h }. Without one the flow runs only when triggered or when a deferred run is due.',
    examples: ['*/15 * * * *', { every: '60s' }],
  });

/** When `snowline serve` runs a flow's verification pass unless its `verify.schedule` says otherwise: daily, 03:17 UTC. */
export const DEFAULT_VERIFY_SCHEDULE = '17 3 * * *';

/**
 * A flow's verification pass (src/sync/kernel/drift.ts): every record the flow owns is read back
 * and what is gone is sent again. `snowline serve` runs it on its schedule (daily by default);
 * `snowline sync --verify` runs it on demand.
 */
export const verify = z
  .strictObject({
    enabled: z.boolean().default(true).meta({
      description: 'Run the verification pass on its schedule in `snowline serve`.',
    }),
    schedule: schedule.meta({
      description: `When \`snowline serve\` runs the verification pass: a cron expression (UTC) or { every: 24h }. Default: daily at 03:17 UTC (\`${DEFAULT_VERIFY_SCHEDULE}\`).`,
      examples: [DEFAULT_VERIFY_SCHEDULE],
    }),
  })
  .optional()
  .meta({
    description:
      'The verification pass: reads back every record this flow owns (sys_id only, 100 a request) and sends again what was deleted on the other side, each decision saying why. `snowline sync --verify` runs it on demand.',
  });

function cronProblem(expression: string): string | undefined {
  // croner also takes an ISO date as a one-off time; a schedule must repeat.
  const fields = expression.trim().split(/\s+/).length;
  if (fields < 5 || fields > 6) return `it has ${fields} field(s), not 5 or 6`;
  try {
    new Cron(expression, { paused: true, mode: '5-or-6-parts' }).stop();
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}
