/**
 * Defender for IoT alerts in Azure: the `Microsoft.IoTSecurity` device-group alert resource as
 * ARM serves it (GET one, list with `nextLink`, PATCH status / severity, and the learn action) and
 * the properties Resource Graph shows for it. One alert record (state.ts) backs the sensor,
 * console, ARM and Resource Graph, so a status written here is what every other API shows.
 *
 * Sources:
 * - Azure/azure-rest-api-specs
 *   specification/iotsecurity/resource-manager/Microsoft.IoTSecurity/preview/2021-07-01-preview/alerts.json
 *   (IotAlerts_List / IotAlerts_Get / IotAlerts_Patch, `AlertPropertiesModel`, the `AlertSeverity`
 *   and `AlertStatus` enums, `AlertPatchPropertiesModel`) and its examples GetAlertList.json and
 *   PatchAlert.json.
 * - MicrosoftDocs/azure-docs articles/defender-for-iot/organizations/workbooks.md ("Alert
 *   queries"): the Resource Graph fields properties.displayName, .extendedProperties.SensorId,
 *   .DeviceId, .SourceDeviceAddress, .DestinationDeviceAddress, .DeviceResourceIds (joined to a
 *   device's `id` with `tostring`, so one id as a string).
 * - MicrosoftDocs/azure-docs articles/role-based-access-control/permissions/internet-of-things.md:
 *   `…/deviceGroups/alerts/learn/write` "Learn and close the alert" (older versions of the page:
 *   `learn/action`).
 */
import type { Context } from 'hono';
import { deviceGroupPath, type Site } from '../dataset/index.js';
import { apiVersionProblem, methodNotAllowed, pageOf, subscriptionProblem, validatedBody } from './arm.js';
import { armError } from './http.js';
import type { DefenderState, LiveAlert } from './state.js';

/** The only api-version that has the device-group alert operations (alerts.json). */
export const IOT_ALERT_API_VERSIONS = ['2021-07-01-preview'];
/** The alerts' type in Resource Graph (`iotsecurityresources`). */
export const IOT_ALERT_GRAPH_TYPE = 'microsoft.iotsecurity/locations/devicegroups/alerts';
const SEVERITIES = ['Informational', 'Low', 'Medium', 'High'] as const;
const STATUSES = ['New', 'InProgress', 'Closed'] as const;
const PROVIDER = '/providers/microsoft.iotsecurity/';

