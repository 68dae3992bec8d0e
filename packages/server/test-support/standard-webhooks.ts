/**
 * What a webhook receiver does with a Warden delivery: verify it with the `standardwebhooks` library, as
 * the docs tell receivers to. A `whsec_` secret is given to the library as it is; any other secret is
 * keyed by its bytes (the library's raw format), which is how Warden signs with it.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { Webhook } from 'standardwebhooks';

/** A receiver's verifier for `secret`. */
export function receiverFor(secret: string): Webhook {
  return secret.startsWith('whsec_')
    ? new Webhook(secret)
    : new Webhook(new TextEncoder().encode(secret), { format: 'raw' });
}

/** The library's verdict on one received request: undefined when it verifies, else its error message. */
export function verifyFailure(
  secret: string,
  got: { readonly raw: string; readonly headers: IncomingHttpHeaders } | undefined,
): string | undefined {
  try {
    receiverFor(secret).verify(got?.raw ?? '', (got?.headers ?? {}) as Record<string, string>);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
