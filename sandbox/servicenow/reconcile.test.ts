/**
 * Static reconciliation rules in the sandbox IRE. [SND] = ServiceNow/ServiceNowDocs (australia),
 * pages under markdown/servicenow-platform/configuration-management-database-cmdb/. The classes
 * and rules are the pages' own examples (cmdb_ci_computer and its child cmdb_ci_linux_server;
 * Discovery is the `ServiceNow` source); `SCCM` stands in for the pages' ServiceWatch, which is no
 * out-of-box discovery source.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startServiceNowSandbox, type ServiceNowSandbox } from './index.js';
import { SandboxClient } from './testing.js';

interface IreItem {
  operation?: string;
  sysId: string;
  errorCount: number;
  errors?: unknown[];
  warnings?: unknown[];
}
type IreResponse = { result: { items: IreItem[] } };
type One = { result: Record<string, string> };
type Many = { result: Array<Record<string, string>> };

let sn: ServiceNowSandbox;
let api: SandboxClient;
let control: SandboxClient;

beforeAll(async () => {
  sn = await startServiceNowSandbox();
  api = SandboxClient.basic(sn, sn.credentials.user, sn.credentials.password);
  control = new SandboxClient(sn, undefined);
});

afterAll(async () => {
  await api.close();
  await control.close();
  await sn.close();
});

beforeEach(async () => {
  await control.post('/_sandbox/reset', {});
});

interface Rule {
  applies_to: string;
  discovery_source: string;
  priority?: string;
  attributes?: string;
  null_update?: string;
  active?: string;
}

const addRules = async (...rules: Rule[]): Promise<void> => {
  const seeded = await control.post('/_sandbox/seed', { cmdb_reconciliation_definition: rules });
  expect(seeded.status).toBe(200);
};

/** One IRE write of the CI with serial `serial` (the Hardware rule identifies it by serial number). */
const write = async (
  source: string,
  className: string,
  values: Record<string, string>,
  serial = 'SN-REC-1',
): Promise<IreItem> => {
  const res = await api.post<IreResponse>(`/api/now/identifyreconcile?sysparm_data_source=${source}`, {
    items: [{ className, values: { serial_number: serial, ...values } }],
  });
  expect(res.status).toBe(200);
  const item = res.body.result.items[0] as IreItem;
  expect(item.errorCount).toBe(0);
  return item;
};

const ci = async (sysId: string): Promise<Record<string, string>> =>
  (await api.get<One>(`/api/now/table/cmdb_ci/${sysId}`)).body.result;

describe('cmdb_reconciliation_definition (r_IWIdentAndReconcil.md, create-reconciliation-rule.md)', () => {
  it('is readable by itil and writable only by sn_cmdb_admin / itil_admin', async () => {
    // "sn_cmdb_editor and itil have read access, sn_cmdb_admin and itil_admin (on top) have full access".
    await addRules({ applies_to: 'cmdb_ci_computer', discovery_source: 'ServiceNow', attributes: 'name' });
    const read = await api.get<Many>('/api/now/table/cmdb_reconciliation_definition');
    expect(read.status).toBe(200);
    expect(read.body.result).toEqual([
      expect.objectContaining({
        applies_to: 'cmdb_ci_computer',
        discovery_source: 'ServiceNow',
        priority: '100',
        attributes: 'name',
        active: 'true',
      }),
    ]);
    const rule = { applies_to: 'cmdb_ci_computer', discovery_source: 'SCCM', attributes: 'name' };
    expect((await api.post('/api/now/table/cmdb_reconciliation_definition', rule)).status).toBe(403);
    await control.post('/_sandbox/users', {
      user_name: 'cmdb.admin',
      password: 'Cmdb-admin-1',
      roles: ['sn_cmdb_admin'],
    });
    const admin = SandboxClient.basic(sn, 'cmdb.admin', 'Cmdb-admin-1');
    try {
      expect((await admin.post('/api/now/table/cmdb_reconciliation_definition', rule)).status).toBe(201);
    } finally {
      await admin.close();
    }
  });

  it.each([
    // "You can't create a reconciliation rule for system fields or for … IRE specific fields such
    // as the Discovery source (discovery_source) field. Also, reconciliation rules can't be
    // dot-walked using reference fields."
    [{ attributes: 'discovery_source' }, 'system or IRE field [discovery_source]'],
    [{ attributes: 'name,sys_updated_on' }, 'system or IRE field [sys_updated_on]'],
    [{ attributes: 'location.name' }, "can't be dot-walked"],
    [{ null_update: 'sys_class_name' }, 'system or IRE field [sys_class_name]'],
    // Not modelled, so refused rather than ignored: filter conditions, non-CMDB tables.
    [{ condition: 'department=Finance' }, 'filter conditions are not supported'],
    [{ applies_to: 'incident' }, 'not a CMDB class'],
    [{ discovery_source: 'ServiceWatch' }, 'not a choice of [discovery_source]'],
    [{ priority: 'high' }, 'not a whole number'],
  ])('refuses the rule %j', async (change, message) => {
    const rule = {
      applies_to: 'cmdb_ci_computer',
      discovery_source: 'ServiceNow',
      attributes: 'name',
      ...change,
    };
    const res = await control.post<{ error: { message: string; detail: string } }>('/_sandbox/seed', {
      cmdb_reconciliation_definition: [rule],
    });
    expect(res.status).toBe(403);
    expect(res.body.error.detail).toContain(message);
  });
});

