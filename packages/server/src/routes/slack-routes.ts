import { isWardenError, WardenError } from '@warden/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type InteractionResult, SlackInteractions } from '../notify/slack-interactions.js';
import { SlackNotifier } from '../notify/slack-notifier.js';
import { verifySlackRequest } from '../notify/slack-signature.js';
import type { ServerContext } from '../server-context.js';

/** Where Slack sends interactivity requests (the app's Interactivity Request URL is publicUrl + this). */
export const SLACK_INTERACTIONS_PATH = '/slack/interactions';

/** Interactivity payloads are a few KB; anything much bigger is not from Slack. */
const BODY_LIMIT = 256 * 1024;

/** Slack wants an answer within 3 s; past this the vote goes on and Slack gets its 200 first. */
const ANSWER_WITHIN_MS = 2_500;

/**
 * Registers `POST /slack/interactions` when the Slack app is configured: outside /v1 and without an API
 * key, since Slack's signature over the raw body is the authentication. A scope of its own keeps the raw
 * bytes of its form body (a parser here only), so nothing else takes form bodies through it.
 */
export function registerSlackRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const config = ctx.config.slack;
  if (!config) return;
  const interactions = new SlackInteractions(
    ctx.engine,
    config,
    new SlackNotifier(ctx.engine, config, ctx.config.publicUrl),
    // auth.keySignIn: false → people are SSO people only; their human keys are refused everywhere.
    {
      keySignIn: ctx.config.auth.keySignIn !== false,
      warn: (message, fields) => app.log.warn(fields, message),
    },
  );
  app.register(async (scope) => {
    // The app's form parser (the token exchange's, which refuses every other path) is inherited: this
    // scope replaces it with one that keeps Slack's raw bytes for the signature.
    if (scope.hasContentTypeParser('application/x-www-form-urlencoded')) {
      scope.removeContentTypeParser('application/x-www-form-urlencoded');
    }
    scope.addContentTypeParser(
      'application/x-www-form-urlencoded',
      { parseAs: 'buffer', bodyLimit: BODY_LIMIT },
      (_request, body, done) => done(null, body),
    );
    scope.post(SLACK_INTERACTIONS_PATH, async (request, reply) => {
      if (ctx.state.shuttingDown) {
        throw new WardenError('SHUTTING_DOWN', 'the server is shutting down; Slack retries elsewhere');
      }
      const raw = request.body;
      if (!Buffer.isBuffer(raw)) {
        throw new WardenError(
          'UNSUPPORTED_MEDIA_TYPE',
          'Slack sends interactivity requests as application/x-www-form-urlencoded',
        );
      }
      verified(ctx, request, config.signingSecret, raw);
      const payload = payloadOf(raw);
      const work = interactions.handle(payload).then(
        (result) => logResult(request, result),
        (err: unknown) => request.log.error({ err }, 'a Slack interaction failed'),
      );
      // Slack shows the clicker an error after 3 s: answer by then, and let a slow vote finish after.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([work, new Promise<void>((r) => (timer = setTimeout(r, ANSWER_WITHIN_MS)))]);
      clearTimeout(timer);
      reply.code(200);
      return '';
    });
  });
}

/** Verifies the signature; a failure is logged and counted against the address (429 past the limit). */
function verified(ctx: ServerContext, request: FastifyRequest, secret: string, raw: Buffer): void {
  try {
    verifySlackRequest(secret, request.headers, raw);
  } catch (err) {
    if (!isWardenError(err, 'SLACK_SIGNATURE_INVALID')) throw err;
    request.log.warn(
      { code: err.code, reason: err.details.reason, ip: request.ip },
      `refused a request to ${SLACK_INTERACTIONS_PATH}: ${err.message}`,
    );
    ctx.authFailures.take(request.ip, 'requests with a bad Slack signature from this address');
    throw err;
  }
}

/** The `payload` form field as JSON; REQUEST_INVALID when it is missing or malformed. */
function payloadOf(raw: Buffer): unknown {
  const text = new URLSearchParams(raw.toString('utf8')).get('payload');
  if (text === null) {
    throw new WardenError('REQUEST_INVALID', 'a Slack interactivity request carries a payload field', {
      problems: ['body.payload: required'],
    });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new WardenError('REQUEST_INVALID', 'the payload field is not JSON', {
      problems: ['body.payload: not JSON'],
    });
  }
}

function logResult(request: FastifyRequest, r: InteractionResult): void {
  if (r.outcome === 'refused') {
    request.log.warn(
      { code: r.code, approvalId: r.approvalId },
      `a vote from Slack was refused: ${r.reason}`,
    );
  } else if (r.outcome === 'voted') {
    request.log.info(
      { approvalId: r.approvalId, by: r.by, status: r.status },
      'a vote from Slack was recorded',
    );
  }
}
