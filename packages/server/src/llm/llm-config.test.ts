import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveServerConfig } from '../config/server-config.js';

const dir = mkdtempSync(join(tmpdir(), 'warden-llm-config-'));
const configFile = (llm: unknown) => {
  const p = join(dir, `c${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(p, JSON.stringify({ llm }));
  return p;
};

describe('the llm setting', () => {
  it('proxies nothing by default, and reserves 4096 output tokens for an uncapped request', () => {
    expect(resolveServerConfig({}, {}).llm).toEqual({
      maxOutputTokensDefault: 4_096,
      bodyLimitBytes: 32 * 1024 * 1024,
    });
  });

  it('defaults each upstream to the provider’s own API and reads env:NAME keys from the environment', () => {
    const file = configFile({
      openai: { apiKey: 'env:OPENAI_KEY' },
      anthropic: { baseUrl: 'http://gateway.internal:8080/anthropic/', apiKey: 'sk-ant-literal' },
      maxOutputTokensDefault: 2000,
    });
    expect(resolveServerConfig({ config: file }, { OPENAI_KEY: 'sk-from-env' }).llm).toEqual({
      openai: { baseUrl: 'https://api.openai.com', apiKey: 'sk-from-env' },
      anthropic: { baseUrl: 'http://gateway.internal:8080/anthropic', apiKey: 'sk-ant-literal' },
      maxOutputTokensDefault: 2000,
      bodyLimitBytes: 32 * 1024 * 1024,
    });
  });

  it('names the setting and its file when a key variable is unset or a value is wrong', () => {
    const unset = configFile({ openai: { apiKey: 'env:MISSING_KEY' } });
    expect(() => resolveServerConfig({ config: unset }, {})).toThrow(
      new RegExp(
        `llm\\.openai\\.apiKey \\(${unset.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\): the environment variable MISSING_KEY is not set`,
      ),
    );
    expect(() => resolveServerConfig({ config: configFile({ openai: {} }) }, {})).toThrow(
      /llm\.openai\.apiKey/,
    );
    expect(() =>
      resolveServerConfig(
        { config: configFile({ openai: { baseUrl: 'https://api.openai.com/v1', apiKey: 'k' } }) },
        {},
      ),
    ).toThrow(/llm\.openai\.baseUrl .*without \/v1/);
    expect(() => resolveServerConfig({ config: configFile({ mistral: { apiKey: 'k' } }) }, {})).toThrow(
      /mistral/,
    );
    // Gemini is a provider: its upstream defaults to Google's Gemini API.
    expect(resolveServerConfig({ config: configFile({ gemini: { apiKey: 'k' } }) }, {}).llm.gemini).toEqual({
      baseUrl: 'https://generativelanguage.googleapis.com',
      apiKey: 'k',
    });
    try {
      resolveServerConfig({ config: configFile({ maxOutputTokensDefault: 0 }) }, {});
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({
        code: 'CONFIG_INVALID',
        message: expect.stringContaining('maxOutputTokensDefault'),
      });
    }
  });
});
