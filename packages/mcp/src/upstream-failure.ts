import { ProtocolError, SdkError, SdkHttpError } from '@modelcontextprotocol/client';

/**
 * A short, safe name for why an upstream failed, for the text the agent (and so the model) reads: an HTTP
 * status, a JSON-RPC error code, an SDK or system error code (ECONNREFUSED, ENOENT). Never the error's
 * message: that can carry the upstream's response body (a stack trace, a password in a connection
 * string) or its URL with tokens. The whole message goes only to the gateway's log.
 */
export function failureDetail(err: unknown): string {
  if (SdkHttpError.isInstance(err) && typeof err.status === 'number') return `HTTP ${err.status}`;
  if (ProtocolError.isInstance(err)) return `MCP error ${err.code}`;
  if (SdkError.isInstance(err)) return String(err.code);
  const message = err instanceof Error ? err.message : '';
  // The SDK's plain Error for a failed POST starts "Error POSTing to endpoint (HTTP 500): <body>".
  const http = /\(HTTP (\d{3})\)/.exec(message);
  if (http) return `HTTP ${http[1]}`;
  const codeOf = (e: unknown) => (e as { code?: unknown } | undefined)?.code;
  for (const code of [codeOf(err), codeOf((err as { cause?: unknown } | undefined)?.cause)]) {
    if (typeof code === 'string' && /^[A-Z0-9_]+$/.test(code)) return code;
  }
  return err instanceof Error && /^[A-Za-z]+$/.test(err.name) ? err.name : 'an error';
}
