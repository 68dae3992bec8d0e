/**
 * What a prompt holds besides text, as the providers bill it: images at a documented per-model maximum,
 * tools with a fixed overhead, and the request fields and tools whose input Warden cannot bound before the
 * request runs (stored context, server-side tools, files). Figures are from the providers' pricing and
 * vision documentation; each is the most one item can cost, whatever its size.
 */

/**
 * The most one image costs an OpenAI model, in input tokens. High detail scales an image to fit 2048×2048
 * and then its short side to 768, so at most 2×4 tiles of 512: gpt-4o-mini bills 2,833 + 5,667 a tile
 * (48,169); gpt-4o, gpt-4.1 and gpt-4.5 85 + 170 a tile (1,445); o1/o3 75 + 150 (1,275); gpt-5 70 + 140
 * (1,190). Patch-billed models cap an image at 1,536 patches times their multiplier: at most 3,779
 * (gpt-4.1-nano, ×2.46). Every model but gpt-4o-mini is reserved 6,000, a margin over all of these.
 */
export function openAiImageMax(model: string): number {
  const m = model.toLowerCase().replace(/^openai\//, '');
  return /^gpt-4o-mini/.test(m) ? 48_200 : 6_000;
}

/**
 * The most one image costs an Anthropic model: (width × height) / 750 after it is scaled to fit its
 * documented maximum (about 1,600 tokens; 4,784 at the largest resolution newer models take).
 */
export const ANTHROPIC_IMAGE_MAX = 5_000;

/**
 * Anthropic adds a system prompt of its own when tools are offered (346 tokens at most, by its
 * documentation): bytes of the request do not cover it.
 */
export const ANTHROPIC_TOOL_PROMPT = 500;

/**
 * Anthropic's client tools with a fixed definition of their own, each billed beyond the request's bytes:
 * computer use 735 tokens plus up to 499 of system prompt, text editor 700, bash 245. Reserved 1,300 each.
 */
const ANTHROPIC_FIXED_TOOL = /^(computer|text_editor|str_replace_editor|str_replace_based_edit_tool|bash)_/;
export const ANTHROPIC_FIXED_TOOL_TOKENS = 1_300;

const HOW =
  'send the context in the request itself, or run this agent without a tokens or USD budget on llm:* tools';

/**
 * Request fields that pull input Warden cannot see into the prompt: stored responses, conversations,
 * prompt templates, web searches and MCP servers, and containers whose files the model may read.
 */
const UNBOUNDED_FIELDS: Readonly<Record<string, string>> = {
  previous_response_id: 'the stored conversation of a previous response',
  conversation: 'the items of a stored conversation',
  prompt: 'a stored prompt template',
  web_search_options: 'the pages of a web search',
  mcp_servers: 'the tools and results of remote MCP servers',
  container: 'the files of a code execution container',
  // Gemini's stored context cache (both JSON spellings the API accepts).
  cachedContent: 'a stored context cache',
  cached_content: 'a stored context cache',
};

/**
 * Gemini's built-in tools, named by a key instead of a `type` (`{ googleSearch: {} }`): Google runs them
 * and bills what they read (search results, fetched pages, code output) as input. Both JSON spellings.
 */
const GEMINI_HOSTED_TOOLS = new Set([
  'googleSearch',
  'google_search',
  'googleSearchRetrieval',
  'google_search_retrieval',
  'urlContext',
  'url_context',
  'codeExecution',
  'code_execution',
  'retrieval',
  'fileSearch',
  'file_search',
  'googleMaps',
  'google_maps',
  'enterpriseWebSearch',
  'enterprise_web_search',
  'computerUse',
  'computer_use',
]);

/** Why a request field makes the input unbounded, or undefined. */
export function unboundedField(body: Readonly<Record<string, unknown>>): string | undefined {
  for (const [field, what] of Object.entries(UNBOUNDED_FIELDS)) {
    const v = body[field];
    if (v !== undefined && v !== null)
      return `field \`${field}\` bills ${what}, which Warden cannot count; ${HOW}`;
  }
  return undefined;
}

/**
 * A tool definition's cost beyond its JSON: 0 for a function (or custom) tool, Anthropic's fixed tool
 * overhead, or why it cannot be bounded (a tool the provider runs, whose results it bills as input).
 */
export function toolCost(tool: unknown): number | string {
  if (typeof tool !== 'object' || tool === null) return 0;
  const type = (tool as { type?: unknown }).type;
  if (type === undefined) {
    const hosted = Object.keys(tool).find((k) => GEMINI_HOSTED_TOOLS.has(k));
    if (hosted === undefined) return 0;
    return `Gemini tool \`${hosted}\` runs at the provider, which bills its results as input Warden cannot count; offer it as a function tool, or ${HOW.replace('send the context in the request itself, or ', '')}`;
  }
  if (type === 'function' || type === 'custom') return 0;
  if (typeof type === 'string' && ANTHROPIC_FIXED_TOOL.test(type)) return ANTHROPIC_FIXED_TOOL_TOKENS;
  return `tool type \`${String(type)}\` runs at the provider, which bills its results as input Warden cannot count; offer it as a function tool, or ${HOW.replace('send the context in the request itself, or ', '')}`;
}

/** Whether a content part is an image (by URL, data URL or file id), in either provider's shape. */
export function isImagePart(part: Readonly<Record<string, unknown>>): boolean {
  return part.type === 'image_url' || part.type === 'input_image' || part.type === 'image';
}

/** Why a content part cannot be bounded (a file, a stored item), or undefined. */
export function unboundedPart(part: Readonly<Record<string, unknown>>): string | undefined {
  if (part.type === 'item_reference')
    return `an \`item_reference\` input bills a stored item Warden cannot count; ${HOW}`;
  if (part.type === 'input_file' || part.type === 'file')
    return `a file input (\`${part.type}\`) bills its pages as text and images Warden cannot count before the call; send its text instead, or run this agent without a tokens or USD budget on llm:* tools`;
  if (part.type === 'document') {
    const source = part.source as { type?: unknown } | undefined;
    if (source?.type !== 'text' && source?.type !== 'content')
      return 'a `document` block (a PDF) bills its pages as text and images Warden cannot count before the call; send its text instead, or run this agent without a tokens or USD budget on llm:* tools';
  }
  return undefined;
}
