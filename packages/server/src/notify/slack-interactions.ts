import { type ApprovalRecord, isWardenError } from '@warden/core';
import { approvalEvent, type Engine } from '@warden/engine';
import { z } from 'zod';
import { callWithRetries } from './slack-api.js';
import {
  SLACK_APPROVE_ACTION,
  SLACK_DENY_ACTION,
  type SlackVoteOutcome,
  slackOutcomeMessage,
} from './slack-blocks.js';
import type { SlackConfig } from './slack-config.js';
import type { SlackNotifier } from './slack-notifier.js';
import { slackPerson } from './slack-people.js';

/**
 * The part of Slack's `block_actions` payload used here (Slack sends much more; unknown fields pass).
 * `container` names the message the button is on; `channel` and `message` say it again on messages.
 */
const BlockActionsSchema = z.looseObject({
  type: z.literal('block_actions'),
  user: z.looseObject({ id: z.string().min(1).max(64) }),
  container: z
    .looseObject({
      type: z.string().optional(),
      message_ts: z.string().max(64).optional(),
      channel_id: z.string().max(64).optional(),
    })
    .optional(),
  channel: z.looseObject({ id: z.string().max(64) }).optional(),
  message: z.looseObject({ ts: z.string().max(64).optional() }).optional(),
  actions: z
    .array(
      z.looseObject({
        action_id: z.string().max(255),
        value: z.string().max(2_000).optional(),
        type: z.string().optional(),
      }),
    )
    .min(1),
});

/** What an interaction came to: for the log and the tests, never for Slack (it gets a bare 200). */
export type InteractionResult =
  | { readonly outcome: 'ignored'; readonly why: string }
  | { readonly outcome: 'voted'; readonly approvalId: string; readonly by: string; readonly status: string }
  | {
      readonly outcome: 'refused';
      readonly approvalId: string;
      readonly code: string;
      readonly reason: string;
    };

/** Retries of the follow-up calls (chat.update, chat.postEphemeral): a click deserves an answer. */
const FOLLOW_UP = { maxAttempts: 3, baseDelayMs: 200 };

/**
 * Acts on a verified interactivity payload: an Approve or Deny click is cast as a vote by the Warden
 * person the Slack user maps to (through the ApprovalService, so every separation-of-duties and
 * eligibility rule applies and refusals are recorded), then the message is updated with the outcome.
 * A refusal is told to the clicker alone (chat.postEphemeral); the shared message keeps its buttons.
 */
export class SlackInteractions {
  readonly #engine: Engine;
  readonly #config: SlackConfig;
  readonly #notifier: SlackNotifier;
  readonly #keySignIn: boolean;
  readonly #warn: (message: string, fields: Record<string, unknown>) => void;

  constructor(
    engine: Engine,
    config: SlackConfig,
    notifier: SlackNotifier,
    options: {
      keySignIn: boolean;
      /** A follow-up Slack refused (chat.update, chat.postEphemeral): the vote stands, the log says so. */
      warn: (message: string, fields: Record<string, unknown>) => void;
    },
  ) {
    this.#engine = engine;
    this.#config = config;
    this.#notifier = notifier;
    this.#keySignIn = options.keySignIn;
    this.#warn = options.warn;
  }

