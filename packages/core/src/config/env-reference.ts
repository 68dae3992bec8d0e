/** `env:NAME` in a setting: the secret is read from that environment variable when the config is resolved. */
const ENV_REFERENCE = /^env:([A-Za-z_][A-Za-z0-9_]*)$/;

/** The variable an `env:NAME` setting names, or undefined when the value is meant literally. */
export function envReference(value: string): string | undefined {
  return ENV_REFERENCE.exec(value)?.[1];
}
