import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import {
  ANTHROPIC_IMAGE_MAX,
  ANTHROPIC_TOOL_PROMPT,
  isImagePart,
  openAiImageMax,
  toolCost,
  unboundedPart,
} from './prompt-media.js';

/**
 * Prompt tokens counted before a request runs, never fewer than the provider will bill, so a reservation
 * cannot be outrun by its own prompt. OpenAI's tokenizers are public: their models are counted exactly
 * (with a few tokens to spare per message). Other models are bounded by UTF-8 bytes: they all use
 * byte-level BPE, where every token stands for at least one byte, so a text has at most as many tokens
 * as bytes. Long strings and big requests are bounded by bytes too (the tokenizer's time is capped);
 * images, tools and fields that are billed otherwise are in prompt-media.ts.
 */

/** Tokens of a text under one tokenizer. */
export type Counter = (text: string) => number;

// Text that happens to spell a special token (<|endoftext|>) is ordinary text in a prompt.
const PLAIN = { disallowedSpecial: new Set<string>() };
const O200K: Counter = (t) => o200k(t, PLAIN);
const CL100K: Counter = (t) => cl100k(t, PLAIN);

/** The tokenizer of an OpenAI model family; undefined for a model whose tokenizer is not known. */
export function openAiTokenizer(model: string): Counter | undefined {
  const m = model.toLowerCase().replace(/^openai\//, '');
  if (/^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|o1|o3|o4|codex-mini)/.test(m)) return O200K;
  if (/^(gpt-4|gpt-3\.5)/.test(m)) return CL100K;
  return undefined;
}

/**
 * Per message, the chat format adds 3 tokens (OpenAI's published count) and 1 for a name; one more here
 * is to spare. A reply is primed with 3.
 */
const PER_MESSAGE = 4;
const REPLY_PRIMING = 3;
/** Tool definitions are rendered into the prompt in a format of OpenAI's; counted as their JSON, plus this. */
const TOOLS_FRAMING = 16;

/**
 * A run this long of letters, of spaces or of punctuation is one piece to the tokenizers' split, and
 * BPE takes time quadratic in a piece's length (100,000 letters take half a minute): such runs are
 * counted as their bytes instead, an upper bound, plus one for the split that cutting them out may change.
 */
const LONG_RUN = /[\p{L}\p{M}]{256,}|\s{256,}|[^\s\p{L}\p{N}]{256,}/gu;

/**
 * A string longer than this is counted as its UTF-8 bytes (an upper bound: every token is at least one
 * byte) without the tokenizer, and so is everything once a request has had this many characters tokenized:
 * the tokenizer runs on the event loop, and a body of megabytes (base64 audio, a pasted file) would hold
 * it for seconds.
 */
export const TOKENIZE_STRING_MAX = 16 * 1024;
export const TOKENIZE_REQUEST_MAX = 256 * 1024;

/** What a prompt may cost: its tokens, or why they cannot be bounded before the request runs. */
export interface PromptCount {
  readonly tokens: number;
  readonly unbounded?: string;
}

/** The object `v` is, or undefined for any other value. */
const asRecord = (v: unknown) =>
  typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

/** Counts one request's strings, images and parts, spending at most TOKENIZE_REQUEST_MAX on the tokenizer. */
class PromptCounter {
  tokens = 0;
  unbounded: string | undefined;
  #left = TOKENIZE_REQUEST_MAX;
  constructor(
    readonly count: Counter,
    readonly imageMax: number,
  ) {}

