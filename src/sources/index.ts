import type { TokenCredential } from '@azure/identity';
import type { IntegrationConfig } from '../config/schema.js';
import type { Clock } from '../domain/clock.js';
import type { Logger } from '../logging.js';
import type { RequestCounters } from '../runtime/http/counters.js';
import { createHttpTransport, type HttpTransport, type ProxySetting } from '../runtime/http/transport.js';
import type { RequestLimiter } from '../runtime/http/limiter.js';
import { ArmClient, ARM_QUOTA_EXHAUSTED_PAUSE_MS, armQuotaObserver } from './azure/arm.js';
import { createCredential } from './azure/credentials.js';
import { armScopeOf, createAzurePipeline, SnowlineHttpClient } from './azure/pipeline.js';
import { ResourceGraphClient, resourceGraphQuotaObserver } from './azure/resource-graph.js';
import { createServiceHttp, DEFAULT_SOURCE_LIMITS, type ServiceLimits, type SourceDeps } from './common.js';
import { ConsoleClient } from './defender-iot/console-client.js';
import { SensorClient } from './defender-iot/sensor-client.js';
import { IotResourceGraphReader } from './defender-iot/resource-graph-iot.js';

export { ArmClient, ArmError, GOVERNANCE_API_VERSION, METADATA_API_VERSION } from './azure/arm.js';
export type { AssessmentApiVersion } from './azure/arm.js';
export { createCredential, StaticTokenCredential } from './azure/credentials.js';
export { armScopeOf, createAzurePipeline, removeSdkRetries, SnowlineHttpClient } from './azure/pipeline.js';
export { ResourceGraphClient, RESOURCE_GRAPH_API_VERSION } from './azure/resource-graph.js';
export type { ResourceGraphQueryOptions, ResourceGraphRow } from './azure/resource-graph.js';
export type * from './azure/models.js';
export type * from './defender-iot/models.js';
export { ConsoleClient } from './defender-iot/console-client.js';
export { SensorClient } from './defender-iot/sensor-client.js';
export { IotResourceGraphReader, kqlString } from './defender-iot/resource-graph-iot.js';
export type { RecordProblem, ServiceLimits, SourcePage } from './common.js';

/** Runtime pieces shared with the rest of the run. */
export interface DefenderSourcesDeps {
  readonly clock: Clock;
  readonly counters: RequestCounters;
  readonly logger?: Logger;
  /** A transport to use instead of one built from `defender.tls.caFile` (tests). */
  readonly transport?: HttpTransport;
  /** A credential to use instead of one built from `defender.auth` (tests). */
  readonly credential?: TokenCredential;
  /** Limits per service; the schema has no `defender.limits` yet, so these default. */
  readonly limits?: Partial<ServiceLimits>;
  /** Replaces backoff sleeps (tests). */
  readonly wait?: (ms: number) => Promise<void>;
}

/** The Microsoft-side clients of one integration. */
export interface DefenderSources {
  readonly arm: ArmClient;
  readonly resourceGraph: ResourceGraphClient;
  /** Defender for IoT's cloud inventory through Resource Graph, scoped to `defender.subscriptions`. */
  readonly iotResourceGraph: IotResourceGraphReader;
  /** One client per configured sensor, in configuration order. */
  readonly sensors: readonly SensorClient[];
  readonly console: ConsoleClient | undefined;
  readonly credential: TokenCredential;
  /** Limiters per service (`arm`, `resourcegraph`, `console`, `sensor:<name>`), for status and tests. */
  readonly limiters: ReadonlyMap<string, RequestLimiter>;
  /** Closes the transport (when this factory built it). */
  close(): Promise<void>;
}

/**
 * Builds the Defender clients of an integration from its `defender` configuration: one undici
 * transport trusting `tls.caFile`; per service (ARM, Resource Graph, each sensor, the console)
 * a limiter and the shared retry loop, every request counted in `counters`; the credential
 * from `auth`; ARM and Resource Graph through core-rest-pipeline without its retry policies.
 *
 * @example
 * const sources = createDefenderSources(integration.defender, { clock: systemClock, counters, logger });
 * for await (const page of sources.arm.listAssessments(subscriptionId)) …
 * await sources.close();
 */
