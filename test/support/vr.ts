import type { ServiceNowClient } from '../../src/servicenow/client.js';
import { stringValue } from '../../src/servicenow/values.js';

/**
 * The names a Vulnerability Response record's references resolve to, as tests compare records
 * across instances whose sys_ids differ: hardware CIs by `name`, NVD entries by CVE `id`.
 */
export async function vrReferenceNames(
  client: ServiceNowClient,
): Promise<{ ciNames: Map<string, string | undefined>; cveIds: Map<string, string | undefined> }> {
  const ciNames = new Map(
    (await client.listAll('cmdb_ci_hardware', { fields: ['sys_id', 'name'], pageSize: 1000 })).map((ci) => [
      ci.sys_id,
      stringValue(ci.name),
    ]),
  );
  const cveIds = new Map(
    (await client.listAll('sn_vul_nvd_entry', { fields: ['sys_id', 'id'], pageSize: 1000 })).map((e) => [
      e.sys_id,
      stringValue(e.id),
    ]),
  );
  return { ciNames, cveIds };
}
