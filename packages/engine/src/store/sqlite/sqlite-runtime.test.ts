import { describe, expect, it } from 'vitest';
import { assertSqliteRuntime } from './sqlite-runtime.js';

describe('assertSqliteRuntime', () => {
  it('refuses Node.js 22.12 (Node-API 9), naming the version needed, instead of crashing in the driver', () => {
    const node2212 = { ...process.versions, node: '22.12.0', napi: '9' };
    expect(() => assertSqliteRuntime(node2212)).toThrow(
      expect.objectContaining({ code: 'STORE_INVALID', message: expect.stringMatching(/22\.14.*22\.12\.0/) }),
    );
  });

  it('accepts Node.js 22.14 (Node-API 10) and the running Node.js', () => {
    expect(() => assertSqliteRuntime({ ...process.versions, node: '22.14.0', napi: '10' })).not.toThrow();
    expect(() => assertSqliteRuntime()).not.toThrow();
  });
});