export function createDefenderSources(
  config: IntegrationConfig['defender'],
  deps: DefenderSourcesDeps,
): DefenderSources {
  const ownTransport = deps.transport === undefined;
  // Azure (ARM, Resource Graph, Entra) and each on-premises appliance may sit behind different
  // proxies: one transport per distinct setting, shared by the services that use it.
  const transports = new Map<string, HttpTransport>();
  const transportFor = (
    proxySetting: ProxySetting | undefined,
    tls: { caFile?: string | undefined; pinSha256?: string | undefined; owner?: string } = {},
  ): HttpTransport => {
    if (deps.transport) return deps.transport;
    const options = {
      caFile: tls.caFile ?? config.tls.caFile,
      proxy: proxySetting,
      ...(tls.pinSha256 ? { pinSha256: tls.pinSha256, pinOwner: tls.owner } : {}),
    };
    const key = JSON.stringify(options);
    const made = transports.get(key) ?? createHttpTransport(options);
    transports.set(key, made);
    return made;
  };
  const transport = transportFor(config.proxy);
  const shared: SourceDeps = {
    transport,
    clock: deps.clock,
    counters: deps.counters,
    ...(deps.logger ? { logger: deps.logger } : {}),
    ...(deps.limits ? { limits: deps.limits } : {}),
    ...(deps.wait ? { wait: deps.wait } : {}),
  };
  const limiters = new Map<string, RequestLimiter>();
  const maxWaitMs = deps.limits?.maxWaitMs ?? DEFAULT_SOURCE_LIMITS.maxWaitMs;

  const entra = createServiceHttp('entra', shared, 'defender.tls.caFile');
  limiters.set('entra', entra.limiter);
  const credential =
    deps.credential ??
    createCredential(config, { clock: deps.clock, httpClient: new SnowlineHttpClient(entra.http) });

  const arm = createServiceHttp('arm', shared, 'defender.tls.caFile');
  limiters.set('arm', arm.limiter);
  const armHttpClient = new SnowlineHttpClient(arm.http, {
    allowedOrigin: config.armUrl,
    observe: armQuotaObserver(
      arm.limiter,
      deps.clock,
      deps.logger,
      Math.min(ARM_QUOTA_EXHAUSTED_PAUSE_MS, maxWaitMs),
    ),
  });
  const armClient = new ArmClient({
    armUrl: config.armUrl,
    credential,
    pipeline: createAzurePipeline({ credential, scope: armScopeOf(config.armUrl) }),
    httpClient: armHttpClient,
  });

  const graph = createServiceHttp('resourcegraph', shared, 'defender.tls.caFile');
  limiters.set('resourcegraph', graph.limiter);
  const resourceGraph = new ResourceGraphClient({
    armUrl: config.armUrl,
    pipeline: createAzurePipeline({ credential, scope: armScopeOf(config.armUrl) }),
    httpClient: new SnowlineHttpClient(graph.http, {
      observe: resourceGraphQuotaObserver(graph.limiter, deps.clock),
      postsAreReads: true,
      allowedOrigin: config.armUrl,
    }),
    ...(deps.logger ? { logger: deps.logger } : {}),
  });

  // Each sensor is its own appliance: its own in-flight bound and pauses, one `sensor` service in the counters.
  const sensors = config.sensors.map((sensor, index) => {
    const { http, limiter } = createServiceHttp(
      'sensor',
      {
        ...shared,
        transport: transportFor(sensor.proxy, {
          ...sensor.tls,
          owner: `sensor ${sensor.name} (defender.sensors[${index}].tls.pinSha256)`,
        }),
      },
      `defender.sensors[${index}].tls.caFile`,
    );
    limiters.set(`sensor:${sensor.name}`, limiter);
    return new SensorClient({ sensor, http, configKey: `defender.sensors[${index}].token` });
  });

  let consoleClient: ConsoleClient | undefined;
  if (config.console) {
    const { http, limiter } = createServiceHttp(
      'console',
      {
        ...shared,
        transport: transportFor(config.console.proxy, {
          ...config.console.tls,
          owner: 'the management console (defender.console.tls.pinSha256)',
        }),
      },
      'defender.console.tls.caFile',
    );
    limiters.set('console', limiter);
    consoleClient = new ConsoleClient({ url: config.console.url, token: config.console.token, http });
  }

  return {
    arm: armClient,
    resourceGraph,
    iotResourceGraph: new IotResourceGraphReader(
      resourceGraph,
      config.subscriptions.length ? { subscriptions: config.subscriptions } : {},
    ),
    sensors,
    console: consoleClient,
    credential,
    limiters,
    close: async () => {
      if (ownTransport) await Promise.all([...transports.values()].map((t) => t.close()));
    },
  };
}
