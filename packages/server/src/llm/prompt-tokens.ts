import { countTokens as cl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { countTokens as o200k } from 'gpt-tokenizer/encoding/o200k_base';

/**
 * Prompt tokens counted before a request runs, never fewer than the provider will bill, so a reservation
 * cannot be outrun by its own prompt. OpenAI's tokenizers are public: their models are counted exactly
 * (with a few tokens to spare per message). Other models are bounded by UTF-8 bytes: they all use
 * byte-level BPE, where every token stands for at least one byte, so a text has at most as many tokens
 * as bytes.
 */

type Counter = (text: string) => number;

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

/** Tokens of `text` under `count`, no fewer than exact and in time linear in its length. */
function textTokens(text: string, count: Counter): number {
  let cut = 0;
  const rest = text.replace(LONG_RUN, (run) => {
    cut += Buffer.byteLength(run) + 1;
    return ' ';
  });
  return count(rest) + cut;
}

/** Tokens of any JSON value: a string's text, anything else as its JSON text. */
function valueTokens(v: unknown, count: Counter): number {
  if (v === undefined || v === null) return 0;
  return textTokens(typeof v === 'string' ? v : JSON.stringify(v), count);
}

/** One chat message (or Responses input item): the format's overhead and every field's value. */
function messageTokens(m: unknown, count: Counter): number {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return PER_MESSAGE + valueTokens(m, count);
  let n = PER_MESSAGE;
  for (const [k, v] of Object.entries(m)) n += valueTokens(v, count) + (k === 'name' ? 1 : 0);
  return n;
}

/** Prompt tokens of an OpenAI request (Chat Completions or Responses) under its model's tokenizer. */
export function openAiPromptTokens(prompt: Readonly<Record<string, unknown>>, count: Counter): number {
  let n = REPLY_PRIMING;
  for (const [field, v] of Object.entries(prompt)) {
    if ((field === 'messages' || field === 'input') && Array.isArray(v)) {
      for (const m of v) n += messageTokens(m, count);
    } else if (field === 'tools' || field === 'functions') {
      n += valueTokens(v, count) + TOOLS_FRAMING;
    } else {
      // A string input or instructions is one more message.
      n += PER_MESSAGE + valueTokens(v, count);
    }
  }
  return n;
}

/**
 * Anthropic adds a system prompt of its own when tools are offered (346 tokens at most, by its
 * documentation): bytes of the request do not cover it.
 */
const ANTHROPIC_TOOL_PROMPT = 500;

/**
 * An upper bound of the prompt tokens of a model whose tokenizer is not public: the UTF-8 bytes of the
 * prompt fields' JSON. The JSON's quotes, keys and braces (over 20 bytes per message) more than pay for
 * the few special tokens that frame each message.
 */
export function boundedPromptTokens(prompt: Readonly<Record<string, unknown>>): number {
  const tools = Array.isArray(prompt.tools) && prompt.tools.length > 0 ? ANTHROPIC_TOOL_PROMPT : 0;
  return Buffer.byteLength(JSON.stringify(prompt)) + tools;
}

/** Prompt tokens to reserve for a request to `model`: exact for OpenAI's models, else bounded by bytes. */
export function promptTokens(model: string, prompt: Readonly<Record<string, unknown>>): number {
  const count = openAiTokenizer(model);
  return count ? openAiPromptTokens(prompt, count) : boundedPromptTokens(prompt);
}