/** Whether a request path is for the `Microsoft.IoTSecurity` provider. */
export function isIotSecurityPath(path: string): boolean {
  return path.toLowerCase().includes(PROVIDER);
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** The site (device group) of an alert's sensor. */
export function alertSite(state: DefenderState, a: LiveAlert): Site {
  const sensor = state.estate.sensors[a.sensorId - 1];
  return state.estate.sites[(sensor?.siteId ?? 1) - 1] as Site;
}

/** The ARM id of the device an alert is about: its source, else its destination. */
function alertDeviceResourceId(state: DefenderState, a: LiveAlert): string | null {
  const deviceId = a.sourceDevice ?? a.destinationDevice;
  const device = deviceId === null ? undefined : state.device(deviceId);
  return device ? `${deviceGroupPath(alertSite(state, a))}/devices/${device.uuid}` : null;
}

/**
 * `AlertPropertiesModel` of an alert, as ARM and Resource Graph show it. Besides the spec's
 * fields: `displayName` (the workbooks read it from Resource Graph), and, UNVERIFIED (no document
 * names their fields for IoT alerts; named as Microsoft.Security alerts name them), `description`
 * and `remediationSteps`.
 */
export function iotAlertProperties(state: DefenderState, a: LiveAlert): Record<string, unknown> {
  const sensor = state.estate.sensors[a.sensorId - 1];
  const deviceResourceId = alertDeviceResourceId(state, a);
  const deviceId = deviceResourceId?.split('/').at(-1) ?? '';
  return {
    systemAlertId: a.uuid,
    // The spec calls it the device entity; the examples put a device resource id in it.
    azureResourceId: deviceResourceId ?? '',
    alertType: a.type,
    displayName: a.title,
    description: a.message,
    remediationSteps: [...a.remediationSteps],
    startTimeUtc: iso(a.time),
    endTimeUtc: iso(a.time),
    entities: [],
    // UNVERIFIED: SensorId's value (the workbook only groups by it); the sensor's resource name here.
    extendedProperties: {
      SensorId: sensor?.name ?? '',
      DeviceId: deviceId,
      SourceDeviceAddress: a.sourceDeviceAddress ?? '',
      DestinationDeviceAddress: a.destinationDeviceAddress ?? '',
      DeviceResourceIds: deviceResourceId ?? '',
      Engine: a.engine,
    },
    severity: a.azureSeverity,
    intent: 'Unknown',
    productComponentName: 'OT sensor',
    status: a.status,
    techniques: [],
  };
}

/** `AlertModel`: the ARM resource. */
export function iotAlertJson(state: DefenderState, a: LiveAlert): Record<string, unknown> {
  return {
    id: a.resourceId,
    name: a.uuid,
    // What the examples answer (not the path's `locations/deviceGroups/alerts`).
    type: 'Microsoft.IoTSecurity/alerts',
    properties: iotAlertProperties(state, a),
    systemData: {
      createdBy: 'Microsoft Defender for IoT',
      createdByType: 'Application',
      createdAt: iso(a.time),
      lastModifiedBy: 'Microsoft Defender for IoT',
      lastModifiedByType: 'Application',
      lastModifiedAt: iso(a.statusChangedAt),
    },
  };
}

interface AlertPath {
  subscriptionId: string;
  location: string;
  group: string;
  alertId?: string;
  learn: boolean;
}

/** `/subscriptions/{s}/providers/Microsoft.IoTSecurity/locations/{l}/deviceGroups/{g}/alerts[/{id}[/learn]]`. */
function parseAlertPath(path: string): AlertPath | null {
  const seg = path
    .replace(/\/{2,}/g, '/')
    .replace(/^\/|\/$/g, '')
    .split('/');
  const lower = seg.map((s) => s.toLowerCase());
  if (
    seg.length < 9 ||
    seg.length > 11 ||
    lower[0] !== 'subscriptions' ||
    lower[2] !== 'providers' ||
    lower[3] !== 'microsoft.iotsecurity' ||
    lower[4] !== 'locations' ||
    lower[6] !== 'devicegroups' ||
    lower[8] !== 'alerts' ||
    (seg.length === 11 && lower[10] !== 'learn')
  )
    return null;
  return {
    subscriptionId: seg[1] as string,
    location: seg[5] as string,
    group: seg[7] as string,
    ...(seg[9] !== undefined ? { alertId: seg[9] } : {}),
    learn: seg.length === 11,
  };
}

/** The alerts of a device group, in id order; null when no such group exists. */
function alertsInGroup(state: DefenderState, p: AlertPath): LiveAlert[] | null {
  const site = state.estate.sites.find(
    (s) =>
      s.subscriptionId.toLowerCase() === p.subscriptionId.toLowerCase() &&
      s.location.toLowerCase() === p.location.toLowerCase() &&
      s.name.toLowerCase() === p.group.toLowerCase(),
  );
  if (!site) return null;
  const prefix = `${deviceGroupPath(site)}/alerts/`.toLowerCase();
  return state
    .alertIds()
    .map((id) => state.alert(id) as LiveAlert)
    .filter((a) => a.resourceId.toLowerCase().startsWith(prefix));
}

/** The PATCH body's `properties`, checked against the spec's enums; a string says what is wrong. */
function validatePatch(
  body: unknown,
): { status?: LiveAlert['status']; severity?: LiveAlert['azureSeverity'] } | string {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    return 'The request body must be a JSON object.';
  const p = (body as { properties?: unknown }).properties;
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return "The 'properties' object is required.";
  const { status, severity } = p as { status?: unknown; severity?: unknown };
  if (status !== undefined && !STATUSES.includes(status as never))
    return `The value '${String(status)}' is not valid for 'properties.status'. Allowed values: ${STATUSES.join(', ')}.`;
  if (severity !== undefined && !SEVERITIES.includes(severity as never))
    return `The value '${String(severity)}' is not valid for 'properties.severity'. Allowed values: ${SEVERITIES.join(', ')}.`;
  return {
    ...(status !== undefined ? { status: status as LiveAlert['status'] } : {}),
    ...(severity !== undefined ? { severity: severity as LiveAlert['azureSeverity'] } : {}),
  };
}

/**
 * Routes a `Microsoft.IoTSecurity` request. Only the device-group alerts exist in the sandbox;
 * other resource types are refused as ARM refuses an unknown type.
 */
export async function handleIotSecurity(c: Context, state: DefenderState): Promise<Response> {
  const p = parseAlertPath(decodeURIComponent(new URL(c.req.url).pathname));
  if (!p) {
    return armError(
      c,
      400,
      'InvalidResourceType',
      "The resource type could not be found in the namespace 'Microsoft.IoTSecurity' (the sandbox serves locations/deviceGroups/alerts).",
    );
  }
  const method = c.req.method;
  const allowed = p.learn ? ['POST'] : p.alertId === undefined ? ['GET'] : ['GET', 'PATCH'];
  if (!allowed.includes(method)) return methodNotAllowed(c);
  const badVersion = apiVersionProblem(c, IOT_ALERT_API_VERSIONS);
  if (badVersion) return badVersion;
  const noSubscription = subscriptionProblem(c, state, p.subscriptionId);
  if (noSubscription) return noSubscription;
  const alerts = alertsInGroup(state, p);
  if (!alerts) {
    // UNVERIFIED code: ARM's usual answer for a child of a parent resource that does not exist.
    return armError(
      c,
      404,
      'ParentResourceNotFound',
      `The device group '${p.group}' was not found in '${p.location}'.`,
    );
  }
  if (p.alertId === undefined)
    return pageOf(c, alerts, state.behaviour.armPageSize, (a) => iotAlertJson(state, a));
  const alert = alerts.find((a) => a.uuid.toLowerCase() === p.alertId?.toLowerCase());
  if (!alert)
    return armError(c, 404, 'NotFound', `Alert '${p.alertId}' was not found in device group '${p.group}'.`);
  if (method === 'GET') return c.json(iotAlertJson(state, alert));
  if (p.learn) {
    // UNVERIFIED path: the RBAC operation `…/alerts/learn/write` ("Learn and close the alert") has
    // no published REST path. Searched: every stored version of the iotsecurity alerts.json and its
    // examples folder in Azure/azure-rest-api-specs; exact-string search of public code for
    // `IotAlerts_` (no spec hit) and `alerts/{alertId}/learn` (none); the code corpus for
    // "Microsoft.IoTSecurity deviceGroups alerts learn REST API" (nothing). The sandbox names it
    // after the operation: POST …/alerts/{alertId}/learn. Closes the alert, marks it learned, and
    // answers the alert.
    return c.json(
      iotAlertJson(
        state,
        state.updateAlert(alert.id, { status: 'Closed', learned: true, closeWrite: true }) as LiveAlert,
      ),
    );
  }
  const change = await validatedBody(c, validatePatch);
  if (change instanceof Response) return change;
  const updated = state.updateAlert(alert.id, {
    ...(change.status ? { status: change.status } : {}),
    ...(change.severity ? { azureSeverity: change.severity } : {}),
    ...(change.status === 'Closed' ? { closeWrite: true } : {}),
  }) as LiveAlert;
  return c.json(iotAlertJson(state, updated));
}
