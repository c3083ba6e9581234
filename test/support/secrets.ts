/**
 * Secret canaries for the security checks: every secret of a configuration, and which of them
 * appear in a set of texts (logs, API bodies, `/metrics`, store files).
 */

/**
 * Every value of a secret-looking key in a configuration (the schema's `secret()` fields:
 * passwords, client secrets, tokens, webhook secrets), at least 8 characters so that a short
 * common word can not match by accident.
 */
export function secretsOf(value: unknown, key = ''): string[] {
  if (typeof value === 'string')
    return /secret|token|password/i.test(key) && value.length >= 8 ? [value] : [];
  if (Array.isArray(value)) return value.flatMap((v) => secretsOf(v, key));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => secretsOf(v, k));
  return [];
}

/** The secrets that appear in any of the texts; a passing check expects `[]`. */
export function leaks(secrets: readonly string[], ...texts: string[]): string[] {
  return secrets.filter((s) => texts.some((t) => t.includes(s)));
}
