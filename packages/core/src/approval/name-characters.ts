/**
 * Which characters a person's name may hold. A name is compared and shown to people, so every character
 * in it must be one a reader sees: Unicode's graphic characters (letters, marks, numbers, punctuation,
 * symbols and spaces; The Unicode Standard §2.4, table 2-3), less the few graphic ones drawn as nothing.
 */

/**
 * Graphic characters drawn as blank space although they are not spaces: the Braille pattern blank and
 * the Hangul fillers. `tom\u2800` reads as `tom`.
 */
const BLANK_LOOKALIKES = /[\u2800\u115f\u1160\u3164\uffa0]/gu;

/**
 * Everything not graphic, by general category: controls (Cc: C0, DEL, C1 such as U+0085), format
 * characters (Cf: zero-width, bidirectional overrides), line and paragraph separators, surrogates,
 * private use (Co: drawn as whatever a font chooses, so no one can tell what it says) and unassigned
 * code points (Cn: no meaning yet). Default-ignorable characters are drawn as nothing even when graphic
 * (U+034F, variation selectors).
 */
const NON_GRAPHIC = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}\p{Co}\p{Cn}\p{Default_Ignorable_Code_Point}]/u;

/** Why a character is refused, for the message. */
function kindOf(ch: string): string {
  if (/\p{Cc}/u.test(ch)) return 'a control character';
  if (/\p{Co}/u.test(ch)) return 'a private-use character';
  if (/\p{Cn}/u.test(ch)) return 'an unassigned code point';
  if (/\p{Cs}/u.test(ch)) return 'a lone surrogate';
  if (new RegExp(BLANK_LOOKALIKES.source, 'u').test(ch)) return 'a blank look-alike';
  return 'an invisible character';
}

/**
 * The first character of `name` no reader could see, as `U+0085 (a control character)`, or undefined
 * when every character is graphic and visible.
 */
export function invisibleCharacter(name: string): string | undefined {
  for (const ch of name) {
    if (NON_GRAPHIC.test(ch) || new RegExp(BLANK_LOOKALIKES.source, 'u').test(ch)) {
      const cp = (ch.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0');
      return `U+${cp} (${kindOf(ch)})`;
    }
  }
  return undefined;
}

const BLANKS = new RegExp(`${NON_GRAPHIC.source}|[\\p{Z}\\s]|${BLANK_LOOKALIKES.source}`, 'gu');

/**
 * `s` without anything that draws as nothing or as blank space: non-graphic characters, every space
 * and the blank look-alikes. For comparing names only: `tom\u2800`, `tom\u0085` and `t om` are all `tom`.
 */
export function withoutBlanks(s: string): string {
  return s.replace(BLANKS, '');
}
