import { describe, expect, it } from 'vitest';
import { slackSignature, verifySlackRequest } from './slack-signature.js';

// The worked example of Slack's "Verifying requests from Slack".
const SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const TS = '1531420618';
const BODY =
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
const SIGNATURE = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';
const AT = new Date(Number(TS) * 1000);
const headers = (over: Record<string, string | undefined> = {}) => ({
  'x-slack-request-timestamp': TS,
  'x-slack-signature': SIGNATURE,
  ...over,
});
const reasonOf = (f: () => void) => {
  try {
    f();
    return 'accepted';
  } catch (err) {
    expect(err).toMatchObject({ code: 'SLACK_SIGNATURE_INVALID' });
    return (err as { details: { reason: string } }).details.reason;
  }
};

describe('Slack request signatures', () => {
  it("computes Slack's published example and accepts it within five minutes", () => {
    expect(slackSignature(SECRET, TS, BODY)).toBe(SIGNATURE);
    expect(slackSignature(SECRET, TS, Buffer.from(BODY))).toBe(SIGNATURE);
    expect(reasonOf(() => verifySlackRequest(SECRET, headers(), Buffer.from(BODY), AT))).toBe('accepted');
    const later = new Date(AT.getTime() + 299_000);
    expect(reasonOf(() => verifySlackRequest(SECRET, headers(), Buffer.from(BODY), later))).toBe('accepted');
  });

  it('refuses another secret, another body, an old or future timestamp, missing or doubled headers', () => {
    const body = Buffer.from(BODY);
    expect(reasonOf(() => verifySlackRequest(`${SECRET}x`, headers(), body, AT))).toBe('signature');
    expect(reasonOf(() => verifySlackRequest(SECRET, headers(), Buffer.from(`${BODY}&x=1`), AT))).toBe(
      'signature',
    );
    const upper = headers({ 'x-slack-signature': SIGNATURE.toUpperCase() });
    expect(reasonOf(() => verifySlackRequest(SECRET, upper, body, AT))).toBe('signature');
    const tooLate = new Date(AT.getTime() + 301_000);
    expect(reasonOf(() => verifySlackRequest(SECRET, headers(), body, tooLate))).toBe('stale');
    const tooEarly = new Date(AT.getTime() - 301_000);
    expect(reasonOf(() => verifySlackRequest(SECRET, headers(), body, tooEarly))).toBe('stale');
    // The timestamp is part of what is signed: moving it forward breaks the signature.
    const moved = headers({ 'x-slack-request-timestamp': String(Number(TS) + 60) });
    expect(reasonOf(() => verifySlackRequest(SECRET, moved, body, AT))).toBe('signature');
    const noSig = headers({ 'x-slack-signature': undefined });
    expect(reasonOf(() => verifySlackRequest(SECRET, noSig, body, AT))).toBe('missing');
    const twice = { ...headers(), 'x-slack-signature': [SIGNATURE, SIGNATURE] };
    expect(reasonOf(() => verifySlackRequest(SECRET, twice, body, AT))).toBe('missing');
    const words = headers({ 'x-slack-request-timestamp': '1531420618.5' });
    expect(reasonOf(() => verifySlackRequest(SECRET, words, body, AT))).toBe('timestamp');
  });
});
