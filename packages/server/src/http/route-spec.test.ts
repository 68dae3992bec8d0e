/**
 * A route's handler is checked against its response schema when the server is compiled: these cases are
 * type-checked by `npm run typecheck` (the root tsconfig includes this file), where each
 * `@ts-expect-error` fails the build if the wrong answer it marks were ever accepted. At run time they only
 * show that defineRoute hands the spec through untouched.
 */
import { HealthSchema, SessionSchema } from '@warden/api';
import { describe, expect, it } from 'vitest';
import { defineRoute, STREAMED } from './route-spec.js';

const base = { method: 'GET', url: '/x', tag: 'test', summary: 'a test route', roles: 'public' } as const;
const session = {
  id: 'sess-1',
  agent: 'support-bot',
  state: 'active',
  stateReason: null,
  triggeredBy: null,
  delegationChain: [],
  createdAt: '2026-12-07T00:00:00.000Z',
  updatedAt: '2026-12-07T00:00:00.000Z',
} as const;

describe('defineRoute checks what a handler returns against its response schema', () => {
  it('accepts a handler whose answer has the schema’s shape', async () => {
    const route = defineRoute({
      ...base,
      response: { status: 200, schema: HealthSchema },
      handler: async () => ({ status: 'ok' as const }),
    });
    expect(route.response.schema).toBe(HealthSchema);
    const readOnly = defineRoute({
      ...base,
      response: { status: 200, schema: SessionSchema },
      // A read-only record (the engine's) is a valid answer: the wire type is deeply read-only.
      handler: async (): Promise<Readonly<typeof session>> => session,
    });
    expect(await readOnly.handler({} as never)).toBe(session);
  });

  it('rejects, when compiled, an answer of the wrong shape', () => {
    const specs = [
      defineRoute({
        ...base,
        response: { status: 200, schema: HealthSchema },
        // @ts-expect-error: `status` must be the literal 'ok' the schema says.
        handler: async () => ({ status: 'fine' }),
      }),
      defineRoute({
        ...base,
        response: { status: 200, schema: SessionSchema },
        // @ts-expect-error: a session without its state and timestamps is not a Session.
        handler: async () => ({ id: 'sess-1', agent: 'support-bot' }),
      }),
      defineRoute({
        ...base,
        response: { status: 200, schema: SessionSchema },
        // @ts-expect-error: `state` is one of the session states, not any string.
        handler: async () => ({ ...session, state: 'sleeping' }),
      }),
      defineRoute({
        ...base,
        response: { status: 200, stream: 'text/plain' },
        // @ts-expect-error: a streamed route writes the reply itself and returns STREAMED (or the reply).
        handler: async () => ({ status: 'ok' as const }),
      }),
      defineRoute({
        ...base,
        response: { status: 204 },
        // @ts-expect-error: a 204 has no body.
        handler: async () => ({ status: 'ok' as const }),
      }),
    ];
    expect(specs).toHaveLength(5);
  });

  it('lets a streamed route return STREAMED and a 204 return null', () => {
    const streamed = defineRoute({
      ...base,
      response: { status: 200, stream: 'text/plain' },
      handler: async () => STREAMED,
    });
    const empty = defineRoute({ ...base, response: { status: 204 }, handler: async () => null });
    expect(streamed.response.stream).toBe('text/plain');
    expect(empty.response.status).toBe(204);
  });
});
