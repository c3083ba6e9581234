import { UpstreamError } from '../../errors.js';
import type { ServiceNowClient } from '../../servicenow/client.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import { stringValue } from '../../servicenow/values.js';
import type { SiteMapping } from './config.js';

/** A Defender site mapped onto records that already exist on the instance. */
export interface MappedSite {
  /** The ISA entity (`cmdb_ci_ot_isa_entity`) the site's devices and sensors point at. */
  readonly isaEntity?: string;
  /** Values copied onto each device of the site: `location`, `company`, `support_group` sys_ids. */
  readonly deviceValues: Readonly<Record<string, string>>;
  /** What could not be found, one sentence each. */
  readonly problems: readonly string[];
}

const SYS_ID = /^[0-9a-f]{32}$/;

/**
 * Resolves `flows.otInventory.siteMappings`, as the connector's Site Mappings table does for
 * Azure sites (ServiceNow/ServiceNowDocs
 * `markdown/operational-technology/operational-technology-manager/actively-scan-device-data-msft-azure.md`:
 * an admin maps each Defender site onto an existing ISA entity site and names the location,
 * company, groups… copied onto its devices). Each record is named by sys_id or by name; one that
 * is not found is reported and left out, never sent as text (a reference takes a sys_id).
 */
export async function resolveSiteMappings(
  servicenow: ServiceNowClient,
  mappings: Readonly<Record<string, SiteMapping>>,
): Promise<Map<string, MappedSite>> {
  const resolved = new Map<string, MappedSite>();
  for (const [site, mapping] of Object.entries(mappings)) {
    const problems: string[] = [];
    const find = async (table: string, nameField: string, what: string | undefined, role: string) => {
      if (!what) return undefined;
      const query = SYS_ID.test(what)
        ? encodeQuery({ where: [where('sys_id', '=', what)] })
        : encodeQuery({ where: [where(nameField, '=', what)] });
      let rows: Awaited<ReturnType<ServiceNowClient['listAll']>>;
      try {
        rows = await servicenow.listAll(table, { query, fields: ['sys_id'], pageSize: 2 });
      } catch (error) {
        if (error instanceof UpstreamError && error.status === 400) rows = [];
        else throw error;
      }
      if (rows.length === 1) return stringValue(rows[0]!.sys_id);
      problems.push(
        rows.length === 0
          ? `site ${site}: no ${table} record ${SYS_ID.test(what) ? 'with sys_id' : 'named'} "${what}" (siteMappings.${role})`
          : `site ${site}: more than one ${table} record named "${what}" (siteMappings.${role}); name it by sys_id`,
      );
      return undefined;
    };
    const isaEntity = await find('cmdb_ci_ot_isa_entity', 'name', mapping.isaEntity, 'isaEntity');
    const location = await find('cmn_location', 'name', mapping.location, 'location');
    const company = await find('core_company', 'name', mapping.company, 'company');
    const supportGroup = await find('sys_user_group', 'name', mapping.supportGroup, 'supportGroup');
    resolved.set(site, {
      ...(isaEntity ? { isaEntity } : {}),
      deviceValues: {
        ...(location ? { location } : {}),
        ...(company ? { company } : {}),
        ...(supportGroup ? { support_group: supportGroup } : {}),
      },
      problems,
    });
  }
  return resolved;
}