  /** Tokens of `text`: its bytes when long (or the request's tokenizer allowance is spent), else counted. */
  text(text: string): number {
    if (text.length > TOKENIZE_STRING_MAX || text.length > this.#left) return Buffer.byteLength(text) + 1;
    this.#left -= text.length;
    return textTokens(text, this.count);
  }

  /** Tokens of any JSON value, walked: images at the model's maximum, parts Warden cannot bound noted. */
  value(v: unknown): number {
    if (v === undefined || v === null) return 0;
    // A data URL outside an image part is text to the provider: counted as text (its bytes, when long).
    if (typeof v === 'string') return this.text(v);
    if (typeof v !== 'object') return this.text(String(v));
    if (Array.isArray(v)) return v.reduce((n: number, x) => n + this.value(x) + 1, 0);
    const part = v as Record<string, unknown>;
    this.unbounded ??= unboundedPart(part);
    if (isImagePart(part)) return this.imageMax;
    // Audio is billed by its length: far fewer tokens a second than its base64 has bytes.
    if (part.type === 'input_audio') return Buffer.byteLength(JSON.stringify(part));
    let n = 0;
    for (const [k, x] of Object.entries(part)) n += this.text(k) + this.value(x) + 1;
    return n;
  }

  /** One chat message (or Responses input item): every field's value (the keys are the format's). */
  message(m: unknown): number {
    const fields = asRecord(m);
    if (!fields || isImagePart(fields) || fields.type === 'input_audio') return this.value(m);
    this.unbounded ??= unboundedPart(fields);
    let n = 0;
    for (const [k, v] of Object.entries(fields)) n += this.value(v) + (k === 'name' ? 1 : 0);
    return n;
  }

  /** Tool definitions as their JSON, plus what a tool costs beyond it (or why it cannot be bounded). */
  tools(v: unknown): number {
    let n = this.text(JSON.stringify(v));
    for (const tool of Array.isArray(v) ? v : []) {
      const cost = toolCost(tool);
      if (typeof cost === 'string') this.unbounded ??= cost;
      else n += cost;
    }
    return n;
  }
}

/** Tokens of `text` under `count`, no fewer than exact and in time linear in its length. */
function textTokens(text: string, count: Counter): number {
  let cut = 0;
  const rest = text.replace(LONG_RUN, (run) => {
    cut += Buffer.byteLength(run) + 1;
    return ' ';
  });
  return count(rest) + cut;
}

/**
 * Prompt tokens of an OpenAI request (Chat Completions or Responses) under its model's tokenizer: each
 * message's fields (images at `imageMax`), tool definitions and output schemas as their JSON.
 */
export function openAiPromptTokens(
  prompt: Readonly<Record<string, unknown>>,
  count: Counter,
  imageMax: number,
): PromptCount {
  const c = new PromptCounter(count, imageMax);
  let n = REPLY_PRIMING;
  for (const [field, v] of Object.entries(prompt)) {
    if ((field === 'messages' || field === 'input') && Array.isArray(v)) {
      for (const m of v) n += PER_MESSAGE + c.message(m);
    } else if (field === 'tools' || field === 'functions') {
      n += c.tools(v) + TOOLS_FRAMING;
    } else {
      // A string input or instructions is one more message; a schema (response_format, text) its JSON.
      n += PER_MESSAGE + (typeof v === 'string' ? c.value(v) : c.text(JSON.stringify(v)));
    }
  }
  return { tokens: n, ...(c.unbounded ? { unbounded: c.unbounded } : {}) };
}

/**
 * An upper bound of the prompt tokens of a model whose tokenizer is not public: the UTF-8 bytes of the
 * prompt fields' JSON. The JSON's quotes, keys and braces (over 20 bytes per message) more than pay for
 * the few special tokens that frame each message. Images (whose cost is their pixels, not their bytes)
 * add Anthropic's per-image maximum, tools its tool prompt and fixed tool definitions.
 */
export function boundedPromptTokens(prompt: Readonly<Record<string, unknown>>): PromptCount {
  let tokens = Buffer.byteLength(JSON.stringify(prompt));
  let unbounded: string | undefined;
  const walk = (v: unknown): void => {
    if (typeof v !== 'object' || v === null) return;
    if (Array.isArray(v)) for (const x of v) walk(x);
    else {
      const part = v as Record<string, unknown>;
      unbounded ??= unboundedPart(part);
      if (isImagePart(part)) tokens += ANTHROPIC_IMAGE_MAX;
      else for (const x of Object.values(part)) walk(x);
    }
  };
  walk(prompt.messages);
  walk(prompt.system);
  if (Array.isArray(prompt.tools) && prompt.tools.length > 0) {
    tokens += ANTHROPIC_TOOL_PROMPT;
    for (const tool of prompt.tools) {
      const cost = toolCost(tool);
      if (typeof cost === 'string') unbounded ??= cost;
      else tokens += cost;
    }
  }
  return { tokens, ...(unbounded ? { unbounded } : {}) };
}

/** What the prompt of a request to `model` may cost: exact for OpenAI's models, else bounded by bytes. */
export function countPrompt(model: string, prompt: Readonly<Record<string, unknown>>): PromptCount {
  const count = openAiTokenizer(model);
  return count ? openAiPromptTokens(prompt, count, openAiImageMax(model)) : boundedPromptTokens(prompt);
}

/** Prompt tokens to reserve for a request to `model` (see countPrompt). */
export function promptTokens(model: string, prompt: Readonly<Record<string, unknown>>): number {
  return countPrompt(model, prompt).tokens;
}
