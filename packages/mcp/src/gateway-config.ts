import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { envReference, WardenError } from '@warden/core';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/** An upstream's name becomes the prefix of its tools (`fs__read_file`, policy name `fs.read_file`). */
const SERVER_NAME = /^[A-Za-z0-9-]{1,40}$/;

const StdioUpstreamSchema = z.strictObject({
  command: z.string().min(1),
  args: z.array(z.string()).default([]),
  env: z.record(z.string(), z.string()).optional(),
  cwd: z.string().optional(),
  /** How long one tools/call may take upstream (ms). */
  timeoutMs: z.number().int().positive().optional(),
});

const HttpUpstreamSchema = z.strictObject({
  url: z.url(),
  headers: z.record(z.string(), z.string()).optional(),
  timeoutMs: z.number().int().positive().optional(),
});

/** An upstream MCP server: a command speaking stdio, or a streamable HTTP URL. */
export const UpstreamSchema = z.union([StdioUpstreamSchema, HttpUpstreamSchema]);

const WardenConnectionSchema = z.union([
  z.strictObject({ url: z.url(), key: z.string().min(1) }),
  z.strictObject({
    embedded: z.strictObject({
      db: z.string().optional(),
      policy: z.string().min(1),
      agent: z.string().min(1),
      keysFile: z.string().optional(),
    }),
  }),
]);

const duration = z.number().int().positive();

/** The most `maxMessageBytes` may be: a message is buffered whole, so the limit bounds the memory one takes. */
export const MAX_MESSAGE_BYTES_CAP = 256 * 1024 * 1024;

/**
 * Why a URL with user info (`user:pass@`) is refused. Such a URL ends up in error text (the SDK's, fetch's),
 * and so in logs and refusals; credentials belong in `headers` with `env:NAME` values.
 */
function userInfoProblem(raw: string, path: string, fix: string): string | undefined {
  try {
    const u = new URL(raw);
    if (u.username === '' && u.password === '') return undefined;
  } catch {
    return undefined;
  }
  return `${path}: must not contain a user name or password (user:pass@); ${fix}`;
}

/**
 * The gateway's config file (YAML or JSON). `servers` may also be spelled `mcpServers`, so a desktop
 * client's existing config can be pasted in as it is.
 */
export const GatewayConfigSchema = z
  .strictObject({
    /** Where decisions are made (stdio gateway only; the server's /mcp uses its own engine and the caller's key). */
    warden: WardenConnectionSchema.optional(),
    servers: z.record(z.string(), UpstreamSchema).optional(),
    mcpServers: z.record(z.string(), UpstreamSchema).optional(),
    /** The Warden session of the gateway's calls (stdio); default one per gateway process. */
    session: z.string().min(1).max(200).optional(),
    /** The human or job that started the task, recorded with every call. */
    triggeredBy: z.string().min(1).max(200).optional(),
    /** How long a reviewed call is held open for its decision (ms, default 15 minutes). */
    approvalWaitMs: duration.optional(),
    /** How often a held call tells the client it is still waiting (ms, default 5 s). */
    progressEveryMs: duration.optional(),
    /** How often the stdio gateway checks whether the agent's tools changed (policy, grants; ms, default 15 s). */
    listCheckEveryMs: duration.optional(),
    /**
     * Commit each result's record before the result goes back to the client (one more disk sync per
     * call). Default false: the decision always commits before the call is forwarded; the result's record
     * commits just after the reply, and shutdown waits for it.
     */
    durableResults: z.boolean().optional(),
    /**
     * The largest single MCP message (bytes) read on a stdio channel: the stdio gateway's own stdin and
     * each stdio upstream's output. Default 10 MB (the MCP SDK's); a larger one closes that channel.
     */
    maxMessageBytes: z
      .number()
      .int()
      .positive()
      .max(MAX_MESSAGE_BYTES_CAP, {
        error: `must be at most ${MAX_MESSAGE_BYTES_CAP} (256 MiB): each message is held whole in memory while it is read`,
      })
      .optional(),
  })
  .refine((c) => !(c.servers && c.mcpServers), { message: 'use servers or mcpServers, not both' });

export type UpstreamConfig = z.infer<typeof UpstreamSchema>;
export type GatewayConfigInput = z.input<typeof GatewayConfigSchema>;

/** A resolved gateway config: secrets read from the environment, paths made absolute. */
export interface GatewayConfig {
  readonly warden?: z.infer<typeof WardenConnectionSchema>;
  readonly servers: Readonly<Record<string, UpstreamConfig>>;
  readonly session?: string;
  readonly triggeredBy?: string;
  readonly approvalWaitMs: number;
  readonly progressEveryMs: number;
  readonly durableResults: boolean;
  readonly listCheckEveryMs: number;
  /** The largest message read on a stdio channel (bytes); unset: the MCP SDK's default, 10 MB. */
  readonly maxMessageBytes?: number;
}

