import type { FlowSummary } from '../domain/flows.js';
import { isRateLimitedError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { RequestCounters } from '../runtime/http/counters.js';

/** The Defender services whose requests a summary counts as `requests.defender`. */
const DEFENDER_SERVICES = ['sensor', 'console', 'arm', 'resourcegraph'] as const;

/**
 * Runs a flow's work and completes its summary: a rate limit defers the rest of the run (what was
 * written is recorded, and counted), and duration, requests per side and retries are filled in.
 */
export async function executeFlow<S extends FlowSummary, P>(
  flow: { readonly summary: S; readonly plan: P; execute(): Promise<void> },
  run: { readonly logger: Logger; readonly counters: RequestCounters },
): Promise<{ summary: S; plan: P }> {
  const started = performance.now();
  try {
    await flow.execute();
  } catch (error) {
    if (!isRateLimitedError(error)) throw error;
    flow.summary.outcome = 'deferred';
    flow.summary.retryAt = error.retryAt.toISOString();
    run.logger.warn(
      { retryAt: flow.summary.retryAt, service: error.service },
      'rate limit reached; the rest of the run is deferred',
    );
  }
  const summary = flow.summary;
  summary.durationMs = performance.now() - started;
  Object.assign(summary, countedRequests(run.counters));
  return { summary, plan: flow.plan };
}

/**
 * A summary's `requests` per side and `retries`, from the counters of a flow run: what a
 * successful run reports, and what a failed one reports too (runFlows reads the same counters).
 */
export function countedRequests(counters: RequestCounters): Pick<FlowSummary, 'requests' | 'retries'> {
  return {
    requests: {
      servicenow: counters.total('servicenow'),
      defender: DEFENDER_SERVICES.reduce((sum, service) => sum + counters.total(service), 0),
    },
    retries: counters.retries,
  };
}
