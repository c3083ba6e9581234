/**
 * Which Defender source flow ot-vulnerabilities may read, given ot-inventory's. Checked when the
 * configuration is loaded (so `snowline config check` reports it) and again when the flow's
 * source is built.
 */

/** The part of an integration's `flows` section the check reads. */
export interface VulnerabilityFlowsInput {
  readonly otInventory?: { readonly source: string } | undefined;
  readonly otVulnerabilities?: { readonly source: string; readonly enabled?: boolean } | undefined;
}

/** A configuration problem, with its path inside the integration (`flows.…`). */
export interface SourceMatchProblem {
  readonly path: readonly string[];
  readonly message: string;
  readonly example?: string;
}

/**
 * The inventory sources a CVE source can be matched with. Same source: CVEs carry ot-inventory's
 * own device keys. Resource Graph CVEs with a sensor inventory: devices are recognised across the
 * two by the rule of domain/ot/identity.ts (same sensor, same MAC, else same IP), since Resource
 * Graph names each device's sensor and interfaces. The console keys devices by `u_id` and the
 * sensors by their own ids, and neither names the other's: they pair only with themselves.
 */
export const MATCHABLE_INVENTORY: Readonly<Record<string, readonly string[]>> = {
  resourceGraph: ['resourceGraph', 'sensor'],
  sensor: ['sensor'],
  console: ['console'],
};

/**
 * The problems of an ot-vulnerabilities source: no ot-inventory, or an inventory source its
 * devices can not be recognised in ({@link MATCHABLE_INVENTORY}). A disabled ot-vulnerabilities
 * has no problem.
 *
 * @example
 * vulnerabilitySourceProblems({ otInventory: { source: 'console' }, otVulnerabilities: { source: 'sensor' } });
 * // [{ path: ['flows', 'otVulnerabilities', 'source'], message: 'is sensor but …', example: 'console' }]
 */
export function vulnerabilitySourceProblems(flows: VulnerabilityFlowsInput): SourceMatchProblem[] {
  const config = flows.otVulnerabilities;
  if (!config || config.enabled === false) return [];
  const kind = config.source;
  const inventory = flows.otInventory;
  if (!inventory)
    return [
      {
        path: ['flows', 'otInventory'],
        message:
          'flow ot-vulnerabilities finds each device CI in what ot-inventory recorded: configure flows.otInventory too',
        example: `{ source: ${kind === 'resourceGraph' ? 'sensor' : kind} }`,
      },
    ];
  const matchable = MATCHABLE_INVENTORY[kind] ?? [kind];
  if (!matchable.includes(inventory.source))
    return [
      {
        path: ['flows', 'otVulnerabilities', 'source'],
        message: `is ${kind} but flows.otInventory.source is ${inventory.source}: devices read from ${kind} can be recognised only in an inventory read from ${matchable.join(' or ')} (each Defender source keys devices its own way; see docs/ot-vulnerabilities.md)`,
        example: inventory.source === 'sensor' ? 'resourceGraph' : inventory.source,
      },
    ];
  return [];
}
