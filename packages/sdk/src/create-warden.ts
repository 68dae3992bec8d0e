import { BUNDLED_PRICES, type CompiledPolicy, compilePolicySources, WardenError } from '@warden/core';
import { EngineTransport } from './engine-transport.js';
import { HttpTransport } from './http-transport.js';
import { Warden } from './warden.js';
import type { WardenClientOptions } from './warden-options.js';

/** In-process Warden: the same engine as the server, on a SQLite file (or PostgreSQL), no server. */
export interface EmbeddedOptions {
  /** A SQLite path or a postgres:// URL; default ./warden.db. */
  readonly db?: string;
  /** A policy file or folder (YAML), or a compiled policy. */
  readonly policy: string | CompiledPolicy;
  /** The agent this process is (in embedded mode there is no key to name it). */
  readonly agent: string;
  /** Where the signing and HMAC keys live; default beside the SQLite file. */
  readonly keysFile?: string;
}

/** Options of `createWarden`: a server (`url` and `key`) or an embedded engine. */
export type CreateWardenOptions = WardenClientOptions &
  (
    | {
        readonly url: string;
        readonly key: string;
        readonly timeoutMs?: number;
        readonly fetch?: typeof fetch;
      }
    | { readonly embedded: EmbeddedOptions }
  );

/**
 * Makes a Warden client: remote (`{ url, key }`, the agent is the key's) or embedded
 * (`{ embedded: { db, policy, agent } }`, the engine runs in this process). One API either way.
 */
export async function createWarden(options: CreateWardenOptions): Promise<Warden> {
  if ('embedded' in options) {
    const e = options.embedded;
    if (!e || typeof e.agent !== 'string' || e.agent === '') {
      throw new WardenError('CONFIG_INVALID', 'embedded.agent is required: name the agent this process is');
    }
    const { openEngine, loadPolicySources } = await loadEngine();
    const policy =
      typeof e.policy === 'string'
        ? compilePolicySources(loadPolicySources([e.policy], process.cwd()))
        : e.policy;
    const engine = await openEngine({
      policy,
      ...(e.db !== undefined ? { db: e.db } : {}),
      ...(e.keysFile !== undefined ? { keysFile: e.keysFile } : {}),
      prices: BUNDLED_PRICES,
      approvalSweepMs: 1_000,
      budgetSweepMs: 60_000,
    });
    return new Warden(new EngineTransport(engine, { agent: e.agent, ownsEngine: true }), options);
  }
  return new Warden(new HttpTransport(options), options);
}

/**
 * The engine, loaded on first use: it is an optional peer dependency (it brings the SQLite and PostgreSQL
 * drivers), so a remote client neither installs nor loads it. Missing, it is named with how to add it.
 */
async function loadEngine(): Promise<typeof import('@warden/engine')> {
  try {
    return await import('@warden/engine');
  } catch (e) {
    if (!isEngineMissing(e)) throw e;
    throw new WardenError(
      'CONFIG_INVALID',
      'embedded mode needs the @warden/engine package, which is not installed: run `npm i @warden/engine` (or connect to a server with { url, key })',
      { package: '@warden/engine' },
    );
  }
}

/**
 * Whether `err` says @warden/engine itself cannot be found: ESM's ERR_MODULE_NOT_FOUND ("Cannot find
 * package '@warden/engine' imported from …") or CommonJS's MODULE_NOT_FOUND ("Cannot find module
 * '@warden/engine'", when the SDK is loaded through require or a bundler). A dependency of the engine that
 * is missing ("Cannot find module 'pg'", with the engine in its require stack) is not: that error is
 * passed on as it is, since installing the engine again would not fix it.
 */
export function isEngineMissing(err: unknown): boolean {
  const { code, message } = (err ?? {}) as { code?: unknown; message?: unknown };
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return false;
  // Only the first line names what is missing; CommonJS adds its require stack below it.
  const first = typeof message === 'string' ? (message.split('\n', 1)[0] ?? '') : '';
  return /^Cannot find (package|module) ['"]@warden\/engine['"]/.test(first);
}
