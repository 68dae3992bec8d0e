import { z } from 'zod';
import { ToolCallFields } from './call-schemas.js';
import { AGENT_ACTOR_TYPE, TASK_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT } from './wire-vocabulary.js';

/** Schemas of the task routes (/v1/tasks/…): starting a task, token exchange, the signing keys. */

const ttl = z.number().int().min(1).max(86_400);

/** Who started a task: the person's IdP identity, or the subject a trusted backend vouches for. */
export const TaskInitiatorSchema = z
  .object({
    method: z.enum(['oidc', 'api_key']),
    issuer: z.string().optional(),
    subject: z.string(),
    name: z.string(),
    keyId: z.string().optional(),
  })
  .meta({ id: 'TaskInitiator' });

export const StartTaskRequestSchema = z
  .strictObject({
    agent: ToolCallFields.agent.meta({ description: 'The agent the task is for (it holds the token).' }),
    idToken: z.string().min(1).max(16_384).optional().meta({
      description:
        "The person's OpenID Connect ID token, verified against the identity provider's keys: the initiator is its issuer and subject.",
    }),
    initiator: z
      .strictObject({
        subject: z.string().min(1).max(500),
        name: z.string().min(1).max(500),
      })
      .optional()
      .meta({
        description:
          'Without idToken: the person a service key holding the initiator permission vouches for (it signed them in itself). A person signed in by SSO is the initiator themselves: leave it out (naming anyone else is FORBIDDEN).',
      }),
    session: ToolCallFields.session
      .optional()
      .meta({ description: 'A new session id (default: Warden makes one).' }),
    labels: ToolCallFields.labels.optional(),
    ttl: ttl.optional().meta({ description: 'Token lifetime in seconds: default 3600, at most 86400.' }),
  })
  .meta({ id: 'StartTaskRequest' });

export const StartedTaskSchema = z
  .object({
    token: z.string().meta({ description: 'The task token: send it as the Warden-Task-Token header.' }),
    tokenId: z.string(),
    taskId: z.string(),
    session: z.string(),
    agent: z.string(),
    expiresAt: z.string(),
    initiator: TaskInitiatorSchema,
    delegationChain: z.array(z.string()),
  })
  .meta({ id: 'StartedTask' });

/**
 * RFC 8693 §2.1 token exchange, form-encoded (or JSON): the parent agent (authenticated by its key)
 * presents its task token as `subject_token` and names the child agent as the actor — `actor_token` with
 * `actor_token_type` AGENT_ACTOR_TYPE, or Warden's shorthand `actor`.
 */
export const TokenExchangeRequestSchema = z
  .strictObject({
    grant_type: z.literal(TOKEN_EXCHANGE_GRANT),
    subject_token: z.string().min(1).max(16_384),
    subject_token_type: z.literal(TASK_TOKEN_TYPE).optional(),
    actor_token: ToolCallFields.agent.optional(),
    actor_token_type: z.literal(AGENT_ACTOR_TYPE).optional(),
    actor: ToolCallFields.agent.optional(),
    requested_token_type: z.literal(TASK_TOKEN_TYPE).optional(),
    audience: z.string().max(2_000).optional(),
    scope: z.string().max(2_000).optional(),
    ttl: z.coerce.number().pipe(ttl).optional(),
  })
  .refine((b) => (b.actor ?? b.actor_token) !== undefined, {
    message: 'name the child agent: actor_token (with actor_token_type) or actor',
    path: ['actor_token'],
  })
  .refine((b) => b.actor === undefined || b.actor_token === undefined || b.actor === b.actor_token, {
    message: 'actor and actor_token name different agents',
    path: ['actor'],
  })
  .meta({ id: 'TokenExchangeRequest' });

/** RFC 8693 §2.2.1, with Warden's view of the child token besides. */
export const TokenExchangeResponseSchema = z
  .object({
    access_token: z.string(),
    issued_token_type: z.literal(TASK_TOKEN_TYPE),
    token_type: z.literal('N_A'),
    expires_in: z.number().int(),
    tokenId: z.string(),
    taskId: z.string(),
    session: z.string(),
    agent: z.string(),
    expiresAt: z.string(),
    delegationChain: z.array(z.string()),
  })
  .meta({ id: 'TokenExchangeResponse' });

/** The public key(s) task tokens are signed with (RFC 7517 JWK Set). */
export const TaskJwksSchema = z
  .object({
    keys: z.array(
      z.looseObject({ kty: z.string(), crv: z.string(), x: z.string(), kid: z.string(), alg: z.string() }),
    ),
  })
  .meta({ id: 'TaskJwks' });
