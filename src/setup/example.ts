import { parseConfigText } from '../config/load.js';
import { formatSetup, serviceNowSetup } from './servicenow.js';

/** The configuration docs/ticket-sync.md shows the setup of: cloud-tickets on incident, push mode on. */
export const SETUP_EXAMPLE_CONFIG = `integrations:
  - id: plant-a
    servicenow:
      instanceUrl: https://acme.service-now.com
      auth:
        type: oauth
        grant: client_credentials
        clientId: 3f2a
        clientSecret: \${SERVICENOW_CLIENT_SECRET}
    defender:
      tenantId: 00000000-0000-0000-0000-000000000000
      auth:
        type: clientSecret
        clientId: 11111111-1111-1111-1111-111111111111
        clientSecret: \${AZURE_CLIENT_SECRET}
      subscriptions: [22222222-2222-2222-2222-222222222222]
    flows:
      cloudTickets:
        rules:
          - name: high-critical
            table: incident
      ticketSync:
        webhook:
          secret: \${SNOWLINE_WEBHOOK_SECRET}
`;

/** Where docs/ticket-sync.md holds the generated setup (the fenced block after this line). */
export const SETUP_DOC_MARKER =
  '<!-- generated: snowline servicenow setup --webhook-url https://snowline.example.com/api/v1/webhooks/servicenow (npm run docs) -->';

/** What `snowline servicenow setup --webhook-url …` prints for {@link SETUP_EXAMPLE_CONFIG}. */
export function renderSetupExample(): string {
  const { config } = parseConfigText(SETUP_EXAMPLE_CONFIG, 'setup example', {
    SERVICENOW_CLIENT_SECRET: 'example-client-secret',
    AZURE_CLIENT_SECRET: 'example-azure-secret',
    SNOWLINE_WEBHOOK_SECRET: 'example-webhook-secret',
  });
  return formatSetup(
    serviceNowSetup(config.integrations[0]!, {
      scope: 'global',
      webhookUrl: 'https://snowline.example.com/api/v1/webhooks/servicenow',
    }),
  );
}

/** `page` with the fenced block after {@link SETUP_DOC_MARKER} replaced by `generated`. */
export function withSetupSection(page: string, generated: string): string {
  const at = page.indexOf(SETUP_DOC_MARKER);
  if (at === -1) throw new Error(`the page has no line ${SETUP_DOC_MARKER}`);
  const open = page.indexOf('```text\n', at);
  const close = page.indexOf('\n```\n', open);
  if (open === -1 || close === -1) throw new Error('no ```text block after the marker');
  return `${page.slice(0, open)}\`\`\`text\n${generated.trimEnd()}${page.slice(close)}`;
}
