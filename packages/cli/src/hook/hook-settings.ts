/**
 * Merging a hook into a JSON settings file of the shape Claude Code (and Gemini CLI) use:
 * `{ "hooks": { "<Event>": [ { "matcher": "…", "hooks": [ { "type": "command", "command": "…", "timeout": N } ] } ] } }`.
 * Other settings and other hooks are kept as they are; Warden's own entry (recognised by its command)
 * is updated in place, so installing twice writes the same file.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { WardenError } from '@warden/core';

/** One hook to register under one event. */
export interface CommandHook {
  readonly event: string;
  /** Tool-name matcher; omitted for events that take none. */
  readonly matcher?: string;
  readonly command: string;
  readonly timeout: number;
}

type Json = Record<string, unknown>;

/** Reads `file` (absent: `{}`); CONFIG_INVALID naming the file when it is not a JSON object. */
export function readJsonSettings(file: string): Json {
  if (!existsSync(file)) return {};
  const text = readFileSync(file, 'utf8');
  if (text.trim() === '') return {};
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new WardenError(
      'CONFIG_INVALID',
      `${file} is not valid JSON (${(err as Error).message}); fix it first, nothing was written`,
    );
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new WardenError(
      'CONFIG_INVALID',
      `${file} does not hold a JSON object; fix it first, nothing was written`,
    );
  return value as Json;
}

/**
 * `settings` with each hook merged: the entry whose command `isOurs` recognises is replaced,
 * otherwise one is appended to the event's list. Throws CONFIG_INVALID when `hooks` has another shape.
 */
export function mergeCommandHooks(
  settings: Json,
  hooks: readonly CommandHook[],
  isOurs: (command: string) => boolean,
  file: string,
): Json {
  const all = settings.hooks ?? {};
  if (all === null || typeof all !== 'object' || Array.isArray(all))
    throw new WardenError(
      'CONFIG_INVALID',
      `"hooks" in ${file} is not an object; fix it first, nothing was written`,
    );
  const merged: Json = { ...(all as Json) };
  for (const h of hooks) {
    const list = merged[h.event] ?? [];
    if (!Array.isArray(list))
      throw new WardenError(
        'CONFIG_INVALID',
        `"hooks.${h.event}" in ${file} is not a list; fix it first, nothing was written`,
      );
    const ours = { type: 'command', command: h.command, timeout: h.timeout };
    const matcher = h.matcher !== undefined ? { matcher: h.matcher } : {};
    const at = list.findIndex((e) => holdsOurs(e, isOurs));
    // Our hook replaced where it is; hooks sharing its entry stay.
    const updated = (e: Json): Json => ({
      ...e,
      ...matcher,
      hooks: (e.hooks as unknown[]).map((x) => (isOurHook(x, isOurs) ? ours : x)),
    });
    merged[h.event] =
      at === -1
        ? [...list, { ...matcher, hooks: [ours] }]
        : list.map((e, i) => (i === at ? updated(e as Json) : e));
  }
  return { ...settings, hooks: merged };
}

/** Writes `settings` to `file` atomically (a temporary file renamed), making its folder; the text written. */
export function writeJsonSettings(file: string, settings: Json): string {
  const text = `${JSON.stringify(settings, null, 2)}\n`;
  mkdirSync(dirname(file), { recursive: true });
  // The file keeps its permissions; a new one is an ordinary settings file (it holds no secret).
  const mode = existsSync(file) ? statSync(file).mode & 0o777 : 0o644;
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
  return text;
}

function holdsOurs(entry: unknown, isOurs: (command: string) => boolean): boolean {
  const hooks = (entry as { hooks?: unknown } | null)?.hooks;
  return Array.isArray(hooks) && hooks.some((h) => isOurHook(h, isOurs));
}

function isOurHook(hook: unknown, isOurs: (command: string) => boolean): boolean {
  const command = (hook as { command?: unknown } | null)?.command;
  return typeof command === 'string' && isOurs(command);
}
