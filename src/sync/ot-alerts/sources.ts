import type { IntegrationConfig } from '../../config/schema.js';
import type { AlertSourceKind, DefenderCloseAction, OtAlert } from '../../domain/ot-alerts/alerts.js';
import { ConfigError, isRateLimitedError, isSnowlineError } from '../../errors.js';
import type {
  ArmClient,
  CloudIotAlert,
  ConsoleClient,
  DefenderSources,
  IotResourceGraphReader,
  RecordProblem,
  SensorClient,
} from '../../sources/index.js';
import { consoleAlertUuid } from '../../sources/defender-iot/console-client.js';
import type { ConsoleAlert, SensorAlert } from '../../sources/defender-iot/models.js';

/**
 * The three Defender sources of OT alerts behind one interface: what is new since a creation
 * time, what the alerts with an open ticket look like now, and — where the source documents a
 * write — how an alert is closed.
 */

/** An alert as a source read it, with what identifies its device and where a write goes. */
export interface SourcedAlert {
  readonly alert: OtAlert;
  /** The device's key in the source's own terms (ot-inventory's key when it reads the same source). */
  readonly deviceKey?: string | undefined;
  /** What a close is sent to: the ARM alert id, the console UUID; undefined for the read-only sensor. */
  readonly writeRef?: string | undefined;
}

/** A page of alerts and the records that did not parse (reported and skipped). */
export interface AlertPage {
  readonly items: readonly SourcedAlert[];
  readonly problems: readonly RecordProblem[];
  /** Parts of the source that could not be read (a sensor that does not answer), with why. */
  readonly unread?: readonly { readonly part: string; readonly why: string }[];
}

/** What a close did: closed now, or found closed already (nothing written). */
export type CloseOutcome = 'closed' | 'alreadyClosed';

/** A Defender source of OT alerts. */
export interface AlertSource {
  readonly kind: AlertSourceKind;
  /** Open alerts raised at or after `since`. */
  newAlerts(since: Date): AsyncIterable<AlertPage>;
  /**
   * The alerts behind these keys as the source holds them now (any status); an alert the source
   * no longer has is absent. `raisedAt` (ISO, per key) bounds reads of sources without a by-id read.
   */
  current(
    alerts: ReadonlyMap<string, { readonly raisedAt: string; readonly writeRef?: string | undefined }>,
  ): Promise<Map<string, SourcedAlert>>;
  /**
   * Closes an alert in Defender the documented way; absent on a source with no documented write
   * (the sensor API is read-only: sensor-alert-apis.md documents GET only).
   */
  readonly close?: (writeRef: string, action: DefenderCloseAction) => Promise<CloseOutcome>;
  /** The documented write, in words, for the plan (`ARM PATCH status Closed`…). */
  describeClose(action: DefenderCloseAction): string;
}

/** The source `flows.otAlerts.source` names, from the integration's Defender clients. */
export function otAlertsSource(integration: IntegrationConfig, defender: DefenderSources): AlertSource {
  const source = integration.flows.otAlerts?.source ?? 'resourceGraph';
  switch (source) {
    case 'resourceGraph':
      return new ResourceGraphAlertSource(defender.iotResourceGraph, defender.arm);
    case 'sensor':
      if (defender.sensors.length === 0)
        throw new ConfigError([
          {
            path: 'defender.sensors',
            message: 'flows.otAlerts.source is sensor but no sensor is configured',
          },
        ]);
      return new SensorAlertSource(defender.sensors);
    case 'console':
      if (!defender.console)
        throw new ConfigError([
          {
            path: 'defender.console',
            message: 'flows.otAlerts.source is console but no console is configured',
          },
        ]);
      return new ConsoleAlertSource(defender.console);
  }
}

/** `Closed` is the only closed status of the Azure model (`AlertStatus`: New, InProgress, Closed). */
function isOpenStatus(status: string): boolean {
  return status.toLowerCase() !== 'closed';
}

/**
 * A string id of a device reference the sensor and console give as a number or a string. 0 is no
 * device: the console's example writes 0 where the sensor writes null (management-alert-apis.md).
 */
function idText(value: number | string | undefined): string | undefined {
  return value === undefined || value === '' || String(value) === '0' ? undefined : String(value);
}

/**
 * Alerts of cloud-connected sensors from Resource Graph, closed through ARM: `PATCH` status
 * Closed (`IotAlerts_Patch`, 2021-07-01-preview alerts.json) or the learn action.
 */
