/**
 * `warden hook install gemini`: Warden's hooks merged into Gemini CLI's settings.json — the project's
 * `.gemini/settings.json` or the user's `~/.gemini/settings.json`. Everything else in the file is kept;
 * an earlier Warden entry (by its name `warden`) is replaced, so installing twice changes nothing. Only
 * the command goes in: never a URL's credentials or a key (the hook reads those from its environment).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { WardenError } from '@warden/core';
import type { HookInstallOptions } from './hook-adapter.js';

/** The name Warden's hook entries carry in settings.json (Gemini CLI's `/hooks` commands show it). */
export const GEMINI_HOOK_NAME = 'warden';

/**
 * The events Warden hooks, and their matchers: every tool before and after it runs (`*` matches all,
 * MCP tools included), and the session's start and end.
 */
const EVENTS = [
  ['BeforeTool', '*', true],
  ['AfterTool', '*', false],
  ['SessionStart', undefined, false],
  ['SessionEnd', undefined, false],
] as const;

/** Events that never wait for a person get this limit: they only record. */
const RECORD_TIMEOUT_SECONDS = 30;

interface HookGroup {
  matcher?: string;
  hooks?: Array<Record<string, unknown>>;
  [key: string]: unknown;
}

/** Writes Warden's hooks into the chosen settings.json, merging; returns the file and what it now holds. */
export function installGeminiHooks(options: HookInstallOptions): { file: string; written: string } {
  const file = join(
    options.scope === 'project' ? options.projectDir : options.home,
    '.gemini',
    'settings.json',
  );
  const settings = readSettings(file);
  const hooks = objectAt(settings, 'hooks', file);
  for (const [event, matcher, waits] of EVENTS) {
    const seconds = waits ? options.timeoutSeconds : Math.min(options.timeoutSeconds, RECORD_TIMEOUT_SECONDS);
    const groups = hooks[event] ?? [];
    if (!Array.isArray(groups)) throw malformed(file, `hooks.${event} is not an array`);
    const kept = (groups as HookGroup[]).filter((g) => !g?.hooks?.some((h) => h?.name === GEMINI_HOOK_NAME));
    kept.push({
      ...(matcher === undefined ? {} : { matcher }),
      hooks: [
        {
          name: GEMINI_HOOK_NAME,
          type: 'command',
          command: options.command,
          // Gemini CLI counts in milliseconds; a hook it times out is let through, so the runner's own
          // limit (the review wait) stays below this one.
          timeout: seconds * 1000,
          description: 'Warden governs this tool use (policy, review, audit)',
        },
      ],
    });
    hooks[event] = kept;
  }
  // Hooks switched off, or Warden's named as disabled, would leave the assistant ungoverned silently.
  if (settings.hooksConfig !== undefined) {
    const hooksConfig = objectAt(settings, 'hooksConfig', file);
    if (hooksConfig.enabled === false) hooksConfig.enabled = true;
    if (Array.isArray(hooksConfig.disabled))
      hooksConfig.disabled = hooksConfig.disabled.filter(
        (d) => d !== GEMINI_HOOK_NAME && d !== options.command,
      );
  }
  const written = `${JSON.stringify(settings, null, 2)}\n`;
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, written);
  return { file, written };
}

function readSettings(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  const text = readFileSync(file, 'utf8');
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw malformed(
      file,
      `it is not JSON (${(err as Error).message}); fix or remove it, nothing was written`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw malformed(file, 'it is not a JSON object');
  return parsed as Record<string, unknown>;
}

function objectAt(o: Record<string, unknown>, key: string, file: string): Record<string, unknown> {
  const value = o[key] ?? {};
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw malformed(file, `${key} is not an object`);
  o[key] = value;
  return value as Record<string, unknown>;
}

function malformed(file: string, why: string): WardenError {
  return new WardenError('CONFIG_INVALID', `Gemini CLI settings ${file}: ${why}`);
}
