import { configJsonSchema, type JsonSchemaNode } from './json-schema.js';

interface Row {
  key: string;
  type: string;
  fallback: string;
  description: string;
}

function typeOf(node: JsonSchemaNode): string {
  if (node.const !== undefined) return `\`${JSON.stringify(node.const)}\``;
  if (Array.isArray(node.enum)) return (node.enum as unknown[]).map((v) => `\`${String(v)}\``).join(' \\| ');
  if (node.type === 'array') return `list of ${node.items ? typeOf(node.items) : 'values'}`;
  if (node.format === 'uri') return 'URL';
  const type = Array.isArray(node.type) ? node.type.join(' \\| ') : (node.type ?? 'value');
  return node.secret ? `${type} (secret)` : type;
}

function rows(node: JsonSchemaNode, path: string, out: Row[], required: boolean): void {
  const alternatives = node.oneOf ?? node.anyOf;
  if (alternatives) {
    for (const branch of alternatives) {
      const kind = (branch.properties?.type as JsonSchemaNode | undefined)?.const;
      if (branch.description)
        out.push({
          key: `${path} (type: ${String(kind)})`,
          type: 'object',
          fallback: '',
          description: branch.description,
        });
      rows(branch, path, out, required);
    }
    return;
  }
  const requiredKeys = new Set((node.required as string[] | undefined) ?? []);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const childPath = path ? `${path}.${key}` : key;
    const isObject = child.type === 'object' || child.oneOf || child.anyOf;
    const fallback =
      child.default === undefined
        ? requiredKeys.has(key)
          ? 'required'
          : ''
        : `\`${JSON.stringify(child.default)}\``;
    out.push({
      key: childPath,
      type: isObject ? 'object' : typeOf(child),
      fallback,
      description: describe(child),
    });
    if (isObject) rows(child, childPath, out, requiredKeys.has(key));
    if (child.type === 'array' && child.items && (child.items.type === 'object' || child.items.oneOf)) {
      rows(child.items, `${childPath}[]`, out, true);
    }
  }
}

function describe(node: JsonSchemaNode): string {
  const example = node.examples?.[0];
  const text = (node.description ?? '').replace(/\|/g, '\\|');
  return example === undefined
    ? text
    : `${text} Example: \`${typeof example === 'string' ? example : JSON.stringify(example)}\``;
}

/**
 * The configuration reference (docs/configuration.md), generated from the schema so that the
 * documentation can not drift from what the loader accepts. `npm run docs` rewrites the file; a
 * test fails when it differs.
 */
export function renderConfigReference(): string {
  const out: Row[] = [];
  rows(configJsonSchema(), '', out, true);
  const table = out.map((r) => `| \`${r.key}\` | ${r.type} | ${r.fallback} | ${r.description} |`).join('\n');
  return `# Configuration reference

<!-- Generated from src/config/schema.ts by \`npm run docs\`; do not edit by hand. -->

Snowline reads one YAML file (\`--config\`, default \`./snowline.yaml\`). \`snowline config init\`
writes a commented example, \`snowline config check\` validates it, \`snowline config show\` prints
the effective configuration with every secret redacted, and \`snowline config schema\` prints the
JSON Schema (editors such as VS Code can use it for completion).

- **Environment variables**: \`\${NAME}\` anywhere in a value is replaced by the variable \`NAME\`;
  a missing one is an error naming the key. Write \`$\${\` for a literal \`\${\`.
- **Secrets** (marked *secret* below) never appear in logs, error messages, \`config show\`, the API
  or the dashboard. Keep them in the environment, not in the file.
- **Bad configuration** stops every command before anything runs, with one line per problem
  naming the key, what is wrong and an example of a good value, and exit code 2.
- **TLS** verification is always on; \`tls.caFile\` adds certificate authorities to trust.

| Key | Type | Default | Description |
| --- | --- | --- | --- |
${table}
`;
}
