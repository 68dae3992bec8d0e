import type { ApprovalRecord, AuditEvent } from '@warden/core';
import type { Engine, NotificationRecord } from '@warden/engine';
import { callWithRetries, SlackApi } from './slack-api.js';
import { type SlackMessageContext, slackRequestMessage } from './slack-blocks.js';
import type { SlackConfig } from './slack-config.js';

/** How a Slack delivery ended, in the dispatcher's terms, plus where the message landed. */
export interface SlackDelivery {
  readonly ok: boolean;
  readonly attempts: number;
  readonly status: number | undefined;
  readonly error: string | null;
  /** The channel id and message ts Slack answered: what chat.update needs later. */
  readonly channel?: string;
  readonly ts?: string;
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
    if (n.eventType !== 'approval.requested' && n.eventType !== 'approval.escalated') {
      return {
        ok: false,
        attempts: 0,
        status: undefined,
        error: `the Slack app does not post ${n.eventType}`,
      };
    }
    // A request decided before its message went out gets no buttons nobody could use.
    if (approval.status !== 'pending') {
      return {
        ok: false,
        attempts: 0,
        status: undefined,
        error: `approval ${approval.id} is ${approval.status}; nothing to ask`,
      };
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
      ...(channel ? { channel } : {}),
      ...(ts ? { ts } : {}),
    };
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
      const initiator = event?.identity?.initiator;
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
    } catch {
      // The message goes out without it rather than not at all.
      return undefined;
    }
  }
}
