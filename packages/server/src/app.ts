import { WardenError } from '@warden/core';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import type { z } from 'zod';
import { authorize } from './auth/authorize-request.js';
import type { Principal } from './auth/principal.js';
import { registerDashboard } from './http/dashboard-assets.js';
import { errorResponse } from './http/error-status.js';
import { openApiDocument } from './http/openapi-document.js';
import { type AnyRoute, STREAMED } from './http/route-spec.js';
import { registerLlmRoutes } from './llm/llm-routes.js';
import { registerMcpRoutes } from './mcp/mcp-routes.js';
import { PACKAGE_VERSION } from './package-version.js';
import { ROUTES } from './routes/route-table.js';
import type { ServerContext } from './server-context.js';

/** The API's version in /openapi.json: this package's own (package.json). */
export const API_VERSION = PACKAGE_VERSION;

/**
 * Builds the Fastify app over a server context: every route of the table with authentication, role
 * check and validation in front, one error handler, and /openapi.json. No socket: tests use inject().
 */
export function buildApp(
  ctx: ServerContext,
  options: { logger?: boolean; loggerInstance?: FastifyBaseLogger } = {},
): FastifyInstance {
  const app = Fastify({
    // The server's own logger when given (so request logs and warnings are one stream of one shape).
    ...(options.logger !== false && options.loggerInstance
      ? { loggerInstance: options.loggerInstance }
      : {
          logger:
            options.logger === false || ctx.config.logLevel === 'silent'
              ? false
              : { level: ctx.config.logLevel },
        }),
    bodyLimit: ctx.config.bodyLimitBytes,
    // Slow clients: the whole request must arrive within requestTimeoutMs and its headers within
    // headersTimeoutMs (checked every second). Responses (live streams) are not limited by these.
    requestTimeout: ctx.config.requestTimeoutMs,
    http: { headersTimeout: ctx.config.headersTimeoutMs, connectionsCheckingInterval: 1_000 },
    connectionTimeout: 0,
    keepAliveTimeout: 72_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    routerOptions: { maxParamLength: 300 },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    // Errors the router answers before any route runs (a bad URL encoding, an over-long path parameter):
    // the same JSON error body as everything else, not Fastify's own shape.
    frameworkErrors: (err, _request, reply) => {
      const { status, body } = errorResponse(err);
      (reply as FastifyReply).code(status).send(body);
    },
  });
  // JSON is the only body the API takes; without this, Fastify's text/plain parser would hand a route a
  // string instead of answering 415.
  app.removeContentTypeParser('text/plain');
  // Form-encoded bodies for the token exchange only (RFC 8693 §2.1 speaks application/x-www-form-urlencoded);
  // every other route takes JSON, and a form body there is still a 415.
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string' },
    (request, body, done) => {
      if (request.url.split('?')[0] !== '/v1/tasks/token') {
        done(
          new WardenError(
            'UNSUPPORTED_MEDIA_TYPE',
            'the request body is not JSON; send Content-Type: application/json',
          ),
          undefined,
        );
        return;
      }
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    },
  );
  app.server.maxHeadersCount = 100;

  app.setErrorHandler((err, request, reply) => {
    const { status, body } = errorResponse(err);
    if (status >= 500 && body.error.code === 'INTERNAL') request.log.error({ err }, 'unexpected error');
    const retry = body.error.details.retryAfterSeconds;
    if (typeof retry === 'number') reply.header('retry-after', String(retry));
    reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    reply.code(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `no endpoint ${request.method} ${request.url.split('?')[0]}; see /openapi.json`,
        details: {},
      },
    });
  });
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url;
    if (route) {
      ctx.metrics.httpSeconds.observe(
        { route, method: request.method, status: String(reply.statusCode) },
        reply.elapsedTime / 1000,
      );
    }
    done();
  });

  const document = openApiDocument(ROUTES, API_VERSION);
  app.get('/openapi.json', async () => document);
  for (const spec of ROUTES) register(app, ctx, spec);
  // The LLM metering proxy speaks the providers' wire formats, not this API's: registered on its own.
  registerLlmRoutes(app, ctx);
  // So is the MCP gateway: its transport owns the request and the response.
  registerMcpRoutes(app, ctx);
  // The dashboard: static pages at the root; they call this API with the sign-in cookie.
  registerDashboard(app);
  return app;
}

function register(app: FastifyInstance, ctx: ServerContext, spec: AnyRoute): void {
  app.route({
    method: spec.method,
    url: spec.url,
    handler: async (request, reply) => {
      if (ctx.state.shuttingDown && spec.roles !== 'public') {
        throw new WardenError('SHUTTING_DOWN', 'the server is shutting down; retry against another instance');
      }
      const principal = spec.roles === 'public' ? undefined : await authorize(ctx, request, spec.roles);
      const body = spec.body ? validate(spec.body, request.body, 'body') : undefined;
      const query = spec.query ? validate(spec.query, request.query ?? {}, 'query') : undefined;
      const params = spec.params ? validate(spec.params, request.params ?? {}, 'path') : undefined;
      reply.code(spec.response.status);
      const out = await spec.handler({
        body,
        query,
        params,
        principal: principal as Principal,
        ctx,
        request,
        reply,
      });
      return out === STREAMED ? reply : out;
    },
  });
}

function validate<T>(schema: z.ZodType<T>, value: unknown, where: 'body' | 'query' | 'path'): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => {
    const path = [where, ...i.path.map(String)].join('.');
    const keys = (i as { keys?: string[] }).keys;
    return keys ? `${path}: unknown field(s) ${keys.join(', ')}` : `${path}: ${i.message}`;
  });
  throw new WardenError('REQUEST_INVALID', `invalid request: ${problems.join('; ')}`, { problems });
}
