import { Writable } from 'node:stream';
import { WardenError } from '@warden/core';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { createServerLogger, errorFields, redactRequestUrl } from './server-logger.js';

/** A destination that keeps every line pino writes. */
function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return { stream, lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('the server logger', () => {
  it('writes one JSON object per line with a named level, the message and the fields', () => {
    const out = capture();
    const log = createServerLogger('warn', out.stream);
    log.warn({ webhook: 'ops', attempts: 2 }, 'webhook ops could not be delivered');
    log.info('below the level');
    log.error(errorFields(new WardenError('STORE_UNAVAILABLE', 'the database is down')), 'live events');
    expect(out.lines()).toEqual([
      expect.objectContaining({
        level: 'warn',
        name: 'warden',
        msg: 'webhook ops could not be delivered',
        webhook: 'ops',
        attempts: 2,
      }),
      expect.objectContaining({
        level: 'error',
        msg: 'live events',
        code: 'STORE_UNAVAILABLE',
        err: { type: 'WardenError', message: 'the database is down' },
      }),
    ]);
    expect(typeof out.lines()[0]?.time).toBe('number');
  });

  it('logs nothing when silent', () => {
    const out = capture();
    createServerLogger('silent', out.stream).fatal('never');
    expect(out.lines()).toEqual([]);
  });

  it('keeps the stack of unexpected failures only', () => {
    const out = capture();
    const log = createServerLogger('error', out.stream);
    log.error(errorFields(new WardenError('INTERNAL', 'a bug')), 'engine');
    const node = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    log.error(errorFields(node), 'webhooks');
    log.error(errorFields('a string'), 'odd');
    const [internal, refused, odd] = out.lines();
    expect(internal).toMatchObject({ code: 'INTERNAL', err: { type: 'WardenError', message: 'a bug' } });
    expect(internal?.err).toMatchObject({ stack: expect.stringMatching(/\n\s+at /) });
    expect(refused).toMatchObject({
      code: 'ECONNREFUSED',
      err: { type: 'Error', message: 'connect ECONNREFUSED' },
    });
    expect(odd).toMatchObject({ err: { type: 'Error', message: 'a string' } });
    expect(odd?.code).toBeUndefined();
  });
});

describe('request log lines', () => {
  it('drop the query string and mask approval-link tokens, through a real Fastify app', async () => {
    const out = capture();
    const app = Fastify({ loggerInstance: createServerLogger('info', out.stream) });
    app.get('/approve/:token', async () => 'ok');
    app.post('/v1/approvals/links/:token', async () => ({ ok: true }));
    app.get('/v1/keys', async () => []);
    try {
      await app.inject({ method: 'GET', url: '/approve/apl_SECRETTOKEN1?sig=SECRETQUERY' });
      await app.inject({ method: 'POST', url: '/v1/approvals/links/apl_SECRETTOKEN2', payload: {} });
      await app.inject({ method: 'GET', url: '/v1/keys?cursor=SECRETQUERY' });
      const urls = out
        .lines()
        .map((l) => (l.req as { url?: string } | undefined)?.url)
        .filter(Boolean);
      expect(urls).toEqual(['/approve/<token>', '/v1/approvals/links/<token>', '/v1/keys']);
      expect(JSON.stringify(out.lines())).not.toMatch(/SECRETTOKEN|SECRETQUERY/);
      expect(out.lines()[0]?.req).toMatchObject({ method: 'GET', remoteAddress: '127.0.0.1' });
    } finally {
      await app.close();
    }
  });

  it('redactRequestUrl masks every token route, whatever follows, and keeps other paths', () => {
    expect(redactRequestUrl('/approve/tok')).toBe('/approve/<token>');
    expect(redactRequestUrl('/approve/tok/')).toBe('/approve/<token>/');
    expect(redactRequestUrl('/v1/approvals/links/tok#frag')).toBe('/v1/approvals/links/<token>');
    expect(redactRequestUrl('/v1/approvals/apr_1/approve?x=1')).toBe('/v1/approvals/apr_1/approve');
    expect(redactRequestUrl('/v1/calls')).toBe('/v1/calls');
  });
});