export class ResourceGraphAlertSource implements AlertSource {
  readonly kind = 'resourceGraph' as const;

  constructor(
    private readonly reader: IotResourceGraphReader,
    private readonly arm: ArmClient,
  ) {}

  async *newAlerts(since: Date): AsyncIterable<AlertPage> {
    for await (const page of this.reader.openAlerts())
      yield {
        items: page.items.filter((a) => Date.parse(a.raisedAt) >= since.getTime()).map(sourcedCloudAlert),
        problems: page.problems,
      };
  }

  async current(
    alerts: ReadonlyMap<string, { readonly writeRef?: string | undefined }>,
  ): Promise<Map<string, SourcedAlert>> {
    const found = new Map<string, SourcedAlert>();
    const ids = [...alerts.entries()].map(([key, a]) => a.writeRef ?? key);
    for await (const page of this.reader.alertsById(ids))
      for (const a of page.items) found.set(a.id.toLowerCase(), sourcedCloudAlert(a));
    return found;
  }

  readonly close = async (writeRef: string, action: DefenderCloseAction): Promise<CloseOutcome> => {
    // Re-read before write: an alert closed meanwhile is not closed (or learned) a second time.
    const now = await this.arm.getIotAlert(writeRef);
    if (!now || !isOpenStatus(now.status)) return 'alreadyClosed';
    if (action === 'learn') await this.arm.learnIotAlert(writeRef);
    else await this.arm.setIotAlertStatus(writeRef, 'Closed');
    return 'closed';
  };

  describeClose(action: DefenderCloseAction): string {
    return action === 'learn' ? 'ARM learn action (learn and close)' : 'ARM PATCH status Closed';
  }
}

function sourcedCloudAlert(a: CloudIotAlert): SourcedAlert {
  return {
    alert: {
      key: a.id.toLowerCase(),
      source: 'resourceGraph',
      title: a.title,
      message: a.description,
      severity: a.severity,
      engine: a.engine,
      alertType: a.alertType,
      raisedAt: a.raisedAt,
      open: isOpenStatus(a.status),
      sensor: a.sensor,
      protocol: a.protocol,
      sourceAddress: a.sourceAddress,
      destinationAddress: a.destinationAddress,
      sourceDeviceId: a.deviceId,
      remediationSteps: a.remediationSteps,
    },
    deviceKey: a.deviceId,
    writeRef: a.id,
  };
}

/**
 * Alerts of the OT sensors (`GET /api/v2/alerts`, with the addresses and remediation steps).
 * Read-only: no write is documented (sensor-alert-apis.md), so a closed ticket leaves its alerts
 * open in Defender and the ledger says so. "handled" is the sensor's closed (alerts.md: statuses
 * are synchronised with Azure's).
 */
export class SensorAlertSource implements AlertSource {
  readonly kind = 'sensor' as const;

  constructor(private readonly sensors: readonly SensorClient[]) {}

  async *newAlerts(since: Date): AsyncIterable<AlertPage> {
    for (const sensor of this.sensors) {
      const pages: AlertPage[] = [];
      try {
        for await (const page of sensor.alerts({ state: 'unhandled', fromTime: since, version: 2 }))
          pages.push({
            items: page.items.map((a) => sourcedSensorAlert(sensor, a, true)),
            problems: page.problems,
          });
      } catch (error) {
        // One sensor that does not answer does not stop the others (the run says which).
        if (isRateLimitedError(error) || !isSnowlineError(error)) throw error;
        yield { items: [], problems: [], unread: [{ part: `sensor ${sensor.name}`, why: error.message }] };
        continue;
      }
      yield* pages;
    }
  }

  async current(
    alerts: ReadonlyMap<string, { readonly raisedAt: string }>,
  ): Promise<Map<string, SourcedAlert>> {
    const found = new Map<string, SourcedAlert>();
    for (const sensor of this.sensors) {
      const mine = [...alerts].filter(([key]) => key.startsWith(`${sensor.name}/`));
      if (mine.length === 0) continue;
      const from = new Date(Math.min(...mine.map(([, a]) => Date.parse(a.raisedAt))));
      // Handled ones, from the oldest of them on: the rest of the asked-for alerts are unhandled.
      const handled = new Set<string>();
      try {
        for await (const page of sensor.alerts({ state: 'handled', fromTime: from, version: 2 }))
          for (const a of page.items) handled.add(`${sensor.name}/${a.id}`);
        for await (const page of sensor.alerts({ fromTime: from, version: 2 }))
          for (const a of page.items) {
            const sourced = sourcedSensorAlert(sensor, a, !handled.has(`${sensor.name}/${a.id}`));
            if (alerts.has(sourced.alert.key)) found.set(sourced.alert.key, sourced);
          }
      } catch (error) {
        // Its alerts are left as last known: absent here, they count as unchanged.
        if (isRateLimitedError(error) || !isSnowlineError(error)) throw error;
      }
    }
    return found;
  }

