import { classSubstitutes, withAncestors } from '../../domain/ot/classes.js';
import { companyKey, modelKey, type ReferenceIds } from '../../domain/ot/ire.js';
import { isRateLimitedError, UpstreamError } from '../../errors.js';
import type { ListOptions, ServiceNowClient } from '../../servicenow/client.js';
import { encodeQuery, where } from '../../servicenow/query.js';
import { stringValue } from '../../servicenow/values.js';

/** The tables the run creates reference records in. */
export type CreatedTable = 'core_company' | 'cmdb_hardware_product_model';

/**
 * Creates reference records unless another writer did first: on a store shared by several
 * workers, the search and the creates run under one lock per record, taken in one order
 * (src/store/correlation-lock.ts `createAllIfAbsent`), so two parts of a split run never both
 * create "Siemens", and a part searches once for all the records it is about to create.
 */
export type ReferenceCreateGuard = (
  ids: readonly string[],
  search: (ids: readonly string[]) => Promise<ReadonlyMap<string, string>>,
  create: (absent: readonly string[]) => Promise<void>,
) => Promise<{ readonly existing: ReadonlyMap<string, string> }>;

/** A reference Snowline could not resolve, reported once per run. */
export interface UnresolvedReference {
  readonly table: string;
  readonly name: string;
  /** What Snowline does instead, in a sentence. */
  readonly reason: string;
}

/**
 * Longest vendor name looked up or created as a company. UNVERIFIED: the length of
 * `core_company.name` is not in the docs; a vendor string longer than this is not a company name.
 */
const MAX_VENDOR_NAME = 100;
/** Most query text per company lookup, so the request line stays far below common URL limits. */
const MAX_QUERY_TEXT = 1500;

/** Life cycle values of the sensor mapping (`attribute-mapping-sgc-msft-d4iot-azure.md`, `properties.learningMode`). */
const OPERATIONAL = 'Operational';
const IN_USE = 'In Use';
/**
 * The mapping page names the status "Learning"; the validation page calls it "Learning Mode"
 * (`validate-nids-appliances-sgc-msft-d4iot-azure.md`). The first that exists is used.
 */
const LEARNING = ['Learning', 'Learning Mode'];

/**
 * Finds the sys_ids the OT mapping's reference fields need, by name, through the Table API:
 * OT device types (`cmdb_ot_entity_type`), life cycle stage and status, and companies for the
 * vendors Defender reports (`core_company`, created as a manufacturer when missing, unless this
 * is a dry run — what Integration Commons' "Cleanse Company" does for the Service Graph
 * connectors: ServiceNow/ServiceNowDocs `markdown/servicenow-platform/cmdb-integration-commons/cmdb-rte-transforms.md`).
 * A name with no record is left out of the payload and reported, never sent as text.
 */
export class CmdbReferences {
  private otTypes = new Map<string, string>();
  private companies = new Map<string, string>();
  /** `cmdb_model` sys_ids by {@link modelKey}. */
  private models = new Map<string, string>();
  /** Models a dry run would create, and models that could not be created this run. */
  private readonly plannedModels = new Set<string>();
  private lifeCycle: { operational?: string; inUse?: string; learning?: string } = {};
  private readonly unresolved = new Map<string, UnresolvedReference>();
  /** Companies a dry run would create. */
  private readonly planned = new Set<string>();
  /** Whether a company lookup or creation failed this run (a transient error, unlike a bad name). */
  private transientMiss = false;
  /** Classes the mapping may write that the instance lacks, and what is written instead. */
  private readonly substitutes = new Map<string, string>();

  /**
   * @param onCreated records the creation of a company or a hardware model (a plan action in a dry
   *   run, with no sys_id; a ledger event otherwise), so the dry run's plan and the run agree.
   * @param onFailed records a company or model the instance refused to create.
   */
  constructor(
    private readonly servicenow: ServiceNowClient,
    private readonly dryRun: boolean,
    private readonly onCreated: (table: CreatedTable, name: string, sysId?: string) => Promise<void>,
    private readonly onFailed: (table: CreatedTable, name: string, why: string) => Promise<void>,
    /** Parts of a split run create under a lock (scale-out); one process needs none. */
    private readonly guard?: ReferenceCreateGuard,
  ) {}

