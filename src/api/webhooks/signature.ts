import { createHmac, timingSafeEqual } from 'node:crypto';

/** How old (or how far in the future) a signed timestamp may be: docs/ticket-sync.md, "Push mode". */
export const WEBHOOK_TOLERANCE_SECONDS = 300;

/**
 * The signature the ServiceNow business rule sends: base64(HMAC-SHA256(secret, timestamp + "." +
 * rawBody)). Base64 because GlideCertificateEncryption.generateMac returns base64.
 *
 * @example
 * signWebhookBody('s3cret', '1767225600', '{"table":"incident"}') // 'k3X…='
 */
export function signWebhookBody(secret: string, timestamp: string, rawBody: string | Buffer): string {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(rawBody).digest('base64');
}

/** Why a signed request was refused, in words safe to send back (no secret, no expected value). */
export type SignatureProblem =
  | 'missing X-Snowline-Timestamp or X-Snowline-Signature'
  | 'X-Snowline-Timestamp is not epoch seconds'
  | 'X-Snowline-Timestamp is outside the 300 s window'
  | 'signature does not match';

/**
 * Checks a request's timestamp window and signature against each secret, in constant time per
 * secret, and returns the index of the secret that signed it.
 *
 * @returns `{ index }` of the matching secret, or `{ refused }`.
 */
export function verifyWebhookSignature(input: {
  readonly secrets: readonly string[];
  readonly timestamp: string | undefined;
  readonly signature: string | undefined;
  readonly rawBody: Buffer;
  readonly now: Date;
  readonly toleranceSeconds?: number;
}): { index: number } | { refused: SignatureProblem } {
  const { timestamp, signature } = input;
  if (!timestamp || !signature) return { refused: 'missing X-Snowline-Timestamp or X-Snowline-Signature' };
  if (!/^\d{1,12}$/.test(timestamp)) return { refused: 'X-Snowline-Timestamp is not epoch seconds' };
  const age = Math.abs(input.now.getTime() / 1000 - Number(timestamp));
  if (age > (input.toleranceSeconds ?? WEBHOOK_TOLERANCE_SECONDS))
    return { refused: 'X-Snowline-Timestamp is outside the 300 s window' };
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(signature.trim())) return { refused: 'signature does not match' };
  const given = Buffer.from(signature.trim(), 'base64');
  let found = -1;
  // Every secret is tried (no early exit), so timing does not tell which one nearly matched.
  input.secrets.forEach((secret, index) => {
    const expected = Buffer.from(signWebhookBody(secret, timestamp, input.rawBody), 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected) && found === -1) found = index;
  });
  return found === -1 ? { refused: 'signature does not match' } : { index: found };
}
