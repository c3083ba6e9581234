import { z } from 'zod';

/**
 * Typed records of Defender for Cloud, parsed at the edge with zod. Parsing is lenient: unknown
 * fields pass through untouched (Microsoft adds fields and enum values without notice), the
 * spellings that differ between ARM, Resource Graph and the spec examples are all accepted,
 * and a record that still does not parse is reported, not fatal (see `parseRecords`).
 */

/** Severity values; `Critical` exists only from api-version 2025-05-04. */
export type Severity = 'Low' | 'Medium' | 'High' | 'Critical';

/** An ISO date-time string, or a `Date` (what `@azure/arm-security` deserialises), as a `Date`. */
export const isoDate = z.union([z.string(), z.date()]).transform((value, ctx) => {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) {
    ctx.addIssue({ code: 'custom', message: `"${String(value)}" is not a date` });
    return z.NEVER;
  }
  return date;
});

const stringList = z
  .array(z.string())
  .nullish()
  .transform((v) => v ?? []);

/** Properties of an assessment's metadata (the recommendation): severity, remediation, threats. */
export const AssessmentMetadataPropertiesSchema = z
  .looseObject({
    displayName: z.string(),
    severity: z.string(),
    description: z.string().nullish(),
    remediationDescription: z.string().nullish(),
    policyDefinitionId: z.string().nullish(),
    categories: stringList,
    userImpact: z.string().nullish(),
    implementationEffort: z.string().nullish(),
    threats: stringList,
    assessmentType: z.string().nullish(),
    preview: z.boolean().nullish(),
    // The schema says `GA`, the 2021-06-01 example says `ga`: read both.
    publishDates: z
      .looseObject({ GA: z.string().nullish(), ga: z.string().nullish(), public: z.string().nullish() })
      .nullish(),
    plannedDeprecationDate: z.string().nullish(),
    tactics: stringList,
    techniques: stringList,
  })
  .transform((m) => ({
    displayName: m.displayName,
    severity: m.severity as Severity | (string & {}),
    description: m.description ?? undefined,
    remediationDescription: m.remediationDescription ?? undefined,
    policyDefinitionId: m.policyDefinitionId ?? undefined,
    categories: m.categories,
    userImpact: m.userImpact ?? undefined,
    implementationEffort: m.implementationEffort ?? undefined,
    threats: m.threats,
    assessmentType: m.assessmentType ?? undefined,
    preview: m.preview ?? undefined,
    publishDates: m.publishDates
      ? {
          ga: m.publishDates.GA ?? m.publishDates.ga ?? undefined,
          public: m.publishDates.public ?? undefined,
        }
      : undefined,
    plannedDeprecationDate: m.plannedDeprecationDate ?? undefined,
    tactics: m.tactics,
    techniques: m.techniques,
  }));

/** What a recommendation is: severity, categories, remediation… (one per assessment key). */
export type AssessmentMetadataProperties = z.output<typeof AssessmentMetadataPropertiesSchema>;

/** An `assessmentMetadata` resource, keyed by the assessment key (a GUID). */
export const AssessmentMetadataSchema = z
  .looseObject({ id: z.string(), name: z.string(), properties: AssessmentMetadataPropertiesSchema })
  .transform((r) => ({ id: r.id, assessmentKey: r.name, ...r.properties }));

/** A recommendation's metadata as listed by `/providers/Microsoft.Security/assessmentMetadata`. */
export type AssessmentMetadata = z.output<typeof AssessmentMetadataSchema>;

const resourceDetails = z.looseObject({}).transform((d) => {
  const value = (...keys: string[]): string | undefined => {
    for (const key of keys) if (typeof d[key] === 'string') return d[key] as string;
    return undefined;
  };
  // ARM spells `source`/`id`; Resource Graph capitalises `Source`/`Id`; multicloud rows carry
  // `AzureResourceId`. The raw object is kept for the OnPremise variants' fields.
  return {
    source: value('source', 'Source') ?? 'Unknown',
    resourceId: value('id', 'Id', 'AzureResourceId', 'azureResourceId', 'ResourceId'),
    raw: d as Record<string, unknown>,
  };
});

/** Health of one recommendation on one resource. */
export type AssessmentStatusCode = 'Healthy' | 'Unhealthy' | 'NotApplicable';

