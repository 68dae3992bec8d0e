import { type ApprovalRecord, isWardenError } from '@warden/core';
import { approvalEvent, type Engine } from '@warden/engine';
import { z } from 'zod';
import { personAliases } from '../auth/person-aliases.js';
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
  user: z.looseObject({ id: z.string().min(1).max(64), team_id: z.string().max(64).optional() }),
  team: z.looseObject({ id: z.string().max(64) }).nullish(),
  enterprise: z.looseObject({ id: z.string().max(64) }).nullish(),
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
        action_ts: z.string().max(64).optional(),
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

/** How long a click is remembered against replays: past Slack's 5-minute signature window, with room. */
const SEEN_FOR_MS = 10 * 60_000;
/** At most this many clicks are remembered (the oldest go first). */
const SEEN_LIMIT = 10_000;

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
  /** Clicks handled lately (user and action_ts → when): a replayed request is acknowledged and ignored. */
  readonly #seen = new Map<string, number>();

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
    if (action.action_ts && this.#replayed(`${userId}\u0000${action.action_ts}`)) {
      // A signed request sent again (within Slack's five minutes): no second users.info, refusal or vote.
      this.#warn('a replayed Slack click was ignored', {
        approvalId,
        slackUser: userId,
        actionTs: action.action_ts,
      });
      return { outcome: 'ignored', why: `a replay of click ${action.action_ts} by ${userId}` };
    }
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
    const foreign = this.#foreignWorkspace(p);
    const person = foreign
      ? ({ ok: false, code: 'SLACK_FOREIGN_USER', reason: foreign } as const)
      : await slackPerson(userId, {
          config: this.#config,
          api: this.#notifier.api,
          store: this.#engine.store,
          keySignIn: this.#keySignIn,
        });
    if (!person.ok) {
      await this.#recordUnmapped(approval, userId, vote, person.code, person.reason);
      const advice =
        person.code === 'SLACK_SIGN_IN_STALE'
          ? 'Sign in to Warden again, then click again.'
          : person.code === 'SLACK_USER_UNMAPPED'
            ? 'Ask a Warden admin to map your Slack user (slack.users) or give your email a Warden key or SSO sign-in.'
            : 'Ask a Warden admin to map your Slack user (slack.users).';
      await this.#ephemeral(
        channel,
        userId,
        `Warden did not record your ${vote}: ${person.reason}. ${advice}`,
        approvalId,
      );
      return { outcome: 'refused', approvalId, code: person.code, reason: person.reason };
    }
    let after: ApprovalRecord;
    try {
      // The mapping's names, and every other name and identity the person has here (as on every channel).
      const more = await personAliases(this.#engine.store, person.voter);
      after = await this.#engine.approvals.vote(approvalId, person.voter, vote, {
        via: 'slack',
        alsoKnownAs: [...new Set([...person.alsoKnownAs, ...more.alsoKnownAs])],
        alsoVerified: more.alsoVerified,
      });
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

  /**
   * Why the clicker is not of the app's workspace (`slack.teamId`, `slack.enterpriseId`), or undefined.
   * Slack Connect shares channels with other organisations: their members can click too.
   */
  #foreignWorkspace(p: z.infer<typeof BlockActionsSchema>): string | undefined {
    const { teamId, enterpriseId } = this.#config;
    if (teamId !== undefined) {
      if (p.team?.id !== teamId)
        return `the click came from workspace ${p.team?.id ?? '(none)'}, not ${teamId}`;
      if (p.user.team_id !== teamId) {
        return `the Slack user belongs to workspace ${p.user.team_id ?? '(none)'}, not ${teamId}`;
      }
    }
    if (enterpriseId !== undefined && p.enterprise?.id !== enterpriseId) {
      return `the click came from Enterprise Grid organisation ${p.enterprise?.id ?? '(none)'}, not ${enterpriseId}`;
    }
    return undefined;
  }

  /** Whether this click was handled lately (remembers it if not). */
  #replayed(key: string): boolean {
    const now = Date.now();
    for (const [k, at] of this.#seen) {
      if (now - at <= SEEN_FOR_MS && this.#seen.size <= SEEN_LIMIT) break;
      this.#seen.delete(k);
    }
    if (this.#seen.has(key)) return true;
    this.#seen.set(key, now);
    return false;
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
  async #recordUnmapped(
    a: ApprovalRecord,
    userId: string,
    vote: string,
    code: string,
    reason: string,
  ): Promise<void> {
    const event = approvalEvent(
      'approval.refused',
      a,
      { kind: 'human', id: `slack:${userId}` },
      this.#engine.instanceId,
      new Date().toISOString(),
      { vote, code, reason, via: 'slack', slackUser: userId },
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
