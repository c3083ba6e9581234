import { AsyncLocalStorage } from 'node:async_hooks';
import type { IntegrationConfig } from '../config/schema.js';
import type { Limiter } from './http/limiter.js';

/**
 * A held lease on a partition: the fencing epoch every ledger write of this partition is checked
 * against. Defined here, below the store, because the work context carries it to the store's
 * ledger writes; `store/models/leases.ts` acquires and renews it.
 */
export interface PartitionLease {
  readonly partitionKey: string;
  readonly worker: string;
  readonly epoch: number;
}

/**
 * What a `snowline worker` is doing right now: which worker, which partition under which lease.
 * Flows do not pass it along; the ledger reads it (so every event carries worker, partition key
 * and lease epoch, and is fenced by the lease) without any change to the flows.
 */
export interface WorkContext {
  readonly worker: string;
  readonly lease: PartitionLease;
  /**
   * The limiter whose budget all workers share for this ServiceNow instance; undefined when the
   * instance has no request budget configured (then each client keeps its own in-flight bound).
   */
  readonly serviceNowLimiter?: (config: IntegrationConfig['servicenow']) => Limiter | undefined;
}

const storage = new AsyncLocalStorage<WorkContext>();

/** Runs `fn` (and everything it awaits) within `context`. */
export function runWithWorkContext<T>(context: WorkContext, fn: () => Promise<T>): Promise<T> {
  return storage.run(context, fn);
}

/** The work context of the current async call chain; undefined outside a worker's job. */
export function currentWorkContext(): WorkContext | undefined {
  return storage.getStore();
}
