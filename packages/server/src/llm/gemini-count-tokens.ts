import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerContext } from '../server-context.js';
import { authenticateAgent } from './llm-auth.js';
import { LlmProxyError } from './provider-errors.js';
import { clientHeaders, fetchFailure, upstreamHeaders, upstreamUrl } from './upstream-request.js';

/** `/<version>/models/<model>:countTokens`, the one Gemini method passed through unmetered. */
export const GEMINI_COUNT_TOKENS =
  /^\/(v1|v1beta|v1alpha)\/models\/[A-Za-z0-9][A-Za-z0-9._-]{0,199}:countTokens$/;

/**
 * Gemini's `countTokens`, forwarded for an agent with the deployment's key and not decided or metered:
 * it generates nothing and Google does not bill it. Gemini CLI asks it for the size of a prompt with
 * images or files in it; refusing it would only make the CLI guess. Still only for an agent's key.
 */
export async function forwardCountTokens(
  ctx: ServerContext,
  request: FastifyRequest,
  reply: FastifyReply,
  path: string,
): Promise<FastifyReply> {
  await authenticateAgent(ctx, request, 'gemini');
  const upstream = ctx.config.llm.gemini;
  if (!upstream)
    throw new LlmProxyError({
      status: 404,
      code: 'LLM_NOT_CONFIGURED',
      message: 'this Warden has no gemini upstream: set llm.gemini.apiKey in the server configuration',
      retry: false,
    });
  let response: Response;
  try {
    response = await fetch(upstreamUrl(upstream, path, request.url), {
      method: 'POST',
      headers: upstreamHeaders('gemini', upstream, request.headers),
      body: JSON.stringify(request.body ?? {}),
    });
  } catch (err) {
    throw new LlmProxyError({
      status: 502,
      code: 'LLM_UPSTREAM_UNAVAILABLE',
      message: `the gemini upstream could not be reached (${fetchFailure(err)})`,
    });
  }
  const bytes = Buffer.from(await response.arrayBuffer());
  return reply.code(response.status).headers(clientHeaders(response.headers)).send(bytes);
}
