import { CONFUSABLES_DATA } from './confusables-table.js';

/**
 * The UTS #39 confusable skeleton: two strings that look alike (Latin `tom` and `tоm` with a Cyrillic о)
 * have the same skeleton. skeleton(X) = NFD(X), each character replaced by its confusables.txt
 * prototype, NFD again. The table is generated into core (see confusables-table.ts), so this is pure.
 */

let table: Map<number, string> | undefined;

/** The confusables table as code point → prototype, decoded once on first use. */
function prototypes(): Map<number, string> {
  if (table) return table;
  const map = new Map<number, string>();
  for (const pair of CONFUSABLES_DATA.split(';')) {
    if (pair === '') continue;
    const [from, to] = pair.split(':') as [string, string];
    map.set(
      Number.parseInt(from, 16),
      String.fromCodePoint(...to.split(' ').map((h) => Number.parseInt(h, 16))),
    );
  }
  table = map;
  return map;
}

/** The UTS #39 skeleton of `s` (exactly as the standard defines it: no case folding, marks kept). */
export function confusableSkeleton(s: string): string {
  const map = prototypes();
  let out = '';
  for (const ch of s.normalize('NFD')) out += map.get(ch.codePointAt(0) as number) ?? ch;
  return out.normalize('NFD');
}