/** A Defender for Cloud assessment: one recommendation × one resource. */
export const AssessmentSchema = z
  .looseObject({
    id: z.string(),
    name: z.string(),
    properties: z.looseObject({
      resourceDetails,
      displayName: z.string().nullish(),
      status: z.looseObject({
        code: z.string(),
        cause: z.string().nullish(),
        description: z.string().nullish(),
        firstEvaluationDate: isoDate.nullish(),
        statusChangeDate: isoDate.nullish(),
      }),
      additionalData: z.record(z.string(), z.unknown()).nullish(),
      // `azurePortalUri` from ARM with $expand=links, `azurePortal` from Resource Graph.
      links: z
        .looseObject({ azurePortalUri: z.string().nullish(), azurePortal: z.string().nullish() })
        .nullish(),
      metadata: AssessmentMetadataPropertiesSchema.nullish(),
      risk: z.looseObject({ level: z.string().nullish(), riskFactors: stringList }).nullish(),
    }),
  })
  .transform((r) => {
    const p = r.properties;
    return {
      id: r.id,
      assessmentKey: r.name,
      resourceId: p.resourceDetails.resourceId,
      resourceSource: p.resourceDetails.source,
      resourceDetails: p.resourceDetails.raw,
      displayName: p.displayName ?? p.metadata?.displayName ?? undefined,
      status: {
        code: p.status.code as AssessmentStatusCode | (string & {}),
        cause: p.status.cause ?? undefined,
        description: p.status.description ?? undefined,
        firstEvaluationDate: p.status.firstEvaluationDate ?? undefined,
        statusChangeDate: p.status.statusChangeDate ?? undefined,
      },
      additionalData: Object.fromEntries(
        Object.entries(p.additionalData ?? {}).map(([k, v]) => [
          k,
          typeof v === 'string' ? v : JSON.stringify(v),
        ]),
      ),
      portalLink: p.links?.azurePortalUri ?? p.links?.azurePortal ?? undefined,
      metadata: p.metadata ?? undefined,
      risk: p.risk ? { level: p.risk.level ?? undefined, riskFactors: p.risk.riskFactors } : undefined,
    };
  });

/** A Defender for Cloud assessment (recommendation × resource), normalised. */
export type Assessment = z.output<typeof AssessmentSchema>;

const governanceEmailNotification = z.looseObject({
  disableManagerEmailNotification: z.boolean().nullish(),
  disableOwnerEmailNotification: z.boolean().nullish(),
});

/** A governance assignment: owner, due date and the ServiceNow ticket of one assessment. */
export const GovernanceAssignmentSchema = z
  .looseObject({
    id: z.string(),
    name: z.string(),
    properties: z.looseObject({
      owner: z.string().nullish(),
      remediationDueDate: isoDate,
      remediationEta: z.looseObject({ eta: isoDate, justification: z.string() }).nullish(),
      isGracePeriod: z.boolean().nullish(),
      governanceEmailNotification: governanceEmailNotification.nullish(),
      additionalData: z
        .looseObject({
          ticketNumber: z.number().int().nullish(),
          ticketLink: z.string().nullish(),
          ticketStatus: z.string().nullish(),
        })
        .nullish(),
      // Seen only in Resource Graph rows; derived from `id` when absent.
      assignedResourceId: z.string().nullish(),
    }),
  })
  .transform((r) => {
    const p = r.properties;
    const marker = r.id.toLowerCase().lastIndexOf('/governanceassignments/');
    return {
      id: r.id,
      assignmentKey: r.name,
      /** The assessment this assignment belongs to: `<resourceId>/providers/Microsoft.Security/assessments/<key>`. */
      assessmentId: p.assignedResourceId ?? (marker === -1 ? undefined : r.id.slice(0, marker)),
      owner: p.owner ?? undefined,
      remediationDueDate: p.remediationDueDate,
      remediationEta: p.remediationEta ?? undefined,
      isGracePeriod: p.isGracePeriod ?? undefined,
      governanceEmailNotification: p.governanceEmailNotification
        ? {
            disableManagerEmailNotification:
              p.governanceEmailNotification.disableManagerEmailNotification ?? false,
            disableOwnerEmailNotification:
              p.governanceEmailNotification.disableOwnerEmailNotification ?? false,
          }
        : undefined,
      additionalData: p.additionalData
        ? {
            ticketNumber: p.additionalData.ticketNumber ?? undefined,
            ticketLink: p.additionalData.ticketLink ?? undefined,
            ticketStatus: p.additionalData.ticketStatus ?? undefined,
          }
        : undefined,
    };
  });

/** A governance assignment (api-version 2022-01-01-preview), normalised. */
export type GovernanceAssignment = z.output<typeof GovernanceAssignmentSchema>;

/**
 * The body of a governance assignment PUT. A PUT replaces the whole assignment: fields left
 * out are cleared, so callers send every field they want to keep.
 */
export const GovernanceAssignmentInputSchema = z.strictObject({
  owner: z.string().min(1).optional(),
  remediationDueDate: z.union([z.date(), z.iso.datetime({ offset: true })]),
  remediationEta: z
    .strictObject({ eta: z.union([z.date(), z.iso.datetime({ offset: true })]), justification: z.string() })
    .optional(),
  isGracePeriod: z.boolean().optional(),
  governanceEmailNotification: z
    .strictObject({
      disableManagerEmailNotification: z.boolean(),
      disableOwnerEmailNotification: z.boolean(),
    })
    .optional(),
  additionalData: z
    .strictObject({
      // The API types it int32 ≥ 0: a ServiceNow number such as INC0010023 must be reduced to 10023.
      ticketNumber: z.number().int().min(0).max(2_147_483_647).optional(),
      ticketLink: z.string().optional(),
      ticketStatus: z.string().optional(),
    })
    .optional(),
});

/** What Snowline writes into a governance assignment. */
export type GovernanceAssignmentInput = z.input<typeof GovernanceAssignmentInputSchema>;
