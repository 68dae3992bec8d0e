import { encodeChat as cl100kChat } from 'gpt-tokenizer/encoding/cl100k_base';
import { encodeChat as o200kChat } from 'gpt-tokenizer/encoding/o200k_base';
import { describe, expect, it } from 'vitest';
import { boundedPromptTokens, openAiTokenizer, promptTokens, TOKENIZE_STRING_MAX } from './prompt-tokens.js';

type Message = { role: 'system' | 'user' | 'assistant'; content: string };

const TEXTS = [
  'What is the capital of France? Answer in one word.',
  'function add(a: number, b: number): number {\n  return a + b;\n}\n'.repeat(40),
  '東京は日本の首都です。大阪は二番目に大きな都市圏です。'.repeat(30),
  'emoji 🧪🚀 and accents: café, naïve, Ångström — “quotes”',
  'a prompt that spells <|endoftext|> and <|im_start|> as plain text',
  'The quick brown fox jumps over the lazy dog. '.repeat(500),
];

/** The chat-format count of OpenAI's published recipe, with the library's own chat encoder. */
const published = (model: string, messages: Message[]) =>
  (model.startsWith('gpt-4o') ? o200kChat : cl100kChat)(messages, model as 'gpt-4o', {
    disallowedSpecial: new Set(),
  }).length;

describe('prompt tokens', () => {
  it('counts OpenAI prompts no lower than the chat format and within a few tokens of it', () => {
    for (const model of ['gpt-4o', 'gpt-4o-mini', 'gpt-4']) {
      for (const text of TEXTS) {
        const messages: Message[] = [
          { role: 'system', content: 'You are terse.' },
          { role: 'user', content: text },
        ];
        const exact = published(model, messages);
        const counted = promptTokens(model, { messages });
        expect(counted, `${model}: ${text.slice(0, 30)}`).toBeGreaterThanOrEqual(exact);
        // A string over the tokenizer's limit is counted as its bytes instead.
        const slack = text.length > TOKENIZE_STRING_MAX ? Buffer.byteLength(text) : 0;
        expect(counted - exact, `${model}: ${text.slice(0, 30)}`).toBeLessThanOrEqual(
          2 * messages.length + 3 + slack,
        );
      }
    }
  });

  it('is far closer than four characters a token where that rule undercounts', () => {
    const text = '東京は日本の首都です。'.repeat(300);
    const messages: Message[] = [{ role: 'user', content: text }];
    const exact = published('gpt-4o', messages);
    expect(Math.ceil(JSON.stringify({ messages }).length / 4)).toBeLessThan(exact);
    expect(promptTokens('gpt-4o', { messages })).toBeGreaterThanOrEqual(exact);
  });

  it('picks the tokenizer by model family, and none for a model whose tokenizer is not public', () => {
    for (const m of ['gpt-4o', 'gpt-4.1-mini', 'gpt-5', 'o3-mini', 'o4-mini', 'chatgpt-4o-latest'])
      expect(openAiTokenizer(m)?.('hello world'), m).toBe(2);
    expect(openAiTokenizer('gpt-4-turbo')).toBeDefined();
    expect(openAiTokenizer('gpt-3.5-turbo')).toBeDefined();
    for (const m of ['claude-sonnet-4-5', 'llama-3.1-70b', 'mistral-large'])
      expect(openAiTokenizer(m)).toBeUndefined();
  });

  it('bounds other models by the UTF-8 bytes of the prompt, plus Anthropic’s tool prompt when tools are offered', () => {
    const prompt = { system: 'Be brief.', messages: [{ role: 'user', content: 'héllo 🧪' }] };
    const bytes = Buffer.byteLength(JSON.stringify(prompt));
    expect(promptTokens('claude-sonnet-4-5', prompt)).toBe(bytes);
    expect(boundedPromptTokens({ ...prompt, tools: [{ name: 't' }] }).tokens).toBeGreaterThanOrEqual(
      bytes + 346,
    );
    // Every byte-level BPE token is at least one byte: bytes bound OpenAI's own count too.
    for (const text of TEXTS) {
      const messages: Message[] = [{ role: 'user', content: text }];
      expect(boundedPromptTokens({ messages }).tokens).toBeGreaterThanOrEqual(published('gpt-4o', messages));
    }
  });

  it('counts a long unbroken run (quadratic for BPE) as its bytes: still no lower than exact', () => {
    for (const text of ['a'.repeat(3_000), `${' '.repeat(3_000)}x`, `${'!'.repeat(3_000)}`]) {
      const messages: Message[] = [{ role: 'user', content: text }];
      const counted = promptTokens('gpt-4o', { messages });
      expect(counted).toBeGreaterThanOrEqual(published('gpt-4o', messages));
      expect(counted).toBeLessThanOrEqual(Buffer.byteLength(text) + 16);
    }
    // 100,000 letters: 12,500 tokens exactly (half a minute to find out), counted here as their bytes.
    const long = promptTokens('gpt-4o', { messages: [{ role: 'user', content: 'a'.repeat(100_000) }] });
    expect(long).toBeGreaterThanOrEqual(12_500);
  });
});
