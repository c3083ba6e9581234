/**
 * The commented example `snowline config init` writes. It must stay valid: a test loads it with
 * the environment variables it names set.
 */
export const EXAMPLE_CONFIG = `# Snowline configuration.
# Values of the form \${NAME} are read from the environment when Snowline starts; keep every
# secret there (or in a secret manager that sets it), not in this file.
# Reference: docs/configuration.md, or \`snowline config schema\` for the JSON Schema.

store:
  # A SQLite file (created on first run) or a postgres:// URL to run several workers.
  url: ./.snowline/snowline.sqlite

log:
  level: info # fatal | error | warn | info | debug | trace | silent (logs go to stderr)

api:
  host: 127.0.0.1
  port: 8420
  tokens:
    - \${SNOWLINE_API_TOKEN} # bearer token for the HTTP API and the dashboard sign-in

integrations:
  # One entry per ServiceNow instance × Defender tenant. The id namespaces every correlation
  # key Snowline writes, so never change it once records exist.
  - id: plant-a
    name: Plant A to ServiceNow production
    servicenow:
      instanceUrl: https://acme.service-now.com
      auth:
        type: oauth # oauth (recommended) or basic
        grant: client_credentials
        clientId: \${SERVICENOW_CLIENT_ID}
        clientSecret: \${SERVICENOW_CLIENT_SECRET}
      # tls:
      #   caFile: /etc/snowline/corporate-ca.pem # extra CAs; verification is always on
      limits:
        # requestsPerHour: 20000 # match the instance's REST API rate-limit rule
        maxInFlight: 4
        maxWaitSeconds: 60 # a longer Retry-After defers the run instead of sleeping
    defender:
      tenantId: \${AZURE_TENANT_ID}
      auth:
        type: clientSecret # clientSecret | managedIdentity | token
        clientId: \${AZURE_CLIENT_ID}
        clientSecret: \${AZURE_CLIENT_SECRET}
      subscriptions:
        - \${AZURE_SUBSCRIPTION_ID}
      # OT sensors read directly (the sensor API does not know its site, zone or Purdue level):
      # sensors:
      #   - name: line-1
      #     url: https://10.20.0.5
      #     token: \${SENSOR_LINE1_TOKEN}
      #     site: Plant A
      #     zone: Line 1
      #     purdueLevel: 1
      # The on-premises management console (incremental, integration API v3):
      # console:
      #   url: https://10.1.0.10
      #   token: \${CONSOLE_TOKEN}
    flows:
      # Defender for IoT sensors, sites, devices and connections -> the OT CMDB (docs/ot-inventory.md).
      otInventory:
        source: resourceGraph # sensor | console | resourceGraph
        sensorValidation: servicenow # servicenow (validated on cmdb_ci_nids) | list | auto
        dataSource: Snowline # a cmdb_ci.discovery_source choice that exists on the instance
        batchSize: 100
        retireAfterDays: 30
      # Defender for IoT CVEs per device -> Vulnerability Response (docs/ot-vulnerabilities.md).
      # resourceGraph pairs with an inventory from resourceGraph or sensor (devices recognised by
      # sensor and MAC); sensor and the retired console only with themselves.
      # otVulnerabilities:
      #   source: resourceGraph # resourceGraph | sensor (keyed by IP) | console (retired 2025-01-01)
      #   detectionSource: Snowline # the detection source; never change it once written
      #   sensorTop: 1000 # CVEs asked per IP of the sensor API; a list this long may be truncated
      #   refreshLastFoundDays: 7 # keep well below the instance's 90-day auto-close
`;

/** The environment variables the example refers to. */
export const EXAMPLE_ENV_VARS = [
  'SNOWLINE_API_TOKEN',
  'SERVICENOW_CLIENT_ID',
  'SERVICENOW_CLIENT_SECRET',
  'AZURE_TENANT_ID',
  'AZURE_CLIENT_ID',
  'AZURE_CLIENT_SECRET',
  'AZURE_SUBSCRIPTION_ID',
] as const;
