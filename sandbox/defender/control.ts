import { randomUUID } from 'node:crypto';
import type { Context, Hono } from 'hono';
import { z } from 'zod';
import { DEVICE_TYPES, type DeviceType } from '../dataset/catalog.js';
import { ALERT_TEMPLATES, alertFields, deviceGroupPath, type Site } from '../dataset/index.js';
import { governanceAssignmentJson, governanceRuleJson, validateGovernanceAssignment } from './arm.js';
import { jsonArrayChunks, streamJson, type Faults, type Stats } from './http.js';
import { consoleAlertUuid } from './ot.js';
import { setRawResourceGraphRows } from './resource-graph.js';
import {
  governanceAssignmentKey,
  RAW_CONSOLE_LISTS,
  type DefenderState,
  type LiveAlert,
  type LiveDevice,
} from './state.js';

const ASSESSMENT_ID_FORM = 'id must be <resourceId>/providers/Microsoft.Security/assessments/<name>.';

/** The resource id and assessment key of an assessment id, or undefined when it is not one. */
function assessmentRef(id: string): { resourceId: string; key: string } | undefined {
  const m = /^(.*)\/providers\/microsoft\.security\/assessments\/([^/]+)$/i.exec(id.replace(/\/+$/, ''));
  return m ? { resourceId: m[1] as string, key: m[2] as string } : undefined;
}

/** A resource id with one leading slash and no doubled ones. */
function normalisedId(resourceId: string): string {
  return ('/' + resourceId).replace(/\/{2,}/g, '/');
}

function controlError(c: Context, status: number, message: string): Response {
  return c.json({ error: { code: status === 404 ? 'NotFound' : 'BadRequest', message } }, status as 400);
}

async function body<T>(c: Context, schema: z.ZodType<T>): Promise<T | Response> {
  let raw: unknown = {};
  const text = await c.req.text();
  if (text.trim() !== '') {
    try {
      raw = JSON.parse(text);
    } catch {
      return controlError(c, 400, 'The body is not valid JSON.');
    }
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    return controlError(
      c,
      400,
      parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; '),
    );
  }
  return parsed.data;
}

const deviceTypes = DEVICE_TYPES.map((t) => t.type) as [DeviceType, ...DeviceType[]];
const ipv4 = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}$/, 'an IPv4 address');
const mac = z.string().regex(/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i, 'a MAC address like 00:1b:1b:00:00:01');

const deviceFields = {
  name: z.string().min(1),
  type: z.enum(deviceTypes),
  vendor: z.string(),
  model: z.string(),
  firmwareVersion: z.string(),
  serialNumber: z.string(),
  operatingSystem: z.string().nullable(),
  purdueLevel: z.number().int().min(0).max(5),
  ip: ipv4,
  mac,
  protocols: z.array(z.string()),
  authorized: z.boolean(),
  criticality: z.enum(['Low', 'Normal', 'High']),
  sensor: z.string(),
};

const addDeviceSchema = z.strictObject({
  ...deviceFields,
  vendor: deviceFields.vendor.optional(),
  model: deviceFields.model.optional(),
  firmwareVersion: deviceFields.firmwareVersion.optional(),
  serialNumber: deviceFields.serialNumber.optional(),
  operatingSystem: deviceFields.operatingSystem.optional(),
  purdueLevel: deviceFields.purdueLevel.optional(),
  mac: deviceFields.mac.optional(),
  protocols: deviceFields.protocols.optional(),
  authorized: deviceFields.authorized.optional(),
  criticality: deviceFields.criticality.optional(),
  cves: z.array(z.string()).optional(),
});

const patchDeviceSchema = z
  .strictObject({
    ...deviceFields,
    /** New models of the device's modules, in slot order (hostile module names for tests). */
    moduleModels: z.array(z.string()),
  })
  .partial();

const faultsSchema = z.strictObject({
  seed: z.number().int().optional(),
  error500Rate: z.number().min(0).max(1).optional(),
  error429Rate: z.number().min(0).max(1).optional(),
  retryAfterSeconds: z.number().int().min(0).optional(),
  resetRate: z.number().min(0).max(1).optional(),
  latencyMs: z.number().int().min(0).max(60_000).optional(),
  latencySpikeRate: z.number().min(0).max(1).optional(),
  latencySpikeMs: z.number().int().min(0).max(60_000).optional(),
  holdWrite: z.number().int().min(1).optional(),
  holdRead: z.number().int().min(1).optional(),
});

