import { AUDIT_EVENT_TYPES, EventStreamQuerySchema } from '@warden/api';
import { WardenError } from '@warden/core';
import { defineRoute, STREAMED } from '../http/route-spec.js';
import { SseStream } from '../live/sse-stream.js';

const TYPE_SET = new Set<string>(AUDIT_EVENT_TYPES);

export const eventRoutes = [
  defineRoute({
    method: 'GET',
    url: '/v1/events',
    tag: 'events',
    summary:
      "Server-Sent Events: each audit event as it is written (by any instance), filtered; resumable with Last-Event-ID. An agent key streams only its own agent's events (e.g. to hear its approvals decided).",
    roles: ['approver', 'admin', 'auditor', 'agent'],
    query: EventStreamQuerySchema,
    response: { status: 200, stream: 'text/event-stream' },
    errors: ['RATE_LIMITED', 'AGENT_MISMATCH'],
    async handler({ query, principal, ctx, request, reply }) {
      if (principal.role === 'agent' && query.agent !== undefined && query.agent !== principal.id) {
        throw new WardenError(
          'AGENT_MISMATCH',
          `this key belongs to agent ${principal.id}; it sees only its own events`,
        );
      }
      // An agent hears about its own calls and approvals only, whatever it asks for.
      const agent = principal.role === 'agent' ? principal.id : query.agent;
      const types = query.type ? parseTypes(query.type) : undefined;
      const header = request.headers['last-event-id'];
      const fromHeader = typeof header === 'string' && header !== '' ? parseSeq(header) : undefined;
      // One key (a runaway agent) cannot take every stream slot from the people watching.
      if (ctx.sse.countKey(principal.keyId) >= ctx.config.maxSsePerKey) {
        throw new WardenError(
          'RATE_LIMITED',
          `this key already has ${ctx.config.maxSsePerKey} live streams open`,
          {
            retryAfterSeconds: 5,
          },
        );
      }
      if (ctx.sse.size >= ctx.config.maxSseConnections) {
        throw new WardenError('RATE_LIMITED', `this instance already serves ${ctx.sse.size} live streams`, {
          retryAfterSeconds: 5,
        });
      }
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        'x-accel-buffering': 'no',
      });
      const stream = new SseStream(raw, {
        principal,
        filter: {
          ...(types ? { types } : {}),
          ...(agent ? { agent } : {}),
          ...(query.session ? { session: query.session } : {}),
          ...(query.tool ? { tool: query.tool } : {}),
          ...(query.decision ? { decision: query.decision } : {}),
        },
        onClose: (s) => ctx.sse.remove(s),
      });
      ctx.sse.add(stream);
      // A stream opened with the dashboard's sign-in ends when the sign-in does, like any request would.
      if (principal.sessionExpiresAt) {
        const timer = setTimeout(
          () => stream.close('the dashboard sign-in has expired; sign in again', 'UNAUTHENTICATED'),
          Math.max(0, Date.parse(principal.sessionExpiresAt) - Date.now()),
        );
        timer.unref();
        raw.once('close', () => clearTimeout(timer));
      } else if (principal.issuer && principal.expiresAt) {
        // A person's access token (wdp1 bearer) ends at its expiry too: the stream with it.
        const timer = setTimeout(
          () => stream.close('the access token has expired; refresh it', 'UNAUTHENTICATED'),
          Math.max(0, Date.parse(principal.expiresAt) - Date.now()),
        );
        timer.unref();
        raw.once('close', () => clearTimeout(timer));
      }
      await stream.start(ctx.hub, ctx.engine.store, fromHeader ?? query.lastEventId, () =>
        ctx.auth.stillValid(principal.keyId),
      );
      return STREAMED;
    },
  }),
];

function parseTypes(text: string): Set<string> {
  const types = text
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  const unknown = types.filter((t) => !TYPE_SET.has(t));
  if (unknown.length > 0) {
    throw new WardenError('REQUEST_INVALID', `unknown event type(s): ${unknown.join(', ')}`, {
      problems: unknown.map((t) => `type: ${t} is not an event type`),
      known: AUDIT_EVENT_TYPES,
    });
  }
  return new Set(types);
}

function parseSeq(text: string): number {
  if (!/^\d{1,15}$/.test(text)) {
    throw new WardenError(
      'REQUEST_INVALID',
      `Last-Event-ID must be an event seq, got ${JSON.stringify(text.slice(0, 40))}`,
      {
        problems: ['Last-Event-ID: not a seq'],
      },
    );
  }
  return Number(text);
}
