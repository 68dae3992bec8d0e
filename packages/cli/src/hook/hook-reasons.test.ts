import { describe, expect, it } from 'vitest';
import { redactUrls } from './hook-reasons.js';

describe('redactUrls', () => {
  it('drops userinfo, query and fragment of every URL in a message, keeping host, port and path', () => {
    expect(
      redactUrls(
        'Warden could not be reached at https://u:p%40ss@warden.example:7400/base?token=abc#x: refused; approve at `warden approvals approve a1 --url http://k@h/` or http://plain/approvals/a1.',
      ),
    ).toBe(
      'Warden could not be reached at https://warden.example:7400/base: refused; approve at `warden approvals approve a1 --url http://h/` or http://plain/approvals/a1.',
    );
    expect(redactUrls('no url here: user@example.com')).toBe('no url here: user@example.com');
  });
});
