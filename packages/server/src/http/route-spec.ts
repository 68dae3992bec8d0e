import type { ErrorCode } from '@warden/core';
import type { ApiRole } from '@warden/engine';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Principal } from '../auth/principal.js';
import type { ServerContext } from '../server-context.js';

/** Returned by a handler that wrote the response itself (a stream). */
export const STREAMED = Symbol('streamed');

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
 * One endpoint, declared once: the Fastify route, the role check, input validation and the OpenAPI
 * operation are all derived from this, so they cannot drift apart.
 */
export interface RouteSpec<B = unknown, Q = unknown, P = unknown> {
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
  /** The success status and body schema; `stream` names a streamed media type instead. */
  readonly response: { readonly status: number; readonly schema?: z.ZodType; readonly stream?: string };
  /** Codes this endpoint can answer with besides the auth and validation ones every endpoint has. */
  readonly errors?: readonly ErrorCode[];
  readonly handler: (input: RouteInput<B, Q, P>) => Promise<unknown>;
}

/** Declares a route with its input types inferred from the schemas. */
export function defineRoute<B = undefined, Q = undefined, P = undefined>(
  spec: RouteSpec<B, Q, P>,
): RouteSpec<B, Q, P> {
  return spec;
}

// biome-ignore lint/suspicious/noExplicitAny: a route table holds routes of every input type.
export type AnyRoute = RouteSpec<any, any, any>;
