import { createHmac, timingSafeEqual } from 'node:crypto';
import { WardenError } from '@warden/core';

/** Slack's request headers (Node lower-cases them). */
export const SLACK_SIGNATURE_HEADER = 'x-slack-signature';
export const SLACK_TIMESTAMP_HEADER = 'x-slack-request-timestamp';

/** How far a request's timestamp may be from now: Slack's advice, and what bounds a replay. */
export const SLACK_TOLERANCE_SECONDS = 5 * 60;

/**
 * `v0=` + hex HMAC-SHA256(signing secret, `v0:{timestamp}:{body}`), over the body's raw bytes: what Slack
 * sends in X-Slack-Signature ("Verifying requests from Slack"). Pure; the stand-in signs with it too.
 */
export function slackSignature(signingSecret: string, timestamp: string, rawBody: Buffer | string): string {
  const mac = createHmac('sha256', signingSecret);
  mac.update(`v0:${timestamp}:`);
  mac.update(rawBody);
  return `v0=${mac.digest('hex')}`;
}

/**
 * Checks a request from Slack: the timestamp is whole seconds within {@link SLACK_TOLERANCE_SECONDS} of
 * `now`, and the signature matches the raw body (compared in constant time). Throws
 * SLACK_SIGNATURE_INVALID saying which check failed (never the expected signature).
 */
export function verifySlackRequest(
  signingSecret: string,
  headers: Record<string, string | string[] | undefined>,
  rawBody: Buffer,
  now: Date = new Date(),
): void {
  const timestamp = one(headers[SLACK_TIMESTAMP_HEADER]);
  const signature = one(headers[SLACK_SIGNATURE_HEADER]);
  if (timestamp === undefined || signature === undefined) {
    throw invalid('missing', 'the X-Slack-Signature and X-Slack-Request-Timestamp headers are required');
  }
  if (!/^\d{1,12}$/.test(timestamp)) {
    throw invalid('timestamp', 'X-Slack-Request-Timestamp is not a Unix time in seconds');
  }
  const skew = Math.abs(Math.floor(now.getTime() / 1000) - Number(timestamp));
  if (skew > SLACK_TOLERANCE_SECONDS) {
    throw invalid(
      'stale',
      `X-Slack-Request-Timestamp is ${skew} s from now (at most ${SLACK_TOLERANCE_SECONDS} s): a replay, or a clock that is off`,
    );
  }
  const expected = Buffer.from(slackSignature(signingSecret, timestamp, rawBody));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw invalid('signature', 'X-Slack-Signature does not match the body signed with the signing secret');
  }
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : v;
}

function invalid(reason: string, message: string): WardenError {
  return new WardenError('SLACK_SIGNATURE_INVALID', `not a request from Slack: ${message}`, { reason });
}