/** Everything the control API needs besides the state. */
export interface ControlContext {
  readonly state: DefenderState;
  readonly stats: Stats;
  readonly faults: Faults;
  readonly startTime: number;
  /** Public description of the sandbox (URLs and credentials) for `GET /_sandbox`. */
  readonly describe: (origin: string) => unknown;
}

function deviceSummary(d: LiveDevice): Record<string, unknown> {
  return {
    id: d.id,
    name: d.name,
    type: d.type,
    sensorId: d.sensorId,
    siteId: d.siteId,
    zoneId: d.zoneId,
    purdueLevel: d.purdueLevel,
    vendor: d.vendor,
    model: d.model,
    firmwareVersion: d.firmwareVersion,
    serialNumber: d.serialNumber,
    operatingSystem: d.operatingSystem,
    ips: d.nics.map((n) => n.ip),
    macs: d.nics.map((n) => n.mac),
    authorized: d.authorized,
    criticality: d.criticality,
    cves: [...d.cves].sort(),
    firstSeen: new Date(d.firstSeen).toISOString(),
    lastActivity: new Date(d.lastActivity).toISOString(),
    lastUpdate: new Date(d.lastUpdate).toISOString(),
  };
}

/** An alert's ground truth: every id it goes by, its status on each side, and what it is about. */
function alertSummary(state: DefenderState, a: LiveAlert): Record<string, unknown> {
  return {
    id: a.id,
    uuid: a.uuid,
    resourceId: a.resourceId,
    consoleUuid: consoleAlertUuid(a),
    sensor: state.estate.sensors[a.sensorId - 1]?.name ?? '',
    sensorId: a.sensorId,
    title: a.title,
    message: a.message,
    type: a.type,
    engine: a.engine,
    severity: a.severity,
    azureSeverity: a.azureSeverity,
    status: a.status,
    handled: a.status === 'Closed',
    learned: a.learned,
    closeWrites: a.closeWrites,
    time: new Date(a.time).toISOString(),
    statusChangedAt: new Date(a.statusChangedAt).toISOString(),
    sourceDevice: a.sourceDevice,
    destinationDevice: a.destinationDevice,
    sourceDeviceAddress: a.sourceDeviceAddress,
    destinationDeviceAddress: a.destinationDeviceAddress,
    remediationSteps: [...a.remediationSteps],
    burst: a.burst,
  };
}

/** An alert by numeric id or GUID. */
function findAlert(state: DefenderState, key: string): LiveAlert | undefined {
  return /^\d+$/.test(key) ? state.alert(Number(key)) : state.alertByUuid(key);
}

const alertTitles = ALERT_TEMPLATES.map((t) => t.title) as [string, ...string[]];

