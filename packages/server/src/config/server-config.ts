import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { envReference, isWardenError, PriceOverrideSchema, WardenError } from '@warden/core';
import { NOTIFIED_EVENTS } from '@warden/engine';
import { type GatewayConfig, resolveGatewayConfig } from '@warden/mcp';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { AuthConfigSchema, resolveAuthSecrets, ssoDeploymentProblems } from '../auth/oidc/auth-config.js';
import { LlmConfigSchema, resolveLlmConfig } from '../llm/llm-config.js';
import { resolveSlackConfig, type SlackConfig, SlackConfigSchema } from '../notify/slack-config.js';
import { rawSecretProblem, whsecProblem } from '../notify/webhook-signature.js';

const MIN_SECRET_LENGTH = 16;

/** Whether a URL carries user info (`user:pass@`); an unparsable one is left to the URL check. */
function hasUserInfo(raw: string): boolean {
  try {
    const u = new URL(raw);
    return u.username !== '' || u.password !== '';
  } catch {
    return false;
  }
}

/** One signing secret: a literal (16+ characters, or a valid whsec_ secret) or an env:NAME reference. */
const WebhookSecretSchema = z
  .string()
  .refine((s) => envReference(s) !== undefined || s.length >= MIN_SECRET_LENGTH, {
    error: `must be at least ${MIN_SECRET_LENGTH} characters, or env:VARIABLE to read it from the environment`,
  })
  .superRefine((s, ctx) => {
    const problem = whsecProblem(s) ?? (envReference(s) === undefined ? rawSecretProblem(s) : undefined);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

/** One webhook that notifications (approvals, budget alerts, paused sessions) are POSTed to. */
export const WebhookConfigSchema = z.strictObject({
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[A-Za-z0-9_.-]+$/, 'use only letters, digits, _, . and -'),
  url: z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
    // The message names the problem, never the URL: its user info, path or query may be the secret.
    .refine((u) => !hasUserInfo(u), {
      error:
        'must not contain a user name or password (user:pass@); fetch refuses such a URL, and errors would repeat it. Sign deliveries with `secret` instead',
    }),
  secret: z
    .union([WebhookSecretSchema, z.array(WebhookSecretSchema).min(1).max(5)])
    .optional()
    .meta({
      description:
        'Signs each delivery (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature). A whsec_<base64> secret is used as its decoded bytes, any other (printable ASCII only) as its bytes; `env:NAME` reads it from $NAME. A list signs with each (key rotation: the new secret first, the old one until receivers have the new).',
    }),
  format: z.enum(['json', 'slack']).default('json'),
  events: z
    .array(z.enum(NOTIFIED_EVENTS))
    .min(1)
    .default([...NOTIFIED_EVENTS])
    .meta({
      description:
        'What to send: approval.requested, approval.escalated, approval.decided, budget.alert, budget.exceeded, session.paused, breaker.tripped. Default all.',
    }),
});
export type WebhookConfig = z.output<typeof WebhookConfigSchema>;

const WebhooksSchema = z
  .array(WebhookConfigSchema)
  .default([])
  .superRefine((hooks, ctx) => {
    const seen = new Set<string>();
    hooks.forEach((h, i) => {
      if (seen.has(h.name)) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'name'],
          message: `the webhook name "${h.name}" is used twice; each webhook needs its own name`,
        });
      }
      seen.add(h.name);
    });
  });

