import { HealthSchema, ReadinessSchema } from '@warden/api';
import { defineRoute, STREAMED } from '../http/route-spec.js';

export const systemRoutes = [
  defineRoute({
    method: 'GET',
    url: '/healthz',
    tag: 'system',
    summary: 'Liveness: the process is up and serving.',
    roles: 'public',
    response: { status: 200, schema: HealthSchema },
    handler: async () => ({ status: 'ok' as const }),
  }),
  defineRoute({
    method: 'GET',
    url: '/readyz',
    tag: 'system',
    summary: 'Readiness: the store answers and a policy is loaded. 503 names what is not ready.',
    roles: 'public',
    response: { status: 200, schema: ReadinessSchema },
    async handler({ ctx, reply }) {
      const checks: Record<string, string> = { policy: `ok ${ctx.engine.policy.version.slice(0, 19)}` };
      try {
        await ctx.engine.store.ping();
        checks.store = `ok ${ctx.engine.store.dialect}`;
      } catch (err) {
        checks.store = (err as Error).message;
      }
      if (ctx.state.shuttingDown) checks.server = 'shutting down';
      const ready = checks.store.startsWith('ok') && !ctx.state.shuttingDown;
      reply.code(ready ? 200 : 503);
      return { status: ready ? ('ready' as const) : ('not ready' as const), checks };
    },
  }),
  defineRoute({
    method: 'GET',
    url: '/metrics',
    tag: 'system',
    summary: 'Prometheus metrics (text exposition format).',
    roles: ['admin', 'auditor'],
    response: { status: 200, stream: 'text/plain; version=0.0.4' },
    async handler({ ctx, reply }) {
      const text = await ctx.metrics.registry.metrics();
      reply.header('content-type', ctx.metrics.registry.contentType).send(text);
      return STREAMED;
    },
  }),
];
