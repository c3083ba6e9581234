/** Replacement text for anything secret. */
export const REDACTED = '[REDACTED]';

/**
 * Removes known secret values from text. Structural redaction (pino paths, `config show`) handles
 * fields we know are secret; this is the net under it for secrets that end up inside strings:
 * an error message quoting a URL, a header dumped by a library, a token in a query string.
 */
export class SecretScrubber {
  private readonly values = new Set<string>();
  private pattern: RegExp | undefined;

  constructor(secrets: Iterable<string> = []) {
    this.add(secrets);
  }

  /**
   * Adds secrets to scrub, with their URL-encoded and base64 forms (Basic auth headers). Very
   * short values are skipped: replacing every "ab" would garble logs without protecting anything.
   */
  add(secrets: Iterable<string>): void {
    for (const secret of secrets) {
      if (secret.length < 4) continue;
      this.values.add(secret);
      this.values.add(encodeURIComponent(secret));
      const base64 = Buffer.from(secret).toString('base64');
      this.values.add(base64);
      this.values.add(base64.replace(/=+$/, ''));
    }
    const sorted = [...this.values].sort((a, b) => b.length - a.length);
    this.pattern = sorted.length ? new RegExp(sorted.map(escapeRegExp).join('|'), 'g') : undefined;
  }

  /** Adds the Basic auth credential `user:password` (its base64 form is what a header shows). */
  addBasicCredential(user: string, password: string): void {
    this.add([`${user}:${password}`]);
  }

  /** The text with every known secret replaced by {@link REDACTED}. */
  scrub(text: string): string {
    return this.pattern ? text.replace(this.pattern, REDACTED) : text;
  }
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
