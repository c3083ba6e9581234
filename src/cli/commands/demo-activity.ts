import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import type { IntegrationConfig } from '../../config/schema.js';
import { correlationPrefix } from '../../domain/tickets/rules.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import type { SandboxReady } from '../sandbox-process.js';
import { DEFAULT_CLOSED_STATES } from '../../domain/tickets/tables.js';

/*
 * What people do between two runs, played against the sandboxes so that `snowline demo` shows the
 * two-way sync: a ticket closed and an owner changed in ServiceNow (by a person, not the
 * integration user, so the sync does not take them for its own echo), a CVE fixed on a device, a
 * recommendation turned healthy and a burst of OT alerts raised on a device in Defender. Only public APIs and the sandboxes' documented
 * /_sandbox control APIs are used.
 */

/** One thing that happened, in a sentence for the demo's output. */
export type ActivityNote = string;

/**
 * Plays one change per call, in turn: ticket closed, owner changed, CVE fixed, recommendation
 * healthy, OT alert burst.
 */
export class DemoActivity {
  private readonly agent: Agent;
  private readonly operator = { user: 'demo.operator', password: randomBytes(12).toString('base64url') };
  private operatorReady = false;
  private turn = 0;

  constructor(
    private readonly ready: SandboxReady,
    private readonly integration: IntegrationConfig,
  ) {
    this.agent = new Agent(ready.caFile ? { connect: { ca: readFileSync(ready.caFile) } } : {});
  }