  /** Reads the small reference tables once per run. */
  async load(): Promise<void> {
    const types = await this.read('cmdb_ot_entity_type', {
      fields: ['sys_id', 'name', 'label'],
    });
    for (const row of types) {
      const sysId = stringValue(row.sys_id);
      if (!sysId) continue;
      for (const name of [stringValue(row.name), stringValue(row.label)])
        if (name && !this.otTypes.has(name.toLowerCase())) this.otTypes.set(name.toLowerCase(), sysId);
    }
    const stages = await this.read('life_cycle_stage', {
      query: encodeQuery({ where: [where('name', '=', OPERATIONAL)] }),
      fields: ['sys_id', 'name'],
    });
    const operational = stringValue(stages[0]?.sys_id);
    const statuses = await this.read('life_cycle_stage_status', {
      query: encodeQuery({ where: [where('name', 'IN', [IN_USE, ...LEARNING])] }),
      fields: ['sys_id', 'name', 'life_cycle_stage'],
    });
    const status = (name: string) =>
      stringValue(
        statuses.find(
          (s) =>
            stringValue(s.name) === name &&
            (!operational ||
              !stringValue(s.life_cycle_stage) ||
              stringValue(s.life_cycle_stage) === operational),
        )?.sys_id,
      );
    const learning = LEARNING.map(status).find((id) => id !== undefined);
    this.lifeCycle = {
      ...(operational ? { operational } : {}),
      ...(status(IN_USE) ? { inUse: status(IN_USE)! } : {}),
      ...(learning ? { learning } : {}),
    };
    if (!operational) this.miss('life_cycle_stage', OPERATIONAL, 'cmdb_ci_nids.life_cycle_stage');
    if (!this.lifeCycle.inUse)
      this.miss('life_cycle_stage_status', IN_USE, 'cmdb_ci_nids.life_cycle_stage_status');
    if (!learning) this.miss('life_cycle_stage_status', LEARNING[0]!, 'cmdb_ci_nids.life_cycle_stage_status');
  }

  /**
   * Finds which of these classes the instance has (`sys_db_object`); each it lacks (its plugin is
   * not installed) is written as its nearest existing ancestor, reported once per run. When
   * `sys_db_object` can not be read (an ACL), every class is taken as present.
   */
  async checkClasses(classNames: readonly string[]): Promise<void> {
    let present: Set<string>;
    try {
      present = await this.servicenow.existingTables(withAncestors(classNames));
    } catch (error) {
      if (error instanceof UpstreamError && (error.status === 403 || error.status === 400)) return;
      throw error;
    }
    if (present.size === 0) return;
    for (const [name, instead] of classSubstitutes(classNames, present)) {
      this.substitutes.set(name, instead);
      this.unresolved.set(`sys_db_object\u241f${name}`, {
        table: 'sys_db_object',
        name,
        reason: `the instance has no CI class ${name} (its plugin is not installed?): its devices are written as ${instead}, its nearest ancestor`,
      });
    }
  }

  /** The class to write for a mapped class: itself, or its nearest ancestor the instance has. */
  classFor(className: string): string {
    return this.substitutes.get(className) ?? className;
  }

  /** Resolves (and, outside a dry run, creates) the companies of these vendor names. */
  async ensureCompanies(vendors: Iterable<string | undefined>): Promise<void> {
    const wanted = new Map<string, string>();
    for (const vendor of vendors) {
      const name = vendor?.trim();
      const key = name && companyKey(name);
      if (name && key && !this.companies.has(key) && !this.planned.has(key)) wanted.set(key, name);
    }
    if (wanted.size === 0) return;
    const names: string[] = [];
    for (const [key, name] of [...wanted]) {
      if (/^\s*javascript:/i.test(name) || name.length > MAX_VENDOR_NAME) {
        // A script the instance would evaluate in a query, or text too long to be a company name
        // (and to fit in a URL): never looked up, never created.
        wanted.delete(key);
        this.miss('core_company', name.slice(0, 100), 'manufacturer');
      } else names.push(name);
    }
    const found = await this.companyIds(names, (failed, error) => {
      // A company that can not be looked up leaves its devices without manufacturer this
      // run; the inventory itself goes on. A rate limit still defers the run.
      this.transientMiss = true;
      for (const name of failed) {
        wanted.delete(companyKey(name));
        this.miss('core_company', name, `manufacturer (the lookup failed: ${error.message})`);
      }
    });
    for (const [key, sysId] of found)
      if (wanted.has(key)) {
        this.companies.set(key, sysId);
        wanted.delete(key);
      }
    if (this.dryRun) {
      for (const [key, name] of wanted) {
        // Planned once per run; the dry run's payloads carry no manufacturer for it.
        if (!this.planned.has(key)) await this.onCreated('core_company', name);
        this.planned.add(key);
      }
      return;
    }
    await this.creating(
      'core_company',
      [...wanted.keys()],
      (keys) =>
        this.companyIds(
          keys.map((key) => wanted.get(key)!),
          (_names, error) => {
            throw error;
          },
        ),
      async (absent) => {
        for (const key of absent) {
          const name = wanted.get(key)!;
          const created = await this.insert('core_company', { name, manufacturer: 'true' }, { name });
          if (typeof created !== 'string' || created === '') {
            // The devices go without their manufacturer this run; the next run finds the company
            // or creates it.
            this.planned.add(key);
            this.transientMiss = true;
            await this.onFailed(
              'core_company',
              name,
              created === '' ? 'ServiceNow answered without a sys_id' : created.why,
            );
            continue;
          }
          this.companies.set(key, created);
          await this.onCreated('core_company', name, created);
        }
      },
      (key, sysId) => this.companies.set(key, sysId),
    );
  }

