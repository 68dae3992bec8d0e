import { canonicalHash } from '@warden/core';
import { unboundedField } from './prompt-media.js';
import { countPrompt } from './prompt-tokens.js';

/**
 * The request fields that become prompt tokens: conversation, instructions, tool definitions and the
 * output schema (Chat Completions' `response_format`, Responses' `text.format`, Anthropic's
 * `output_format`/`output_config`; Gemini's `contents`, `systemInstruction`, `toolConfig`), which the
 * provider renders into the prompt.
 */
const PROMPT_FIELDS = [
  'system',
  'instructions',
  'messages',
  'input',
  'tools',
  'functions',
  'tool_choice',
  'response_format',
  'text',
  'output_format',
  'output_config',
  // Gemini's: the conversation, the system instruction and the tool config.
  'contents',
  'systemInstruction',
  'toolConfig',
] as const;

/** What an LLM request may consume, and the facts about it a policy sees. */
export interface RequestEstimate {
  readonly model: string;
  /** The prompt's tokens: exact for OpenAI's models, else bounded by the prompt's bytes (prompt-tokens.ts). */
  readonly inputTokens: number;
  /** The request's own output cap (times `n` completions), or the deployment's default. */
  readonly outputTokens: number;
  /** The output cap in force: the request's, or the default when it sets none. */
  readonly maxOutputTokens: number;
  /**
   * A short hash of the model and prompt. It is part of the call's arguments, so the repeat breaker
   * sees the same prompt sent again and again, not every LLM request as the same call.
   */
  readonly promptHash: string;
  /** Why what the request may consume cannot be bounded (prompt-media.ts); a tokens or USD budget refuses it. */
  readonly unbounded?: string;
}

/**
 * Estimates a request before it runs. `maxOutputTokens` is the request's own cap (undefined when it
 * sets none); `completions` how many answers it asks for (Chat Completions' `n`).
 */
export function estimateRequest(
  body: Readonly<Record<string, unknown>>,
  o: { model: string; maxOutputTokens: number | undefined; completions: number; defaultMaxOutput: number },
): RequestEstimate {
  const prompt: Record<string, unknown> = {};
  for (const field of PROMPT_FIELDS) if (body[field] !== undefined) prompt[field] = body[field];
  const maxOutputTokens = o.maxOutputTokens ?? o.defaultMaxOutput;
  const counted = countPrompt(o.model, prompt);
  // A predicted output's rejected tokens are billed as output, beyond the cap: at most all of them.
  const predicted =
    body.prediction == null ? 0 : countPrompt(o.model, { prediction: body.prediction }).tokens;
  const unbounded = unboundedField(body) ?? counted.unbounded;
  return {
    model: o.model,
    inputTokens: counted.tokens,
    outputTokens: (maxOutputTokens + predicted) * o.completions,
    maxOutputTokens,
    promptHash: canonicalHash({ model: o.model, ...prompt }).slice(0, 16),
    ...(unbounded ? { unbounded } : {}),
  };
}

/** A positive whole number from a request field, or undefined. */
export function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}