  describeClose(): string {
    return 'none: the sensor API documents no alert write (sensor-alert-apis.md)';
  }
}

function sourcedSensorAlert(sensor: SensorClient, a: SensorAlert, open: boolean): SourcedAlert {
  const device = idText(a.sourceDevice) ?? idText(a.destinationDevice);
  return {
    alert: onPremAlert(a, {
      key: `${sensor.name}/${a.id}`,
      source: 'sensor',
      open,
      sensor: sensor.name,
      site: sensor.site,
      zone: sensor.zone,
    }),
    ...(device ? { deviceKey: `${sensor.name}/${device}` } : {}),
  };
}

/**
 * An alert of the sensor or console API, which share their fields (sensor-alert-apis.md,
 * management-alert-apis.md), as an {@link OtAlert}. Neither names an alert type: the title is.
 */
function onPremAlert(
  a: SensorAlert | ConsoleAlert,
  where: Pick<OtAlert, 'key' | 'source' | 'open' | 'sensor' | 'site' | 'zone'>,
): OtAlert {
  return {
    ...where,
    title: a.title ?? `alert ${a.id}`,
    message: a.message,
    severity: a.severity ?? 'Warning',
    engine: a.engine,
    alertType: a.title ?? a.engine ?? 'unknown',
    raisedAt: a.time.toISOString(),
    sourceAddress: a.sourceDeviceAddress,
    destinationAddress: a.destinationDeviceAddress,
    sourceDeviceId: idText(a.sourceDevice),
    destinationDeviceId: idText(a.destinationDevice),
    remediationSteps: a.remediationSteps,
  };
}

/**
 * Alerts of the on-premises management console (retired by Microsoft on 2025-01-01; legacy),
 * handled with `PUT /external/v1/alerts/<UUID>` `{"action": "handle" | "handleAndLearn"}`
 * (management-alert-apis.md).
 */
export class ConsoleAlertSource implements AlertSource {
  readonly kind = 'console' as const;

  constructor(private readonly console: ConsoleClient) {}

  async *newAlerts(since: Date): AsyncIterable<AlertPage> {
    const page = await this.console.alerts({ state: 'unhandled', fromTime: since });
    yield { items: page.items.map(sourcedConsoleAlert), problems: page.problems };
  }

  async current(
    alerts: ReadonlyMap<string, { readonly raisedAt: string }>,
  ): Promise<Map<string, SourcedAlert>> {
    const found = new Map<string, SourcedAlert>();
    if (alerts.size === 0) return found;
    const from = new Date(Math.min(...[...alerts.values()].map((a) => Date.parse(a.raisedAt))));
    const page = await this.console.alerts({ fromTime: from });
    for (const a of page.items) {
      const sourced = sourcedConsoleAlert(a);
      if (alerts.has(sourced.alert.key)) found.set(sourced.alert.key, sourced);
    }
    return found;
  }

  readonly close = async (writeRef: string, action: DefenderCloseAction): Promise<CloseOutcome> => {
    const answer = await this.console.handleAlert(writeRef, action === 'learn' ? 'handleAndLearn' : 'handle');
    // "Alert was already handled" (and "…already handled and learned") are 200 answers.
    return /already handled/i.test(answer) ? 'alreadyClosed' : 'closed';
  };

  describeClose(action: DefenderCloseAction): string {
    return `console PUT /external/v1/alerts/<UUID> ${action === 'learn' ? 'handleAndLearn' : 'handle'}`;
  }
}

function sourcedConsoleAlert(a: ConsoleAlert): SourcedAlert {
  const uuid = consoleAlertUuid(a);
  const device = idText(a.sourceDevice) ?? idText(a.destinationDevice);
  return {
    alert: onPremAlert(a, {
      key: `console/${uuid}`,
      source: 'console',
      open: !a.handled,
      sensor: a.sensorName ?? idText(a.sensorId),
      site: a.siteName,
      zone: a.zoneName,
    }),
    ...(device ? { deviceKey: device } : {}),
    writeRef: uuid,
  };
}