/** Every server setting, with its default. The config file, environment and flags all feed this schema. */
export const ServerConfigSchema = z.strictObject({
  db: z.string().min(1).default('./warden.db').meta({
    description: 'A SQLite file path, sqlite:PATH, or a postgres:// URL.',
  }),
  policy: z.string().min(1).optional().meta({
    description: 'A policy file or folder; watched for changes. Default: the stored or example policy.',
  }),
  policyOverwrite: z
    .union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')])
    .default(false)
    .meta({
      description:
        'Put the policy file in force at start even when a newer policy was stored since the file was last applied (PUT /v1/policy).',
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
  /** Live streams one key may hold open at once. */
  maxSsePerKey: z.coerce.number().int().min(1).default(100),
  heartbeatMs: z.coerce.number().int().min(100).default(15_000),
  /** How often an instance looks for events, policies and revocations written by others. */
  pollMs: z.coerce.number().int().min(10).default(250),
  shutdownTimeoutMs: z.coerce.number().int().min(0).default(10_000),
  /** Slow clients: a request's headers must arrive within this, and the whole request within requestTimeoutMs. */
  headersTimeoutMs: z.coerce.number().int().min(100).default(10_000),
  requestTimeoutMs: z.coerce.number().int().min(100).default(30_000),
  /** Purge audit events older than this many days (checkpoints and legal holds respected). */
  retentionDays: z.coerce.number().int().min(1).optional(),
  /** How often pending approval requests are checked for expiry and escalation, in ms. */
  approvalSweepMs: z.coerce.number().int().min(50).default(1_000),
  /** How often abandoned budget reservations (lease ended) are charged at their estimate, in ms. */
  budgetSweepMs: z.coerce.number().int().min(50).default(5_000),
  /** How long a budget reservation holds before it is charged at its estimate as abandoned, in ms. */
  reservationLeaseMs: z.coerce.number().int().min(1_000).default(600_000),
  /** Input tokens reserved for a call whose estimate names no tokens and no cost. */
  defaultTokenEstimate: z.coerce.number().int().min(1).default(4_096),
  /** Prices added to or corrected in the bundled table: { version, models: { name: { input, output, cachedInput } } } (USD per million tokens). */
  prices: PriceOverrideSchema.optional(),
  /** How often the webhook outbox is checked for notifications to deliver, in ms. */
  webhookPollMs: z.coerce.number().int().min(20).default(500),
  /** The longest `wait` a check may ask for, in ms. */
  maxWaitMs: z.coerce.number().int().min(0).default(300_000),
  // warn: request logs at info would dominate the output and cost throughput; errors are always logged.
  // Notices (a policy reloaded or adopted) are info lines too.
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'silent']).default('warn'),
  publicUrl: z
    .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
    .optional()
    .meta({
      description:
        'The base URL people reach this server at, for links in notifications. Default http://<host>:<port>.',
    }),
  /** Webhooks for notifications; from the config file only (a list does not fit a variable). */
  webhooks: WebhooksSchema,
  webhookMaxAttempts: z.coerce.number().int().min(1).max(20).default(6),
  /** The first retry waits up to this long; each later one up to twice the one before (capped at 30 s). */
  webhookBaseDelayMs: z.coerce.number().int().min(10).default(500),
  /** The LLM metering proxy's upstreams and defaults; from the config file only. */
  llm: LlmConfigSchema,
  /**
   * The MCP gateway at /mcp: `servers` (or `mcpServers`), `approvalWaitMs`, `progressEveryMs`, as in a
   * `warden mcp` config file; from the config file only.
   */
  mcp: z.unknown().optional(),
  /** Sign-in for people: SSO through an OpenID Connect IdP, and whether API keys may sign people in. */
  auth: AuthConfigSchema,
  /** The Slack app (approval messages with buttons, votes from Slack); from the config file only. */
  slack: SlackConfigSchema,
});

