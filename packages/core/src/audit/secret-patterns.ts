/**
 * Secret detection inside free text. All shapes are combined into one global RegExp so a string is scanned
 * once; PEM blocks are found with `indexOf` first because their bodies are unbounded.
 *
 * Every alternative is linear-time on hostile input: it starts with a literal or a single character behind
 * a one-character lookbehind (so only the start of a run can begin a match), and each quantified run is
 * followed by a delimiter outside its own class, so backtracking never nests.
 */
import type { SecretKind } from './redaction.js';

/** The text that replaces a secret of `kind`. */
export function placeholder(kind: SecretKind): string {
  return `[REDACTED:${kind}]`;
}

const PLACEHOLDER = /^\[REDACTED:[a-z_]+\]$/;

/**
 * One secret shape: a RegExp source with exactly one capture group, the secret, which ends the match (any
 * context before it stays in the text). `accept` returns how many leading characters of the candidate are
 * the secret, 0 to reject it.
 */
interface SecretPattern {
  readonly kind: SecretKind;
  readonly source: string;
  readonly accept?: (candidate: string) => number;
  /** For a bounded value: matches what follows a candidate that reached the bound, redacted with it. */
  readonly rest?: { readonly max: number; readonly re: RegExp };
}

/** Case-insensitive literal without the `i` flag, which would loosen the other alternatives. */
function ci(word: string): string {
  return word.replace(/[a-z]/g, (c) => `[${c.toUpperCase()}${c}]`);
}

const SEP = '[_-]?';
/** Marker names after which a long value is taken to be a credential (`api_key=…`, `"apiKey": "…"`). */
const KEY_MARKERS = [
  `(?:x${SEP})?${ci('api')}${SEP}(?:${ci('key')}|${ci('secret')}|${ci('token')})`,
  `(?:${ci('access')}|${ci('auth')}|${ci('refresh')}|${ci('private')})${SEP}${ci('token')}`,
  `${ci('client')}${SEP}${ci('secret')}`,
  `${ci('secret')}${SEP}${ci('key')}`,
].join('|');
/** `=`, `:` or `"key": "` between a marker and its value. */
const ASSIGN = `["']?[ \\t]*[:=][ \\t]*["']?`;
/** ASSIGN, or just blanks (`aws_secret_access_key wJal…`, `Secret Access Key is wJal…`). */
const ASSIGN_OR_BLANK = `["']?[ \\t]*(?:[:=][ \\t]*|${ci('is')}[ \\t]+)?["']?`;
/** Names whose value is a password whatever it looks like (`password=letmein`, `"cvv": "123"`). */
const PASSWORD_MARKERS = [
  `${ci('passw')}(?:${ci('or')})?${ci('d')}`,
  ci('pwd'),
  ci('passphrase'),
  `${ci('secret')}(?:${SEP}(?:${ci('access')}${SEP})?${ci('key')})?`,
  `${ci('cv')}[VvCc]2?`,
].join('|');
/** Names whose value is a credential when it looks like one (`token=abc123`, not `token=none`). */
const TOKEN_MARKERS = [ci('token'), `${ci('api')}${SEP}${ci('key')}`].join('|');
/** Characters of a value given in free text: up to a blank, a quote, a list/URL delimiter or a closing bracket. */
const FREE_CHAR = `[^\\s"'&,;)\\]}<>]`;
/**
 * Longest free value a match takes. The class holds `=` and `:`, so a value can run on over the next marker
 * (`pwd=sk-pwd=sk-…`): unbounded, every rejected candidate re-read the text to its end (quadratic). A longer
 * accepted value is redacted to its end all the same (see {@link SecretPattern.rest}).
 */
const MAX_FREE_VALUE = 256;
const FREE_VALUE = `(${FREE_CHAR}{1,${MAX_FREE_VALUE}})`;
/** The rest of a free value longer than MAX_FREE_VALUE: sticky, read once, from where the match stopped. */
const FREE_REST_SPEC = { max: MAX_FREE_VALUE, re: new RegExp(`${FREE_CHAR}*`, 'y') };

