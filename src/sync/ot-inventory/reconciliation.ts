import type { ReconciliationRule } from '../../domain/ot/reconciliation.js';
import { UpstreamError } from '../../errors.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import { stringValue } from '../../servicenow/values.js';

/**
 * The instance's active static reconciliation rules (`cmdb_reconciliation_definition`, which
 * `itil` may read: create-reconciliation-rule.md, "sn_cmdb_editor and itil have read access").
 * Column names UNVERIFIED: the pages give form labels only (Applies to, Discovery Source,
 * Priority, Attributes, Active); the names are those labels' and what public scripts that read the
 * table use. A refused or failed read gives `undefined`: the rules are then not reported, and the
 * inventory goes on (IRE applies them either way).
 */
export async function readReconciliationRules(
  servicenow: ServiceNowClient,
): Promise<ReconciliationRule[] | undefined> {
  try {
    const rows = await servicenow.listAll('cmdb_reconciliation_definition', {
      query: encodeQuery({ where: [where('active', '=', 'true')] }),
      fields: ['applies_to', 'discovery_source', 'priority', 'attributes'],
    });
    return rows.flatMap((row) => {
      const appliesTo = stringValue(row.applies_to);
      const source = stringValue(row.discovery_source);
      if (!appliesTo || !source) return [];
      const priority = Number(stringValue(row.priority) ?? '');
      return [
        {
          appliesTo,
          source,
          // "Discovery sources without a reconciliation rule are assigned the lowest priority."
          priority: Number.isFinite(priority) ? priority : Number.MAX_SAFE_INTEGER,
          attributes: (stringValue(row.attributes) ?? '')
            .split(',')
            .map((a) => a.trim())
            .filter((a) => a !== ''),
        },
      ];
    });
  } catch (error) {
    if (error instanceof UpstreamError && error.status !== 429) return undefined;
    throw error;
  }
}
