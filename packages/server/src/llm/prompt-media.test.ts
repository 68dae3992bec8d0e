import { encodeChat } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { ANTHROPIC_FIXED_TOOL_TOKENS, ANTHROPIC_IMAGE_MAX, openAiImageMax } from './prompt-media.js';
import {
  openAiPromptTokens,
  openAiTokenizer,
  TOKENIZE_REQUEST_MAX,
  TOKENIZE_STRING_MAX,
} from './prompt-tokens.js';
import { estimateRequest } from './request-estimate.js';

const o = (model: string) => ({ model, maxOutputTokens: 100, completions: 1, defaultMaxOutput: 100 });
const estimate = (body: Record<string, unknown>) => estimateRequest(body, o(body.model as string));
const MB = 1024 * 1024;

describe('the tokenizer’s work per request is capped', () => {
  it('counts a multi-MB data URL as an image and long strings by their bytes, never tokenizing them', () => {
    const seen: number[] = [];
    const o200k = openAiTokenizer('gpt-4o') as (t: string) => number;
    const spy = (t: string) => {
      seen.push(t.length);
      return o200k(t);
    };
    const image = `data:image/png;base64,${'iVBORw0KGgo'.repeat((4 * MB) / 11)}`;
    const audio = 'UklGRiQAAABXQVZF'.repeat(MB / 16);
    const pasted = 'The quick brown fox jumps over the lazy dog. '.repeat(2_000);
    const prompt = {
      messages: [
        { role: 'user', content: [{ type: 'image_url', image_url: { url: image } }] },
        { role: 'user', content: [{ type: 'text', text: image }] },
        { role: 'user', content: [{ type: 'input_audio', input_audio: { data: audio, format: 'wav' } }] },
        { role: 'user', content: pasted },
        ...Array.from({ length: 40 }, (_, i) => ({ role: 'user', content: `${i} ${'word '.repeat(2_000)}` })),
      ],
    };
    const counted = openAiPromptTokens(prompt, spy, openAiImageMax('gpt-4o')).tokens;
    // Nothing long reached the tokenizer, and all it was given is within the request's allowance.
    expect(Math.max(...seen)).toBeLessThanOrEqual(TOKENIZE_STRING_MAX);
    expect(seen.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(TOKENIZE_REQUEST_MAX);
    // Still an upper bound: the image at the maximum, the data URL sent as text and the audio at their
    // bytes, every other text no lower than exact.
    const texts = prompt.messages.slice(3) as { role: 'user'; content: string }[];
    const exact = encodeChat(texts, 'gpt-4o', { disallowedSpecial: new Set() }).length;
    expect(counted).toBeGreaterThanOrEqual(openAiImageMax('gpt-4o') + image.length + audio.length + exact);
  });
});

describe('request shapes billed beyond their text', () => {
  const messages = [{ role: 'user', content: 'Describe it.' }];

  it('reserves an image by URL or file id at the model’s maximum, not as its few characters', () => {
    const url = { type: 'image_url', image_url: { url: 'https://example.com/cat.png', detail: 'high' } };
    const plain = estimate({ model: 'gpt-4o-mini', messages }).inputTokens;
    const withImage = estimate({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe it.' }, url] }],
    }).inputTokens;
    // gpt-4o-mini bills up to 2,833 + 8 × 5,667 for one high-detail image.
    expect(withImage - plain).toBeGreaterThanOrEqual(48_169);
    const byId = estimate({
      model: 'gpt-4.1',
      input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file-abc' }] }],
    });
    expect(byId.inputTokens).toBeGreaterThanOrEqual(1_445);
    expect(byId.unbounded).toBeUndefined();
    const claude = estimate({
      model: 'claude-sonnet-4-5',
      messages: [
        { role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://x/y.png' } }] },
      ],
    });
    expect(claude.inputTokens).toBeGreaterThanOrEqual(ANTHROPIC_IMAGE_MAX);
  });

  it('counts response_format, text.format and the prediction', () => {
    const schema = {
      type: 'object',
      properties: { summary: { type: 'string', description: 'x'.repeat(2_000) } },
    };
    const plain = estimate({ model: 'gpt-4o', messages });
    const formatted = estimate({
      model: 'gpt-4o',
      messages,
      response_format: { type: 'json_schema', json_schema: { name: 's', schema } },
    });
    expect(formatted.inputTokens - plain.inputTokens).toBeGreaterThanOrEqual(250);
    const text = estimate({
      model: 'gpt-4o',
      input: 'hi',
      text: { format: { type: 'json_schema', schema } },
    });
    expect(text.inputTokens - estimate({ model: 'gpt-4o', input: 'hi' }).inputTokens).toBeGreaterThanOrEqual(
      250,
    );
    const predicted = estimate({
      model: 'gpt-4o',
      messages,
      prediction: { type: 'content', content: 'y '.repeat(500) },
    });
    expect(predicted.outputTokens - plain.outputTokens).toBeGreaterThanOrEqual(500);
  });

  it('adds Anthropic’s fixed definition of computer use, text editor and bash tools', () => {
    const base = { model: 'claude-sonnet-4-5', messages, tools: [{ name: 'f', input_schema: {} }] };
    const withComputer = estimate({
      ...base,
      tools: [...base.tools, { type: 'computer_20250124', name: 'computer', display_width_px: 1024 }],
    });
    expect(withComputer.inputTokens - estimate(base).inputTokens).toBeGreaterThanOrEqual(
      ANTHROPIC_FIXED_TOOL_TOKENS,
    );
    expect(withComputer.unbounded).toBeUndefined();
  });

  it('names the field of a request whose input cannot be bounded', () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ model: 'gpt-4o', input: 'go on', previous_response_id: 'resp_1' }, 'previous_response_id'],
      [{ model: 'gpt-4o', input: 'go on', conversation: 'conv_1' }, 'conversation'],
      [{ model: 'gpt-4o', prompt: { id: 'pmpt_1' } }, 'prompt'],
      [{ model: 'gpt-4o-search-preview', messages, web_search_options: {} }, 'web_search_options'],
      [{ model: 'gpt-4o', input: [{ type: 'item_reference', id: 'msg_1' }] }, 'item_reference'],
      [{ model: 'gpt-4o', input: 'news?', tools: [{ type: 'web_search' }] }, 'web_search'],
      [
        { model: 'gpt-4o', input: 'q', tools: [{ type: 'file_search', vector_store_ids: ['v'] }] },
        'file_search',
      ],
      [
        { model: 'gpt-4o', input: 'q', tools: [{ type: 'code_interpreter', container: { type: 'auto' } }] },
        'code_interpreter',
      ],
      [{ model: 'gpt-4o', input: 'q', tools: [{ type: 'mcp', server_url: 'https://m' }] }, 'mcp'],
      [
        { model: 'gpt-4o', input: [{ role: 'user', content: [{ type: 'input_file', file_id: 'file-1' }] }] },
        'input_file',
      ],
      [
        {
          model: 'claude-sonnet-4-5',
          messages,
          tools: [{ type: 'web_search_20250305', name: 'web_search' }],
        },
        'web_search_20250305',
      ],
      [
        { model: 'claude-sonnet-4-5', messages, tools: [{ type: 'web_fetch_20250910', name: 'web_fetch' }] },
        'web_fetch_20250910',
      ],
      [
        { model: 'claude-sonnet-4-5', messages, mcp_servers: [{ type: 'url', url: 'https://m' }] },
        'mcp_servers',
      ],
      [{ model: 'claude-sonnet-4-5', messages, container: 'cntr_1' }, 'container'],
    ];
    for (const [body, field] of cases) expect(estimate(body).unbounded, field).toContain(field);
    expect(
      estimate({ model: 'gpt-4o', messages, tools: [{ type: 'function', function: { name: 'f' } }] })
        .unbounded,
    ).toBeUndefined();
  });
  it('Gemini’s built-in tools (named by key, without a type) and its context cache are unbounded', () => {
    const contents = [{ role: 'user', parts: [{ text: 'what is new?' }] }];
    const gemini = (extra: Record<string, unknown>) =>
      estimate({ model: 'gemini-2.5-pro', contents, ...extra });
    for (const key of [
      'googleSearch',
      'urlContext',
      'codeExecution',
      'googleSearchRetrieval',
      'google_search',
    ])
      expect(gemini({ tools: [{ [key]: {} }] }).unbounded, key).toContain(key);
    expect(gemini({ cachedContent: 'cachedContents/abc' }).unbounded).toContain('cachedContent');
    // Function declarations are counted as their JSON, bounded.
    expect(
      gemini({ tools: [{ functionDeclarations: [{ name: 'run_shell_command', description: 'x' }] }] })
        .unbounded,
    ).toBeUndefined();
    expect(gemini({}).unbounded).toBeUndefined();
  });
});
