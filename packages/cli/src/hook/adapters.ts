/** The hook adapters, one line per assistant: `warden hook <assistant>` accepts exactly these. */
import { WardenError } from '@warden/core';
import { claudeCodeAdapter } from './claude-code-adapter.js';
import { codexAdapter } from './codex-adapter.js';
import { geminiAdapter } from './gemini-adapter.js';
import type { HookAdapter } from './hook-adapter.js';

/** Every registered adapter, by assistant name. */
export const HOOK_ADAPTERS: readonly HookAdapter[] = [claudeCodeAdapter, codexAdapter, geminiAdapter];

/** The adapter of `name`; a USAGE error naming the known assistants otherwise. */
export function hookAdapter(name: string): HookAdapter {
  const found = HOOK_ADAPTERS.find((a) => a.assistant === name);
  if (found) return found;
  const known = HOOK_ADAPTERS.map((a) => a.assistant).join(', ');
  throw new WardenError('USAGE', `unknown assistant ${JSON.stringify(name)}: warden hook knows ${known}`);
}
