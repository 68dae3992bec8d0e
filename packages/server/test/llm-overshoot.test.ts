/**
 * No token overshoot through the LLM metering proxy for OpenAI models: two real `warden serve` processes
 * on one PostgreSQL database take 64 concurrent Chat Completions requests of one session, from the
 * official OpenAI client, against a stand-in upstream that bills as OpenAI does: the prompt as OpenAI's
 * tokenizer counts it in the chat format, and up to the request's output cap. The session's tokens
 * budget ends at or under its limit. Needs the built CLI (`npm run build`).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestDatabase } from '../../engine/test-support/postgres-server.js';
import {
  type BillingUpstream,
  promptOf,
  startBillingUpstream,
} from '../test-support/billing-llm-upstream.js';
import { eventually } from '../test-support/eventually.js';
import { api, BIN, killAll, type Served, spawnServe } from '../test-support/serve-process.js';

const LIMIT = 20_000;
const POLICY = `
name: llm overshoot
defaults:
  breakers: { repeat: false, pingPong: false, rate: false, tokenBurn: false }
agents:
  chatter:
    rules:
      - { id: chatter-llm, effect: allow, tools: ['llm:*'] }
    budgets:
      - { id: llm-session-tokens, metric: tokens, limit: ${LIMIT}, scope: session, window: session, tools: ['llm:*'] }
`;

describe('LLM proxy: 64 concurrent requests on two instances never overshoot a tokens budget', () => {
  const adminKey = `wdn_${randomBytes(32).toString('base64url')}`;
  let dir: string;
  let upstream: BillingUpstream;
  let servers: Served[];
  let agentKey: string;

  beforeAll(async () => {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run \`npm run build\` first`);
    upstream = await startBillingUpstream();
    dir = mkdtempSync(join(tmpdir(), 'warden-llm-race-'));
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
    const db = await createTestDatabase(inject('postgresUrl'), 'llmrace');
    const args = ['--db', db, '--port', '0', '--keys', join(dir, 'keys.json')];
    const env = {
      WARDEN_ADMIN_KEY: adminKey,
      WARDEN_CONFIG: join(dir, 'warden.yaml'),
      WARDEN_LOG_LEVEL: 'warn',
    };
    servers = await Promise.all([spawnServe(args, env), spawnServe(args, env)]);
    const made = await api<{ secret: string }>(servers[0]?.url as string, 'POST', '/v1/keys', {
      key: adminKey,
      body: { principalKind: 'agent', principal: 'chatter', role: 'agent' },
    });
    expect(made.status).toBe(201);
    agentKey = made.body.secret;
  }, 90_000);

  afterAll(async () => {
    killAll();
    await new Promise((r) => upstream?.server.close(r));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('settles every admitted request with used ≤ limit', async () => {
    const session = 'llm-race';
    const clients = servers.map(
      (s) =>
        new OpenAI({
          apiKey: agentKey,
          baseURL: `${s.url}/llm/openai/v1`,
          maxRetries: 0,
          defaultHeaders: { 'Warden-Session': session },
        }),
    );
    const outcomes = await Promise.allSettled(
      Array.from({ length: 64 }, (_, i) =>
        (clients[i % 2] as OpenAI).chat.completions.create({
          model: 'gpt-4o-mini',
          messages: promptOf(i),
          max_completion_tokens: 400,
        }),
      ),
    );
    const admitted = outcomes.filter((o) => o.status === 'fulfilled').length;
    const refused = outcomes.filter(
      (o) => o.status === 'rejected' && (o.reason as { code?: string }).code === 'BUDGET_EXCEEDED',
    ).length;
    // A real race: some requests admitted, the rest refused by the budget (none failed otherwise).
    expect(admitted).toBeGreaterThan(0);
    expect(admitted + refused).toBe(64);
    // The proxy settles after it answers: every reservation settled, read from the other instance.
    const line = await eventually('every reservation settled', async () => {
      const r = await api<{ budgets: { used: number; reserved: number; limit: number }[] }>(
        servers[1]?.url as string,
        'GET',
        `/v1/budgets?session=${session}`,
        { key: adminKey },
      );
      const [l] = r.body.budgets;
      return l?.reserved === 0 ? l : undefined;
    });
    // What the upstream billed is what Warden counted, and it stayed within the limit.
    expect(line).toMatchObject({ used: upstream.billed(), reserved: 0, limit: LIMIT });
    expect(line?.used).toBeLessThanOrEqual(LIMIT);
    console.info(`proxy overshoot: used ${line?.used} of ${LIMIT} tokens, ${admitted} of 64 admitted`);
  }, 120_000);
});
