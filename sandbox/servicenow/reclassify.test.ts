import { describe, expect, it } from 'vitest';
import { Schema } from './schema.js';
import {
  decideReclassification,
  defaultReclassificationPolicy,
  type ReclassificationPolicy,
} from './reclassify.js';

const schema = new Schema();
const policy = (
  over: Partial<Record<'enabled' | 'updateWithout', Partial<ReclassificationPolicy['enabled']>>>,
): ReclassificationPolicy => ({
  enabled: { ...defaultReclassificationPolicy.enabled, ...over.enabled },
  updateWithout: { ...defaultReclassificationPolicy.updateWithout, ...over.updateWithout },
});

// [SND] markdown/servicenow-platform/configuration-management-database-cmdb/c_CIReclassification.md
describe('decideReclassification (c_CIReclassification.md)', () => {
  it('names the operation by direction: descendant upgrade, ancestor downgrade, otherwise switch', () => {
    const d = (from: string, to: string): unknown =>
      decideReclassification(schema, from, to, defaultReclassificationPolicy);
    expect(d('cmdb_ci_ot_plc', 'cmdb_ci_ot_plc')).toEqual({ kind: 'none' });
    expect(d('cmdb_ci_server', 'cmdb_ci_aix_server')).toMatchObject({ operation: 'UPDATE_WITH_UPGRADE' });
    expect(d('cmdb_ci_linux_server', 'cmdb_ci_server')).toMatchObject({ operation: 'UPDATE_WITH_DOWNGRADE' });
    expect(d('cmdb_ci_ot_plc', 'cmdb_ci_ot_hmi')).toMatchObject({ operation: 'UPDATE_WITH_SWITCH' });
  });

  it('"possible only between two classes that have identical identification rules"', () => {
    expect(
      decideReclassification(
        schema,
        'cmdb_ci_ot_historian',
        'cmdb_ci_win_server',
        defaultReclassificationPolicy,
      ),
    ).toMatchObject({
      kind: 'refuse',
      reason: 'different-rules',
      error: {
        error: 'RECLASSIFICATION_NOT_ALLOWED',
        message: 'CI Reclassification not allowed from class: [cmdb_ci_ot_historian] to [cmdb_ci_win_server]',
      },
    });
    expect(
      decideReclassification(
        schema,
        'cmdb_ci_ot_plc',
        'cmdb_ci_ot_control_module',
        defaultReclassificationPolicy,
      ),
    ).toMatchObject({ kind: 'refuse', type: 'switch' });
    expect(
      decideReclassification(schema, 'cmdb_ci_iot', 'cmdb_ci_ip_camera', defaultReclassificationPolicy),
    ).toMatchObject({ kind: 'reclassify' });
  });

  it('a disabled kind is refused; update-without wins over both and skips with an info code', () => {
    expect(
      decideReclassification(schema, 'cmdb_ci_ot', 'cmdb_ci_ot_plc', policy({ enabled: { upgrade: false } })),
    ).toMatchObject({ kind: 'refuse', reason: 'disabled' });
    expect(
      decideReclassification(
        schema,
        'cmdb_ci_ot_plc',
        'cmdb_ci_ot_hmi',
        policy({ enabled: { upgrade: false } }),
      ),
    ).toMatchObject({ kind: 'reclassify' });
    expect(
      decideReclassification(
        schema,
        'cmdb_ci_ot_historian',
        'cmdb_ci_win_server',
        policy({ enabled: { switch: false }, updateWithout: { switch: true } }),
      ),
    ).toMatchObject({ kind: 'skip', info: { code: 'SKIPPED_CLASS_SWITCH', ruleSysId: '' } });
  });
});
