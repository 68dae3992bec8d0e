import { describe, expect, it } from 'vitest';
import { LLM_ENDPOINTS } from './llm-endpoints.js';
import { promptTokens } from './prompt-tokens.js';
import { estimateRequest } from './request-estimate.js';
import { billedUsage } from './usage-meter.js';

const endpoint = (name: string) =>
  LLM_ENDPOINTS.find((e) => e.name === name) as (typeof LLM_ENDPOINTS)[number];

describe('estimateRequest', () => {
  const messages = [{ role: 'user', content: 'x'.repeat(400) }];

  it('estimates input from the prompt fields (counted by the model’s tokenizer) and output from the cap', () => {
    const body = { model: 'gpt-4o', messages, temperature: 0.2, metadata: { big: 'y'.repeat(4000) } };
    const e = estimateRequest(body, {
      model: 'gpt-4o',
      maxOutputTokens: 50,
      completions: 2,
      defaultMaxOutput: 999,
    });
    expect(e.inputTokens).toBe(promptTokens('gpt-4o', { messages }));
    expect(e).toMatchObject({ model: 'gpt-4o', outputTokens: 100, maxOutputTokens: 50 });
    const uncapped = estimateRequest(body, {
      model: 'gpt-4o',
      maxOutputTokens: undefined,
      completions: 1,
      defaultMaxOutput: 999,
    });
    expect(uncapped).toMatchObject({ outputTokens: 999, maxOutputTokens: 999 });
  });

  it('hashes model and prompt: the same prompt again is the same call, another prompt or model is not', () => {
    const o = { model: 'm', maxOutputTokens: undefined, completions: 1, defaultMaxOutput: 1 };
    const a = estimateRequest({ system: 's', messages }, o).promptHash;
    expect(estimateRequest({ messages, system: 's', max_tokens: 5 }, o).promptHash).toBe(a);
    expect(estimateRequest({ system: 't', messages }, o).promptHash).not.toBe(a);
    expect(estimateRequest({ system: 's', messages }, { ...o, model: 'n' }).promptHash).not.toBe(a);
  });
});

describe('the endpoints’ request fields', () => {
  it('read each provider’s output cap and completion count', () => {
    const chat = endpoint('chat.completions');
    expect(chat.maxOutputTokens({ max_completion_tokens: 10, max_tokens: 20 })).toBe(10);
    expect(chat.maxOutputTokens({ max_tokens: 20 })).toBe(20);
    expect(chat.maxOutputTokens({ max_tokens: -1 })).toBeUndefined();
    expect(chat.completions({ n: 3 })).toBe(3);
    expect(endpoint('responses').maxOutputTokens({ max_output_tokens: 30, max_tokens: 5 })).toBe(30);
    expect(endpoint('messages').maxOutputTokens({ max_tokens: 40 })).toBe(40);
  });

  it('ask a chat stream for its usage, keeping the client’s other stream options', () => {
    const chat = endpoint('chat.completions');
    const capped = { max_completion_tokens: 9 };
    expect(
      chat.upstreamBody({ ...capped, stream: true, stream_options: { include_obfuscation: false } }, 100),
    ).toEqual({
      ...capped,
      stream: true,
      stream_options: { include_obfuscation: false, include_usage: true },
    });
    expect(chat.upstreamBody({ ...capped, stream: false }, 100)).toEqual({ ...capped, stream: false });
    expect(endpoint('messages').upstreamBody({ max_tokens: 9, stream: true }, 100)).toEqual({
      max_tokens: 9,
      stream: true,
    });
  });

  it('cap the output at the reserved cap when the request sets none, and keep a cap it sets', () => {
    const chat = endpoint('chat.completions');
    expect(chat.upstreamBody({ model: 'm' }, 100)).toEqual({ model: 'm', max_completion_tokens: 100 });
    // null means no limit to OpenAI; the deprecated field is dropped so the two do not conflict.
    expect(chat.upstreamBody({ max_tokens: null, max_completion_tokens: null }, 100)).toEqual({
      max_completion_tokens: 100,
    });
    expect(chat.upstreamBody({ max_tokens: 20 }, 100)).toEqual({ max_tokens: 20 });
    // Both set: only the cap reserved for goes upstream, so the provider cannot go by the other.
    expect(chat.upstreamBody({ max_completion_tokens: 10, max_tokens: 20 }, 100)).toEqual({
      max_completion_tokens: 10,
    });
    expect(chat.upstreamBody({ max_completion_tokens: 10.5, max_tokens: 20 }, 100)).toEqual({
      max_tokens: 20,
    });
    expect(chat.upstreamBody({ max_completion_tokens: 5000 }, 100)).toEqual({ max_completion_tokens: 5000 });
    const responses = endpoint('responses');
    expect(responses.upstreamBody({ input: 'x' }, 100)).toEqual({ input: 'x', max_output_tokens: 100 });
    expect(responses.upstreamBody({ max_output_tokens: 7 }, 100)).toEqual({ max_output_tokens: 7 });
    const messages = endpoint('messages');
    expect(messages.upstreamBody({ messages: [] }, 100)).toEqual({ messages: [], max_tokens: 100 });
    expect(messages.upstreamBody({ max_tokens: 7 }, 100)).toEqual({ max_tokens: 7 });
  });
});

describe('billedUsage', () => {
  const request = { model: 'gpt-4o', inputTokens: 120 };

  it('bills the provider’s final figures as reported', () => {
    const seen = {
      usage: { inputTokens: 90, outputTokens: 7 },
      final: true,
      generatedChars: 400,
      model: 'snap',
    };
    expect(billedUsage(seen, request)).toEqual({
      usage: { model: 'snap', inputTokens: 90, outputTokens: 7 },
      estimated: false,
    });
  });

  it('bills what was generated when the final figures never came', () => {
    expect(
      billedUsage({ usage: undefined, final: false, generatedChars: 41, model: undefined }, request),
    ).toEqual({
      usage: { model: 'gpt-4o', inputTokens: 120, outputTokens: 11 },
      estimated: true,
    });
    const provisional = { usage: { inputTokens: 80, outputTokens: 1, cachedTokens: 8 }, final: false };
    expect(billedUsage({ ...provisional, generatedChars: 8, model: 'snap' }, request).usage).toEqual({
      model: 'snap',
      inputTokens: 80,
      outputTokens: 2,
      cachedTokens: 8,
    });
  });
});
