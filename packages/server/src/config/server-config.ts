import { readFileSync } from 'node:fs';
import { WardenError } from '@warden/core';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** Every server setting, with its default. The config file, environment and flags all feed this schema. */
export const ServerConfigSchema = z.strictObject({
  db: z.string().min(1).default('./warden.db').meta({
    description: 'A SQLite file path, sqlite:PATH, or a postgres:// URL.',
  }),
  policy: z.string().min(1).optional().meta({
    description: 'A policy file or folder; watched for changes. Default: the stored or example policy.',
  }),
  port: z.coerce.number().int().min(0).max(65_535).default(7400),
  host: z.string().min(1).default('127.0.0.1'),
  keysFile: z
    .string()
    .min(1)
    .optional()
    .meta({ description: 'The signing/HMAC key file; default beside the db.' }),
  bodyLimitBytes: z.coerce
    .number()
    .int()
    .min(1_024)
    .max(64 * 1024 * 1024)
    .default(1024 * 1024),
  /** Sustained requests per second per API key; 0 turns the limit off. */
  rateLimitPerKey: z.coerce.number().min(0).default(0),
  /** Failed authentications per minute per client address before 429. */
  authFailuresPerMinute: z.coerce.number().int().min(1).default(30),
  maxSseConnections: z.coerce.number().int().min(1).default(20_000),
  heartbeatMs: z.coerce.number().int().min(100).default(15_000),
  /** How often an instance looks for events, policies and revocations written by others. */
  pollMs: z.coerce.number().int().min(10).default(250),
  shutdownTimeoutMs: z.coerce.number().int().min(0).default(10_000),
  /** Slow clients: a request's headers must arrive within this, and the whole request within requestTimeoutMs. */
  headersTimeoutMs: z.coerce.number().int().min(100).default(10_000),
  requestTimeoutMs: z.coerce.number().int().min(100).default(30_000),
  /** Purge audit events older than this many days (checkpoints and legal holds respected). */
  retentionDays: z.coerce.number().int().min(1).optional(),
  /** The longest `wait` a check may ask for, in ms. */
  maxWaitMs: z.coerce.number().int().min(0).default(300_000),
  // warn: request logs at info would dominate the output and cost throughput; errors are always logged.
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('warn'),
});

export type ServerConfig = z.output<typeof ServerConfigSchema>;
export type ServerConfigInput = z.input<typeof ServerConfigSchema>;

/** Environment variables for the settings people set most; WARDEN_CONFIG names a config file. */
const ENV: Record<string, keyof ServerConfigInput> = {
  WARDEN_DB: 'db',
  WARDEN_POLICY: 'policy',
  WARDEN_PORT: 'port',
  WARDEN_HOST: 'host',
  WARDEN_KEYS: 'keysFile',
  WARDEN_BODY_LIMIT_BYTES: 'bodyLimitBytes',
  WARDEN_RATE_LIMIT_PER_KEY: 'rateLimitPerKey',
  WARDEN_POLL_MS: 'pollMs',
  WARDEN_RETENTION_DAYS: 'retentionDays',
  WARDEN_LOG_LEVEL: 'logLevel',
};

/**
 * Resolves the configuration: flags over environment over the config file over defaults. Every problem is
 * CONFIG_INVALID naming the setting and where it came from.
 */
export function resolveServerConfig(
  flags: Partial<Record<keyof ServerConfigInput, unknown>> & { config?: string },
  env: NodeJS.ProcessEnv = process.env,
): ServerConfig {
  const file = flags.config ?? env.WARDEN_CONFIG;
  const fromFile = file ? readConfigFile(file) : {};
  const fromEnv: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV))
    if (env[name] !== undefined && env[name] !== '') fromEnv[key] = env[name];
  const fromFlags = Object.fromEntries(
    Object.entries(flags).filter(([k, v]) => k !== 'config' && v !== undefined),
  );
  const merged = { ...fromFile, ...fromEnv, ...fromFlags };
  const parsed = ServerConfigSchema.safeParse(merged);
  if (parsed.success) return normaliseDb(parsed.data);
  const problems = parsed.error.issues.map((i) => {
    const key = i.path.join('.');
    const source =
      key in fromFlags ? 'flag' : key in fromEnv ? 'environment' : key in fromFile ? file : 'default';
    return `${key || 'config'} (${source}): ${i.message}`;
  });
  throw new WardenError('CONFIG_INVALID', `invalid server configuration:\n  ${problems.join('\n  ')}`, {
    problems,
  });
}

function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new WardenError('CONFIG_INVALID', `cannot read the config file ${path}: ${(err as Error).message}`);
  }
  try {
    const doc = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 100 });
    if (doc === null || doc === undefined) return {};
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new Error('the top level must be a mapping');
    return doc as Record<string, unknown>;
  } catch (err) {
    throw new WardenError(
      'CONFIG_INVALID',
      `the config file ${path} is malformed: ${(err as Error).message}`,
    );
  }
}

/** `sqlite:PATH` is the same as `PATH`. */
function normaliseDb(c: ServerConfig): ServerConfig {
  return c.db.startsWith('sqlite:') ? { ...c, db: c.db.slice('sqlite:'.length) } : c;
}