/** Mounts `/_sandbox/*`: the documented control API (see docs/sandbox-defender.md). No auth: loopback only. */
export function mountControlApi(app: Hono, ctx: ControlContext): void {
  const { state, stats, faults } = ctx;

  app.get('/_sandbox', (c) => c.json(ctx.describe(new URL(c.req.url).origin)));
  app.get('/_sandbox/', (c) => c.json(ctx.describe(new URL(c.req.url).origin)));

  app.get('/_sandbox/stats', (c) => c.json(stats.toJSON()));
  app.post('/_sandbox/stats/reset', (c) => {
    stats.reset();
    return c.json(stats.toJSON());
  });

  app.get('/_sandbox/journal', (c) => c.json(stats.journal.toJSON()));
  app.post('/_sandbox/journal', async (c) => {
    const b = await body(c, z.strictObject({ enabled: z.boolean() }));
    if (b instanceof Response) return b;
    stats.journal.enable(b.enabled);
    return c.json({ enabled: stats.journal.enabled });
  });
  app.get('/_sandbox/faults', (c) => c.json(faults.report()));
  app.post('/_sandbox/faults', async (c) => {
    const b = await body(c, faultsSchema);
    if (b instanceof Response) return b;
    faults.set(b);
    return c.json(faults.settings);
  });
  app.delete('/_sandbox/faults', (c) => {
    faults.clear();
    return c.json(faults.settings);
  });

  app.get('/_sandbox/clock', (c) => c.json({ now: new Date(state.now()).toISOString() }));
  app.post('/_sandbox/clock', async (c) => {
    const b = await body(
      c,
      z.strictObject({
        now: z.iso.datetime({ offset: true }).optional(),
        advanceSeconds: z.number().optional(),
      }),
    );
    if (b instanceof Response) return b;
    if ((b.now === undefined) === (b.advanceSeconds === undefined))
      return controlError(c, 400, 'Give exactly one of now or advanceSeconds.');
    if (b.now !== undefined) state.setClock(Date.parse(b.now));
    else state.advanceClock((b.advanceSeconds as number) * 1000);
    state.touch(null);
    return c.json({ now: new Date(state.now()).toISOString() });
  });

  app.post('/_sandbox/assessments/status', async (c) => {
    const b = await body(
      c,
      z.strictObject({
        id: z.string().optional(),
        resourceId: z.string().optional(),
        assessmentName: z.string().optional(),
        code: z.enum(['Healthy', 'Unhealthy', 'NotApplicable']),
        cause: z.string().optional(),
        description: z.string().optional(),
      }),
    );
    if (b instanceof Response) return b;
    let resourceId = b.resourceId;
    let key = b.assessmentName;
    if (b.id !== undefined) {
      const ref = assessmentRef(b.id);
      if (!ref) return controlError(c, 400, ASSESSMENT_ID_FORM);
      ({ resourceId, key } = ref);
    }
    if (!resourceId || !key) return controlError(c, 400, 'Give id, or resourceId and assessmentName.');
    const normalised = normalisedId(resourceId);
    const index = state.findAssessment(normalised, key);
    if (index === undefined) return controlError(c, 404, `No assessment '${key}' on '${normalised}'.`);
    const a = state.setAssessmentStatus(index, b.code, b.cause, b.description);
    return c.json({ id: a.id, code: a.code, statusChangeDate: new Date(a.statusChangeDate).toISOString() });
  });

  // An assessment of a known recommendation on any resource of a known subscription, served from
  // then on by ARM and Resource Graph like the generated ones (until a reset): resources named
  // as the estate never names them, for tests. The resource need not exist (it has no tags).
  app.post('/_sandbox/assessments', async (c) => {
    const b = await body(
      c,
      z.strictObject({
        resourceId: z.string().min(1).max(2000),
        assessmentKey: z.string().min(1),
        code: z.enum(['Healthy', 'Unhealthy', 'NotApplicable']).optional(),
      }),
    );
    if (b instanceof Response) return b;
    const subscriptionId = /^\/subscriptions\/([^/]+)(\/|$)/i.exec(b.resourceId)?.[1];
    if (!subscriptionId || !state.hasSubscription(subscriptionId))
      return controlError(c, 400, `'${b.resourceId}' is not a resource id of a subscription of the sandbox.`);
    const metadata = state.metadata(b.assessmentKey);
    if (!metadata) return controlError(c, 404, `No assessment metadata '${b.assessmentKey}'.`);
    const index = state.addAssessment({
      resourceId: b.resourceId,
      subscriptionId,
      key: metadata.key,
      code: b.code ?? 'Unhealthy',
      // The estate's reference time: the sandbox's start.
      firstEvaluationDate: state.estate.referenceTime,
      statusChangeDate: state.estate.referenceTime,
    });
    if (index === undefined)
      return controlError(c, 409, `An assessment '${metadata.key}' on '${b.resourceId}' exists already.`);
    const a = state.assessment(index);
    return c.json({ id: a.id, resourceId: a.resourceId, assessmentKey: a.key, code: a.code }, 201);
  });

  // An assignment as Defender for Cloud's own ServiceNow integration leaves it (Assign owner →
  // Type ServiceNow, or a governance rule of ruleType ServiceNow; azure-docs
  // articles/defender-for-cloud/create-ticket-servicenow.md): owner, due date and
  // additionalData.{ticketNumber, ticketLink, ticketStatus}, under a key it chose. The body is
  // the ARM PUT body, checked as strictly as that PUT (ticketNumber an int32, contract §3.1); the
  // integration always records its ticket, so ticketNumber is required here.
  app.post('/_sandbox/servicenow-integration/assignments', async (c) => {
    const b = await body(
      c,
      z.strictObject({
        assessmentId: z.string(),
        assignmentKey: z.string().uuid().optional(),
        properties: z.record(z.string(), z.unknown()),
      }),
    );
    if (b instanceof Response) return b;
    const properties = validateGovernanceAssignment({ properties: b.properties });
    if (typeof properties === 'string') return controlError(c, 400, properties);
    const ticket = properties['additionalData'] as { ticketNumber?: number } | undefined;
    if (ticket?.ticketNumber === undefined)
      return controlError(
        c,
        400,
        "'properties.additionalData.ticketNumber' is required: the integration records its ticket.",
      );
    const ref = assessmentRef(b.assessmentId);
    if (!ref) return controlError(c, 400, ASSESSMENT_ID_FORM);
    const index = state.findAssessment(normalisedId(ref.resourceId), ref.key);
    if (index === undefined)
      return controlError(c, 404, `No assessment '${ref.key}' on '${ref.resourceId}'.`);
    const assessment = state.assessment(index);
    const record = {
      resourceId: assessment.resourceId,
      assessmentKey: assessment.key,
      assignmentKey: b.assignmentKey ?? randomUUID(),
      subscriptionId: assessment.subscriptionId,
      properties,
    };
    state.governanceAssignments.set(
      governanceAssignmentKey(record.resourceId, record.assessmentKey, record.assignmentKey),
      record,
    );
    state.touch();
    return c.json(governanceAssignmentJson(record), 201);
  });

  app.get('/_sandbox/devices/:id', (c) => {
    const d = state.device(Number(c.req.param('id')));
    return d ? c.json(deviceSummary(d)) : controlError(c, 404, `No device ${c.req.param('id')}.`);
  });

  app.post('/_sandbox/devices', async (c) => {
    const b = await body(c, addDeviceSchema);
    if (b instanceof Response) return b;
    const sensor = state.sensorByName(b.sensor);
    if (!sensor) return controlError(c, 404, `No sensor '${b.sensor}'.`);
    const info = DEVICE_TYPES.find((t) => t.type === b.type);
    if (!info) return controlError(c, 400, `Unknown type '${b.type}'.`);
    const unknownCve = (b.cves ?? []).find((id) => !state.cve(id));
    if (unknownCve)
      return controlError(
        c,
        400,
        `Unknown CVE '${unknownCve}': add it with POST /_sandbox/devices/:id/cves and a score.`,
      );
    const zone = state.estate.zones[sensor.zoneId - 1];
    const device = state.addDevice({
      uuid: randomUUID(),
      name: b.name,
      type: b.type,
      category: info.category,
      typeDisplayName: info.typeDisplayName,
      subTypeDisplayName: info.subTypeDisplayName,
      purdueLevel: b.purdueLevel ?? info.levels[0] ?? 1,
      vendor: b.vendor ?? info.models[0]?.vendor ?? '',
      model: b.model ?? info.models[0]?.model ?? '',
      firmwareVersion: b.firmwareVersion ?? '',
      serialNumber: b.serialNumber ?? '',
      operatingSystem: b.operatingSystem ?? null,
      siteId: sensor.siteId,
      zoneId: sensor.zoneId,
      sensorId: sensor.id,
      nics: [{ ip: b.ip, mac: b.mac ?? '02:00:00:00:00:01', vlan: String(zone?.vlan ?? 1) }],
      modules: [],
      protocols: b.protocols ?? [],
      authorized: b.authorized ?? true,
      scanner: false,
      engineeringStation: b.type === 'Engineering Station',
      programming: b.type === 'Engineering Station',
      hasDynamicAddress: false,
      criticality: b.criticality ?? 'Normal',
      riskScore: 0,
      cves: b.cves ?? [],
    });
    return c.json(deviceSummary(device), 201);
  });

  // Every device seen again at the sandbox's now (what a day of traffic does to last seen).
  app.post('/_sandbox/devices/seen', (c) => c.json({ seen: state.seeAll() }));

  app.patch('/_sandbox/devices/:id', async (c) => {
    const b = await body(c, patchDeviceSchema);
    if (b instanceof Response) return b;
    const id = Number(c.req.param('id'));
    let sensorChange: { sensorId: number; siteId: number; zoneId: number } | undefined;
    if (b.sensor !== undefined) {
      const s = state.sensorByName(b.sensor);
      if (!s) return controlError(c, 404, `No sensor '${b.sensor}'.`);
      sensorChange = { sensorId: s.id, siteId: s.siteId, zoneId: s.zoneId };
    }
    const updated = state.updateDevice(id, (d) => {
      const { ip, mac: newMac, sensor: _s, moduleModels, ...rest } = b;
      const modules = d.modules.map((m, i) => ({ ...m, model: moduleModels?.[i] ?? m.model }));
      const nics = d.nics.map((n, i) =>
        i === 0 ? { ...n, ...(ip ? { ip } : {}), ...(newMac ? { mac: newMac } : {}) } : n,
      );
      const info = b.type ? DEVICE_TYPES.find((t) => t.type === b.type) : undefined;
      return {
        ...d,
        ...rest,
        ...(info
          ? {
              category: info.category,
              typeDisplayName: info.typeDisplayName,
              subTypeDisplayName: info.subTypeDisplayName,
            }
          : {}),
        ...(sensorChange ?? {}),
        nics,
        modules,
      };
    });
    return updated ? c.json(deviceSummary(updated)) : controlError(c, 404, `No device ${id}.`);
  });

  app.delete('/_sandbox/devices/:id', (c) => {
    const id = Number(c.req.param('id'));
    return state.removeDevice(id) ? c.json({ id, deleted: true }) : controlError(c, 404, `No device ${id}.`);
  });

  app.post('/_sandbox/devices/:id/cves', async (c) => {
    const b = await body(
      c,
      z.strictObject({
        // Any text: an id that is not `CVE-YYYY-NNNN` is served as given (hostile input for tests).
        cveId: z.string().min(1).max(200),
        score: z
          .string()
          .regex(/^\d{1,2}\.\d$/)
          .optional(),
        attackVector: z.enum(['NETWORK', 'ADJACENT_NETWORK', 'LOCAL']).optional(),
        description: z.string().optional(),
        exploitType: z.string().min(1).optional(),
      }),
    );
    if (b instanceof Response) return b;
    const id = Number(c.req.param('id'));
    if (!state.device(id)) return controlError(c, 404, `No device ${id}.`);
    if (!state.cve(b.cveId)) {
      if (!b.score)
        return controlError(c, 400, `CVE '${b.cveId}' is not in the catalogue: give its score (e.g. "7.5").`);
      state.extraCves.set(b.cveId, {
        cveId: b.cveId,
        score: b.score,
        attackVector: b.attackVector ?? 'NETWORK',
        description: b.description ?? `${b.cveId} (added through the sandbox control API)`,
        appliesTo: [],
        ...(b.exploitType !== undefined ? { exploitType: b.exploitType } : {}),
      });
    }
    const updated = state.updateDevice(id, (d) =>
      d.cves.includes(b.cveId) ? d : { ...d, cves: [...d.cves, b.cveId] },
    );
    return c.json(deviceSummary(updated as LiveDevice), 201);
  });

  app.delete('/_sandbox/devices/:id/cves/:cveId', (c) => {
    const id = Number(c.req.param('id'));
    const cveId = c.req.param('cveId');
    const d = state.device(id);
    if (!d) return controlError(c, 404, `No device ${id}.`);
    if (!d.cves.includes(cveId)) return controlError(c, 404, `Device ${id} has no ${cveId}.`);
    const updated = state.updateDevice(id, (x) => ({ ...x, cves: x.cves.filter((v) => v !== cveId) }));
    return c.json(deviceSummary(updated as LiveDevice));
  });

  app.post('/_sandbox/sensors/:name', async (c) => {
    const b = await body(
      c,
      z.strictObject({ learningMode: z.boolean().optional(), connected: z.boolean().optional() }),
    );
    if (b instanceof Response) return b;
    const s = state.sensorByName(c.req.param('name'));
    if (!s) return controlError(c, 404, `No sensor '${c.req.param('name')}'.`);
    const updated = state.setSensor(s.id, b);
    return c.json({
      name: updated?.name,
      learningMode: updated?.learningMode,
      connected: updated?.connected,
    });
  });

  app.post('/_sandbox/sensors/:name/raw-devices', async (c) => {
    const b = await body(c, z.strictObject({ records: z.array(z.unknown()).max(10_000) }));
    if (b instanceof Response) return b;
    const s = state.sensorByName(c.req.param('name'));
    if (!s) return controlError(c, 404, `No sensor '${c.req.param('name')}'.`);
    // `undefined` can not be served in a JSON array: it stands for null, as JSON.stringify would write it.
    state.rawSensorDevices.set(
      s.id,
      b.records.map((r) => (r === undefined ? null : r)),
    );
    return c.json({ name: s.name, rawDevices: b.records.length });
  });

  app.post('/_sandbox/resource-graph/raw-rows', async (c) => {
    const b = await body(
      c,
      z.strictObject({ type: z.string().min(1), records: z.array(z.unknown()).max(10_000) }),
    );
    if (b instanceof Response) return b;
    // `undefined` can not be served in a JSON array: it stands for null, as JSON.stringify would write it.
    const records = b.records.map((r) => (r === undefined ? null : r));
    const unknownType = setRawResourceGraphRows(state, b.type, records);
    if (unknownType) return controlError(c, 404, unknownType);
    return c.json({ type: b.type.toLowerCase(), rawRows: records.length });
  });

  app.post('/_sandbox/console/raw-records', async (c) => {
    const b = await body(
      c,
      z.strictObject({ list: z.enum(RAW_CONSOLE_LISTS), records: z.array(z.unknown()).max(10_000) }),
    );
    if (b instanceof Response) return b;
    // `undefined` can not be served in a JSON array: it stands for null, as JSON.stringify would write it.
    const records = b.records.map((r) => (r === undefined ? null : r));
    state.rawConsoleRecords.set(b.list, records);
    // Cached console pages key on the state's version.
    state.touch('devices');
    return c.json({ list: b.list, rawRecords: records.length });
  });

  app.post('/_sandbox/resources/tags', async (c) => {
    const b = await body(c, z.strictObject({ id: z.string(), tags: z.record(z.string(), z.string()) }));
    if (b instanceof Response) return b;
    const resource = state.resource(b.id);
    if (!resource) return controlError(c, 404, `No resource '${b.id}'.`);
    state.tagOverlay.set(resource.id.toLowerCase(), b.tags);
    state.touch();
    return c.json({ id: resource.id, tags: b.tags });
  });

  // ---- alerts: ground truth, raise (one or a burst), close as a person in the portal would
  app.get('/_sandbox/alerts', (c) => {
    const sensorName = c.req.query('sensor');
    const sensor = sensorName === undefined ? undefined : state.sensorByName(sensorName);
    if (sensorName !== undefined && !sensor) return controlError(c, 404, `No sensor '${sensorName}'.`);
    const status = c.req.query('status');
    const alerts = state
      .alertIds()
      .map((id) => state.alert(id) as LiveAlert)
      .filter((a) => (!sensor || a.sensorId === sensor.id) && (!status || a.status === status));
    return c.json(alerts.map((a) => alertSummary(state, a)));
  });

  app.get('/_sandbox/alerts/:id', (c) => {
    const a = findAlert(state, c.req.param('id'));
    return a ? c.json(alertSummary(state, a)) : controlError(c, 404, `No alert ${c.req.param('id')}.`);
  });

  app.post('/_sandbox/alerts', async (c) => {
    const b = await body(
      c,
      z.strictObject({
        deviceId: z.number().int(),
        destinationDeviceId: z.number().int().optional(),
        title: z.enum(alertTitles).optional(),
        count: z.number().int().min(1).max(500).optional(),
        intervalSeconds: z.number().min(0).max(3600).optional(),
      }),
    );
    if (b instanceof Response) return b;
    const source = state.device(b.deviceId);
    if (!source) return controlError(c, 404, `No device ${b.deviceId}.`);
    const destination = b.destinationDeviceId === undefined ? source : state.device(b.destinationDeviceId);
    if (!destination) return controlError(c, 404, `No device ${b.destinationDeviceId}.`);
    if (destination.sensorId !== source.sensorId)
      return controlError(c, 400, 'Both devices must be seen by the same sensor.');
    const template =
      ALERT_TEMPLATES.find((t) => t.title === (b.title ?? alertTitles[0])) ?? ALERT_TEMPLATES[0];
    if (!template) return controlError(c, 400, 'No alert templates.');
    const site = state.estate.sites[source.siteId - 1] as Site;
    const raised: LiveAlert[] = [];
    const start = state.now();
    for (let k = 0; k < (b.count ?? 1); k++) {
      const uuid = randomUUID();
      raised.push(
        state.addAlert({
          ...alertFields(template, source, destination),
          uuid,
          resourceId: `${deviceGroupPath(site)}/alerts/${uuid}`,
          sensorId: source.sensorId,
          time: start + Math.round(k * (b.intervalSeconds ?? 0) * 1000),
          burst: null,
        }),
      );
    }
    return c.json({ alerts: raised.map((a) => alertSummary(state, a)) }, 201);
  });

  // As a person closing the alert in the Azure portal (or, with learn, "Learn" there).
  app.post('/_sandbox/alerts/:id/close', async (c) => {
    const b = await body(c, z.strictObject({ learn: z.boolean().optional() }));
    if (b instanceof Response) return b;
    const a = findAlert(state, c.req.param('id'));
    if (!a) return controlError(c, 404, `No alert ${c.req.param('id')}.`);
    const updated = state.updateAlert(a.id, { status: 'Closed', ...(b.learn ? { learned: true } : {}) });
    return c.json(alertSummary(state, updated as LiveAlert));
  });

  app.get('/_sandbox/dump', (c) => {
    const known = [
      'assessments',
      'governanceAssignments',
      'governanceRules',
      'devices',
      'sensors',
      'deletedDevices',
      'alerts',
    ];
    const what = (c.req.query('what') ?? known.join(','))
      .split(',')
      .map((w) => w.trim())
      .filter(Boolean);
    const unknown = what.find((w) => !known.includes(w));
    if (unknown) return controlError(c, 400, `Unknown dump part '${unknown}' (known: ${known.join(', ')}).`);
    return streamJson(dumpChunks(state, [...new Set(what)].sort()));
  });

  app.post('/_sandbox/reset', (c) => {
    state.reset(ctx.startTime);
    stats.reset();
    faults.clear();
    return c.json({ reset: true, now: new Date(state.now()).toISOString() });
  });

  app.all('/_sandbox/*', (c) => controlError(c, 404, `No control endpoint ${c.req.method} ${c.req.path}.`));
}