  /**
   * Resolves (and, outside a dry run, creates) the product models of control modules, by
   * manufacturer and name, as Integration Commons' "Cleanse Hardware Model" does ("create, cleanse,
   * or lookup a hardware model to create a reference (model_id)": cmdb-rte-transforms.md). Call
   * after {@link ensureCompanies}: a model is its manufacturer's. A model is created in
   * `cmdb_hardware_product_model`, the hardware models' table under `cmdb_model` (UNVERIFIED: the
   * page does not name the table the operation writes).
   */
  async ensureModels(
    modules: Iterable<{ readonly vendor?: string; readonly model?: string }>,
  ): Promise<void> {
    const wanted = new Map<string, { name: string; company?: string }>();
    for (const module of modules) {
      const name = module.model?.trim();
      if (!name || name.length > MAX_VENDOR_NAME || /^\s*javascript:/i.test(name)) continue;
      const company = module.vendor ? this.companies.get(companyKey(module.vendor)) : undefined;
      const key = modelKey(company, name);
      if (!this.models.has(key) && !this.plannedModels.has(key))
        wanted.set(key, { name, ...(company ? { company } : {}) });
    }
    if (wanted.size === 0) return;
    let found: Map<string, string>;
    try {
      found = await this.modelIds([...wanted.values()].map((m) => m.name));
    } catch (error) {
      if (!(error instanceof UpstreamError) || error.status === 429) throw error;
      this.transientMiss = true;
      for (const [key, model] of wanted) {
        this.plannedModels.add(key);
        this.miss(
          'cmdb_model',
          model.name,
          `cmdb_ci_ot_control_module.model_id (the lookup failed: ${error.message})`,
        );
      }
      return;
    }
    for (const [key, sysId] of found)
      if (wanted.has(key) && !this.models.has(key)) this.models.set(key, sysId);
    const absent = [...wanted.keys()].filter((key) => !this.models.has(key));
    for (const key of absent) this.plannedModels.add(key);
    if (this.dryRun) {
      for (const key of absent) await this.onCreated('cmdb_hardware_product_model', wanted.get(key)!.name);
      return;
    }
    await this.creating(
      'cmdb_hardware_product_model',
      absent,
      (keys) => this.modelIds(keys.map((key) => wanted.get(key)!.name)),
      async (keys) => {
        for (const key of keys) {
          const model = wanted.get(key)!;
          const values = { name: model.name, ...(model.company ? { manufacturer: model.company } : {}) };
          const created = await this.insert('cmdb_hardware_product_model', values, values);
          if (typeof created !== 'string' || created === '') {
            // The modules go without model_id this run; the next run finds the model or creates it.
            this.transientMiss = true;
            await this.onFailed(
              'cmdb_hardware_product_model',
              model.name,
              created === '' ? 'ServiceNow answered without a sys_id' : created.why,
            );
            continue;
          }
          this.models.set(key, created);
          await this.onCreated('cmdb_hardware_product_model', model.name, created);
        }
      },
      (key, sysId) => this.models.set(key, sysId),
    );
  }

