import { stringify } from 'yaml';
import { REDACTED } from '../secrets.js';
import { mapSecrets } from './json-schema.js';
import { storeUrlPassword } from './load.js';
import type { SnowlineConfig } from './schema.js';

/**
 * The effective configuration with every secret replaced by {@link REDACTED}, including a
 * password embedded in the store URL: what `config show` prints and the dashboard may display.
 */
export function redactedConfig(config: SnowlineConfig): unknown {
  const redacted = mapSecrets(config, () => REDACTED) as { store: { url: string } };
  if (storeUrlPassword(config.store.url)) {
    const url = new URL(config.store.url);
    url.password = REDACTED;
    redacted.store = { ...redacted.store, url: url.toString() };
  }
  return redacted;
}

/** The redacted effective configuration as YAML. */
export function formatConfigYaml(config: SnowlineConfig): string {
  return stringify(redactedConfig(config), { lineWidth: 0 });
}
