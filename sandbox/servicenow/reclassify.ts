/**
 * CI reclassification during IRE: whether an identified CI may change class to the payload's
 * class, as [SND] markdown/servicenow-platform/configuration-management-database-cmdb/c_CIReclassification.md
 * and properties-id-reconciliation.md (same folder) describe it. Pure: the caller reads the
 * properties and the payload flags and applies the decision.
 */
import { ruleFor, type Schema } from './schema.js';

/** The three reclassifications the platform distinguishes. */
export type ReclassificationKind = 'upgrade' | 'downgrade' | 'switch';

/** Settings that govern one item's reclassification. */
export interface ReclassificationPolicy {
  /**
   * Whether each kind is allowed: `glide.class.<kind>.enabled` (default true), overridden by the
   * item's `classUpgrade` / `classDowngrade` / `classSwitch` flag when one is set.
   */
  readonly enabled: Readonly<Record<ReclassificationKind, boolean>>;
  /**
   * Whether to update the CI but leave its class: `glide.identification_engine.update_without_<kind>_enabled`
   * or the item's `settings.updateWithout<Kind>`. Takes precedence over {@link enabled}.
   */
  readonly updateWithout: Readonly<Record<ReclassificationKind, boolean>>;
}

/** An `info[]` entry of the IRE response. */
export interface ReclassificationInfo {
  readonly code: 'SKIPPED_CLASS_UPGRADE' | 'SKIPPED_CLASS_DOWNGRADE' | 'SKIPPED_CLASS_SWITCH';
  readonly message: string;
  /** Empty: the skip comes from a payload or global flag, not a restriction rule. */
  readonly ruleSysId: string;
}

/** What IRE does with an identified CI whose class differs from the payload's. */
export type ReclassificationDecision =
  | { readonly kind: 'none' }
  | {
      readonly kind: 'reclassify';
      readonly type: ReclassificationKind;
      readonly operation: 'UPDATE_WITH_UPGRADE' | 'UPDATE_WITH_DOWNGRADE' | 'UPDATE_WITH_SWITCH';
    }
  | { readonly kind: 'skip'; readonly type: ReclassificationKind; readonly info: ReclassificationInfo }
  | {
      readonly kind: 'refuse';
      readonly type: ReclassificationKind;
      readonly reason: 'disabled' | 'different-rules';
      readonly error: { readonly error: 'RECLASSIFICATION_NOT_ALLOWED'; readonly message: string };
    };

/** The default policy of a base system: everything allowed, nothing skipped. */
export const defaultReclassificationPolicy: ReclassificationPolicy = {
  enabled: { upgrade: true, downgrade: true, switch: true },
  updateWithout: { upgrade: false, downgrade: false, switch: false },
};

const operations = {
  upgrade: 'UPDATE_WITH_UPGRADE',
  downgrade: 'UPDATE_WITH_DOWNGRADE',
  switch: 'UPDATE_WITH_SWITCH',
} as const;

const infoCodes = {
  upgrade: 'SKIPPED_CLASS_UPGRADE',
  downgrade: 'SKIPPED_CLASS_DOWNGRADE',
  switch: 'SKIPPED_CLASS_SWITCH',
} as const;

/**
 * The kind of a class change: to a descendant is an upgrade, to an ancestor a downgrade,
 * anything else a switch (the IRE API's operation descriptions, [SND]
 * markdown/api-reference/rest-apis/c_IdentifyReconcileAPI.md).
 */
export function reclassificationKind(
  schema: Schema,
  from: string,
  to: string,
): ReclassificationKind | undefined {
  if (from === to) return undefined;
  if (schema.isA(to, from)) return 'upgrade';
  if (schema.isA(from, to)) return 'downgrade';
  return 'switch';
}

/**
 * Decides the reclassification of a CI of class `from` identified by a payload item of class
 * `to`.
 *
 * - "update without" (property or item setting) wins: the CI is updated, its class kept, and
 *   the response says so in `info[]`;
 * - "CI reclassification is possible only between two classes that have identical
 *   identification rules" (c_CIReclassification.md): otherwise the item is refused;
 * - a disabled `glide.class.<kind>.enabled` (or item flag) refuses the item: "IRE rejects a
 *   payload (or a payload item in Enhanced IRE) with the respective reclassification update,
 *   and creates a reclassification task" (properties-id-reconciliation.md).
 *
 * The refusal is RECLASSIFICATION_NOT_ALLOWED "CI Reclassification not allowed from class: [xyz]
 * to [abc]" ([SND] markdown/servicenow-platform/configuration-management-database-cmdb/id-engine-error-messages.md).
 * Reclassification restriction rules are not modelled.
 *
 * @example
 * decideReclassification(schema, 'cmdb_ci_ot', 'cmdb_ci_ot_plc', defaultReclassificationPolicy);
 * // → { kind: 'reclassify', type: 'upgrade', operation: 'UPDATE_WITH_UPGRADE' }
 */
export function decideReclassification(
  schema: Schema,
  from: string,
  to: string,
  policy: ReclassificationPolicy,
): ReclassificationDecision {
  const type = reclassificationKind(schema, from, to);
  if (!type) return { kind: 'none' };
  if (policy.updateWithout[type]) {
    return {
      kind: 'skip',
      type,
      info: {
        code: infoCodes[type],
        // UNVERIFIED text: the docs give the codes, not the messages.
        message: `Skipped class ${type} from [${from}] to [${to}]: update without ${type} is enabled by the payload or a system property`,
        ruleSysId: '',
      },
    };
  }
  const error = {
    error: 'RECLASSIFICATION_NOT_ALLOWED',
    message: `CI Reclassification not allowed from class: [${from}] to [${to}]`,
  } as const;
  if (ruleFor(from, schema)?.name !== ruleFor(to, schema)?.name)
    return { kind: 'refuse', type, reason: 'different-rules', error };
  if (!policy.enabled[type]) return { kind: 'refuse', type, reason: 'disabled', error };
  return { kind: 'reclassify', type, operation: operations[type] };
}