  /**
   * The sys_ids of the companies named `names`, by {@link companyKey}: IN lists that stay well
   * inside the URL length instances and proxies accept, and a name with a comma asked for alone
   * (an IN list has no escape for it: "Siemens, Inc."). A failed look-up of some names goes to
   * `failed` (which may rethrow); a rate limit always defers the run.
   */
  private async companyIds(
    names: readonly string[],
    failed: (names: readonly string[], error: UpstreamError) => void,
  ): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const lookUp = async (asked: readonly string[], query: string) => {
      try {
        for (const row of await this.servicenow.listAll('core_company', {
          query,
          fields: ['sys_id', 'name'],
        })) {
          const name = stringValue(row.name);
          const sysId = stringValue(row.sys_id);
          // The first record of a name is the one used, as the instance lists them.
          if (name && sysId && !found.has(companyKey(name))) found.set(companyKey(name), sysId);
        }
      } catch (error) {
        if (!(error instanceof UpstreamError) || error.status === 429) throw error;
        failed(asked, error);
      }
    };
    let batch: string[] = [];
    let length = 0;
    const flush = async () => {
      if (batch.length) await lookUp(batch, encodeQuery({ where: [where('name', 'IN', batch)] }));
      batch = [];
      length = 0;
    };
    for (const name of names) {
      if (name.includes(',')) await lookUp([name], encodeQuery({ where: [where('name', '=', name)] }));
      else {
        const size = encodeURIComponent(name).length + 1;
        if (length + size > MAX_QUERY_TEXT) await flush();
        batch.push(name);
        length += size;
      }
    }
    await flush();
    return found;
  }

  /** The sys_ids of the product models named `names`, by {@link modelKey} (manufacturer and name). */
  private async modelIds(names: readonly string[]): Promise<Map<string, string>> {
    const rows = await this.servicenow.listWhereIn(
      'cmdb_model',
      'name',
      [...new Set(names)],
      ['sys_id', 'name', 'manufacturer'],
    );
    const found = new Map<string, string>();
    for (const row of rows) {
      const name = stringValue(row.name);
      const sysId = stringValue(row.sys_id);
      const key = name && modelKey(stringValue(row.manufacturer), name);
      if (key && sysId && !found.has(key)) found.set(key, sysId);
    }
    return found;
  }

  /**
   * Creates the records of `keys`. Under a {@link ReferenceCreateGuard} (parts of a split run at
   * once), `find` first asks which exist by now, all in one search, and only the others are
   * created; those found are adopted (`adopt`), not reported as created.
   */
  private async creating(
    table: CreatedTable,
    keys: readonly string[],
    find: (keys: readonly string[]) => Promise<ReadonlyMap<string, string>>,
    create: (keys: readonly string[]) => Promise<void>,
    adopt: (key: string, sysId: string) => void,
  ): Promise<void> {
    if (keys.length === 0) return;
    if (!this.guard) return create(keys);
    const lockId = (key: string) => `${table}\u241f${key}`;
    const byLock = new Map(keys.map((key) => [lockId(key), key]));
    const { existing } = await this.guard(
      [...byLock.keys()],
      async (ids) => {
        const found = await find(ids.map((id) => byLock.get(id)!));
        return new Map(
          ids.flatMap((id) => {
            const sysId = found.get(byLock.get(id)!);
            return sysId ? [[id, sysId] as const] : [];
          }),
        );
      },
      (absent) => create(absent.map((id) => byLock.get(id)!)),
    );
    for (const [id, sysId] of existing) adopt(byLock.get(id)!, sysId);
  }

  /** The sys_ids known so far, for the mapping; OT types not found are reported on first use. */
  ids(): ReferenceIds {
    return {
      otTypes: this.otTypes,
      companies: this.companies,
      models: this.models,
      lifeCycle: this.lifeCycle,
    };
  }

  /** Notes an OT device type the mapping wants that the instance has no record for. */
  checkOtType(name: string | undefined): void {
    if (name && !this.otTypes.has(name.toLowerCase()))
      this.miss('cmdb_ot_entity_type', name, 'cmdb_ot_entity.ot_asset_type');
  }

  /**
   * Whether some devices went without a reference this run for a reason the next run may not
   * have (a failed lookup or insert): an incremental read must then not move past them.
   */
  incomplete(): boolean {
    return this.transientMiss;
  }

  /** References that could not be resolved this run (each once). */
  missing(): UnresolvedReference[] {
    return [...this.unresolved.values()];
  }

  /**
   * Inserts one reference record ({@link ServiceNowClient.createOnce}: re-sent after a lost answer
   * only when a search shows it is not there, so a retry never duplicates a company or a model, and
   * outside the Batch API's budget). Resolves with the sys_id, or why not; a rate limit defers the run.
   */
  private async insert(
    table: string,
    values: Record<string, string>,
    identity: Record<string, string>,
  ): Promise<string | { why: string }> {
    try {
      return stringValue((await this.servicenow.createOnce(table, values, identity)).sys_id) ?? '';
    } catch (error) {
      if (!(error instanceof UpstreamError) || error.status === 429 || isRateLimitedError(error)) throw error;
      return { why: error.message };
    }
  }

  /**
   * Reads a reference table; one the instance does not have (a plugin not installed: the Table
   * API answers 400 "Invalid table") reads as empty, so its references are reported, not fatal.
   */
  private async read(table: string, options: ListOptions) {
    try {
      return await this.servicenow.listAll(table, options);
    } catch (error) {
      if (error instanceof UpstreamError && error.status === 400 && /invalid table/i.test(error.message))
        return [];
      throw error;
    }
  }

  private miss(table: string, name: string, field: string): void {
    this.unresolved.set(`${table}\u241f${name}`, {
      table,
      name,
      reason: `no ${table} record named "${name}" on the instance: ${field} left empty (a reference takes a sys_id, never a name)`,
    });
  }
}
