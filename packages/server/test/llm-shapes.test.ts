/**
 * Request shapes the provider bills beyond their text, through a real `warden serve` process with the
 * official OpenAI client, against a stand-in upstream that bills images, structured-output schemas and
 * tools at OpenAI's documented prices: what was billed stays within a tokens budget, a multi-megabyte
 * data URL is answered (counted by rule, not by the tokenizer), and a shape whose input cannot be bounded
 * is refused before it reaches the provider. Needs the built CLI (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BillingUpstream, startBillingUpstream } from '../test-support/billing-llm-upstream.js';
import { eventually } from '../test-support/eventually.js';
import { api, BIN, killAll, type Served, spawnServe } from '../test-support/serve-process.js';

const LIMIT = 200_000;
const POLICY = `
name: llm shapes
defaults:
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
agents:
  chatter:
    rules:
      - { id: chatter-llm, effect: allow, tools: ['llm:*'] }
    budgets:
      - { id: llm-session-tokens, metric: tokens, limit: ${LIMIT}, scope: session, window: session, tools: ['llm:*'] }
`;

const SCHEMA = {
  name: 'summary',
  schema: {
    type: 'object',
    properties: Object.fromEntries(
      Array.from({ length: 30 }, (_, i) => [
        `field_${i}`,
        { type: 'string', description: `the ${i}th fact` },
      ]),
    ),
  },
};
const TOOLS = Array.from({ length: 8 }, (_, i) => ({
  type: 'function' as const,
  function: {
    name: `lookup_${i}`,
    description: 'Looks up a record by its id and returns every field of it. '.repeat(4),
    parameters: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] },
  },
}));

describe('LLM proxy: shapes billed beyond their text stay within a tokens budget', () => {
  const adminKey = `wdn_${randomBytes(32).toString('base64url')}`;
  let dir: string;
  let upstream: BillingUpstream;
  let served: Served;
  let client: (session: string) => OpenAI;

  beforeAll(async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
    upstream = await startBillingUpstream();
    dir = mkdtempSync(join(tmpdir(), 'warden-llm-shapes-'));
    writeFileSync(join(dir, 'policy.yaml'), POLICY);
    writeFileSync(
      join(dir, 'warden.yaml'),
      [
        `policy: ${join(dir, 'policy.yaml')}`,
        'llm:',
        '  openai:',
        `    baseUrl: ${upstream.url}`,
        '    apiKey: sk-upstream-openai-0123456789',
      ].join('\n'),
    );
    const args = ['--db', join(dir, 'warden.db'), '--port', '0', '--keys', join(dir, 'keys.json')];
    served = await spawnServe(args, {
      WARDEN_ADMIN_KEY: adminKey,
      WARDEN_CONFIG: join(dir, 'warden.yaml'),
      WARDEN_LOG_LEVEL: 'warn',
    });
    const made = await api<{ secret: string }>(served.url, 'POST', '/v1/keys', {
      key: adminKey,
      body: { principalKind: 'agent', principal: 'chatter', role: 'agent' },
    });
    expect(made.status).toBe(201);
    const agentKey = made.body.secret;
    client = (session) =>
      new OpenAI({
        apiKey: agentKey,
        baseURL: `${served.url}/llm/openai/v1`,
        maxRetries: 0,
        defaultHeaders: { 'Warden-Session': session },
      });
  }, 90_000);

  afterAll(async () => {
    killAll();
    await new Promise((r) => upstream?.server.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const budgetLine = async (session: string) => {
    const r = await api<{ budgets: { used: number; reserved: number; limit: number }[] }>(
      served.url,
      'GET',
      `/v1/budgets?session=${session}`,
      { key: adminKey },
    );
    return r.body.budgets[0];
  };

  it('settles images (a multi-MB data URL among them), schemas and tools with billed ≤ limit', async () => {
    const session = 'llm-shapes';
    const openai = client(session);
    const before = upstream.billed();
    // 3 MB of base64: the tokenizer would take seconds on it; it is one image at the model's maximum.
    const dataUrl = `data:image/png;base64,${randomBytes(2_300_000).toString('base64')}`;
    const requests = Array.from({ length: 12 }, (_, i) =>
      openai.chat.completions.create({
        model: i % 2 === 0 ? 'gpt-4o-mini' : 'gpt-4o',
        max_completion_tokens: 200,
        messages: [
          { role: 'system', content: 'You are a careful assistant.' },
          {
            role: 'user',
            content: [
              { type: 'text', text: 'What is in this picture?' },
              { type: 'image_url', image_url: { url: i === 0 ? dataUrl : `https://example.com/${i}.png` } },
            ],
          },
        ],
        ...(i % 3 === 0 ? { response_format: { type: 'json_schema' as const, json_schema: SCHEMA } } : {}),
        ...(i % 3 === 1 ? { tools: TOOLS } : {}),
      }),
    );
    const outcomes = await Promise.allSettled(requests);
    const admitted = outcomes.filter((o) => o.status === 'fulfilled').length;
    const refused = outcomes.filter(
      (o) => o.status === 'rejected' && (o.reason as { code?: string }).code === 'BUDGET_EXCEEDED',
    ).length;
    expect(admitted).toBeGreaterThan(0);
    expect(admitted + refused).toBe(12);
    // The proxy settles after it answers: wait until nothing is reserved any more.
    const line = await eventually('every reservation settled', async () => {
      const l = await budgetLine(session);
      return l?.reserved === 0 ? l : undefined;
    });
    expect(line).toMatchObject({ used: upstream.billed() - before, reserved: 0, limit: LIMIT });
    expect(line?.used).toBeLessThanOrEqual(LIMIT);
    console.info(`proxy shapes: used ${line?.used} of ${LIMIT} tokens, ${admitted} of 12 admitted`);
  }, 120_000);

  it('refuses, before the provider, a request whose input Warden cannot bound', async () => {
    const openai = client('llm-unbounded');
    const asked = upstream.requests();
    const refusals = await Promise.allSettled([
      openai.responses.create({ model: 'gpt-4o', input: 'and then?', previous_response_id: 'resp_123' }),
      openai.responses.create({ model: 'gpt-4o', input: 'news?', tools: [{ type: 'web_search' }] }),
      openai.chat.completions.create({
        model: 'gpt-4o-search-preview',
        messages: [{ role: 'user', content: 'news?' }],
        web_search_options: {},
      }),
    ]);
    const fields = ['previous_response_id', 'web_search', 'web_search_options'];
    refusals.forEach((r, i) => {
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason as { status?: number; code?: string; message: string };
      expect(e).toMatchObject({ status: 400, code: 'ESTIMATE_UNBOUNDED' });
      expect(e.message).toContain(fields[i]);
      expect(e.message).toContain('without a tokens or USD budget');
    });
    expect(upstream.requests()).toBe(asked);
    const line = await budgetLine('llm-unbounded');
    expect([line?.used ?? 0, line?.reserved ?? 0]).toEqual([0, 0]);
  }, 60_000);
});
