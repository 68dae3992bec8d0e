import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { forEachLine } from './stderr-lines.js';

function lines(max = 16) {
  const input = new PassThrough();
  const got: string[] = [];
  forEachLine(input, (l) => got.push(l), max);
  return { input, got };
}

describe('forEachLine', () => {
  it('splits on \\n and \\r\\n across chunks, and passes on a last line without a newline at the end', () => {
    const { input, got } = lines();
    input.write('one\r\ntw');
    input.write('o\nthr');
    input.end('ee');
    return new Promise<void>((resolve) =>
      input.on('end', () => {
        expect(got).toEqual(['one', 'two', 'three']);
        resolve();
      }),
    );
  });

  it('cuts a long line at the cap with a marker and drops the rest of it, up to its newline', () => {
    const { input, got } = lines(16);
    input.write(`${'a'.repeat(40)}\nshort\n`);
    expect(got).toEqual([`${'a'.repeat(16)}… [line cut at 16 bytes]`, 'short']);
  });

  it('passes a line without a newline on as soon as it reaches the cap, holding no more of it', () => {
    const { input, got } = lines(16);
    for (let i = 0; i < 1000; i++) input.write('b'.repeat(1024));
    // No newline has come: readline would still be holding the whole megabyte.
    expect(got).toEqual([`${'b'.repeat(16)}… [line cut at 16 bytes]`]);
    input.write('still the same line\nnext\n');
    expect(got).toHaveLength(2);
    expect(got[1]).toBe('next');
  });
});
