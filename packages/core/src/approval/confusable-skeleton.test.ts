import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { confusableSkeleton } from './confusable-skeleton.js';
import { CONFUSABLES_COUNT, CONFUSABLES_SOURCE, CONFUSABLES_UNICODE_VERSION } from './confusables-table.js';

describe('confusable skeleton (UTS #39)', () => {
  it('maps look-alikes from other scripts to the same skeleton', () => {
    const tom = confusableSkeleton('tom');
    expect(confusableSkeleton('t\u043em')).toBe(tom); // Cyrillic о
    expect(confusableSkeleton('t\u03bfm')).toBe(tom); // Greek ο
    expect(confusableSkeleton('\u0430lice')).toBe(confusableSkeleton('alice')); // Cyrillic а
    expect(confusableSkeleton('pay\u0440al')).toBe(confusableSkeleton('paypal')); // Cyrillic р
  });

  it('is the standard skeleton: case-sensitive, marks kept, rn and m joined', () => {
    expect(confusableSkeleton('m')).toBe('rn');
    expect(confusableSkeleton('M')).toBe('M');
    expect(confusableSkeleton('\u00f3')).toBe('o\u0301'); // ó decomposed, the mark kept
    expect(confusableSkeleton('tim')).not.toBe(confusableSkeleton('tom'));
  });

  it('is generated from the package named, with every mapping in it', () => {
    const require = createRequire(import.meta.url);
    const [name, version] = CONFUSABLES_SOURCE.split('@') as [string, string];
    const pkg = require(`${name}/package.json`) as { version: string };
    expect(pkg.version).toBe(version);
    const data = JSON.parse(readFileSync(require.resolve(`${name}/data.json`), 'utf8')) as Record<
      string,
      string
    >;
    expect(Object.keys(data)).toHaveLength(CONFUSABLES_COUNT);
    expect(CONFUSABLES_UNICODE_VERSION).toMatch(/^\d+\.\d+\.\d+$/);
    // Each source that NFD leaves alone becomes exactly its prototype (in NFD, as the skeleton ends).
    const wrong = Object.entries(data).filter(
      ([from, to]) => from.normalize('NFD') === from && confusableSkeleton(from) !== to.normalize('NFD'),
    );
    expect(wrong.slice(0, 5)).toEqual([]);
  });
});
