/**
 * The CI name Snowline gives an estate device, written out from ServiceNow's documentation rather
 * than taken from the engine: Defender names a device it could not name by its IP, and such a CI
 * is named by its first MAC ("If both Serial Number and Name are not available, and only MAC
 * Address is available, use MAC Address as the name of the CI": ServiceNow/ServiceNowDocs
 * `markdown/servicenow-platform/cmdb-ci-class-models/cmdb-ci-class-models-operation-technology.md`).
 */
export function ciNameOf(device: {
  readonly name: string;
  readonly nics: readonly { readonly mac: string }[];
}): string {
  return /^\d+\.\d+\.\d+\.\d+$/.test(device.name) && device.nics[0]
    ? device.nics[0].mac.toLowerCase()
    : device.name;
}
