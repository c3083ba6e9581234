/** The dashboard's one stylesheet, served from `/assets/dashboard.css` (the CSP allows no inline styles). */
export const DASHBOARD_CSS = `
:root { font-family: system-ui, sans-serif; color: #212529; background: #f8f9fa; }
body { margin: 0; }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.2rem; background: #1b3a5c; color: #fff; }
header a { color: #dbe7f3; margin-right: 1rem; text-decoration: none; }
header a:hover { text-decoration: underline; }
header form { margin: 0; }
header .integration { margin-left: auto; }
main { padding: 1rem 1.5rem; max-width: 1200px; }
main.login { max-width: 360px; margin: 10vh auto; background: #fff; padding: 2rem; border-radius: 6px; }
main.login label { display: flex; flex-direction: column; gap: .3rem; margin-bottom: 1rem; }
table { border-collapse: collapse; background: #fff; margin: .5rem 0 1rem; font-size: .9rem; }
th, td { border: 1px solid #dee2e6; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #e9ecef; }
.outcome.ok { color: #2b8a3e; } .outcome.failed { color: #c92a2a; } .outcome.deferred { color: #e67700; }
.error { color: #c92a2a; }
.message { color: #1864ab; }
.stats { display: flex; gap: 1rem; flex-wrap: wrap; }
.stat { background: #fff; padding: .8rem 1.2rem; border-radius: 6px; display: flex; flex-direction: column; min-width: 9rem; }
.stat .value { font-size: 1.8rem; font-weight: 600; }
.stat .label { color: #495057; font-size: .85rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.charts h2 { width: 100%; }
figure.chart { background: #fff; margin: 0; padding: .6rem; border-radius: 6px; }
.legend { list-style: none; padding: 0; display: flex; gap: 1rem; font-size: .85rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; background: #495057; }
.swatch[data-severity=Critical] { background: #8b0000; } .swatch[data-severity=High] { background: #d9480f; }
.swatch[data-severity=Medium] { background: #e6a700; } .swatch[data-severity=Low] { background: #1c7ed6; }
.purdue { display: flex; flex-direction: column; gap: 2px; }
.band { display: flex; gap: 1rem; background: #e7f0fa; padding: .5rem .8rem; }
.band:nth-child(odd) { background: #d0e2f5; }
.band-name { min-width: 10rem; font-weight: 600; display: flex; justify-content: space-between; gap: .5rem; }
.band ul { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap; gap: .4rem 1.2rem; }
.sub { color: #6c757d; font-size: .8rem; }
.run-buttons { display: flex; gap: .8rem; align-items: center; }
.run-buttons form { margin: 0; }
.filters { display: flex; gap: .8rem; align-items: end; margin: 1rem 0 .5rem; }
.filters label { display: flex; flex-direction: column; font-size: .85rem; }
.htmx-indicator { display: none; } .htmx-request .htmx-indicator, .htmx-request.htmx-indicator { display: inline; }
details { margin: .3rem 0 .3rem 1rem; }
`;