  /** Plays the next change; returns what happened, or why nothing could be done this turn. */
  async next(): Promise<ActivityNote> {
    const steps = [
      () => this.closeTicket(),
      () => this.changeOwner(),
      () => this.fixCve(),
      () => this.makeRecommendationHealthy(),
      () => this.raiseAlertBurst(),
    ];
    const step = steps[this.turn++ % steps.length]!;
    return step();
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  private async call<T = unknown>(
    url: string,
    method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
    body?: unknown,
    auth?: string,
  ): Promise<T> {
    const response = await request(url, {
      method,
      dispatcher: this.agent,
      headers: {
        accept: 'application/json',
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        ...(auth ? { authorization: auth } : {}),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.body.text();
    if (response.statusCode >= 400)
      throw new Error(`${method} ${new URL(url).pathname} answered ${response.statusCode}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A person with the itil role, created once through the sandbox's control API. */
  private async operatorAuth(): Promise<string> {
    if (!this.operatorReady) {
      await this.call(`${this.ready.servicenow.url}/_sandbox/users`, 'POST', {
        user_name: this.operator.user,
        password: this.operator.password,
        roles: ['itil'],
        first_name: 'Demo',
        last_name: 'Operator',
        email: 'demo.operator@example.com',
      });
      this.operatorReady = true;
    }
    return `Basic ${Buffer.from(`${this.operator.user}:${this.operator.password}`).toString('base64')}`;
  }

  private async table<T = unknown>(
    path: string,
    method: 'GET' | 'PATCH' = 'GET',
    body?: unknown,
  ): Promise<T> {
    return this.call<T>(
      `${this.ready.servicenow.url}/api/now/table/${path}`,
      method,
      body,
      await this.operatorAuth(),
    );
  }

  /** An incident Snowline opened that is not resolved yet (newest first, so each turn finds another). */
  private async openIncident(): Promise<{ sys_id: string; number: string } | undefined> {
    const query = encodeQuery({
      where: [
        where('correlation_id', 'STARTSWITH', correlationPrefix(this.integration.id)),
        where('state', 'NOT IN', DEFAULT_CLOSED_STATES.incident),
      ],
      orderByDesc: ['sys_created_on'],
    });
    const found = await this.table<{ result: { sys_id: string; number: string }[] }>(
      `incident?sysparm_limit=1&sysparm_fields=sys_id,number&sysparm_query=${encodeURIComponent(query)}`,
    );
    return found.result[0];
  }

  private async closeTicket(): Promise<ActivityNote> {
    const incident = await this.openIncident();
    if (!incident) return 'no open incident to close';
    await this.table(`incident/${incident.sys_id}`, 'PATCH', {
      state: '6',
      close_code: 'Solution provided',
      close_notes: 'Fixed on site (demo activity).',
    });
    return `ServiceNow: ${incident.number} resolved by demo.operator`;
  }

  private async changeOwner(): Promise<ActivityNote> {
    const incident = await this.openIncident();
    if (!incident) return 'no open incident to reassign';
    const users = await this.table<{ result: { sys_id: string; email: string }[] }>(
      `sys_user?sysparm_limit=20&sysparm_fields=sys_id,user_name,email&sysparm_query=${encodeURIComponent('emailISNOTEMPTY^active=true')}`,
    );
    const user = users.result[this.turn % Math.max(1, users.result.length)];
    if (!user) return 'no user to assign';
    await this.table(`incident/${incident.sys_id}`, 'PATCH', { assigned_to: user.sys_id });
    return `ServiceNow: ${incident.number} assigned to ${user.email}`;
  }

  /** Removes a CVE from a device seen by a connected sensor out of learning mode (one that feeds the CMDB). */
  private async fixCve(): Promise<ActivityNote> {
    const device = (await this.feedingDevices()).find((d) => d.cves.length > 0);
    if (!device) return 'no device with a CVE left to fix';
    const cve = device.cves[0]!;
    await this.call(
      `${this.ready.defender.url}/_sandbox/devices/${device.id}/cves/${encodeURIComponent(cve)}`,
      'DELETE',
    );
    return `Defender for IoT: ${cve} fixed on ${device.name}`;
  }

  /** The devices of the estate, and which sensors feed the CMDB (connected, out of learning mode). */
  private async feedingDevices(): Promise<{ id: number; name: string; cves: string[] }[]> {
    const dump = await this.call<{
      devices: { id: number; name: string; sensorId: number; cves: string[] }[];
      sensors: { id: number; connected?: boolean; learningMode?: boolean }[];
    }>(`${this.ready.defender.url}/_sandbox/dump?what=devices,sensors`, 'GET');
    const feeding = new Set(
      dump.sensors.filter((s) => s.connected !== false && s.learningMode !== true).map((s) => s.id),
    );
    return dump.devices.filter((d) => feeding.has(d.sensorId));
  }

  /** A burst of one alert on one device (the sandbox's control API): ot-alerts makes it one ticket. */
  private async raiseAlertBurst(): Promise<ActivityNote> {
    const devices = await this.feedingDevices();
    const device = devices[this.turn % Math.max(1, devices.length)];
    if (!device) return 'no device to raise alerts on';
    const raised = await this.call<{ alerts: { title: string }[] }>(
      `${this.ready.defender.url}/_sandbox/alerts`,
      'POST',
      { deviceId: device.id, count: 20, intervalSeconds: 3 },
    );
    return `Defender for IoT: a burst of ${raised.alerts.length} "${raised.alerts[0]?.title ?? 'alert'}" alerts on ${device.name}`;
  }

  private async makeRecommendationHealthy(): Promise<ActivityNote> {
    const dump = await this.call<{
      assessments: { id: string; code: string }[];
      governanceAssignments: { id: string }[];
    }>(`${this.ready.defender.url}/_sandbox/dump?what=assessments,governanceAssignments`, 'GET');
    const assigned = new Set(
      dump.governanceAssignments.map((g) =>
        g.id.toLowerCase().replace(/\/governanceassignments\/[^/]+$/, ''),
      ),
    );
    const assessment = dump.assessments.find(
      (a) => a.code === 'Unhealthy' && assigned.has(a.id.toLowerCase()),
    );
    if (!assessment) return 'no unhealthy recommendation with a ticket left';
    await this.call(`${this.ready.defender.url}/_sandbox/assessments/status`, 'POST', {
      id: assessment.id,
      code: 'Healthy',
    });
    return `Defender for Cloud: ${assessment.id.split('/providers/')[0]?.split('/').pop()} now healthy (${assessment.id.split('/').pop()})`;
  }
}
