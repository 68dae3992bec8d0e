import { reservedPrincipalName } from '@warden/core';
import type { Store } from '@warden/engine';

/**
 * Keys made before names were reserved may still carry `warden`, `system` or a look-alike. They keep
 * working: their events are recorded under their own kind and key id, never as `system`, so the audit
 * trail already tells them from Warden, and refusing them would cut off a running integration on
 * upgrade. But nothing is silent: each start names them and how to replace them.
 */
export async function reservedKeyWarnings(store: Store): Promise<string[]> {
  const now = new Date().toISOString();
  return (await store.apiKeys())
    .filter((k) => k.revokedAt === null && (k.expiresAt === null || k.expiresAt > now))
    .flatMap((k) => {
      const reserved = reservedPrincipalName(k.principal);
      if (reserved === undefined) return [];
      return [
        `API key ${k.id} (${k.principalKind} ${JSON.stringify(k.principal)}) carries a name reserved for Warden itself ("${reserved}"); its events are recorded as ${k.principalKind} with key id ${k.id}, never as Warden, but replace it: create a key with another name, then \`warden keys revoke ${k.id}\``,
      ];
    });
}
