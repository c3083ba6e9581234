import { createHash, timingSafeEqual } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import { SnowlineError } from '../errors.js';

/** A request without a valid bearer token. HTTP 401. */
export class UnauthorizedError extends SnowlineError {
  constructor(message: string) {
    super('UNAUTHORIZED', message);
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * True when `presented` equals one of `tokens`. Both sides are hashed first so the comparison
 * is constant-time whatever their lengths, and every configured token is compared (no early
 * exit), so the timing says nothing about which token, or how much of one, matched.
 */
export function tokenMatches(presented: string, tokens: readonly string[]): boolean {
  const candidate = digest(presented);
  let matched = false;
  for (const token of tokens) matched = timingSafeEqual(candidate, digest(token)) || matched;
  return matched;
}

/** The token of an `Authorization: Bearer <token>` header, if there is one. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  return match?.[1];
}

/**
 * Hono middleware that lets a request through only with `Authorization: Bearer <token>` for one
 * of `tokens` (the config key `api.tokens`). Anything else is a 401 with a `WWW-Authenticate`
 * challenge; with no token configured every request is refused, never let through.
 *
 * @example
 * app.use('/private/*', requireBearerToken(config.api.tokens));
 */
export function requireBearerToken(tokens: readonly string[]): MiddlewareHandler {
  return async (c, next) => {
    const presented = bearerToken(c.req.header('authorization'));
    if (tokens.length === 0)
      throw new UnauthorizedError('no API token is configured; add one under api.tokens and restart');
    if (presented === undefined)
      throw new UnauthorizedError('missing bearer token; send Authorization: Bearer <one of api.tokens>');
    if (!tokenMatches(presented, tokens))
      throw new UnauthorizedError('the bearer token is not one of api.tokens');
    await next();
  };
}
