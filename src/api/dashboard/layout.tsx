import type { Child } from 'hono/jsx';
import { CSRF_FIELD } from './auth.js';

/** What every page of a signed-in session knows. */
export interface PageContext {
  readonly csrf: string;
  readonly integrationIds: readonly string[];
  readonly integrationId: string;
}

const NAV: readonly [string, string][] = [
  ['/', 'Overview'],
  ['/inventory', 'OT inventory'],
  ['/vulnerabilities', 'Vulnerabilities'],
  ['/tickets', 'Tickets'],
  ['/ot-alerts', 'OT alerts'],
  ['/runs', 'Runs'],
];

/** Adds the selected integration to a dashboard link (when there are several). */
export function href(page: PageContext, path: string): string {
  if (page.integrationIds.length < 2) return path;
  return `${path}${path.includes('?') ? '&' : '?'}integration=${encodeURIComponent(page.integrationId)}`;
}

/**
 * The page frame: navigation, htmx from our own server (no CDN), and the CSRF token htmx adds to
 * every request it sends (`hx-headers`), so buttons work without a form field.
 */
export function Layout(props: { page: PageContext; title: string; children?: Child }) {
  const { page } = props;
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="htmx-config" content='{"includeIndicatorStyles":false,"allowEval":false}' />
        <title>{`${props.title} · Snowline`}</title>
        <link rel="stylesheet" href="/assets/dashboard.css" />
        <script src="/assets/htmx.min.js" defer></script>
      </head>
      <body hx-headers={JSON.stringify({ 'X-CSRF-Token': page.csrf })}>
        <header>
          <strong>Snowline</strong>
          <nav>
            {NAV.map(([path, label]) => (
              <a href={href(page, path)}>{label}</a>
            ))}
          </nav>
          {page.integrationIds.length > 1 ? (
            <form method="get" class="integration">
              <select name="integration" aria-label="integration">
                {page.integrationIds.map((id) => (
                  <option value={id} selected={id === page.integrationId}>
                    {id}
                  </option>
                ))}
              </select>
              <button type="submit">Show</button>
            </form>
          ) : (
            <span class="integration">{page.integrationId}</span>
          )}
          <form method="post" action="/logout">
            <input type="hidden" name={CSRF_FIELD} value={page.csrf} />
            <button type="submit">Sign out</button>
          </form>
        </header>
        <main>
          <h1>{props.title}</h1>
          {props.children}
        </main>
      </body>
    </html>
  );
}

/** A hidden CSRF field for a plain form post (works without JavaScript). */
export function CsrfField(props: { csrf: string }) {
  return <input type="hidden" name={CSRF_FIELD} value={props.csrf} />;
}

/** A link that leaves the dashboard (ServiceNow, the Azure portal), opened in a new tab. */
export function External(props: { href: string; children?: Child; testid?: string }) {
  return (
    <a href={props.href} target="_blank" rel="noopener noreferrer" data-testid={props.testid}>
      {props.children}
    </a>
  );
}

/** A counter as the dashboard shows it: a number with a label. */
export function Stat(props: { label: string; value: number | string; testid?: string }) {
  return (
    <div class="stat">
      <span class="value" data-testid={props.testid}>
        {String(props.value)}
      </span>
      <span class="label">{props.label}</span>
    </div>
  );
}

/** Milliseconds as a person reads them. */
export function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60_000)} min`;
}

/** An ISO time without its milliseconds, in UTC. */
export function when(iso: string | null | undefined): string {
  return iso ? iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '';
}
