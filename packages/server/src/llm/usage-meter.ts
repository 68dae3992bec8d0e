import type { Usage } from '@warden/core';
import type { SseEvent } from './sse-parser.js';

/**
 * Tokens as a provider reports them, normalised: `inputTokens` counts every prompt token, cached ones
 * included, and `cachedTokens` says how many of those were served from the prompt cache.
 */
export interface ReportedUsage {
  readonly model?: string;
  readonly inputTokens?: number;
  readonly outputTokens?: number;
  readonly cachedTokens?: number;
}

/** What a finished response consumed, as far as its body tells. */
export interface BodyUsage {
  /** Undefined when the body carries no usage. */
  readonly usage: ReportedUsage | undefined;
  /** Characters of generated output, for estimating when the usage is missing. */
  readonly generatedChars: number;
  readonly model: string | undefined;
}

/** Watches one streamed response: its usage, how much it generated, whether it failed. */
export interface StreamMeter {
  /**
   * Takes one event; returns the text to relay: the event as received, or without what Warden added to the
   * request (usage the client did not ask for), or undefined when the event must not reach the client.
   */
  take(event: SseEvent): string | undefined;
  /** The usage reported so far; undefined when none arrived. */
  readonly usage: ReportedUsage | undefined;
  /** Whether the provider's final usage arrived. */
  readonly final: boolean;
  /** Characters of generated output (text, tool-call arguments, reasoning) seen so far. */
  readonly generatedChars: number;
  readonly model: string | undefined;
  /** The provider's error message, when the stream reported a failure. */
  readonly failure: string | undefined;
}

/** Roughly four characters per token for English text and JSON: the estimate every fallback uses. */
export const CHARS_PER_TOKEN = 4;

/** An estimate of the tokens in `chars` characters. */
export function tokensOfChars(chars: number): number {
  return Math.ceil(chars / CHARS_PER_TOKEN);
}

/** A token count from a provider's JSON, or undefined when it is missing or not a sane count. */
export function tokenCount(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined;
}

/** `v` when it is a JSON object (not an array). */
export function asObject(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
    ? (v as Record<string, unknown>)
    : undefined;
}

/** The object at `key` of `v`, when there is one. */
export function objectAt(v: unknown, key: string): Record<string, unknown> | undefined {
  return asObject(asObject(v)?.[key]);
}

/** The string at `key` of `v`, when there is one. */
export function stringAt(v: unknown, key: string): string | undefined {
  const x = asObject(v)?.[key];
  return typeof x === 'string' ? x : undefined;
}

/** Keys whose string values are generated output in a response body (text, tool arguments, reasoning). */
const GENERATED_KEYS = new Set(['content', 'text', 'arguments', 'refusal', 'thinking', 'partial_json']);

/**
 * Characters of generated output in a response body's content (choices, output items, content blocks):
 * the strings under the keys above, and a tool call's `input` object as JSON.
 */
export function generatedChars(v: unknown, depth = 0): number {
  if (typeof v !== 'object' || v === null || depth > 32) return 0;
  let n = 0;
  for (const [key, x] of Object.entries(v)) {
    if (typeof x === 'string') n += GENERATED_KEYS.has(key) ? x.length : 0;
    else if (key === 'input' && typeof x === 'object' && x !== null) n += JSON.stringify(x).length;
    else n += generatedChars(x, depth + 1);
  }
  return n;
}

/** Fields left undefined are dropped: the audit's usage schema takes no undefined values. */
export function definedUsage(u: ReportedUsage): ReportedUsage {
  return Object.fromEntries(Object.entries(u).filter(([, v]) => v !== undefined)) as ReportedUsage;
}

/**
 * The usage to bill. The provider's final figures when they arrived; otherwise (a cut-off stream, an
 * upstream that does not report usage) what was generated: whatever the provider reported so far, the
 * output estimated from the characters seen, and the input estimated from the request.
 */
export function billedUsage(
  seen: {
    usage: ReportedUsage | undefined;
    final: boolean;
    generatedChars: number;
    model: string | undefined;
  },
  request: { model: string; inputTokens: number },
): { usage: Usage; estimated: boolean } {
  const model = seen.usage?.model ?? seen.model ?? request.model;
  if (seen.final && seen.usage) return { usage: definedUsage({ ...seen.usage, model }), estimated: false };
  const usage = definedUsage({
    model,
    inputTokens: seen.usage?.inputTokens ?? request.inputTokens,
    outputTokens: Math.max(seen.usage?.outputTokens ?? 0, tokensOfChars(seen.generatedChars)),
    cachedTokens: seen.usage?.cachedTokens,
  });
  return { usage, estimated: true };
}
