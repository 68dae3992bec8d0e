/**
 * A stand-in for OpenAI's Chat Completions (non-streamed) that bills as OpenAI does: prompt_tokens is the
 * o200k_base count of the messages' text in the chat format (the tokenizer library's own chat encoder),
 * plus each image at OpenAI's documented price (it does not decode images, so each is taken at the largest
 * high-detail size, 2×4 tiles: gpt-4o-mini 2,833 + 8 × 5,667, gpt-4o 85 + 8 × 170; low detail the base
 * alone), plus the structured-output schema and tool definitions as OpenAI renders them into the prompt
 * (taken here as their JSON's tokens plus a framing of 12 a tool and 8 for a schema), completion_tokens
 * what it generated, which is the request's whole output cap (1,000 without one), as a model that runs on
 * until it is stopped. `billed()` is the sum of every usage it reported; `requests()` how many it answered.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { countTokens, encodeChat } from 'gpt-tokenizer/encoding/o200k_base';

export type ChatMessage = { role: 'system' | 'user' | 'assistant'; content: string };

type Part = { type: string; text?: string; image_url?: { url: string; detail?: string } };
type AnyMessage = { role: 'system' | 'user' | 'assistant'; content: string | Part[] };

/** OpenAI's documented image prices: a base and a price per 512-pixel tile. */
const IMAGE_PRICE = (model: string) => (model.startsWith('gpt-4o-mini') ? [2_833, 5_667] : [85, 170]);

const tokens = (v: unknown) => countTokens(JSON.stringify(v), { disallowedSpecial: new Set() });

/** Prompt tokens as OpenAI bills them: text in the chat format, images, schema and tools. */
function promptBilled(body: {
  model: string;
  messages: AnyMessage[];
  response_format?: { json_schema?: unknown };
  tools?: unknown[];
}): number {
  const [base, tile] = IMAGE_PRICE(body.model) as [number, number];
  let images = 0;
  const text = body.messages.map((m) => {
    if (typeof m.content === 'string') return { role: m.role, content: m.content };
    const parts: string[] = [];
    for (const p of m.content) {
      if (p.type === 'text') parts.push(p.text ?? '');
      else if (p.type === 'image_url') images += p.image_url?.detail === 'low' ? base : base + 8 * tile;
    }
    return { role: m.role, content: parts.join('') };
  });
  const chat = encodeChat(text, 'gpt-4o', { disallowedSpecial: new Set() }).length;
  const schema = body.response_format?.json_schema ? tokens(body.response_format.json_schema) + 8 : 0;
  const tools = (body.tools ?? []).reduce((n: number, t) => n + tokens(t) + 12, 0);
  return chat + images + schema + tools;
}

export interface BillingUpstream {
  readonly server: Server;
  readonly url: string;
  billed(): number;
  requests(): number;
}

/** Starts it on a free port of 127.0.0.1. */
export function startBillingUpstream(): Promise<BillingUpstream> {
  let billed = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests++;
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Parameters<
        typeof promptBilled
      >[0] & {
        max_completion_tokens?: number;
        max_tokens?: number;
      };
      const cap = body.max_completion_tokens ?? body.max_tokens ?? Number.POSITIVE_INFINITY;
      const prompt = promptBilled(body);
      // The whole cap, as a model that runs on until it is stopped (1,000 tokens when nothing stops it).
      const completion = Math.min(cap, 1_000);
      billed += prompt + completion;
      const answer = {
        id: `chatcmpl-${randomBytes(6).toString('hex')}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: `${body.model}-2024-08-06`,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: 'word '.repeat(completion).trim(), refusal: null },
            finish_reason: 'length',
            logprobs: null,
          },
        ],
        usage: { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion },
      };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(answer));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({ server, url: `http://127.0.0.1:${port}`, billed: () => billed, requests: () => requests });
    }),
  );
}

/** Prompts of every kind: English, code, and Japanese (where four characters a token counts far too few). */
export function promptOf(i: number): ChatMessage[] {
  const texts = [
    'Summarise the following notes for a busy reader. '.repeat(20 + (i % 7) * 5),
    'const total = items.reduce((sum, item) => sum + item.price * item.qty, 0);\n'.repeat(10 + (i % 5) * 4),
    '東京は日本の首都であり、世界でも有数の大都市です。'.repeat(15 + (i % 6) * 6),
  ];
  return [
    { role: 'system', content: 'You are a careful assistant.' },
    { role: 'user', content: texts[i % texts.length] as string },
  ];
}
