/** How one prerequisite stands. `skip`: not needed by the enabled flows, or not checkable. */
export type CheckStatus = 'pass' | 'fail' | 'skip';

/** One prerequisite checked by `snowline doctor`, and what to do when it fails. */
export interface DoctorCheck {
  /** Stable id, e.g. `servicenow.table.cmdb_ci_ot`, `defender.subscription.<id>`. */
  readonly id: string;
  readonly status: CheckStatus;
  /** What was found, in a sentence. */
  readonly detail: string;
  /** What to change on the instance or tenant (failures only). */
  readonly fix?: string;
}

/** Every check for one integration. */
export interface DoctorReport {
  readonly integrationId: string;
  readonly checks: readonly DoctorCheck[];
}

/** True when no check failed. */
export function reportPasses(report: DoctorReport): boolean {
  return report.checks.every((c) => c.status !== 'fail');
}

/** The report as the terminal shows it: one line per check, and the fix under each failure. */
export function formatReport(report: DoctorReport): string {
  const mark = { pass: 'ok  ', fail: 'FAIL', skip: 'skip' } as const;
  const lines = [`${report.integrationId}:`];
  for (const check of report.checks) {
    lines.push(`  ${mark[check.status]} ${check.id}: ${check.detail}`);
    if (check.status === 'fail' && check.fix) lines.push(`       fix: ${check.fix}`);
  }
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  lines.push(
    failed === 0
      ? `  all ${report.checks.filter((c) => c.status === 'pass').length} checks passed`
      : `  ${failed} of ${report.checks.length} checks failed`,
  );
  return `${lines.join('\n')}\n`;
}