const DIGIT = /[0-9]/;
const UPPER = /[A-Z]/;
const LOWER = /[a-z]/;
const TOKEN_PUNCT = /[0-9._~+/=-]/;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** Anything but printable Latin-1: decoded `Basic` credentials are text. */
const UNPRINTABLE = /[^ -~\u00a0-\u00ff]/;

/** Length without trailing dots, which end sentences more often than tokens. */
function trimDots(s: string): number {
  let n = s.length;
  while (n > 0 && s.charCodeAt(n - 1) === 46) n--;
  return n;
}

/** Random-looking: digits, or mixed case, or simply long. Rejects words such as `sk-learn-tutorial`. */
function randomLooking(s: string): number {
  const n = trimDots(s);
  const t = s.slice(0, n);
  return DIGIT.test(t) || (UPPER.test(t) && LOWER.test(t)) || n >= 32 ? n : 0;
}

/** `Bearer abc.def` is a token; `Bearer authentication` in prose is not. */
function bearerToken(s: string): number {
  const n = trimDots(s);
  const t = s.slice(0, n);
  return TOKEN_PUNCT.test(t) || UPPER.test(t.slice(1)) || n >= 20 ? n : 0;
}

/** `Basic` credentials are base64 of `user:password`; decoding tells them from the English word. */
function basicCredentials(s: string): number {
  const n = trimDots(s);
  const t = s.slice(0, n);
  if (n < 8 || n % 4 !== 0 || !BASE64.test(t)) return 0;
  try {
    const decoded = atob(t);
    return decoded.includes(':') && !UNPRINTABLE.test(decoded) ? n : 0;
  } catch {
    return 0;
  }
}

/** Words that stand for "no value" after a password marker (`password: required`), never a secret. */
const NOT_A_PASSWORD = new Set([
  'null',
  'none',
  'nil',
  'undefined',
  'true',
  'false',
  'required',
  'empty',
  'n/a',
]);

/** Values a shape of its own recognises (a JWT after `token=`): left to it, so it reports its kind. */
const OWN_SHAPE =
  /^(?:eyJ|sk-|[sr]k_|gh[pousr]_|github_pat_|xox|AIza|AKIA|ASIA|[A-Za-z][A-Za-z0-9+.-]*:\/\/)/;

/** A password: anything but an empty or stand-in value (`null`, `***`, `xxx`). */
function passwordValue(s: string): number {
  const n = trimDots(s);
  const t = s.slice(0, n);
  if (n === 0 || NOT_A_PASSWORD.has(t.toLowerCase()) || /^(?:\*+|[xX]+|\.+)$/.test(t)) return 0;
  return OWN_SHAPE.test(t) || t.startsWith('[REDACTED:') ? 0 : n;
}

/** A credential after `token:` or a password after `password:` in prose: not a plain lower-case word. */
function credentialValue(s: string): number {
  const n = trimDots(s);
  const t = s.slice(0, n);
  if (n < 4) return 0;
  const random = DIGIT.test(t) || UPPER.test(t.slice(1)) || /[^A-Za-z._-]/.test(t) || n >= 32;
  return random ? passwordValue(t) : 0;
}

/** Luhn checksum over a string of ASCII digits. */
function luhn(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) d = d > 4 ? 2 * d - 9 : 2 * d;
    sum += d;
    double = !double;
  }
  return sum % 10 === 0;
}

/** Visa, Mastercard (51–55, 2221–2720), Amex, Discover, JCB and Diners prefixes. */
function issuerPrefix(d: string): boolean {
  const two = Number(d.slice(0, 2));
  const three = Number(d.slice(0, 3));
  const four = Number(d.slice(0, 4));
  return (
    d[0] === '4' ||
    (two >= 51 && two <= 55) ||
    (four >= 2221 && four <= 2720) ||
    two === 34 ||
    two === 37 ||
    four === 6011 ||
    two === 65 ||
    (three >= 644 && three <= 649) ||
    two === 35 ||
    two === 36 ||
    two === 38 ||
    two === 30
  );
}

/** True for 13–19 digits with a card issuer prefix and a valid Luhn checksum. */
export function isCardNumber(digits: string): boolean {
  return digits.length >= 13 && digits.length <= 19 && issuerPrefix(digits) && luhn(digits);
}

