import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from '../errors.js';
import { formatPath, mapSecrets, schemaAt } from './json-schema.js';
import { ConfigSchema, type SnowlineConfig } from './schema.js';

/** A validated configuration and the secret values it holds (for scrubbing logs and errors). */
export interface LoadedConfig {
  readonly config: SnowlineConfig;
  /** Every value of a schema-marked secret field, plus a password embedded in the store URL. */
  readonly secrets: readonly string[];
  /** Where it came from (a path, or a label for embedded configs). */
  readonly source: string;
}

/** The config file used when `--config` is not given. */
export const DEFAULT_CONFIG_PATH = './snowline.yaml';

/**
 * Reads, substitutes `${ENV_VAR}`s in, and validates a configuration file. Every problem is
 * collected (not just the first) and thrown as one {@link ConfigError}.
 *
 * @example
 * const { config, secrets } = loadConfigFile('./snowline.yaml');
 */
export function loadConfigFile(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new ConfigError(
      [
        {
          path: '',
          message: `${path} ${reason}; write one with \`snowline config init\` or pass --config FILE`,
        },
      ],
      path,
    );
  }
  return parseConfigText(text, path, env);
}

/** Validates configuration text (YAML or JSON). `source` names it in messages. */
export function parseConfigText(
  text: string,
  source: string,
  env: NodeJS.ProcessEnv = process.env,
): LoadedConfig {
  // Line positions come from a LineCounter rather than pretty errors: those quote the source
  // line, which may hold a secret.
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true, lineCounter });
  if (document.errors.length > 0) {
    throw new ConfigError(
      document.errors.map((e) => {
        const line = lineCounter.linePos(e.pos[0]);
        return {
          path: '',
          message: `YAML syntax error${line ? ` at line ${line.line}, column ${line.col}` : ''}: ${e.message.split('\n')[0]}`,
        };
      }),
      source,
    );
  }
  const raw: unknown = document.toJS() ?? {};
  const problems: ConfigProblem[] = [];
  const substituted = substituteEnv(raw, env, [], problems);
  if (problems.length > 0) throw new ConfigError(problems, source);
  return validateConfig(substituted, source);
}

/** Validates an already-parsed configuration object (e.g. the demo's embedded defaults). */
export function validateConfig(value: unknown, source: string): LoadedConfig {
  const parsed = ConfigSchema.safeParse(value);
  if (!parsed.success)
    throw new ConfigError(
      parsed.error.issues.flatMap((i) => describeIssue(i, value)),
      source,
    );
  const config = deepFreeze(parsed.data);
  const secrets = new Set<string>();
  mapSecrets(config, (s) => secrets.add(s));
  const storePassword = storeUrlPassword(config.store.url);
  if (storePassword) secrets.add(storePassword);
  return { config, secrets: [...secrets], source };
}

/** The password embedded in a postgres:// store URL, if any. */
export function storeUrlPassword(url: string): string | undefined {
  if (!/^postgres(ql)?:/i.test(url)) return undefined;
  try {
    const password = new URL(url).password;
    return password ? decodeURIComponent(password) : undefined;
  } catch {
    return undefined;
  }
}

const ENV_REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Replaces `${NAME}` in every string with the environment variable; `$${` stays a literal `${`. */
function substituteEnv(
  value: unknown,
  env: NodeJS.ProcessEnv,
  path: PropertyKey[],
  problems: ConfigProblem[],
): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REFERENCE, (match, name: string | undefined) => {
      if (name === undefined) return '${';
      const found = env[name];
      if (found === undefined || found === '') {
        problems.push({
          path: formatPath(path),
          message: `environment variable ${name} is not set; export it or put the value in the file`,
        });
        return match;
      }
      return found;
    });
  }
  if (Array.isArray(value)) return value.map((item, i) => substituteEnv(item, env, [...path, i], problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, substituteEnv(item, env, [...path, key], problems)]),
    );
  }
  return value;
}

function exampleAt(path: readonly PropertyKey[]): string | undefined {
  const node = schemaAt(path.filter((k): k is string | number => typeof k !== 'symbol'));
  const example = node?.examples?.[0];
  return example === undefined ? undefined : typeof example === 'string' ? example : JSON.stringify(example);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/**
 * Turns a zod issue into problems a person can act on. Messages never quote the value given:
 * it might be a secret.
 */
function describeIssue(issue: z.core.$ZodIssue, root: unknown): ConfigProblem[] {
  const path = issue.path;
  if (issue.code === 'unrecognized_keys') {
    const known = Object.keys(
      schemaAt(path.filter((k): k is string | number => typeof k !== 'symbol'))?.properties ?? {},
    );
    return issue.keys.map((key) => {
      const suggestion = closest(key, known);
      return {
        path: formatPath([...path, key]),
        message: `unknown key${suggestion ? `; did you mean "${suggestion}"?` : ''}${known.length ? ` Known keys here: ${known.join(', ')}` : ''}`,
      };
    });
  }
  const given = valueAt(root, path);
  let message: string;
  if (issue.code === 'invalid_type' && given === undefined) message = 'is required';
  else if (issue.code === 'invalid_type')
    message = `must be ${article(issue.expected)}, not ${describeType(given)}`;
  else if (issue.code === 'invalid_union' && given === undefined) message = 'is required';
  else message = issue.message.replace(/^Invalid input: /, '');
  // A cross-field check knows the example that fits the rest of the file better than the schema does.
  const checkExample =
    issue.code === 'custom' ? (issue.params as { example?: unknown } | undefined)?.example : undefined;
  const example = typeof checkExample === 'string' ? checkExample : exampleAt(path);
  return [{ path: formatPath(path), message, ...(example ? { example } : {}) }];
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return article(typeof value);
}

/** The known key closest to a misspelt one (edit distance ≤ 2), if any. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length]!;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
