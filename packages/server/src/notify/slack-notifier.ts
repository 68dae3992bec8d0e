import type { ApprovalRecord, AuditEvent, IdentityProof } from '@warden/core';
import type { Engine, NotificationRecord } from '@warden/engine';
import { callWithRetries, SlackApi } from './slack-api.js';
import { type SlackMessageContext, slackOutcomeMessage, slackRequestMessage } from './slack-blocks.js';
import { SLACK_TARGET, type SlackConfig } from './slack-config.js';

/** How a Slack delivery ended, in the dispatcher's terms, plus where the message landed. */
export interface SlackDelivery {
  readonly ok: boolean;
  readonly attempts: number;
  readonly status: number | undefined;
  readonly error: string | null;
  /** What the audit record adds: the message posted (`slack: { channel, ts }`, what chat.update needs), or updated. */
  readonly data?: Record<string, unknown>;
}

/** The message of a post, as `approval.notified` records it. */
interface PostedMessage {
  readonly channel: string;
  readonly ts: string;
}

/**
 * Posts approval requests to the Slack app's channel (chat.postMessage with Approve and Deny buttons).
 * The dispatcher claims the outbox rows (lease, retries across instances) and records the outcome.
 */
export class SlackNotifier {
  readonly api: SlackApi;
  readonly #engine: Engine;
  readonly #config: SlackConfig;
  readonly #publicUrl: string | undefined;

  constructor(engine: Engine, config: SlackConfig, publicUrl: string | undefined) {
    this.#engine = engine;
    this.#config = config;
    this.#publicUrl = publicUrl?.replace(/\/+$/, '');
    this.api = new SlackApi({ baseUrl: config.apiBaseUrl, token: config.botToken });
  }

  /** Posts the message for one outbox row about `approval`. Never throws. */
  async deliver(
    n: NotificationRecord,
    approval: ApprovalRecord,
    options: { maxAttempts: number; baseDelayMs: number; signal: AbortSignal },
  ): Promise<SlackDelivery> {
    if (n.eventType === 'approval.decided') return this.#closeMessages(approval, options);
    if (n.eventType !== 'approval.requested' && n.eventType !== 'approval.escalated') {
      return {
        ok: false,
        attempts: 0,
        status: undefined,
        error: `the Slack app does not post ${n.eventType}`,
      };
    }
    // A request decided before its message went out is not posted: its buttons could do nothing.
    if (approval.status !== 'pending') {
      return { ok: true, attempts: 0, status: undefined, error: null, data: { skipped: approval.status } };
    }
    const message = slackRequestMessage(approval, n.eventType, await this.context(approval));
    const r = await callWithRetries(
      this.api,
      'chat.postMessage',
      { channel: this.#config.channel, text: message.text, blocks: message.blocks, unfurl_links: false },
      options,
    );
    const channel = typeof r.body?.channel === 'string' ? r.body.channel : undefined;
    const ts = typeof r.body?.ts === 'string' ? r.body.ts : undefined;
    return {
      ok: r.ok,
      attempts: r.attempts,
      status: r.status,
      error: r.ok ? null : `Slack chat.postMessage: ${r.error ?? 'failed'}`,
      ...(channel && ts ? { data: { slack: { channel, ts } } } : {}),
    };
  }

  /**
   * A request decided anywhere (a vote in Slack, the CLI, the dashboard, an expiry): every message posted
   * for it says the outcome and loses its buttons (chat.update). The messages are found in the audit
   * trail, from their own `approval.notified` records.
   */
  async #closeMessages(
    approval: ApprovalRecord,
    options: { maxAttempts: number; baseDelayMs: number; signal: AbortSignal },
  ): Promise<SlackDelivery> {
    const posted = await this.#postedMessages(approval);
    const message = slackOutcomeMessage(approval, await this.context(approval));
    let attempts = 0;
    const failed: string[] = [];
    let status: number | undefined;
    for (const m of posted) {
      const r = await callWithRetries(
        this.api,
        'chat.update',
        { channel: m.channel, ts: m.ts, text: message.text, blocks: message.blocks },
        options,
      );
      attempts += r.attempts;
      status = r.status;
      if (!r.ok) failed.push(`${m.ts}: ${r.error ?? 'failed'}`);
    }
    return {
      ok: failed.length === 0,
      attempts,
      status,
      error: failed.length === 0 ? null : `Slack chat.update: ${failed.join('; ')}`,
      data: { slack: { updated: posted.map((m) => m.ts) } },
    };
  }

  /** The messages posted for `a`, from the `approval.notified` events of its call. */
  async #postedMessages(a: ApprovalRecord): Promise<PostedMessage[]> {
    const page = await this.#engine.store.queryAudit({
      type: 'approval.notified',
      callId: a.callId,
      limit: 100,
    });
    const out: PostedMessage[] = [];
    for (const { event } of page.records) {
      const data = event.data as {
        approvalId?: unknown;
        target?: unknown;
        slack?: { channel?: unknown; ts?: unknown };
      };
      const { channel, ts } = data.slack ?? {};
      if (data.approvalId !== a.id || data.target !== SLACK_TARGET) continue;
      if (typeof channel === 'string' && typeof ts === 'string' && !out.some((m) => m.ts === ts)) {
        out.push({ channel, ts });
      }
    }
    return out;
  }

  /** The dashboard link (publicUrl set) and how the triggering human was verified (from the decision). */
  async context(a: ApprovalRecord): Promise<SlackMessageContext> {
    const proof = a.triggeredBy ? await this.#initiatorProof(a) : undefined;
    return {
      ...(this.#publicUrl
        ? { dashboardUrl: `${this.#publicUrl}/approvals/${encodeURIComponent(a.id)}` }
        : {}),
      ...(proof ? { initiatorProof: proof } : {}),
    };
  }

  /** The call.decided event's record of how its initiator was verified, in words; undefined when absent. */
  async #initiatorProof(a: ApprovalRecord): Promise<string | undefined> {
    try {
      const page = await this.#engine.store.queryAudit({ callId: a.callId, type: 'call.decided', limit: 1 });
      const event = page.records.find((r) => r.event.callId === a.callId)?.event as AuditEvent | undefined;
      return initiatorProofText(event?.identity?.initiator);
    } catch {
      // The message goes out without it rather than not at all.
      return undefined;
    }
  }
}

/** How the call's initiator was verified, in a few words for the message; undefined when not recorded. */
export function initiatorProofText(initiator: IdentityProof | undefined): string | undefined {
  if (!initiator) return undefined;
  switch (initiator.method) {
    case 'oidc':
      return `verified by SSO${initiator.issuer ? `: ${initiator.issuer}` : ''}`;
    case 'api_key':
      return `vouched for by service key ${initiator.keyId ?? ''}`.trim();
    case 'task_token':
      return 'verified by task token';
    case 'claimed':
      return 'claimed, unverified';
    default:
      return initiator.method;
  }
}