/** Reads and checks a gateway config file; every problem is named with its path. */
export function loadGatewayConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new WardenError(
      'CONFIG_INVALID',
      `cannot read the gateway config ${file}: ${(err as Error).message}`,
    );
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    throw new WardenError('CONFIG_INVALID', `${file} is not valid YAML or JSON: ${(err as Error).message}`);
  }
  return resolveGatewayConfig(raw, { env, baseDir: dirname(resolve(file)), source: file });
}

/**
 * Checks a gateway config value. `env:NAME` in a key, header or environment value is read from the
 * environment (a missing variable is an error), so secrets stay out of the file.
 */
export function resolveGatewayConfig(
  raw: unknown,
  o: { env?: NodeJS.ProcessEnv; baseDir?: string; source?: string } = {},
): GatewayConfig {
  const env = o.env ?? process.env;
  const where = o.source ?? 'the gateway config';
  const parsed = GatewayConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top)'}: ${i.message}`);
    throw new WardenError('CONFIG_INVALID', `${where}: ${problems.join('; ')}`, { problems });
  }
  const c = parsed.data;
  const problems: string[] = [];
  const secret = (value: string, path: string): string => {
    const name = envReference(value);
    if (name === undefined) return value;
    const v = env[name];
    if (v === undefined || v === '') problems.push(`${path}: environment variable ${name} is not set`);
    return v ?? '';
  };
  const servers: Record<string, UpstreamConfig> = {};
  for (const [name, s] of Object.entries(c.servers ?? c.mcpServers ?? {})) {
    if (!SERVER_NAME.test(name)) {
      problems.push(
        `servers.${name}: server names may use letters, digits and - (at most 40): they prefix tool names`,
      );
      continue;
    }
    if ('command' in s) {
      const envVars =
        s.env &&
        Object.fromEntries(Object.entries(s.env).map(([k, v]) => [k, secret(v, `servers.${name}.env.${k}`)]));
      servers[name] = {
        ...s,
        ...(envVars ? { env: envVars } : {}),
        // A stdio server runs in the config file's folder unless told otherwise, so relative paths in
        // its command and arguments mean the same wherever the gateway is started from (a desktop
        // client starts it from anywhere).
        ...(o.baseDir ? { cwd: s.cwd ? resolve(o.baseDir, s.cwd) : o.baseDir } : s.cwd ? { cwd: s.cwd } : {}),
      };
    } else {
      const userInfo = userInfoProblem(
        s.url,
        `servers.${name}.url`,
        'pass credentials in headers, e.g. headers: { Authorization: env:UPSTREAM_TOKEN }',
      );
      if (userInfo) problems.push(userInfo);
      const headers =
        s.headers &&
        Object.fromEntries(
          Object.entries(s.headers).map(([k, v]) => [k, secret(v, `servers.${name}.headers.${k}`)]),
        );
      servers[name] = { ...s, ...(headers ? { headers } : {}) };
    }
  }
  if (Object.keys(servers).length === 0) problems.push('servers: name at least one upstream MCP server');
  let warden = c.warden;
  if (warden && 'url' in warden) {
    const userInfo = userInfoProblem(warden.url, 'warden.url', 'the gateway authenticates with warden.key');
    if (userInfo) problems.push(userInfo);
  }
  if (warden && 'key' in warden) warden = { ...warden, key: secret(warden.key, 'warden.key') };
  if (warden && 'embedded' in warden && o.baseDir) {
    const e = warden.embedded;
    warden = {
      embedded: {
        ...e,
        policy: resolve(o.baseDir, e.policy),
        ...(e.db && !e.db.startsWith('postgres') ? { db: resolve(o.baseDir, e.db) } : {}),
        ...(e.keysFile ? { keysFile: resolve(o.baseDir, e.keysFile) } : {}),
      },
    };
  }
  if (problems.length > 0)
    throw new WardenError('CONFIG_INVALID', `${where}: ${problems.join('; ')}`, { problems });
  return {
    ...(warden ? { warden } : {}),
    servers,
    ...(c.session ? { session: c.session } : {}),
    ...(c.triggeredBy ? { triggeredBy: c.triggeredBy } : {}),
    approvalWaitMs: c.approvalWaitMs ?? 15 * 60_000,
    progressEveryMs: c.progressEveryMs ?? 5_000,
    durableResults: c.durableResults ?? false,
    listCheckEveryMs: c.listCheckEveryMs ?? 15_000,
    ...(c.maxMessageBytes ? { maxMessageBytes: c.maxMessageBytes } : {}),
  };
}
