import { createHmac } from 'node:crypto';
import { type AuditEvent, type AuditEventType, isWardenError } from '@warden/core';
import type { Engine, NotificationRecord } from '@warden/engine';
import { approvalEvent } from '@warden/engine';
import type { ServerConfig, WebhookConfig } from '../config/server-config.js';
import { approvalView } from '../routes/approval-routes.js';
import { createApprovalLinkToken } from './approval-links.js';
import { buildEventWebhookBody, isEventNotificationKind } from './event-payload.js';
import { SLACK_TARGET } from './slack-config.js';
import { SlackNotifier } from './slack-notifier.js';
import { type ApprovalLinks, type ApprovalNotificationKind, buildWebhookBody } from './webhook-payload.js';
import { deliverWebhook } from './webhook-sender.js';

/** The key that signs approval links, derived from the engine's HMAC key so links need no key of their own. */
export function linkKey(engine: Engine): Buffer {
  return createHmac('sha256', engine.keys.hmacKey).update('warden approval links v1').digest();
}

/** How many deliveries one instance runs at once: a dead endpoint holds one slot, not the whole outbox. */
const MAX_CONCURRENT = 8;

const SYSTEM = { kind: 'system', id: 'warden' } as const;

/**
 * The audit event recording the delivery of a budget or session notification. Every webhook delivery
 * is recorded under one type, so one query finds them all; `data.eventType` says what was announced and
 * `data.eventId` which event.
 */
const EVENT_DELIVERY_TYPE: AuditEventType = 'notification.sent';

/** What a claimed row is about: the body to send (or why there is none) and how its outcome is audited. */
interface Subject {
  readonly body?: object;
  readonly error?: string;
  readonly record: (ts: string, data: Record<string, unknown>) => AuditEvent;
}

/** A delivery that ended without success (after every attempt), for the log. */
export interface FailedDelivery {
  readonly webhook: string;
  readonly notification: string;
  readonly eventType: string;
  readonly attempts: number;
  readonly status?: number;
  readonly error: string;
}

/** How a delivery ended. */
interface Outcome {
  readonly ok: boolean;
  readonly attempts: number;
  readonly error: string | null;
  readonly status: number | undefined;
}

/**
 * Delivers queued notifications: the outbox rows committed with each approval event, and with each budget
 * alert, budget refusal, session pause and tripped breaker (rows without an approval). Every
 * instance runs one; a row is claimed with a lease, so exactly one instance delivers it, and a row whose
 * deliverer died is picked up again when the lease runs out. Only rows for webhooks this instance has are
 * claimed. Each delivery's outcome is an audit event.
 */
export class NotificationDispatcher {
  readonly #engine: Engine;
  readonly #config: ServerConfig;
  readonly #baseUrl: () => string;
  readonly #onError: (err: unknown) => void;
  readonly #onFailed: (failed: FailedDelivery) => void;
  readonly #maxConcurrent: number;
  readonly #abort = new AbortController();
  readonly #inFlight = new Set<Promise<void>>();
  /** The Slack app, when configured: its outbox rows (target SLACK_TARGET) are posted with the Web API. */
  readonly #slack: SlackNotifier | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** The claim under way, if any: stop() waits for it, so nothing is started after it returns. */
  #claiming: Promise<void> | undefined;

  constructor(
    engine: Engine,
    config: ServerConfig,
    options: {
      baseUrl: () => string;
      /** A failure of the dispatcher itself (a claim, a bug); the rows stay leased and are retried. */
      onError?: (err: unknown) => void;
      /** A delivery given up on (recorded as failed in the audit too). */
      onFailed?: (failed: FailedDelivery) => void;
      maxConcurrent?: number;
    },
  ) {
    this.#engine = engine;
    this.#config = config;
    this.#baseUrl = options.baseUrl;
    this.#onError = options.onError ?? (() => {});
    this.#onFailed = options.onFailed ?? (() => {});
    this.#maxConcurrent = Math.max(1, options.maxConcurrent ?? MAX_CONCURRENT);
    this.#slack = config.slack ? new SlackNotifier(engine, config.slack, config.publicUrl) : undefined;
  }

  /** Polls the outbox every `intervalMs` while webhooks are configured. */
  start(intervalMs: number): void {
    if (this.#config.webhooks.length === 0 && !this.#slack) return;
    this.#timer = setInterval(() => void this.runOnce(), intervalMs);
    this.#timer.unref();
  }

  /**
   * Claims what is due, as many rows as there are free delivery slots, and starts delivering them;
   * resolves once they are started, not delivered (see {@link idle}).
   */
  async runOnce(): Promise<void> {
    if (this.#claiming || this.#abort.signal.aborted) return;
    const free = this.#maxConcurrent - this.#inFlight.size;
    if (free <= 0) return;
    this.#claiming = this.#claim(free).finally(() => {
      this.#claiming = undefined;
    });
    await this.#claiming;
  }

