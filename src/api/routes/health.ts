import { z } from 'zod';
import { defineRoute } from '../route.js';

/** `GET /api/v1/health`: the process is up (no token; for liveness probes). */
export const getHealth = defineRoute({
  method: 'get',
  path: '/health',
  operationId: 'getHealth',
  summary: 'Liveness: the process answers',
  auth: false,
  responses: {
    200: { description: 'Up.', schema: z.object({ status: z.literal('ok') }) },
  },
  handle: (c) => c.json({ status: 'ok' as const }),
});
