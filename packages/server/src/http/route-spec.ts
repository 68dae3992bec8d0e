import type { ApiRole, ErrorCode, ResponseContract, ResponseOf } from '@warden/api';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Principal } from '../auth/principal.js';
import type { ServerContext } from '../server-context.js';

/**
 * The type of STREAMED: a class with a private field, so nothing else passes for it and a handler's
 * `return STREAMED` keeps its type (a unique symbol would widen to `symbol` there).
 */
class Streamed {
  readonly #name = 'streamed';
  toString(): string {
    return this.#name;
  }
}

/** Returned by a handler that wrote the response itself (a stream). */
export const STREAMED: Streamed = new Streamed();

/** What a handler receives: validated input, who is asking, and the server's services. */
export interface RouteInput<B, Q, P> {
  readonly body: B;
  readonly query: Q;
  readonly params: P;
  /** Undefined only on public routes. */
  readonly principal: Principal;
  readonly ctx: ServerContext;
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
}

/**
 * What a handler must return for its response: a body of the response schema's type (checked when the
 * route is compiled, so /openapi.json cannot drift from what handlers return), the reply or STREAMED for
 * a streamed response, and nothing (null) for a 204.
 */
export type HandlerResult<R extends ResponseContract> = R extends {
  readonly schema: infer S extends z.ZodType;
}
  ? ResponseOf<S>
  : R extends { readonly stream: string }
    ? typeof STREAMED | FastifyReply
    : null;

/**
 * One endpoint, declared once: the Fastify route, the role check, input validation and the OpenAPI
 * operation are all derived from this, so they cannot drift apart. The schemas come from @warden/api.
 */
export interface RouteSpec<
  B = unknown,
  Q = unknown,
  P = unknown,
  R extends ResponseContract = ResponseContract,
> {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Fastify syntax: `/v1/calls/:id/complete`. */
  readonly url: string;
  readonly tag: string;
  readonly summary: string;
  /** Roles allowed; `public` needs no key (health only). */
  readonly roles: readonly ApiRole[] | 'public';
  readonly body?: z.ZodType<B>;
  readonly query?: z.ZodType<Q>;
  readonly params?: z.ZodType<P>;
  /** The success status and body schema; `stream` names a streamed media type instead; neither: no body. */
  readonly response: R;
  /** Codes this endpoint can answer with besides the auth and validation ones every endpoint has. */
  readonly errors?: readonly ErrorCode[];
  readonly handler: (input: RouteInput<B, Q, P>) => Promise<HandlerResult<R>>;
}

/** Declares a route with its input types inferred from the schemas and its output checked against one. */
export function defineRoute<
  B = undefined,
  Q = undefined,
  P = undefined,
  const R extends ResponseContract = ResponseContract,
>(spec: RouteSpec<B, Q, P, R>): RouteSpec<B, Q, P, R> {
  return spec;
}

// biome-ignore lint/suspicious/noExplicitAny: a route table holds routes of every input and output type.
export type AnyRoute = RouteSpec<any, any, any, any>;
