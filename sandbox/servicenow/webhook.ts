/**
 * Outbound webhook, as the business rule Snowline documents would send it (docs/ticket-sync.md,
 * "Push mode"): after insert/update on a registered table, POST
 * `{"table","sys_id","sys_mod_count","sys_updated_on","record":{…}}` with `X-Snowline-Timestamp`
 * (epoch seconds, sandbox clock) and `X-Snowline-Signature` = base64(HMAC-SHA256(secret,
 * timestamp + "." + rawBody)). Delivery is asynchronous (the API response never waits) and in
 * order per registration, like an async business rule.
 */
import { createHmac } from 'node:crypto';
import { Agent, request } from 'undici';
import { z } from 'zod';
import { newSysId, type ChangeEvent, type Instance } from './instance.js';

/** Body of `POST /_sandbox/webhooks`. */
export const webhookSchema = z.object({
  url: z.string().url(),
  secret: z.string().min(1),
  tables: z.array(z.string().min(1)).min(1),
  /** PEM CA to trust for an https receiver with its own CA (loopback test receivers). */
  ca: z.string().optional(),
});

interface Registration {
  id: string;
  url: string;
  secret: string;
  tables: Set<string>;
  agent: Agent;
  queue: Promise<void>;
}

/** One delivery attempt, as listed by `GET /_sandbox/webhooks`. */
export interface Delivery {
  webhook: string;
  table: string;
  sys_id: string;
  sys_mod_count: string;
  status: number | null;
  error: string | null;
}

/** Computes the signature a receiver checks. */
export function signWebhook(secret: string, timestamp: string, rawBody: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('base64');
}

/** Sends webhooks for changes of registered tables. */
export class WebhookDispatcher {
  private registrations: Registration[] = [];
  private deliveries: Delivery[] = [];
  private pending = 0;

  constructor(private readonly instance: Instance) {
    instance.onChange((e) => this.onChange(e));
  }

  register(input: z.infer<typeof webhookSchema>): { id: string } {
    const id = newSysId();
    this.registrations.push({
      id,
      url: input.url,
      secret: input.secret,
      tables: new Set(input.tables),
      agent: new Agent(input.ca ? { connect: { ca: input.ca } } : {}),
      queue: Promise.resolve(),
    });
    return { id };
  }

  list(): {
    webhooks: Array<{ id: string; url: string; tables: string[] }>;
    pending: number;
    deliveries: Delivery[];
  } {
    return {
      webhooks: this.registrations.map((r) => ({ id: r.id, url: r.url, tables: [...r.tables] })),
      pending: this.pending,
      deliveries: this.deliveries,
    };
  }

  /** Resolves when every queued delivery has been attempted. */
  async idle(): Promise<void> {
    await Promise.all(this.registrations.map((r) => r.queue));
  }

  async clear(): Promise<void> {
    const old = this.registrations;
    this.registrations = [];
    this.deliveries = [];
    await Promise.all(old.map((r) => r.queue.then(() => r.agent.close())));
  }

  private onChange(e: ChangeEvent): void {
    if (e.operation === 'delete') return;
    for (const reg of this.registrations) {
      if (!reg.tables.has(e.table)) continue;
      // Snapshot now: the record may change again before the async delivery runs.
      const record = this.instance.plain(e.row);
      const body = JSON.stringify({
        table: e.table,
        sys_id: record.sys_id ?? '',
        sys_mod_count: record.sys_mod_count ?? '0',
        sys_updated_on: record.sys_updated_on ?? '',
        record,
      });
      const timestamp = String(Math.floor(this.instance.clock.now().getTime() / 1000));
      this.pending++;
      reg.queue = reg.queue.then(() => this.deliver(reg, e.table, record, body, timestamp));
    }
  }

  private async deliver(
    reg: Registration,
    table: string,
    record: Record<string, string>,
    body: string,
    timestamp: string,
  ): Promise<void> {
    const delivery: Delivery = {
      webhook: reg.id,
      table,
      sys_id: record.sys_id ?? '',
      sys_mod_count: record.sys_mod_count ?? '0',
      status: null,
      error: null,
    };
    try {
      const res = await request(reg.url, {
        method: 'POST',
        dispatcher: reg.agent,
        headers: {
          'content-type': 'application/json',
          'x-snowline-timestamp': timestamp,
          'x-snowline-signature': signWebhook(reg.secret, timestamp, body),
        },
        body,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      await res.body.dump();
      delivery.status = res.statusCode;
    } catch (err) {
      delivery.error = err instanceof Error ? err.message : String(err);
    } finally {
      this.pending--;
      this.deliveries.push(delivery);
      if (this.deliveries.length > 1000) this.deliveries.shift();
    }
  }
}