  /** Handles one payload (the parsed `payload` form field). Throws only for a bug or a store failure. */
  async handle(raw: unknown): Promise<InteractionResult> {
    const parsed = BlockActionsSchema.safeParse(raw);
    if (!parsed.success) return { outcome: 'ignored', why: 'not a block_actions payload Warden sent' };
    const p = parsed.data;
    const action = p.actions[0];
    const vote =
      action?.action_id === SLACK_APPROVE_ACTION
        ? 'approve'
        : action?.action_id === SLACK_DENY_ACTION
          ? 'deny'
          : undefined;
    if (!vote || !action?.value)
      return { outcome: 'ignored', why: `action ${action?.action_id ?? '(none)'}` };
    const approvalId = action.value;
    const userId = p.user.id;
    const channel = p.container?.channel_id ?? p.channel?.id;
    const ts = p.container?.message_ts ?? p.message?.ts;
    const approval = await this.#engine.store.approval(approvalId);
    if (!approval) {
      await this.#ephemeral(
        channel,
        userId,
        `Warden has no approval request ${approvalId} (purged?).`,
        approvalId,
      );
      return { outcome: 'refused', approvalId, code: 'APPROVAL_NOT_FOUND', reason: 'no such request' };
    }
    const person = await slackPerson(userId, {
      config: this.#config,
      api: this.#notifier.api,
      store: this.#engine.store,
      keySignIn: this.#keySignIn,
    });
    if (!person.ok) {
      await this.#recordUnmapped(approval, userId, vote, person.reason);
      await this.#ephemeral(
        channel,
        userId,
        `Warden did not record your ${vote}: ${person.reason}. Ask a Warden admin to map your Slack user (slack.users) or give your email a Warden key or SSO sign-in.`,
        approvalId,
      );
      return { outcome: 'refused', approvalId, code: 'SLACK_USER_UNMAPPED', reason: person.reason };
    }
    let after: ApprovalRecord;
    try {
      after = await this.#engine.approvals.vote(approvalId, person.voter, vote, { via: 'slack' });
    } catch (err) {
      if (!isWardenError(err)) throw err;
      // Decided meanwhile (elsewhere, or it expired): the message should not offer buttons any more.
      if (err.code === 'APPROVAL_DECIDED' && channel && ts) {
        await this.#update(channel, ts, await this.#engine.approvals.get(approvalId));
      }
      // Separation of duties and eligibility refusals are recorded (approval.refused) by the service.
      await this.#ephemeral(
        channel,
        userId,
        `Warden refused your ${vote} as ${person.voter.id}: ${err.message} (${err.code}).`,
        approvalId,
      );
      return { outcome: 'refused', approvalId, code: err.code, reason: err.message };
    }
    if (channel && ts) await this.#update(channel, ts, after, { by: person.voter.id, vote });
    return { outcome: 'voted', approvalId, by: person.voter.id, status: after.status };
  }

  /** Writes where the request stands into the message (chat.update). */
  async #update(channel: string, ts: string, a: ApprovalRecord, last?: SlackVoteOutcome): Promise<void> {
    const message = slackOutcomeMessage(a, await this.#notifier.context(a), last);
    const r = await callWithRetries(
      this.#notifier.api,
      'chat.update',
      { channel, ts, text: message.text, blocks: message.blocks },
      FOLLOW_UP,
    );
    if (!r.ok) this.#followUpFailed('chat.update', r.error, a.id);
  }

  #followUpFailed(method: string, error: string | undefined, approvalId: string): void {
    this.#warn(`Slack ${method} failed after a click: ${error ?? 'failed'}`, {
      approvalId,
      method,
      error,
    });
  }

  /** An unmapped clicker never reaches the ApprovalService, so their refusal is recorded here. */
  async #recordUnmapped(a: ApprovalRecord, userId: string, vote: string, reason: string): Promise<void> {
    const event = approvalEvent(
      'approval.refused',
      a,
      { kind: 'human', id: `slack:${userId}` },
      this.#engine.instanceId,
      new Date().toISOString(),
      { vote, code: 'SLACK_USER_UNMAPPED', reason, via: 'slack', slackUser: userId },
    );
    await this.#engine.commit({ events: [event] });
  }

  /** Tells the clicker alone (an ephemeral message in the channel). */
  async #ephemeral(
    channel: string | undefined,
    user: string,
    text: string,
    approvalId: string,
  ): Promise<void> {
    if (!channel) return;
    const r = await callWithRetries(
      this.#notifier.api,
      'chat.postEphemeral',
      { channel, user, text },
      FOLLOW_UP,
    );
    if (!r.ok) this.#followUpFailed('chat.postEphemeral', r.error, approvalId);
  }
}
