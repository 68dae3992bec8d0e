import { describe, expect, it } from 'vitest';
import { invisibleCharacter, withoutBlanks } from './name-characters.js';

describe('invisibleCharacter', () => {
  it('names the first character no reader could see, by code point and kind', () => {
    expect(invisibleCharacter('tom\u0085')).toBe('U+0085 (a control character)');
    expect(invisibleCharacter('tom\u0000')).toBe('U+0000 (a control character)');
    expect(invisibleCharacter('to\u007fm')).toBe('U+007F (a control character)');
    expect(invisibleCharacter('tom\u2800')).toBe('U+2800 (a blank look-alike)');
    expect(invisibleCharacter('tom\u3164')).toBe('U+3164 (a blank look-alike)');
    expect(invisibleCharacter('\uffa0tom')).toBe('U+FFA0 (a blank look-alike)');
    expect(invisibleCharacter('to\u200bm')).toBe('U+200B (an invisible character)');
    expect(invisibleCharacter('to\u202em')).toBe('U+202E (an invisible character)');
    expect(invisibleCharacter('tom\u2028')).toBe('U+2028 (an invisible character)');
    expect(invisibleCharacter('tom\ue000')).toBe('U+E000 (a private-use character)');
    expect(invisibleCharacter('tom\u0378')).toBe('U+0378 (an unassigned code point)');
    expect(invisibleCharacter('tom\ud800')).toBe('U+D800 (a lone surrogate)');
  });

  it('accepts every graphic character people write names with, spaces included', () => {
    for (const name of [
      'tom',
      'Tom Smith',
      'tom@acme.example',
      'Zoë',
      'José',
      '山田\u3000太郎',
      'Ольга',
      'tóm',
    ]) {
      expect(invisibleCharacter(name), name).toBeUndefined();
    }
  });
});

describe('withoutBlanks', () => {
  it('removes spaces, controls, invisibles and blank look-alikes, and nothing else', () => {
    expect(withoutBlanks(' t\u2800o\u0085m\u3164 \u200b')).toBe('tom');
    expect(withoutBlanks('Zoë@x')).toBe('Zoë@x');
  });
});
