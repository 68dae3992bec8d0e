import { isWardenError } from '@warden/core';
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';

/** The server's logger: pino, shared with Fastify (request logs) so every line has one shape. */
export type ServerLogger = Logger;

/** The levels a server may log at (`logLevel`); `silent` logs nothing. */
export type ServerLogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';

/**
 * A pino logger writing one JSON object per line (`level`, `time`, `msg`, and fields such as `code` and
 * `err`) to stderr, synchronously so a line written just before the process exits is not lost. Stderr,
 * because stdout carries `warden serve`'s start-up banner for the person who started it (the URL, the
 * one-time admin key); a collector reads stderr and sees only log lines.
 */
export function createServerLogger(
  level: ServerLogLevel,
  destination: DestinationStream = pino.destination({ dest: 2, sync: true }),
): ServerLogger {
  const options: LoggerOptions = {
    level,
    // Named levels ("warn") rather than pino's numbers: readable without a table, and what most
    // collectors map by default.
    formatters: { level: (label) => ({ level: label }) },
    base: { pid: process.pid, name: 'warden' },
    // `req` replaces Fastify's request serializer (ours win over its defaults): see serializeRequest.
    serializers: { err: serializeError, req: serializeRequest },
  };
  return pino(options, destination);
}

/** The parts of a Fastify request a request log line shows. */
interface LoggedRequest {
  readonly method?: string;
  readonly url?: string;
  readonly host?: string;
  readonly ip?: string;
  readonly socket?: { readonly remotePort?: number };
}

/**
 * A request as Fastify's own serializer writes it (method, url, host, remote address and port), except
 * that the URL loses its query string and every approval-link token in its path (/approve/<token>,
 * /v1/approvals/links/<token>): each is a bearer credential that decides an approval, and logs are read
 * by more people, and kept longer, than the links are meant to live.
 */
function serializeRequest(req: LoggedRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: typeof req.url === 'string' ? redactRequestUrl(req.url) : req.url,
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** A request URL for the log: no query string or fragment, token path segments replaced by `<token>`. */
export function redactRequestUrl(url: string): string {
  const path = url.split(/[?#]/, 1)[0] ?? '';
  return path
    .replace(/(\/approve\/)[^/]+/gi, '$1<token>')
    .replace(/(\/approvals\/links\/)[^/]+/gi, '$1<token>');
}

/**
 * `err` as pino writes it (type, message, stack), except that an expected failure (a WardenError other
 * than INTERNAL: a bad policy file, an unreachable store) carries no stack, which would only say where
 * Warden noticed, not what is wrong.
 */
function serializeError(err: unknown): unknown {
  if (isWardenError(err) && err.code !== 'INTERNAL') return { type: err.name, message: err.message };
  return err instanceof Error ? pino.stdSerializers.err(err) : err;
}

/** Log fields for a failure: its stable `code` when it has one, and `err` (an Error, for the serializer). */
export function errorFields(err: unknown): Record<string, unknown> {
  const error = err instanceof Error ? err : new Error(String(err));
  const code = isWardenError(err) ? err.code : (err as NodeJS.ErrnoException | undefined)?.code;
  return { ...(typeof code === 'string' ? { code } : {}), err: error };
}