/** The canonical dump: parts in name order, items in a stable order (ids ascending / case-insensitive). */
function* dumpChunks(state: DefenderState, parts: string[]): Generator<string> {
  yield '{';
  let firstPart = true;
  for (const part of parts) {
    yield `${firstPart ? '' : ','}${JSON.stringify(part)}:`;
    firstPart = false;
    if (part === 'assessments') {
      const order = Array.from({ length: state.assessmentCount }, (_, i) => i);
      const ids = order.map((i) => state.assessment(i).id.toLowerCase());
      order.sort((a, b) =>
        (ids[a] as string) < (ids[b] as string) ? -1 : (ids[a] as string) > (ids[b] as string) ? 1 : 0,
      );
      yield* jsonArrayChunks(order.length, (k) => {
        const a = state.assessment(order[k] as number);
        return {
          id: a.id,
          resourceId: a.resourceId,
          assessmentKey: a.key,
          code: a.code,
          ...(a.cause !== undefined ? { cause: a.cause } : {}),
          statusChangeDate: new Date(a.statusChangeDate).toISOString(),
        };
      });
    } else if (part === 'governanceAssignments') {
      const items = [...state.governanceAssignments.values()].map(governanceAssignmentJson);
      items.sort((a, b) => (String(a['id']).toLowerCase() < String(b['id']).toLowerCase() ? -1 : 1));
      yield JSON.stringify(items);
    } else if (part === 'governanceRules') {
      const items = [...state.governanceRules.values()].map(governanceRuleJson);
      items.sort((a, b) => (String(a['id']).toLowerCase() < String(b['id']).toLowerCase() ? -1 : 1));
      yield JSON.stringify(items);
    } else if (part === 'devices') {
      const ids = [...state.deviceIds()];
      yield* jsonArrayChunks(ids.length, (k) => {
        const d = state.device(ids[k] as number);
        return d ? deviceSummary(d) : undefined;
      });
    } else if (part === 'sensors') {
      yield JSON.stringify(
        state
          .sensors()
          .map((s) => ({ id: s.id, name: s.name, learningMode: s.learningMode, connected: s.connected })),
      );
    } else if (part === 'alerts') {
      const ids = state.alertIds();
      yield* jsonArrayChunks(ids.length, (k) => {
        const a = state.alert(ids[k] as number);
        return a ? alertSummary(state, a) : undefined;
      });
    } else if (part === 'deletedDevices') {
      yield JSON.stringify(state.deletedSince(0));
    }
  }
  yield '}';
}