/** The whole digit run, or its longest prefix ending at a group boundary (a card followed by more groups). */
function cardNumber(candidate: string): number {
  const digits = candidate.replace(/[ -]/g, '');
  if (!issuerPrefix(digits)) return 0;
  if (isCardNumber(digits)) return candidate.length;
  // Runs on every rejected digit run of hostile input: count digits instead of re-slicing the candidate.
  let count = 0;
  let best = 0;
  for (let i = 0; i < candidate.length; i++) {
    const c = candidate.charCodeAt(i);
    if (c === 32 || c === 45) {
      if (count >= 13 && isCardNumber(digits.slice(0, count))) best = i;
    } else count++;
  }
  return best;
}

const SECRET_PATTERNS: readonly SecretPattern[] = [
  // JWT: base64url header and payload that both start with `{"` (eyJ), then an optional signature.
  {
    kind: 'jwt',
    source: '(?<![A-Za-z0-9_-])(eyJ[A-Za-z0-9_-]{4,}\\.eyJ[A-Za-z0-9_-]{4,}\\.[A-Za-z0-9_-]*)',
  },
  // OpenAI and Anthropic keys: sk-…, sk-proj-…, sk-ant-api03-… (not `task-force`: a run must start at sk-).
  { kind: 'api_key', source: '(?<![A-Za-z0-9_-])(sk-[A-Za-z0-9_-]{20,})', accept: randomLooking },
  // Stripe secret and restricted keys.
  { kind: 'api_key', source: '(?<![A-Za-z0-9_])((?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,})' },
  // GitHub tokens: classic (ghp_, gho_, ghu_, ghs_, ghr_) and fine-grained (github_pat_).
  {
    kind: 'api_key',
    source: '(?<![A-Za-z0-9_])(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})',
  },
  // Slack tokens: xoxb-, xoxp-, xoxa-, xoxo-, xoxs-, xoxr-.
  { kind: 'api_key', source: '(?<![A-Za-z0-9-])(xox[abposr]-[A-Za-z0-9-]{10,})' },
  // Google API keys: AIza + 35 characters.
  { kind: 'api_key', source: '(?<![A-Za-z0-9_-])(AIza[A-Za-z0-9_-]{35,})' },
  // AWS access key ids: AKIA (long-term) or ASIA (temporary) + 16 upper-case letters or digits.
  { kind: 'aws_access_key', source: '(?<![A-Z0-9])((?:AKIA|ASIA)[A-Z0-9]{16})(?![A-Z0-9])' },
  // AWS secret keys: 40 base64 characters after aws_secret_access_key, "Secret Access Key:" and the like.
  {
    kind: 'aws_secret_key',
    source: `(?<![A-Za-z0-9])(?:${ci('aws')}[_ -]?)?${ci('secret')}[_ -]?(?:${ci('access')}[_ -]?)?${ci('key')}${ASSIGN_OR_BLANK}([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])`,
  },
  // Passwords after `password=`, `"pwd": "`, `secret=`, `cvv=` (a machine-written assignment): any value.
  {
    kind: 'password',
    source: `(?<![A-Za-z0-9])(?:${PASSWORD_MARKERS})(?:[ \\t]*=[ \\t]*["']?|["'][ \\t]*[:=][ \\t]*["'])${FREE_VALUE}`,
    accept: passwordValue,
    rest: FREE_REST_SPEC,
  },
  // The same after `password: …` in prose, and credentials after `token=`, `api_key: …`: only values
  // that do not read as a word (`password: required`, `api_key=your-api-key-here` stay).
  {
    kind: 'password',
    source: `(?<![A-Za-z0-9])(?:${PASSWORD_MARKERS})[ \\t]*:[ \\t]*${FREE_VALUE}`,
    accept: credentialValue,
    rest: FREE_REST_SPEC,
  },
  {
    kind: 'api_key',
    source: `(?<![A-Za-z0-9])(?:${TOKEN_MARKERS})${ASSIGN}${FREE_VALUE}`,
    accept: credentialValue,
    rest: FREE_REST_SPEC,
  },
  // Generic: a random-looking value of 16+ characters after an API key / token marker.
  {
    kind: 'api_key',
    source: `(?<![A-Za-z0-9])(?:${KEY_MARKERS})${ASSIGN}([A-Za-z0-9_\\-+/.~]{16,}={0,2})`,
    accept: randomLooking,
  },
  // Bearer tokens (RFC 6750 b64token) after `Bearer`.
  {
    kind: 'bearer_token',
    source: '(?<![A-Za-z0-9])[Bb]earer[ \\t]+([A-Za-z0-9\\-._~+/]+=*)',
    accept: bearerToken,
  },
  // HTTP Basic credentials after `Basic`, reported as bearer tokens.
  {
    kind: 'bearer_token',
    source: '(?<![A-Za-z0-9])[Bb]asic[ \\t]+([A-Za-z0-9+/]+=*)',
    accept: basicCredentials,
  },
  // Passwords in URL userinfo: scheme://user:PASSWORD@host (up to the last @ of the authority).
  {
    kind: 'url_password',
    // Anchored on the literal `://` (scheme checked behind it): a leading letter class would slow every scan.
    source: '://(?<=(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://)[^\\s:@/?#]*:([^\\s/?#]+)(?=@)',
  },
  // Passwords in URL query strings: ?password=…, &pwd=….
  {
    kind: 'url_password',
    source: `[?&](?:${ci('password')}|${ci('passwd')}|${ci('pwd')})=([^&#\\s]+)`,
  },
  // Card numbers: 13–19 digits, single spaces or dashes between groups; Luhn and issuer prefix checked.
  // Not inside a word, a UUID or a hex id (`01a25110-2693-7000-8893-…` has Luhn-valid digit runs).
  {
    kind: 'card_number',
    source: '(?<![0-9A-Za-z]|[0-9][.,]|[0-9A-Za-z]-)([0-9](?:[ -]?[0-9]){12,18})(?![0-9A-Za-z])',
    accept: cardNumber,
  },
];

