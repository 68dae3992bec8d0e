import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  type PostgresServer,
  postgresUnavailable,
  startPostgres,
} from './postgres-server.js';

// Tests share one private server and run in order: each step builds on the previous one's state.
describe('startPostgres', () => {
  let server: PostgresServer;
  let databaseUrl: string;

  // Generous: on a clean machine the first start includes apt-get install.
  beforeAll(async () => {
    server = await startPostgres();
  }, 600_000);

  afterAll(async () => {
    await server?.destroy();
  });

  async function query(url: string, sql: string): Promise<pg.QueryResult> {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      return await client.query(sql);
    } finally {
      await client.end();
    }
  }

  it('serves a fresh, uniquely named database with fsync on', async () => {
    expect(server.url).toBe(`postgres://postgres@127.0.0.1:${server.port}/postgres`);
    databaseUrl = await createTestDatabase(server.url, 'harness');
    expect(databaseUrl).toMatch(
      new RegExp(`^postgres://postgres@127\\.0\\.0\\.1:${server.port}/warden_harness_[0-9a-f]{12}$`),
    );
    expect(await createTestDatabase(server.url, 'harness')).not.toBe(databaseUrl);
    expect((await query(databaseUrl, 'SHOW fsync')).rows).toEqual([{ fsync: 'on' }]);
    await query(databaseUrl, "CREATE TABLE kept (note text); INSERT INTO kept VALUES ('survives a restart')");
  });

  it('refuses connections once stopped and keeps the data across a restart on the same port', async () => {
    await server.stop();
    await expect(query(databaseUrl, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
    await server.start();
    expect((await query(databaseUrl, 'SELECT note FROM kept')).rows).toEqual([
      { note: 'survives a restart' },
    ]);
  });

  it('setReadOnly reaches an already open session, and turning it off again works', async () => {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      await client.query("INSERT INTO kept VALUES ('before')");
      await server.setReadOnly(true);
      await expect(client.query("INSERT INTO kept VALUES ('while read-only')")).rejects.toMatchObject({
        code: '25006',
        message: expect.stringMatching(/read-only transaction/),
      });
      await server.setReadOnly(false);
      await client.query("INSERT INTO kept VALUES ('after')");
      const { rows } = await client.query('SELECT note FROM kept ORDER BY note');
      expect(rows.map((row) => row.note)).toEqual(['after', 'before', 'survives a restart']);
    } finally {
      await client.end();
    }
  });

  it('destroy stops the server and removes its directory', async () => {
    const { dataDir } = server;
    await server.destroy();
    expect(existsSync(dataDir)).toBe(false);
    await expect(query(databaseUrl, 'SELECT 1')).rejects.toThrow(/ECONNREFUSED/);
  });
});

describe('postgresUnavailable', () => {
  it('fails with a message naming how to install PostgreSQL instead of skipping', () => {
    expect(() => postgresUnavailable('initdb is missing')).toThrow(
      /initdb is missing.*apt-get install -y postgresql/,
    );
  });
});
