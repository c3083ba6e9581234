import { z } from 'zod';
import { pingStore } from '../../store/store.js';
import { defineRoute } from '../route.js';

const ReadySchema = z.object({
  status: z.enum(['ready', 'not-ready']),
  store: z.enum(['ok', 'unreachable']),
  accepting: z.boolean(),
});

/** `GET /api/v1/ready`: the store answers and the process takes work (no token; for readiness probes). */
export const getReady = defineRoute({
  method: 'get',
  path: '/ready',
  operationId: 'getReady',
  summary: 'Readiness: the store answers and new work is taken',
  description: 'Not ready (503) while the store is unreachable or once a shutdown has begun.',
  auth: false,
  responses: {
    200: { description: 'Ready.', schema: ReadySchema },
    503: {
      description: 'Not ready: the store is unreachable or the process is shutting down.',
      schema: ReadySchema,
    },
  },
  async handle(c, _input, deps) {
    const accepting = deps.accepting?.() ?? true;
    let store: 'ok' | 'unreachable' = 'ok';
    try {
      await pingStore(deps.store.db);
    } catch (error) {
      deps.logger.warn({ err: error }, 'readiness: the store does not answer');
      store = 'unreachable';
    }
    const ready = accepting && store === 'ok';
    return c.json({ status: ready ? 'ready' : 'not-ready', store, accepting }, ready ? 200 : 503);
  },
});