/** The resolved configuration; `mcp` is checked as a gateway config, `slack` has its secrets read. */
export type ServerConfig = Omit<z.output<typeof ServerConfigSchema>, 'mcp' | 'slack'> & {
  readonly mcp?: GatewayConfig | undefined;
  readonly slack?: SlackConfig | undefined;
};
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
  WARDEN_PUBLIC_URL: 'publicUrl',
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
  const sourceOf = (path: readonly PropertyKey[]) => {
    // A nested problem (webhooks.1.url) comes from wherever its top-level setting came from.
    const top = String(path[0] ?? '');
    return top in fromFlags ? 'flag' : top in fromEnv ? 'environment' : top in fromFile ? file : 'default';
  };
  if (!parsed.success) {
    invalidConfig(
      parsed.error.issues.map((i) => `${i.path.join('.') || 'config'} (${sourceOf(i.path)}): ${i.message}`),
    );
  }
  const webhooks = resolveWebhookSecrets(parsed.data.webhooks, env, (i) => sourceOf(['webhooks', i]));
  const llm = resolveLlmConfig(parsed.data.llm, env, sourceOf(['llm']));
  if (llm.problems.length > 0) invalidConfig(llm.problems);
  const auth = resolveAuthSecrets(parsed.data.auth, env, sourceOf(['auth']));
  if (auth.problems.length > 0) invalidConfig(auth.problems);
  const sso = ssoDeploymentProblems(auth.auth, parsed.data, (field) => sourceOf([field]));
  if (sso.length > 0) invalidConfig(sso);
  const mcp = resolveMcp(parsed.data.mcp, env, sourceOf(['mcp']), file ? dirname(resolve(file)) : undefined);
  const slack = resolveSlackConfig(parsed.data.slack, env, sourceOf(['slack']));
  if (slack.problems.length > 0) invalidConfig(slack.problems);
  return normaliseDb({
    ...parsed.data,
    webhooks,
    llm: llm.config,
    auth: auth.auth,
    mcp,
    slack: slack.config,
  });
}

/** The gateway section, checked like a `warden mcp` config; its `warden` connection is this server itself. */
function resolveMcp(
  raw: unknown,
  env: NodeJS.ProcessEnv,
  source: string | undefined,
  baseDir: string | undefined,
): GatewayConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  for (const key of ['warden', 'session', 'triggeredBy'] as const) {
    if (typeof raw === 'object' && key in raw) {
      invalidConfig([
        `mcp.${key} (${source}): /mcp takes the agent from each caller's key and the session and triggering human from its Warden-Session and Warden-Triggered-By headers; remove it`,
      ]);
    }
  }
  try {
    return resolveGatewayConfig(raw, { env, source: `mcp (${source})`, ...(baseDir ? { baseDir } : {}) });
  } catch (err) {
    if (isWardenError(err, 'CONFIG_INVALID')) invalidConfig([err.message]);
    throw err;
  }
}

function invalidConfig(problems: string[]): never {
  throw new WardenError('CONFIG_INVALID', `invalid server configuration:\n  ${problems.join('\n  ')}`, {
    problems,
  });
}

/**
 * Replaces each `env:NAME` secret with $NAME; an unset, too short or malformed (whsec_) variable is
 * CONFIG_INVALID.
 */
function resolveWebhookSecrets(
  hooks: readonly WebhookConfig[],
  env: NodeJS.ProcessEnv,
  sourceOf: (index: number) => string | undefined,
): WebhookConfig[] {
  const problems: string[] = [];
  const resolveOne = (secret: string, where: string): string => {
    const name = envReference(secret);
    if (!name) return secret;
    const value = env[name];
    if (value === undefined || value === '') {
      problems.push(`${where}: the environment variable ${name} is not set`);
      return secret;
    }
    const whsec = whsecProblem(value) ?? rawSecretProblem(value);
    if (value.length < MIN_SECRET_LENGTH)
      problems.push(`${where}: $${name} must be at least ${MIN_SECRET_LENGTH} characters`);
    else if (whsec) problems.push(`${where}: $${name}: ${whsec}`);
    return value;
  };
  const resolved = hooks.map((h, i) => {
    if (h.secret === undefined) return h;
    const where = (j?: number) => `webhooks.${i}.secret${j === undefined ? '' : `.${j}`} (${sourceOf(i)})`;
    const secret =
      typeof h.secret === 'string'
        ? resolveOne(h.secret, where())
        : h.secret.map((s, j) => resolveOne(s, where(j)));
    return { ...h, secret };
  });
  if (problems.length > 0) invalidConfig(problems);
  return resolved;
}

/**
 * The base URL for links people open (notification buttons): `publicUrl` when set, else the listening
 * address. A wildcard host (0.0.0.0, ::) cannot be opened from elsewhere, so it becomes 127.0.0.1; set
 * publicUrl whenever the server is reached through another name.
 */
export function publicBaseUrl(
  config: Pick<ServerConfig, 'publicUrl' | 'host' | 'port'>,
  port = config.port,
): string {
  if (config.publicUrl) return config.publicUrl.replace(/\/+$/, '');
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
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
