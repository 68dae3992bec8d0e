import { sep } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * How the person reading Warden's hints runs `warden`: `npx warden` where the CLI is an installed package
 * (it lives under node_modules, and `npx` finds its bin), `npm run warden --` in this repository's
 * checkout, where a bare `warden` is not on the PATH.
 */
export function wardenCommand(moduleUrl: string = import.meta.url): string {
  return fileURLToPath(moduleUrl).includes(`${sep}node_modules${sep}`) ? 'npx warden' : 'npm run warden --';
}
