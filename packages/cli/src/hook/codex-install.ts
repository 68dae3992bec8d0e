/**
 * `warden hook install codex`: Codex CLI's hook settings. Codex reads hooks from `hooks.json` next to a
 * config layer (`$CODEX_HOME/hooks.json` for the user, `<project>/.codex/hooks.json` for a project), and
 * runs a hook that is not managed by an administrator only once it is trusted: its content hash recorded
 * under `[hooks.state."<file>:<event>:<group>:<handler>"]` in the user's `$CODEX_HOME/config.toml`
 * (Codex ignores a project's copy). An untrusted hook is skipped without a word, so installing without
 * trusting would govern nothing; the hash is computed the way Codex 0.171 computes it (the test runs the
 * real Codex without `--dangerously-bypass-hook-trust` to prove it). Both files are merged, never replaced.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { WardenError } from '@warden/core';

/** The Codex hook events Warden installs, with the key label Codex uses for each in trust keys. */
export const CODEX_EVENTS = [
  ['PreToolUse', 'pre_tool_use'],
  ['PostToolUse', 'post_tool_use'],
  ['SessionStart', 'session_start'],
] as const;

export interface CodexInstallOptions {
  readonly scope: 'project' | 'user';
  readonly projectDir: string;
  /** Codex's home: `$CODEX_HOME`, else `~/.codex`. */
  readonly codexHome: string;
  readonly command: string;
  readonly timeoutSeconds: number;
}

interface Handler {
  readonly type: 'command';
  readonly command: string;
  readonly timeout: number;
}
type Group = { matcher?: string; hooks: unknown[] } & Record<string, unknown>;

/**
 * Writes Warden's hook for every event in {@link CODEX_EVENTS} into the scope's hooks.json (replacing an
 * earlier Warden hook in place, keeping everything else) and trusts each in the user's config.toml.
 */
export function installCodexHooks(o: CodexInstallOptions): { file: string; written: string } {
  if (!Number.isInteger(o.timeoutSeconds) || o.timeoutSeconds < 1)
    throw new WardenError(
      'CONFIG_INVALID',
      `the hook timeout must be a whole number of seconds ≥ 1, not ${o.timeoutSeconds}`,
    );
  const file =
    o.scope === 'user' ? join(o.codexHome, 'hooks.json') : join(o.projectDir, '.codex', 'hooks.json');
  const settings = readJson(file);
  settings.hooks ??= {};
  const hooks = settings.hooks as Record<string, Group[]>;
  if (typeof hooks !== 'object' || hooks === null || Array.isArray(hooks))
    throw new WardenError('CONFIG_INVALID', `${file}: "hooks" must be an object of events`);
  const handler: Handler = { type: 'command', command: o.command, timeout: o.timeoutSeconds };
  const trust: [string, string][] = [];
  for (const [event, label] of CODEX_EVENTS) {
    const groups = hooks[event] ?? [];
    if (!Array.isArray(groups))
      throw new WardenError('CONFIG_INVALID', `${file}: hooks.${event} must be a list of matcher groups`);
    const group: Group = { hooks: [handler] };
    let at = groups.findIndex((g) => isWardenGroup(g, o.command));
    if (at < 0) at = groups.push(group) - 1;
    else groups[at] = group;
    hooks[event] = groups;
    trust.push([`${file}:${label}:${at}:0`, codexHookHash(label, handler)]);
  }
  const written = `${JSON.stringify(settings, null, 2)}\n`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, written);
  const config = join(o.codexHome, 'config.toml');
  mkdirSync(o.codexHome, { recursive: true });
  writeFileSync(config, withHookTrust(existsSync(config) ? readFileSync(config, 'utf8') : '', trust));
  return { file, written };
}

function readJson(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new WardenError(
      'CONFIG_INVALID',
      `${file} is not valid JSON (${(e as Error).message}); fix it first`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new WardenError('CONFIG_INVALID', `${file} must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

/** A group holding exactly one handler that runs this command, or an earlier `… hook codex` one. */
function isWardenGroup(group: Group, command: string): boolean {
  const handlers = Array.isArray(group?.hooks) ? group.hooks : [];
  return (
    group?.matcher === undefined &&
    handlers.length === 1 &&
    handlers.some((h) => {
      const c = (h as { command?: unknown }).command;
      return typeof c === 'string' && (c === command || /(^|\s)hook codex(\s|$)/.test(c));
    })
  );
}

/**
 * The trust hash Codex 0.171 gives a command hook without a matcher: SHA-256 of the canonical JSON (keys
 * sorted, compact) of `{ event_name, hooks: [the handler with its timeout and async: false] }`, as
 * `sha256:<hex>`. Codex reports the same value as `currentHash` in its app-server's `hooks/list`.
 */
export function codexHookHash(eventLabel: string, handler: Handler): string {
  const identity = { event_name: eventLabel, hooks: [{ ...handler, async: false }] };
  return `sha256:${createHash('sha256')
    .update(JSON.stringify(canonical(identity)))
    .digest('hex')}`;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
  );
}

/** A TOML basic string. */
const tomlString = (s: string) => JSON.stringify(s);

/**
 * config.toml with `[hooks.state."<key>"]` tables saying each hook is enabled and trusted at its hash:
 * an existing table of that key gets the two lines replaced (its other lines kept), a missing one is
 * appended. The rest of the file is left byte for byte.
 */
export function withHookTrust(toml: string, trust: readonly (readonly [string, string])[]): string {
  const lines = toml === '' ? [] : toml.replace(/\n$/, '').split('\n');
  for (const [key, hash] of trust) {
    const header = `[hooks.state.${tomlString(key)}]`;
    const entries = ['enabled = true', `trusted_hash = ${tomlString(hash)}`];
    const at = lines.findIndex((l) => l.trim() === header);
    if (at < 0) {
      if (lines.length > 0 && lines.at(-1)?.trim() !== '') lines.push('');
      lines.push(header, ...entries);
      continue;
    }
    let end = at + 1;
    while (end < lines.length && !lines[end]?.trim().startsWith('[')) end++;
    const kept = lines.slice(at + 1, end).filter((l) => !/^\s*(enabled|trusted_hash)\s*=/.test(l));
    lines.splice(at + 1, end - at - 1, ...entries, ...kept);
  }
  return `${lines.join('\n')}\n`;
}
