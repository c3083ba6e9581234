import { highestAlertSeverity } from '../../domain/ot-alerts/alerts.js';
import type { AlertTicketMemory } from '../../sync/ot-alerts/memory.js';
import { External, Layout, type PageContext } from './layout.js';

/** One open OT alert ticket as the page shows it. */
export interface AlertTicketRow {
  readonly ticket: AlertTicketMemory;
  readonly url: string;
}

/** Severities in the order a person reads them, both scales (unknown ones after). */
const ORDER = ['Critical', 'High', 'Major', 'Medium', 'Minor', 'Low', 'Warning', 'Informational'];

function rank(severity: string): number {
  const at = ORDER.indexOf(severity);
  return at === -1 ? ORDER.length : at;
}

/**
 * OT alerts: the open tickets flow ot-alerts keeps, by severity and then site, each with its
 * device, how many of its alerts are still open in Defender, and a link to the ticket.
 */
export function OtAlertsPage(props: {
  page: PageContext;
  rows: readonly AlertTicketRow[];
  enabled: boolean;
}) {
  const bySeverity = new Map<string, Map<string, AlertTicketRow[]>>();
  for (const row of props.rows) {
    const severity = row.ticket.severity;
    const site = row.ticket.site ?? '(no site)';
    const sites = bySeverity.get(severity) ?? new Map<string, AlertTicketRow[]>();
    sites.set(site, [...(sites.get(site) ?? []), row]);
    bySeverity.set(severity, sites);
  }
  const openAlerts = (t: AlertTicketMemory) => Object.values(t.alerts).filter((a) => a.open).length;
  return (
    <Layout page={props.page} title="OT alerts">
      {props.enabled ? null : <p>{'Flow ot-alerts is not enabled for this integration (flows.otAlerts).'}</p>}
      <p data-testid="ot-alert-total">
        {`${props.rows.length} open tickets, ${props.rows.reduce((n, r) => n + openAlerts(r.ticket), 0)} alerts open in Defender`}
      </p>
      {[...bySeverity.entries()]
        .sort(([a], [b]) => rank(a) - rank(b))
        .map(([severity, sites]) => (
          <section data-severity={severity}>
            <h2>{`${severity}: ${[...sites.values()].reduce((n, r) => n + r.length, 0)} tickets`}</h2>
            {[...sites.entries()]
              .sort(([a], [b]) => a.localeCompare(b))
              .map(([site, rows]) => (
                <details open data-site={site}>
                  <summary>{`${site}: ${rows.length}`}</summary>
                  <table>
                    <thead>
                      <tr>
                        <th>Ticket</th>
                        <th>Device</th>
                        <th>Alerts open / all</th>
                        <th>Highest alert</th>
                        <th>Last alert</th>
                        <th>Rule</th>
                      </tr>
                    </thead>
                    <tbody>
                      {rows.map((r) => (
                        <tr>
                          <td>
                            <External href={r.url}>{r.ticket.number}</External>
                          </td>
                          <td>{r.ticket.device ?? ''}</td>
                          <td>{`${openAlerts(r.ticket)} / ${Object.keys(r.ticket.alerts).length}`}</td>
                          <td>
                            {highestAlertSeverity(Object.values(r.ticket.alerts).map((a) => a.severity))}
                          </td>
                          <td>{r.ticket.lastAlertAt}</td>
                          <td>{r.ticket.rule}</td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </details>
              ))}
          </section>
        ))}
    </Layout>
  );
}
