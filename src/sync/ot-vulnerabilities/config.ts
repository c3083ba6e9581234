import type { IntegrationConfig } from '../../config/schema.js';

/** The flow's configuration section (`flows.otVulnerabilities`), with defaults applied. */
export type OtVulnerabilitiesConfig = NonNullable<IntegrationConfig['flows']['otVulnerabilities']>;