describe('static reconciliation rules on IRE updates (r_ReconciliationRulesPrinciples.md)', () => {
  it('example rule #1: exclusive authority derives to child classes; other values still update', async () => {
    // "Discovery is exclusively authorized to update the name attribute in the cmdb_ci_computer
    // class … this rule also authorizes Discovery to update the name attribute in any child classes".
    await addRules({ applies_to: 'cmdb_ci_computer', discovery_source: 'ServiceNow', attributes: 'name' });
    const inserted = await write('ServiceNow', 'cmdb_ci_linux_server', { name: 'lnx-1.corp.example' });
    const other = await write('SCCM', 'cmdb_ci_linux_server', { name: 'LNX-1', os_version: '9.4' });
    // Identified by the payload's serial number; the unauthorized name silently dropped.
    expect(other.sysId).toBe(inserted.sysId);
    expect(other.operation).toBe('UPDATE');
    expect(other.errors ?? []).toEqual([]);
    expect(await ci(inserted.sysId)).toMatchObject({ name: 'lnx-1.corp.example', os_version: '9.4' });
    // Only the name differs: nothing to write.
    expect((await write('SCCM', 'cmdb_ci_linux_server', { name: 'LNX-1' })).operation).toBe('NO_CHANGE');
    await write('ServiceNow', 'cmdb_ci_linux_server', { name: 'lnx-1b.corp.example' });
    expect((await ci(inserted.sysId)).name).toBe('lnx-1b.corp.example');
  });

  it('example rules #1 and #2: a child-class rule overrides the parent rule for that class only', async () => {
    // "Discovery cannot update the name attribute of the child cmdb_ci_linux_server class. Only
    // ServiceWatch is authorized … Discovery is authorized to update the name attribute of CI
    // records in all other child classes of the cmdb_ci_computer class."
    await addRules(
      { applies_to: 'cmdb_ci_computer', discovery_source: 'ServiceNow', attributes: 'name' },
      { applies_to: 'cmdb_ci_linux_server', discovery_source: 'SCCM', attributes: 'name' },
    );
    const linux = await write('SCCM', 'cmdb_ci_linux_server', { name: 'lnx-2' }, 'SN-LNX');
    await write('ServiceNow', 'cmdb_ci_linux_server', { name: 'lnx-2.corp.example' }, 'SN-LNX');
    expect((await ci(linux.sysId)).name).toBe('lnx-2');
    await write('SCCM', 'cmdb_ci_linux_server', { name: 'lnx-2-renamed' }, 'SN-LNX');
    expect((await ci(linux.sysId)).name).toBe('lnx-2-renamed');

    const windows = await write('ServiceNow', 'cmdb_ci_win_server', { name: 'win-2.corp.example' }, 'SN-WIN');
    await write('SCCM', 'cmdb_ci_win_server', { name: 'WIN-2' }, 'SN-WIN');
    expect((await ci(windows.sysId)).name).toBe('win-2.corp.example');
  });

  it('example rules #1 and #3: a rule for a specific attribute beats an all-attributes rule, whatever the priority', async () => {
    // "if only example rules #1 and #3 above are created, then Discovery is authorized to update
    // the name attribute in the cmdb_ci_linux_server class. ServiceWatch is authorized to update
    // all other attributes in the class except for the name attribute"; "(regardless of priority
    // value)" (create-reconciliation-rule.md).
    await addRules(
      { applies_to: 'cmdb_ci_computer', discovery_source: 'ServiceNow', attributes: 'name', priority: '900' },
      { applies_to: 'cmdb_ci_linux_server', discovery_source: 'SCCM', priority: '1' },
    );
    const linux = await write('SCCM', 'cmdb_ci_linux_server', { name: 'lnx-3', os_version: '8' });
    await write('SCCM', 'cmdb_ci_linux_server', { name: 'LNX-3', os_version: '9' });
    await write('ServiceNow', 'cmdb_ci_linux_server', { name: 'lnx-3.corp.example', os_version: '7' });
    expect(await ci(linux.sysId)).toMatchObject({ name: 'lnx-3.corp.example', os_version: '9' });
  });

  it('rules at the same level: a lower priority source may not overwrite a higher one; the same or higher may', async () => {
    // "After an authorized discovery source updates an attribute, subsequent updates are accepted
    // only from the same discovery source or from a discovery source with a higher priority"
    // (create-reconciliation-rule.md); "Smaller numbers designate higher priority".
    await addRules(
      { applies_to: 'cmdb_ci_computer', discovery_source: 'ServiceNow', attributes: 'name', priority: '10' },
      { applies_to: 'cmdb_ci_computer', discovery_source: 'SCCM', attributes: 'name', priority: '20' },
    );
    const pc = await write('SCCM', 'cmdb_ci_computer', { name: 'pc-4' });
    await write('SCCM', 'cmdb_ci_computer', { name: 'pc-4-sccm' });
    expect((await ci(pc.sysId)).name).toBe('pc-4-sccm');
    await write('ServiceNow', 'cmdb_ci_computer', { name: 'pc-4.corp.example' });
    expect((await ci(pc.sysId)).name).toBe('pc-4.corp.example');
    await write('SCCM', 'cmdb_ci_computer', { name: 'pc-4-sccm-again' });
    expect((await ci(pc.sysId)).name).toBe('pc-4.corp.example');
    // A source without a rule has "the lowest priority": it is not authorized at all.
    await write('ImportSet', 'cmdb_ci_computer', { name: 'pc-4-import' });
    expect((await ci(pc.sysId)).name).toBe('pc-4.corp.example');
  });

  it('keeps the Data Source History only while a rule applies; the first source may be a lower-priority one', async () => {
    // "Information about the last discovery source that updates each attribute is stored in the
    // Data Source History [cmdb_datasource_last_update] table, but only after enabling the
    // reconciliation rule"; "unless … The lower priority source is the first source updating the CI".
    const pc = await write('ServiceNow', 'cmdb_ci_computer', { name: 'pc-5.corp.example' });
    const history = async (): Promise<Array<Record<string, string>>> =>
      (
        await api.get<Many>(
          `/api/now/table/cmdb_datasource_last_update?record=${pc.sysId}&sysparm_exclude_reference_link=true`,
        )
      ).body.result;
    expect(await history()).toEqual([]);
    await addRules(
      { applies_to: 'cmdb_ci_computer', discovery_source: 'ServiceNow', attributes: 'name', priority: '10' },
      { applies_to: 'cmdb_ci_computer', discovery_source: 'SCCM', attributes: 'name', priority: '20' },
    );
    await write('SCCM', 'cmdb_ci_computer', { name: 'pc-5-sccm' });
    expect((await ci(pc.sysId)).name).toBe('pc-5-sccm');
    expect(await history()).toEqual([
      expect.objectContaining({
        record: pc.sysId,
        attribute: 'name',
        discovery_source: 'SCCM',
        class: 'cmdb_ci_computer',
      }),
    ]);
    await write('ServiceNow', 'cmdb_ci_computer', { name: 'pc-5.corp.example' });
    await write('SCCM', 'cmdb_ci_computer', { name: 'pc-5-sccm' });
    expect((await ci(pc.sysId)).name).toBe('pc-5.corp.example');
    expect((await history())[0]?.discovery_source).toBe('ServiceNow');
  });

  it('lets a lower-priority source update once the CI is stale for the last source (data refresh rule)', async () => {
    // "if another authorized discovery source, with a lower priority attempts to update the stale
    // CI attribute, the update is allowed" (create-reconciliation-rule.md); Effective Duration "15 x"
    // counts as 15 (create-datasource-staleness-rule.md). UNVERIFIED unit: days.
    await addRules(
      { applies_to: 'cmdb_ci_computer', discovery_source: 'ServiceNow', attributes: 'name', priority: '10' },
      { applies_to: 'cmdb_ci_computer', discovery_source: 'SCCM', attributes: 'name', priority: '20' },
    );
    await control.post('/_sandbox/seed', {
      cmdb_datasource_staleness: [
        { applies_to: 'cmdb_ci_hardware', discovery_source: 'ServiceNow', duration: '2 x' },
      ],
    });
    const pc = await write('ServiceNow', 'cmdb_ci_computer', { name: 'pc-6.corp.example' });
    await control.post('/_sandbox/clock', { advanceSeconds: 86_400 });
    await write('SCCM', 'cmdb_ci_computer', { name: 'pc-6-sccm' });
    expect((await ci(pc.sysId)).name).toBe('pc-6.corp.example');
    await control.post('/_sandbox/clock', { advanceSeconds: 86_400 });
    await write('SCCM', 'cmdb_ci_computer', { name: 'pc-6-sccm' });
    expect((await ci(pc.sysId)).name).toBe('pc-6-sccm');
  });

  it('never overwrites a value with null unless Update with Null lists the attribute', async () => {
    // "By default, authorized discovery sources cannot overwrite a non-null value with a null
    // value" (create-reconciliation-rule.md, Update with Null).
    await addRules({
      applies_to: 'cmdb_ci_computer',
      discovery_source: 'ServiceNow',
      attributes: 'name,asset_tag,os_version',
      null_update: 'asset_tag',
    });
    const pc = await write('ServiceNow', 'cmdb_ci_computer', {
      name: 'pc-7',
      asset_tag: 'P-7',
      os_version: '11',
    });
    await write('ServiceNow', 'cmdb_ci_computer', { name: '', asset_tag: '', os_version: '' });
    expect(await ci(pc.sysId)).toMatchObject({ name: 'pc-7', asset_tag: '', os_version: '11' });
  });

  it('lets any source fill an empty governed field while glide.reconciliation.override.null is true', async () => {
    // "Allow the update of an empty field by a lower priority data source", default true
    // (properties-id-reconciliation.md).
    await addRules({
      applies_to: 'cmdb_ci_computer',
      discovery_source: 'ServiceNow',
      attributes: 'asset_tag',
    });
    const pc = await write('ServiceNow', 'cmdb_ci_computer', { name: 'pc-8' });
    await write('SCCM', 'cmdb_ci_computer', { asset_tag: 'P-8' });
    expect((await ci(pc.sysId)).asset_tag).toBe('P-8');
    await write('SCCM', 'cmdb_ci_computer', { asset_tag: 'P-8-changed' });
    expect((await ci(pc.sysId)).asset_tag).toBe('P-8');

    await control.post('/_sandbox/properties', { 'glide.reconciliation.override.null': 'false' });
    const other = await write('ServiceNow', 'cmdb_ci_computer', { name: 'pc-9' }, 'SN-REC-9');
    await write('SCCM', 'cmdb_ci_computer', { asset_tag: 'P-9' }, 'SN-REC-9');
    expect((await ci(other.sysId)).asset_tag).toBe('');
  });

  it('ignores inactive rules', async () => {
    await addRules({
      applies_to: 'cmdb_ci_computer',
      discovery_source: 'ServiceNow',
      attributes: 'name',
      active: 'false',
    });
    const pc = await write('ServiceNow', 'cmdb_ci_computer', { name: 'pc-10' });
    await write('SCCM', 'cmdb_ci_computer', { name: 'PC-10' });
    expect((await ci(pc.sysId)).name).toBe('PC-10');
  });
});
