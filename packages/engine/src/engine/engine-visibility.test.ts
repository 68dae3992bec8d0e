import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { testEngine, testPolicy } from '../../test-support/engine-fixtures.js';
import { DIALECTS, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import type { Engine } from './engine.js';

const POLICY = `
name: visibility
agents:
  bot:
    rules:
      - { id: reads, effect: allow, tools: ["fs.read"] }
      - { id: writes, effect: review, tools: ["fs.write"] }
      - { id: no-moves, effect: block, tools: ["fs.move"] }
`;

/** What an MCP gateway lists: the policy's reach, plus what a grant lifts — only where no rule speaks. */
describe.each(DIALECTS)('engine.visibleTools (%s)', (dialect) => {
  let fx: StoreFixture;
  let engine: Engine;
  beforeEach(async () => {
    fx = await freshStore(dialect);
    engine = await testEngine(fx, { policy: testPolicy(POLICY) });
  });
  afterEach(async () => {
    await engine?.close();
    await fx?.dispose();
  });
  const tools = ['fs.read', 'fs.write', 'fs.move', 'fs.chmod', 'fs.delete'];
  const lee = { kind: 'human' as const, id: 'lee' };

  it('shows what the policy could allow or review; hides blocked and unnamed tools', async () => {
    expect(await engine.visibleTools('bot', tools)).toEqual(['fs.read', 'fs.write']);
    expect(await engine.visibleTools('stranger', tools)).toEqual([]);
  });

  it('a grant lifts only tools no rule names: a block rule keeps its tool hidden', async () => {
    await engine.grants.add({ agent: 'bot', tool: 'fs.*', ttl: '1h', reason: 'migration' }, lee);
    expect(await engine.visibleTools('bot', tools)).toEqual(['fs.read', 'fs.write', 'fs.chmod', 'fs.delete']);
    const moved = await engine.check({ agent: 'bot', tool: 'fs.move', session: 's1' });
    expect(moved.effect).toBe('block');
  });

  it('a session grant shows its tools in that session only', async () => {
    await engine.grants.add({ agent: 'bot', tool: 'fs.chmod', session: 'task-1', reason: 'fix modes' }, lee);
    expect(await engine.visibleTools('bot', tools, 'task-1')).toContain('fs.chmod');
    expect(await engine.visibleTools('bot', tools, 'task-2')).not.toContain('fs.chmod');
  });
});
