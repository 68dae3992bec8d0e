/**
 * A stand-in for OpenAI's Chat Completions (non-streamed) that bills as OpenAI does: prompt_tokens is the
 * o200k_base count of the messages in the chat format (the tokenizer library's own chat encoder),
 * completion_tokens what it generated, which is the request's whole output cap (1,000 without one), as a model
 * that runs on until it is stopped. `billed()` is the sum of every usage it reported.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { encodeChat } from 'gpt-tokenizer/encoding/o200k_base';

export type ChatMessage = { role: 'system' | 'user' | 'assistant'; content: string };

export interface BillingUpstream {
  readonly server: Server;
  readonly url: string;
  billed(): number;
}

/** Starts it on a free port of 127.0.0.1. */
export function startBillingUpstream(): Promise<BillingUpstream> {
  let billed = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
        model: string;
        messages: ChatMessage[];
        max_completion_tokens?: number;
        max_tokens?: number;
      };
      const cap = body.max_completion_tokens ?? body.max_tokens ?? Number.POSITIVE_INFINITY;
      const prompt = encodeChat(body.messages, 'gpt-4o', { disallowedSpecial: new Set() }).length;
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
      resolve({ server, url: `http://127.0.0.1:${port}`, billed: () => billed });
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