  /** Resolves once no delivery is in flight (those started meanwhile included). */
  async idle(): Promise<void> {
    while (this.#claiming || this.#inFlight.size > 0) {
      await Promise.allSettled([this.#claiming, ...this.#inFlight]);
    }
  }

  /** Stops claiming, aborts deliveries in flight (their leases let another instance retry them). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#abort.abort();
    await this.idle();
  }

  async #claim(limit: number): Promise<void> {
    try {
      const now = new Date();
      // Long enough for every retry of a delivery: attempts × (timeout + longest backoff).
      const leaseMs = this.#config.webhookMaxAttempts * 45_000;
      const claimed = await this.#engine.store.claimNotifications(
        this.#engine.instanceId,
        now.toISOString(),
        new Date(now.getTime() + leaseMs).toISOString(),
        limit,
        [...this.#config.webhooks.map((w) => w.name), ...(this.#slack ? [SLACK_TARGET] : [])],
      );
      for (const n of claimed) this.#track(this.#deliver(n));
    } catch (err) {
      this.#onError(err);
    }
  }

  #track(p: Promise<void>): void {
    const run: Promise<void> = p.catch((err) => this.#onError(err)).finally(() => this.#inFlight.delete(run));
    this.#inFlight.add(run);
  }

  async #deliver(n: NotificationRecord): Promise<void> {
    if (n.target === SLACK_TARGET && this.#slack) return this.#deliverSlack(n, this.#slack);
    const target = this.#config.webhooks.find((w) => w.name === n.target);
    // Only configured targets are claimed, so this is a bug, not a bad row: leave the row to its lease
    // (another instance, or this one restarted, retries it) rather than failing it for good.
    if (!target)
      throw new Error(`claimed notification ${n.id} for ${n.target}, a webhook not configured here`);
    // Stopped between the claim and now: the lease runs out and another instance delivers it.
    if (this.#abort.signal.aborted) return;
    const subject =
      n.approvalId === null
        ? await this.#eventSubject(n, target)
        : await this.#approvalSubject(n.approvalId, n, target);
    let r: Outcome = { ok: false, attempts: 0, error: subject.error ?? null, status: undefined };
    if (subject.body) {
      const result = await deliverWebhook(
        target,
        { id: n.id, body: subject.body },
        {
          maxAttempts: this.#config.webhookMaxAttempts,
          baseDelayMs: this.#config.webhookBaseDelayMs,
          signal: this.#abort.signal,
        },
      );
      r = {
        ok: result.ok,
        attempts: result.attempts,
        status: result.status,
        error: result.ok ? null : (result.error ?? `HTTP ${result.status}`),
      };
      // Shutting down: leave the row claimed; the lease runs out and another instance delivers it.
      if (this.#abort.signal.aborted && !r.ok) return;
    }
    try {
      await this.#finish(n, target.format, subject.record, r);
    } catch (err) {
      // The lease ran out and another instance took the row over: its outcome is the one recorded.
      if (!isWardenError(err, 'APPROVAL_CONFLICT')) throw err;
      return;
    }
    if (!r.ok) {
      this.#onFailed({
        webhook: n.target,
        notification: n.id,
        eventType: n.eventType,
        attempts: r.attempts,
        ...(r.status !== undefined ? { status: r.status } : {}),
        error: r.error ?? 'not delivered',
      });
    }
  }

  /**
   * A Slack app row: chat.postMessage with Approve and Deny buttons, with the same lease, retries and
   * audit (`approval.notified`, with the message's channel and ts) as a webhook.
   */
  async #deliverSlack(n: NotificationRecord, slack: SlackNotifier): Promise<void> {
    if (this.#abort.signal.aborted) return;
    const id = n.approvalId;
    const approval = id === null ? undefined : await this.#engine.store.approval(id);
    const record: Subject['record'] = (ts, data) =>
      approval
        ? approvalEvent('approval.notified', approval, SYSTEM, this.#engine.instanceId, ts, data)
        : this.#deliveryEvent(n, ts, { ...(id ? { approvalId: id } : {}), ...data }, {});
    const d = approval
      ? await slack.deliver(n, approval, {
          maxAttempts: this.#config.webhookMaxAttempts,
          baseDelayMs: this.#config.webhookBaseDelayMs,
          signal: this.#abort.signal,
        })
      : {
          ok: false,
          attempts: 0,
          status: undefined,
          error: id ? `approval ${id} no longer exists` : 'the Slack app posts approval requests only',
        };
    // Shutting down: leave the row claimed; the lease runs out and another instance delivers it.
    if (this.#abort.signal.aborted && !d.ok) return;
    try {
      await this.#finish(n, 'slack-app', record, d, 'data' in d ? d.data : {});
    } catch (err) {
      if (!isWardenError(err, 'APPROVAL_CONFLICT')) throw err;
      return;
    }
    if (!d.ok) {
      this.#onFailed({
        webhook: n.target,
        notification: n.id,
        eventType: n.eventType,
        attempts: d.attempts,
        ...(d.status !== undefined ? { status: d.status } : {}),
        error: d.error ?? 'not delivered',
      });
    }
  }

  /** An approval row: the request as it stands now, with signed links to decide it. */
  async #approvalSubject(id: string, n: NotificationRecord, target: WebhookConfig): Promise<Subject> {
    const approval = await this.#engine.store.approval(id);
    if (!approval) {
      return {
        error: `approval ${id} no longer exists`,
        record: (ts, data) =>
          this.#engine.systemEvent('approval.notified', SYSTEM, { ts, data: { approvalId: id, ...data } }),
      };
    }
    const kind = n.eventType as ApprovalNotificationKind;
    return {
      body: buildWebhookBody(
        target.format,
        { kind, approval: approvalView(approval), links: this.#links(kind, approval.id, approval.expiresAt) },
        { id: n.id, ts: n.createdAt },
      ),
      record: (ts, data) =>
        approvalEvent('approval.notified', approval, SYSTEM, this.#engine.instanceId, ts, data),
    };
  }

  /**
   * A budget or session row (no approval): the stored event it announces, read by id, with the session's
   * agent when the event names only the session, and a link to the session when publicUrl is set.
   */
  async #eventSubject(n: NotificationRecord, target: WebhookConfig): Promise<Subject> {
    const failed = (error: string): Subject => ({
      error,
      record: (ts, data) => this.#deliveryEvent(n, ts, data, {}),
    });
    if (!isEventNotificationKind(n.eventType)) return failed(`no notification is defined for ${n.eventType}`);
    const page = await this.#engine.store.queryAudit({ eventId: n.eventId, limit: 1 });
    // Checked, not trusted: a store that ignored the filter would hand back some other event.
    const event = page.records.find((r) => r.event.id === n.eventId)?.event;
    if (!event) return failed(`event ${n.eventId} no longer exists (purged?)`);
    const agent =
      event.agent ??
      (event.session ? (await this.#engine.store.getSession(event.session))?.agent : undefined);
    const about = { ...(agent ? { agent } : {}), ...(event.session ? { session: event.session } : {}) };
    const base = this.#config.publicUrl?.replace(/\/+$/, '');
    const links =
      base && event.session ? { session: `${base}/sessions/${encodeURIComponent(event.session)}` } : {};
    return {
      body: buildEventWebhookBody(
        target.format,
        { kind: n.eventType, event, ...(agent ? { agent } : {}), links },
        { id: n.id, ts: n.createdAt },
      ),
      record: (ts, data) => this.#deliveryEvent(n, ts, data, about),
    };
  }

  /** The audit record of a budget or session delivery: what it announced, and how the delivery went. */
  #deliveryEvent(
    n: NotificationRecord,
    ts: string,
    data: Record<string, unknown>,
    fields: Partial<AuditEvent>,
  ): AuditEvent {
    return this.#engine.systemEvent(EVENT_DELIVERY_TYPE, SYSTEM, {
      ...fields,
      ts,
      data: { eventId: n.eventId, ...data },
    });
  }

  async #finish(
    n: NotificationRecord,
    format: string,
    record: Subject['record'],
    r: Outcome,
    extra: Record<string, unknown> = {},
  ): Promise<void> {
    const ts = new Date().toISOString();
    const data = {
      notification: n.id,
      target: n.target,
      format,
      eventType: n.eventType,
      delivered: r.ok,
      attempts: r.attempts,
      ...(r.status !== undefined ? { status: r.status } : {}),
      ...(r.error ? { error: r.error } : {}),
      ...extra,
    };
    await this.#engine.commit({
      mutations: [
        {
          kind: 'notification.finish',
          id: n.id,
          owner: this.#engine.instanceId,
          state: r.ok ? 'delivered' : 'failed',
          attempts: r.attempts,
          lastError: r.error,
          ts,
        },
      ],
      events: [record(ts, data)],
    });
  }

  /** Signed one-time links to decide from the notification; they still require the approver's key. */
  #links(kind: ApprovalNotificationKind, id: string, expiresAt: string): ApprovalLinks {
    const key = linkKey(this.#engine);
    const base = this.#baseUrl();
    // Deciding links die with the request; a view link outlives it by a week, to look back at the outcome.
    const until = (action: string) =>
      new Date(
        action === 'view'
          ? Math.max(Date.parse(expiresAt), Date.now()) + 7 * 86_400_000
          : Date.parse(expiresAt),
      );
    const link = (action: 'approve' | 'deny' | 'view') =>
      `${base}/approve/${createApprovalLinkToken(key, { approvalId: id, action, expiresAt: until(action) })}`;
    if (kind === 'approval.decided') return { view: link('view') };
    return { approve: link('approve'), deny: link('deny'), view: link('view') };
  }
}
