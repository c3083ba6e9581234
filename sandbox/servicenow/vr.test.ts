/**
 * The Vulnerability Response tables as the documentation describes them. Sources are [SND] =
 * ServiceNow/ServiceNowDocs (australia): markdown/security-management/vulnerability-response/* and
 * markdown/operational-technology/operational-technology-vulnerability-response/*.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Instance, startServiceNowSandbox, type ServiceNowSandbox } from './index.js';
import { Schema } from './schema.js';
import { SandboxClient } from './testing.js';

type One = { result: Record<string, string> };
type Many = { result: Array<Record<string, string>> };

let sn: ServiceNowSandbox;
let api: SandboxClient;
let control: SandboxClient;

beforeAll(async () => {
  sn = await startServiceNowSandbox({ now: new Date('2026-03-01T08:00:00Z') });
  api = SandboxClient.basic(sn, sn.credentials.user, sn.credentials.password);
  control = new SandboxClient(sn, undefined);
});

afterAll(async () => {
  await api.close();
  await control.close();
  await sn.close();
});

const create = async (table: string, values: Record<string, string>): Promise<Record<string, string>> =>
  (await api.post<One>(`/api/now/table/${table}?sysparm_exclude_reference_link=true`, values)).body.result;
const read = async (table: string, sysId: string, query = ''): Promise<Record<string, string>> =>
  (await api.get<One>(`/api/now/table/${table}/${sysId}?sysparm_exclude_reference_link=true${query}`)).body
    .result;
const patch = async (table: string, sysId: string, values: Record<string, string>): Promise<void> => {
  await api.patch(`/api/now/table/${table}/${sysId}`, values);
};
const choices = async (name: string, element: string): Promise<Array<[string, string]>> =>
  (
    await api.get<Many>(
      `/api/now/table/sys_choice?sysparm_query=name=${name}^element=${element}^ORDERBYsequence&sysparm_fields=value,label`,
    )
  ).body.result.map((c) => [c.value ?? '', c.label ?? '']);
const itemsOf = async (ci: string): Promise<Array<Record<string, string>>> =>
  (
    await api.get<Many>(
      `/api/now/table/sn_vul_vulnerable_item?sysparm_query=cmdb_ci=${ci}&sysparm_fields=sys_id,state,substate`,
    )
  ).body.result;

// [SND] create-severity-map.md: "Target value … Choices are: 1- Critical, 2 - High, 3 - Medium,
// 4 - Low, 5 - None"; stored as the number (aws-inspector-mapping.md: CRITICAL → 1 … UNTRIAGED → 5).
describe('severity is a choice stored as 1–5 (create-severity-map.md)', () => {
  const severities: Array<[string, string]> = [
    ['1', '1- Critical'],
    ['2', '2 - High'],
    ['3', '3 - Medium'],
    ['4', '4 - Low'],
    ['5', '5 - None'],
  ];

  it('sys_choice serves the list for the entry and the vulnerable item', async () => {
    expect(await choices('sn_vul_entry', 'severity')).toEqual(severities);
    expect(await choices('sn_vul_vulnerable_item', 'severity')).toEqual(severities);
  });

  it('an NVD entry and the item it opens display the label; a value off the list is stored as given', async () => {
    const ci = await create('cmdb_ci_ot_plc', { name: 'sev-plc' });
    const cve = await create('sn_vul_nvd_entry', { id: 'CVE-2024-1001', severity: '2' });
    const shown = await read('sn_vul_nvd_entry', cve.sys_id ?? '', '&sysparm_display_value=all');
    expect(shown.severity).toEqual({ display_value: '2 - High', value: '2' });
    const det = await create('sn_vul_detection', {
      cmdb_ci: ci.sys_id ?? '',
      vulnerability: cve.sys_id ?? '',
      source: 'Microsoft Azure Defender for IoT',
    });
    const item = await read(
      'sn_vul_vulnerable_item',
      det.vulnerable_item ?? '',
      '&sysparm_display_value=true',
    );
    expect(item.severity).toBe('2 - High');

    // A real instance does not refuse an unknown choice value: it stores and shows it as is.
    const label = await create('sn_vul_nvd_entry', { id: 'CVE-2024-1002', severity: 'Critical' });
    expect(label.severity).toBe('Critical');
    const row = sn.control.instance.store.get(label.sys_id ?? '');
    expect(row && sn.control.instance.valuesOutsideChoices(row)).toEqual({ severity: 'Critical' });
    const good = sn.control.instance.store.get(cve.sys_id ?? '');
    expect(good && sn.control.instance.valuesOutsideChoices(good)).toEqual({});
  });
});

// Columns named by the integrations' mappings: aws-inspector-mapping.md, aws-security-hub-mapping.md,
// mstvm-data-transformref.md, and the Azure D4IoT page support-for-msft-defender-iot-azure.md
// (properties/vulnerabilityid → id, source "NVD", properties/description → summary,
// properties/score → score, properties/exploittype → "Exploit exists" and public_exploit).
describe('NVD entry columns (aws-inspector-mapping.md, aws-security-hub-mapping.md, mstvm-data-transformref.md, support-for-msft-defender-iot-azure.md)', () => {
  it('has the documented columns and no v2/v3 base severity', () => {
    const schema = new Schema();
    const type = (f: string): string | undefined => schema.field('sn_vul_nvd_entry', f)?.type;
    for (const f of ['id', 'summary', 'source', 'score', 'v2_base_score', 'v3_base_score', 'public_exploit'])
      expect(type(f), f).toBe('string');
    expect(type('exploit')).toBe('string');
    expect(type('severity')).toBe('string');
    expect(type('date_published')).toBe('datetime');
    expect(type('last_modified')).toBe('datetime');
    expect(type('v3_base_severity')).toBeUndefined();
    expect(type('v2_base_severity')).toBeUndefined();
  });

  it('stores the Azure integration mapping; "Exploit exists" is the choice 1 = Yes, 2 = No', async () => {
    expect(await choices('sn_vul_entry', 'exploit')).toEqual([
      ['1', 'Yes'],
      ['2', 'No'],
    ]);
    const entry = await create('sn_vul_nvd_entry', {
      id: 'CVE-2017-7797',
      source: 'NVD',
      summary: 'A heap-based buffer overflow',
      score: '9.8',
      v3_base_score: '9.8',
      exploit: '1',
      public_exploit: 'true',
      date_published: '2017-04-12 00:00:00',
      last_modified: '2024-01-02 03:04:05',
      severity: '1',
    });
    const shown = await read('sn_vul_nvd_entry', entry.sys_id ?? '', '&sysparm_display_value=true');
    expect(shown).toMatchObject({
      id: 'CVE-2017-7797',
      source: 'NVD',
      score: '9.8',
      v2_base_score: '',
      v3_base_score: '9.8',
      exploit: 'Yes',
      public_exploit: 'true',
      date_published: '2017-04-12 00:00:00',
      last_modified: '2024-01-02 03:04:05',
      severity: '1- Critical',
    });
    // Not in the dictionary: absent from a record that was not given it.
    expect(shown).not.toHaveProperty('v3_base_severity');
  });
});

// [SND] support-for-msft-defender-iot-azure.md: "source — Always set this field to Microsoft Azure
// Defender for IoT"; data-mapping-otvr-integration-claroty-ctd.md: "Always set to Claroty CTD".
// No page gives the detection source a choice list or a reference table.
describe('detection source is free text (support-for-msft-defender-iot-azure.md)', () => {
  it('is a string with no choices, stored as given', async () => {
    expect(new Schema().field('sn_vul_detection', 'source')?.type).toBe('string');
    expect(await choices('sn_vul_detection', 'source')).toEqual([]);
    const ci = await create('cmdb_ci_ot_hmi', { name: 'src-hmi' });
    const cve = await create('sn_vul_nvd_entry', { id: 'CVE-2024-1003' });
    const det = await create('sn_vul_detection', {
      cmdb_ci: ci.sys_id ?? '',
      vulnerability: cve.sys_id ?? '',
      source: 'Microsoft Azure Defender for IoT',
      status: '0',
    });
    expect(det.source).toBe('Microsoft Azure Defender for IoT');
    expect(
      sn.control.instance.valuesOutsideChoices(sn.control.instance.store.get(det.sys_id ?? '')!),
    ).toEqual({});
  });
});

// [SND] vulnerable-item-fields.md, Detections: "Times found — Number of times this vulnerability has
// been detected on this asset by the third-party source." No page says the platform counts it.
describe('times_found is the source’s count (vulnerable-item-fields.md)', () => {
  it('is stored as given, empty when not given, and never counted by the instance', async () => {
    const ci = await create('cmdb_ci_ot_rtu', { name: 'times-rtu' });
    const cve = await create('sn_vul_nvd_entry', { id: 'CVE-2024-1004' });
    const bare = await create('sn_vul_detection', {
      cmdb_ci: ci.sys_id ?? '',
      vulnerability: cve.sys_id ?? '',
      source: 'A',
    });
    expect(bare.times_found).toBe('');
    const det = await create('sn_vul_detection', {
      cmdb_ci: ci.sys_id ?? '',
      vulnerability: cve.sys_id ?? '',
      source: 'B',
      times_found: '3',
    });
    expect(det.times_found).toBe('3');
    await patch('sn_vul_detection', det.sys_id ?? '', { last_found: '2026-03-02 08:00:00', status: '0' });
    await patch('sn_vul_detection', det.sys_id ?? '', { last_found: '2026-03-03 08:00:00' });
    expect((await read('sn_vul_detection', det.sys_id ?? '')).times_found).toBe('3');
  });
});

// [SND] vr-detections-rt-vi-states.md: "Detection data are paired with vulnerable items … If a VI
// isn't found, a new one is created"; "If all detections are closed for a vulnerable item, that
// vulnerable item is closed". Whether a plain Table API insert does this is UNVERIFIED: the
// sandbox has both behaviours (config.vrRollup, POST /_sandbox/config).
describe('vulnerable items with and without the Table API rollup (vr-detections-rt-vi-states.md)', () => {
  it('with rollup: an item is found or created; a given vulnerable_item is kept and rolled up', async () => {
    const ci = await create('cmdb_ci_ot_ied', { name: 'rollup-ied' });
    const cve = await create('sn_vul_nvd_entry', { id: 'CVE-2024-1005' });
    const first = await create('sn_vul_detection', {
      cmdb_ci: ci.sys_id ?? '',
      vulnerability: cve.sys_id ?? '',
      source: 'A',
    });
    const second = await create('sn_vul_detection', {
      cmdb_ci: ci.sys_id ?? '',
      vulnerability: cve.sys_id ?? '',
      source: 'B',
    });
    expect(first.vulnerable_item).toMatch(/^[0-9a-f]{32}$/);
    expect(second.vulnerable_item).toBe(first.vulnerable_item);

    const other = await create('cmdb_ci_ot_ied', { name: 'rollup-ied-2' });
    const own = await create('sn_vul_vulnerable_item', {
      cmdb_ci: other.sys_id ?? '',
      vulnerability: cve.sys_id ?? '',
    });
    const given = await create('sn_vul_detection', {
      cmdb_ci: other.sys_id ?? '',
      vulnerability: cve.sys_id ?? '',
      source: 'A',
      vulnerable_item: own.sys_id ?? '',
      status: '1',
    });
    expect(given.vulnerable_item).toBe(own.sys_id);
    expect(await itemsOf(other.sys_id ?? '')).toEqual([{ sys_id: own.sys_id, state: '3', substate: '1' }]);
  });

  it('without rollup: a detection is only stored; nothing is created or closed', async () => {
    const set = await control.post<Record<string, unknown>>('/_sandbox/config', { vrRollup: false });
    expect(set.body.vrRollup).toBe(false);
    expect((await control.get<Record<string, unknown>>('/_sandbox/config')).body.vrRollup).toBe(false);
    try {
      const ci = await create('cmdb_ci_ot_plc', { name: 'norollup-plc' });
      const cve = await create('sn_vul_nvd_entry', { id: 'CVE-2024-1006' });
      const det = await create('sn_vul_detection', {
        cmdb_ci: ci.sys_id ?? '',
        vulnerability: cve.sys_id ?? '',
        source: 'A',
        status: '0',
      });
      expect(det).toMatchObject({ vulnerable_item: '', first_found: '', last_found: '' });
      expect(await itemsOf(ci.sys_id ?? '')).toEqual([]);
      // No duplicate refusal either: uniqueness is the integration's detection key, not the table's.
      const again = await api.post('/api/now/table/sn_vul_detection', {
        cmdb_ci: ci.sys_id,
        vulnerability: cve.sys_id,
        source: 'A',
      });
      expect(again.status).toBe(201);

      const own = await create('sn_vul_vulnerable_item', {
        cmdb_ci: ci.sys_id ?? '',
        vulnerability: cve.sys_id ?? '',
      });
      const given = await create('sn_vul_detection', {
        cmdb_ci: ci.sys_id ?? '',
        vulnerability: cve.sys_id ?? '',
        source: 'B',
        vulnerable_item: own.sys_id ?? '',
        status: '1',
      });
      expect(given.vulnerable_item).toBe(own.sys_id);
      await patch('sn_vul_detection', det.sys_id ?? '', { status: '1', vulnerable_item: own.sys_id ?? '' });
      expect(await itemsOf(ci.sys_id ?? '')).toEqual([{ sys_id: own.sys_id, state: '1', substate: '' }]);
    } finally {
      await control.post('/_sandbox/config', { vrRollup: true });
    }
  });

  it('is a start option too, and a reset restores the start config; unknown switches are refused', async () => {
    const instance = new Instance({ config: { vrRollup: false } });
    expect(instance.config.vrRollup).toBe(false);
    instance.configure({ vrRollup: true });
    expect(instance.config.vrRollup).toBe(true);
    instance.reset();
    expect(instance.config.vrRollup).toBe(false);
    instance.store.close();
    expect((await control.post('/_sandbox/config', { absentClasses: ['cmdb_ci_ot'] })).status).toBe(400);
    expect((await control.post('/_sandbox/config', { vrRollup: 'no' })).status).toBe(400);
  });
});
