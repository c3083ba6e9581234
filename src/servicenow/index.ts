import type { IntegrationConfig } from '../config/schema.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../logging.js';
import type { RequestCounters } from '../runtime/http/counters.js';
import { ResilientHttpClient } from '../runtime/http/resilient-client.js';
import { createHttpTransport, type HttpTransport } from '../runtime/http/transport.js';
import { RequestLimiter, type Limiter } from '../runtime/http/limiter.js';
import { currentWorkContext } from '../runtime/work-context.js';
import { BasicAuth, OAuthTokenProvider, type ServiceNowAuth } from './auth.js';
import { ServiceNowClient } from './client.js';

export { ServiceNowClient } from './client.js';

/** A client with the transport it owns (close it when done). */
export interface ServiceNowConnection {
  readonly client: ServiceNowClient;
  readonly limiter: Limiter;
  close(): Promise<void>;
}

/**
 * Builds the ServiceNow client of an integration from its configuration: TLS with the
 * configured CA file, the instance's request budget and in-flight bound, Basic or OAuth.
 *
 * @example
 * const { client, close } = connectServiceNow(integration.servicenow, { clock, counters, logger });
 */
export function connectServiceNow(
  config: IntegrationConfig['servicenow'],
  deps: { clock: Clock; counters: RequestCounters; logger?: Logger; transport?: HttpTransport },
): ServiceNowConnection {
  const transport =
    deps.transport ??
    createHttpTransport({
      caFile: config.tls.caFile,
      connections: config.limits.maxInFlight,
      proxy: config.proxy,
    });
  // In a `snowline worker`, the instance's request budget is shared with every other worker.
  const limiter: Limiter =
    currentWorkContext()?.serviceNowLimiter?.(config) ??
    new RequestLimiter({
      service: 'servicenow',
      maxInFlight: config.limits.maxInFlight,
      maxWaitMs: config.limits.maxWaitSeconds * 1000,
      clock: deps.clock,
      ...(config.limits.requestsPerHour
        ? { budget: { requests: config.limits.requestsPerHour, windowMs: 3_600_000 } }
        : {}),
    });
  const http = new ResilientHttpClient({
    service: 'servicenow',
    trustSetting: 'servicenow.tls.caFile',
    transport,
    limiter,
    counters: deps.counters,
    clock: deps.clock,
    ...(deps.logger ? { logger: deps.logger } : {}),
  });
  const auth: ServiceNowAuth =
    config.auth.type === 'basic'
      ? new BasicAuth(config.auth.username, config.auth.password)
      : new OAuthTokenProvider({
          instanceUrl: config.instanceUrl,
          grant: config.auth.grant,
          clientId: config.auth.clientId,
          clientSecret: config.auth.clientSecret,
          ...(config.auth.username ? { username: config.auth.username } : {}),
          ...(config.auth.password ? { password: config.auth.password } : {}),
          http,
          clock: deps.clock,
        });
  const client = new ServiceNowClient({ instanceUrl: config.instanceUrl, auth, http, clock: deps.clock });
  return { client, limiter, close: () => transport.close() };
}
