import type { Estate } from './dataset/index.js';
import type { DiscoveredDevice } from './discovered.js';
import type { DefenderSandbox } from './defender/index.js';
import type { ServiceNowSandbox } from './servicenow/index.js';

/**
 * The one JSON object `snowline sandbox` prints when both sandboxes are up: where they listen,
 * how to sign in, the CA to trust, and a summary of the estate. Each sensor carries its site,
 * zone and Purdue level (the level most of its devices sit at: a sensor watches one network
 * segment), which the sensor API itself does not report, so a written config can say them.
 * `discovered` lists the CIs pre-loaded as ServiceNow Discovery's (empty unless asked for).
 */
export function sandboxReadyLine(
  servicenow: ServiceNowSandbox,
  defender: DefenderSandbox,
  estate: Estate,
  caFile: string | null,
  discovered: readonly DiscoveredDevice[] = [],
) {
  const siteName = new Map(estate.sites.map((s) => [s.id, s.displayName]));
  const zoneName = new Map(estate.zones.map((z) => [z.id, z.name]));
  const place = new Map(
    estate.sensors.map((s) => [
      s.name,
      { site: siteName.get(s.siteId), zone: zoneName.get(s.zoneId), purdueLevel: commonLevel(estate, s.id) },
    ]),
  );
  return {
    servicenow: {
      url: servicenow.url,
      user: servicenow.credentials.user,
      password: servicenow.credentials.password,
      clientId: servicenow.credentials.clientId,
      clientSecret: servicenow.credentials.clientSecret,
      lowPrivilegeUser: servicenow.lowPrivilegeCredentials.user,
      lowPrivilegePassword: servicenow.lowPrivilegeCredentials.password,
    },
    defender: {
      url: defender.url,
      tenantId: defender.tenantId,
      token: defender.token,
      clientId: defender.clientId,
      clientSecret: defender.clientSecret,
      subscriptions: defender.subscriptions,
      sensors: defender.sensors.map((s) => ({ ...s, ...place.get(s.name) })),
      console: defender.console,
    },
    caFile,
    config: null as string | null,
    estate: {
      seed: estate.seed,
      size: estate.size,
      sites: estate.sites.length,
      sensors: estate.sensors.length,
      devices: estate.devices.length,
      assessments: estate.assessments.length,
    },
    discovered: discovered.map((d) => ({ deviceId: d.deviceId, sysId: d.sysId, name: d.name })),
  };
}

/** The Purdue level most devices of a sensor sit at (the lowest of equals); undefined without devices. */
function commonLevel(estate: Estate, sensorId: Estate['sensors'][number]['id']): number | undefined {
  const counts = new Map<number, number>();
  for (const d of estate.devices)
    if (d.sensorId === sensorId) counts.set(d.purdueLevel, (counts.get(d.purdueLevel) ?? 0) + 1);
  let best: number | undefined;
  for (const [level, n] of [...counts].sort((a, b) => a[0] - b[0]))
    if (best === undefined || n > counts.get(best)!) best = level;
  return best;
}
