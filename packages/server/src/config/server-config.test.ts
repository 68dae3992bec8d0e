import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveServerConfig } from './server-config.js';

const dir = mkdtempSync(join(tmpdir(), 'warden-config-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

describe('resolveServerConfig', () => {
  it('has defaults that run with no arguments', () => {
    expect(resolveServerConfig({}, {})).toMatchObject({
      db: './warden.db',
      port: 7400,
      host: '127.0.0.1',
      bodyLimitBytes: 1024 * 1024,
    });
  });

  it('flags beat environment, which beats the config file', () => {
    const config = file('c.yaml', 'port: 9000\nhost: 0.0.0.0\ndb: from-file.db\npollMs: 500\n');
    const env = { WARDEN_CONFIG: config, WARDEN_PORT: '9100', WARDEN_DB: 'from-env.db' };
    expect(resolveServerConfig({}, env)).toMatchObject({
      port: 9100,
      host: '0.0.0.0',
      db: 'from-env.db',
      pollMs: 500,
    });
    expect(resolveServerConfig({ port: '9200' }, env)).toMatchObject({ port: 9200, db: 'from-env.db' });
    expect(resolveServerConfig({ db: 'sqlite:/tmp/x.db' }, {}).db).toBe('/tmp/x.db');
  });

  it('reads JSON config files too', () => {
    expect(resolveServerConfig({ config: file('c.json', '{"port": 8123}') }, {}).port).toBe(8123);
  });

  it('names the bad setting and where it came from', () => {
    expect(() => resolveServerConfig({}, { WARDEN_PORT: 'abc' })).toThrow(/port \(environment\)/);
    expect(() => resolveServerConfig({ port: '70000' }, {})).toThrow(/port \(flag\)/);
    const unknown = file('u.yaml', 'prot: 80\n');
    expect(() => resolveServerConfig({ config: unknown }, {})).toThrow(/prot/);
    expect(() => resolveServerConfig({ config: join(dir, 'missing.yaml') }, {})).toThrow(
      /cannot read the config file/,
    );
    expect(() => resolveServerConfig({ config: file('bad.yaml', '- a\n- b\n') }, {})).toThrow(
      /must be a mapping/,
    );
    try {
      resolveServerConfig({}, { WARDEN_LOG_LEVEL: 'loud' });
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'CONFIG_INVALID' });
    }
  });
});