const COMBINED = new RegExp(SECRET_PATTERNS.map((p) => p.source).join('|'), 'g');
const GROUPS = SECRET_PATTERNS.length;
if (new RegExp(`${COMBINED.source}|`).exec('')?.length !== GROUPS + 1) {
  throw new Error('every secret pattern must have exactly one capture group');
}
const PLACEHOLDERS: readonly string[] = SECRET_PATTERNS.map((p) => placeholder(p.kind));

const PEM_BEGIN = '-----BEGIN ';
/**
 * An AWS secret access key written after its key id (`AKIA… wJal…`, `AKIA…:wJal…`): 40 base64 characters a
 * few separators after the id. Sticky, tried only right after an access key id matched.
 */
const AWS_SECRET_AFTER_ID = /([^A-Za-z0-9/+=\n]{1,10})([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])/y;
const AWS_ACCESS_KEY = placeholder('aws_access_key');
const AWS_SECRET_KEY = placeholder('aws_secret_key');

/** Replaces PEM private key blocks; a block without its END line is redacted to the end of the text. */
function redactPem(text: string, found: SecretKind[]): string {
  let out = '';
  let last = 0;
  let at = text.indexOf(PEM_BEGIN);
  while (at !== -1) {
    const labelEnd = text.indexOf('-----', at + PEM_BEGIN.length);
    const label = labelEnd === -1 ? '' : text.slice(at + PEM_BEGIN.length, labelEnd);
    if (label.length > 60 || !label.endsWith('PRIVATE KEY')) {
      at = text.indexOf(PEM_BEGIN, at + PEM_BEGIN.length);
      continue;
    }
    const endLine = `-----END ${label}-----`;
    const end = text.indexOf(endLine, labelEnd + 5);
    out += `${text.slice(last, at)}${placeholder('private_key')}`;
    last = end === -1 ? text.length : end + endLine.length;
    found.push('private_key');
    at = text.indexOf(PEM_BEGIN, last);
  }
  return last === 0 ? text : out + text.slice(last);
}

/**
 * Characters matched by the combined scan since the process started, rejected candidates included: the work
 * a hostile text can make the scan redo. Tests compare it across input sizes instead of timing the scan.
 */
let matchedChars = 0;

