import type { Context, ErrorHandler } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { isRateLimitedError, isSnowlineError } from '../errors.js';
import type { Logger } from '../logging.js';
import type { SecretScrubber } from '../secrets.js';

/** The body of every error answer: a stable code and a sentence saying what was wrong and what to do. */
export interface ApiErrorBody {
  readonly error: { readonly code: string; readonly message: string };
}

/** HTTP status of each business error code; a code not listed is a 500. The one place that maps them. */
export const STATUS_BY_CODE: Readonly<Record<string, ContentfulStatusCode>> = {
  INPUT_INVALID: 400,
  USAGE: 400,
  CONFIG_INVALID: 400,
  UNAUTHORIZED: 401,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  UPSTREAM: 502,
  SHUTTING_DOWN: 503,
};

/** Answers with an error body. */
export function errorResponse(c: Context, status: ContentfulStatusCode, code: string, message: string) {
  return c.json<ApiErrorBody>({ error: { code, message } }, status);
}

/**
 * The API's error handler: business errors (src/errors.ts) become their status with their
 * message; anything else is a 500 whose message stays in the log, because an unexpected
 * error's text may quote something no client should see. Messages are scrubbed of secrets.
 */
export function apiErrorHandler(logger: Logger, scrubber?: SecretScrubber): ErrorHandler {
  const scrub = (text: string) => (scrubber ? scrubber.scrub(text) : text);
  return (error, c) => {
    if (isSnowlineError(error)) {
      const status = STATUS_BY_CODE[error.code] ?? (error.code.startsWith('UPSTREAM') ? 502 : 500);
      if (status === 401) c.header('WWW-Authenticate', 'Bearer realm="snowline"');
      if (isRateLimitedError(error))
        c.header(
          'Retry-After',
          String(Math.max(1, Math.ceil((error.retryAt.getTime() - Date.now()) / 1000))),
        );
      if (status >= 500) logger.error({ err: error, path: c.req.path }, 'API request failed');
      return errorResponse(c, status, error.code, scrub(error.message));
    }
    if (error instanceof HTTPException) {
      const status = error.status as ContentfulStatusCode;
      return errorResponse(c, status, `HTTP_${status}`, scrub(error.message || 'request refused'));
    }
    logger.error({ err: error, path: c.req.path }, 'API request failed unexpectedly');
    return errorResponse(c, 500, 'INTERNAL', 'internal error; the server log has the details');
  };
}
