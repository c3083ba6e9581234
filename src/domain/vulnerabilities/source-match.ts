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
 * The problems of an ot-vulnerabilities source: Resource Graph (no documented CVE table), no
 * ot-inventory, or a source other than ot-inventory's. Each Defender source keys devices its own
 * way (the console by `u_id`, the sensors by sensor and id), and the flow finds each device's CI
 * by that key in what ot-inventory recorded: with another source, no CVE would ever find its CI.
 * A disabled ot-vulnerabilities has no problem.
 *
 * @example
 * vulnerabilitySourceProblems({ otInventory: { source: 'console' }, otVulnerabilities: { source: 'sensor' } });
 * // [{ path: ['flows', 'otVulnerabilities', 'source'], message: 'is sensor but …', example: 'console' }]
 */
export function vulnerabilitySourceProblems(flows: VulnerabilityFlowsInput): SourceMatchProblem[] {
  const config = flows.otVulnerabilities;
  if (!config || config.enabled === false) return [];
  const kind = config.source;
  if (kind === 'resourceGraph')
    return [
      {
        path: ['flows', 'otVulnerabilities', 'source'],
        message:
          'resourceGraph is not available: Microsoft documents no Resource Graph table with the CVEs of OT devices (UNVERIFIED: none is in the published Resource Graph tables or Microsoft.IoTSecurity API specs), so Snowline does not guess one. Read CVEs from the management console (console) or the sensors (sensor), with flows.otInventory.source set to the same',
        example: 'console',
      },
    ];
  const inventory = flows.otInventory;
  if (!inventory)
    return [
      {
        path: ['flows', 'otInventory'],
        message:
          'flow ot-vulnerabilities finds each device CI in what ot-inventory recorded: configure flows.otInventory with the same source',
        example: `{ source: ${kind} }`,
      },
    ];
  if (inventory.source !== kind)
    return [
      {
        path: ['flows', 'otVulnerabilities', 'source'],
        message: `is ${kind} but flows.otInventory.source is ${inventory.source}: each Defender source keys devices its own way, so CVEs can be matched to the CIs ot-inventory wrote only when both flows read the same source; set both to the same source`,
        example: inventory.source === 'resourceGraph' ? 'console' : inventory.source,
      },
    ];
  return [];
}
