import { z } from 'zod';
import { ConfigSchema } from './schema.js';

/** A JSON Schema node as zod emits it, with Snowline's `secret` marker. */
export interface JsonSchemaNode {
  type?: string | string[];
  properties?: Record<string, JsonSchemaNode>;
  items?: JsonSchemaNode;
  oneOf?: JsonSchemaNode[];
  anyOf?: JsonSchemaNode[];
  examples?: unknown[];
  description?: string;
  secret?: boolean;
  [key: string]: unknown;
}

let cached: JsonSchemaNode | undefined;

/** The JSON Schema of the configuration file (input side: defaults are optional), as `config schema` prints it. */
export function configJsonSchema(): JsonSchemaNode {
  cached ??= z.toJSONSchema(ConfigSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchemaNode;
  return cached;
}

/** The branches a value may match at this node (unions are tried branch by branch). */
function branches(node: JsonSchemaNode): JsonSchemaNode[] {
  const alternatives = node.oneOf ?? node.anyOf;
  return alternatives ? alternatives.flatMap(branches) : [node];
}

/** The schema node of a property, looked up in every union branch. */
function childNode(node: JsonSchemaNode, key: string | number): JsonSchemaNode | undefined {
  for (const branch of branches(node)) {
    if (typeof key === 'number' && branch.items) return branch.items;
    const property = typeof key === 'string' ? branch.properties?.[key] : undefined;
    if (property) return property;
  }
  return undefined;
}

/** The schema node at a key path, if the schema knows it. */
export function schemaAt(
  path: readonly (string | number)[],
  root = configJsonSchema(),
): JsonSchemaNode | undefined {
  let node: JsonSchemaNode | undefined = root;
  for (const key of path) {
    if (!node) return undefined;
    node = childNode(node, key);
  }
  return node;
}

/** True when the node (or any of its union branches) is marked secret. */
function isSecret(node: JsonSchemaNode | undefined): boolean {
  return node ? branches(node).some((b) => b.secret === true) : false;
}

/**
 * Visits every value of `value` that the schema marks secret. `replace`, when given, returns a
 * copy with each secret replaced by its result (used by `config show`).
 */
export function mapSecrets(
  value: unknown,
  visit: (secret: string) => unknown,
  node = configJsonSchema(),
): unknown {
  if (isSecret(node) && typeof value === 'string') return visit(value);
  if (Array.isArray(value)) return value.map((item, i) => mapSecrets(item, visit, childNode(node, i) ?? {}));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, mapSecrets(item, visit, childNode(node, key) ?? {})]),
    );
  }
  return value;
}

/** Formats a key path the way a person reads it: `integrations[0].servicenow.auth.password`. */
export function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key, i) => (typeof key === 'number' ? `[${key}]` : `${i === 0 ? '' : '.'}${String(key)}`))
    .join('');
}
