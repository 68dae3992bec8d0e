import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorResponse } from '../http/error-status.js';
import type { ServerContext } from '../server-context.js';
import { geminiEndpoint, LLM_ENDPOINTS, LLM_PROVIDERS, type LlmProvider } from './llm-endpoints.js';
import { LlmProxy } from './llm-proxy.js';
import { LlmProxyError, type ProxyError, providerErrorBody } from './provider-errors.js';

/**
 * Registers the LLM metering proxy under `/llm/<provider>`: one scope per provider, so every answer
 * from it (a refusal, a bad key, malformed JSON, an unknown path) is in that provider's error shape,
 * which its official client parses. The base URL an agent sets is `/llm/openai/v1`, `/llm/anthropic` or
 * `/llm/gemini`.
 */
export function registerLlmRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const proxy = new LlmProxy(ctx);
  for (const provider of LLM_PROVIDERS) {
    const endpoints = LLM_ENDPOINTS.filter((e) => e.provider === provider);
    app.register(
      async (scope) => {
        scope.setErrorHandler((err: FastifyError, request, reply) =>
          answerError(provider, err, request, reply),
        );
        const known =
          provider === 'gemini'
            ? `POST /llm/gemini/v1beta/models/<model>:generateContent and :streamGenerateContent ?alt=sse, and :countTokens`
            : endpoints.map((e) => `POST /llm/${provider}${e.path}`).join(', ');
        const notFound = (request: FastifyRequest, reply: FastifyReply) => {
          const path = request.url.split('?')[0];
          answer(provider, reply, {
            status: 404,
            code: 'NOT_FOUND',
            message: `Warden meters ${known}; there is no ${request.method} ${path}`,
          });
        };
        scope.setNotFoundHandler(notFound);
        if (provider === 'gemini') {
          // The model and method are in the path (`models/gemini-2.5-pro:streamGenerateContent`).
          scope.post('/*', { bodyLimit: ctx.config.llm.bodyLimitBytes }, (request, reply) => {
            const path = `/${(request.params as { '*': string })['*']}`;
            const endpoint = geminiEndpoint(path);
            if (endpoint) return proxy.handle(endpoint, request, reply);
            return notFound(request, reply);
          });
        }
        for (const endpoint of endpoints) {
          scope.post(endpoint.path, { bodyLimit: ctx.config.llm.bodyLimitBytes }, (request, reply) =>
            proxy.handle(endpoint, request, reply),
          );
        }
      },
      { prefix: `/llm/${provider}` },
    );
  }
  // Streams whose client hung up are still being read; their usage is recorded before the engine closes.
  app.addHook('onClose', async () => proxy.settled(ctx.config.shutdownTimeoutMs));
}

function answerError(
  provider: LlmProvider,
  err: unknown,
  request: FastifyRequest,
  reply: FastifyReply,
): void {
  if (err instanceof LlmProxyError) {
    answer(provider, reply, err.detail);
    return;
  }
  const { status, body } = errorResponse(err);
  if (status >= 500 && body.error.code === 'INTERNAL') request.log.error({ err }, 'unexpected error');
  const retryAfter = body.error.details.retryAfterSeconds;
  if (typeof retryAfter === 'number') reply.header('retry-after', String(retryAfter));
  answer(provider, reply, { status, code: body.error.code, message: body.error.message });
}

function answer(provider: LlmProvider, reply: FastifyReply, e: ProxyError): void {
  if (e.retry === false) reply.header('x-should-retry', 'false');
  reply.code(e.status).send(providerErrorBody(provider, e));
}