/** See {@link matchedChars}. */
export function scanWork(): number {
  return matchedChars;
}

/**
 * Returns `text` with every secret replaced by its placeholder and appends the kind of each one to `found`
 * (in text order, PEM blocks first). Placeholders already in the text are left alone.
 */
export function redactSecrets(text: string, found: SecretKind[]): string {
  const src = text.includes(PEM_BEGIN) ? redactPem(text, found) : text;
  const re = COMBINED;
  re.lastIndex = 0;
  let out = '';
  let last = 0;
  let changed = false;
  for (let m = re.exec(src); m !== null; m = re.exec(src)) {
    matchedChars += m[0].length;
    let g = 1;
    while (m[g] === undefined) g++;
    const candidate = m[g] as string;
    const pattern = SECRET_PATTERNS[g - 1] as SecretPattern;
    const length = pattern.accept ? pattern.accept(candidate) : candidate.length;
    if (length === 0 || PLACEHOLDER.test(candidate)) {
      // One character on, not past the marker: a marker can hold another (`access_token=` is rejected as a
      // key marker's value and accepted after `token=`). Bounded values keep each retry short, so linear.
      re.lastIndex = m.index + 1;
      continue;
    }
    const start = m.index + m[0].length - candidate.length;
    out += src.slice(last, start) + (PLACEHOLDERS[g - 1] as string);
    last = start + length;
    if (pattern.rest && length === pattern.rest.max) {
      pattern.rest.re.lastIndex = last;
      pattern.rest.re.exec(src);
      last = pattern.rest.re.lastIndex;
    }
    changed = true;
    found.push(pattern.kind);
    if (PLACEHOLDERS[g - 1] === AWS_ACCESS_KEY) {
      AWS_SECRET_AFTER_ID.lastIndex = last;
      const pair = AWS_SECRET_AFTER_ID.exec(src);
      if (pair) {
        out += (pair[1] as string) + AWS_SECRET_KEY;
        last = AWS_SECRET_AFTER_ID.lastIndex;
        found.push('aws_secret_key');
      }
    }
    re.lastIndex = last;
  }
  return changed ? out + src.slice(last) : src;
}

/** The kind of the first secret `text` holds, if any: for refusing ids that look like credentials. */
export function secretIn(text: string): SecretKind | undefined {
  const found: SecretKind[] = [];
  redactSecrets(text, found);
  return found[0];
}

/** Field names whose values are always secret (compared ignoring case, `_` and `-`). */
export const DEFAULT_SECRET_FIELDS: readonly string[] = Object.freeze([
  'password',
  'passwd',
  'pwd',
  'passphrase',
  'secret',
  'client_secret',
  'secret_key',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'session_token',
  'auth_token',
  'x-auth-token',
  'api_key',
  'apikey',
  'x-api-key',
  'authorization',
  'proxy-authorization',
  'private_key',
  'cookie',
  'set-cookie',
  'credentials',
  'aws_secret_access_key',
  // Card verification codes. Not `cid`: as a field name it is far more often a content or correlation id.
  'cvv',
  'cvv2',
  'cvc',
  'cvc2',
  'csc',
  'card_security_code',
  'security_code',
]);

const normalizeName = (name: string) => name.toLowerCase().replace(/[-_]/g, '');

/** Secret field-name test with a small per-key cache (tool arguments reuse the same few keys). */
export class FieldMatcher {
  readonly #names: Set<string>;
  readonly #maxKey: number;
  readonly #cache = new Map<string, boolean>();
  /** The normalised names, sorted: equal for two matchers that match the same keys. */
  readonly id: string;

  constructor(names: readonly string[]) {
    this.#names = new Set(names.map(normalizeName));
    this.id = [...this.#names].sort().join('\n');
    this.#maxKey = 2 * Math.max(...[...this.#names].map((n) => n.length)) + 1;
  }

  matches(key: string): boolean {
    if (key.length > this.#maxKey) return false;
    let hit = this.#cache.get(key);
    if (hit === undefined) {
      hit = this.#names.has(normalizeName(key));
      if (this.#cache.size >= 4096) this.#cache.clear();
      this.#cache.set(key, hit);
    }
    return hit;
  }
}
