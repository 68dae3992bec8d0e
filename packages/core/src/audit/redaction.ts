/**
 * Audit redaction: turns any tool-call value into bounded JSON with secrets removed, before it is stored.
 * Pure and total: whatever the input (cycles, getters that throw, 100,000-deep nesting, 10 MB strings) it
 * returns a value and never throws.
 */
import {
  DEFAULT_SECRET_FIELDS,
  FieldMatcher,
  isCardNumber,
  placeholder,
  redactSecrets,
} from './secret-patterns.js';
import { applyCaps, type CapsHost, formatPath, setOwn, sliceUtf8, truncatedText } from './value-caps.js';

export { DEFAULT_SECRET_FIELDS };

/** Kinds of secret a redaction reports; `field` is a whole value under a secret field name. */
export const SECRET_KINDS = [
  'api_key',
  'bearer_token',
  'aws_access_key',
  'aws_secret_key',
  'jwt',
  'url_password',
  'card_number',
  'private_key',
  'password',
  'field',
] as const;
export type SecretKind = (typeof SECRET_KINDS)[number];

/** What normalisation or capping changed about a value. */
export const VALUE_FLAGS = [
  'truncated',
  'invalid_utf8',
  'too_deep',
  'circular',
  'binary',
  'non_json',
] as const;
export type ValueFlag = (typeof VALUE_FLAGS)[number];

/** One removed secret: where (`args.headers.Authorization`, `items[3]`; the root is '') and what. */
export interface Redaction {
  path: string;
  kind: SecretKind;
}

/** Limits and extra secret field names for {@link redactValue}. */
export interface RedactionOptions {
  /** Extra field names whose whole value is replaced; compared ignoring case, `_` and `-`. */
  fields?: readonly string[];
  /** Cap on the UTF-8 size of the result's canonical JSON (default 65536). */
  maxBytes?: number;
  /** Container nesting kept before `"[TOO_DEEP]"` (default 32, at most 1000). */
  maxDepth?: number;
  /** Strings longer than this many UTF-8 bytes are cut when the whole exceeds maxBytes (default 8192). */
  maxStringBytes?: number;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** A redacted, normalised, capped value; `flags` are deduplicated and sorted. */
export interface RedactedValue {
  value: JsonValue;
  redactions: Redaction[];
  flags: ValueFlag[];
}

/** Nesting limit of toJsonSafe and upper bound of maxDepth: recursion stays far from the stack limit. */
const SAFE_DEPTH = 1000;
/** Values visited before redactValue gives up on a value (e.g. a DAG that expands exponentially). */
const MAX_NODES = 1 << 21;
/** Redactions reported per value; more are still redacted, just not listed. */
const MAX_REPORTED = 1000;
/** Characters scanned past the cut of a string longer than maxBytes, so a secret crossing it is caught. */
const SCAN_MARGIN = 65536;
const FIELD_PLACEHOLDER = placeholder('field');

// Flags are bits in alphabetical order, so the sorted list falls out of the bit order.
const FLAG_ORDER = [...VALUE_FLAGS].sort();
const bit = (f: ValueFlag) => 1 << FLAG_ORDER.indexOf(f);
const TRUNCATED = bit('truncated');
const INVALID_UTF8 = bit('invalid_utf8');
const TOO_DEEP = bit('too_deep');
const CIRCULAR = bit('circular');
const BINARY = bit('binary');
const NON_JSON = bit('non_json');

interface WellFormed {
  isWellFormed(): boolean;
  toWellFormed(): string;
}
/** Lone surrogates become U+FFFD (Node 20 has the ES2024 methods; our lib setting is ES2023). */
const wellFormed = (s: string) => s as unknown as WellFormed;

interface Limits {
  readonly fields: FieldMatcher | null;
  readonly maxBytes: number;
  readonly maxDepth: number;
  readonly maxStringBytes: number;
  /** Containers redactValue returned are kept as they are, plain ids unscanned (see {@link redactStored}). */
  readonly trustRedacted: boolean;
}

/**
 * Containers that redactValue returned, with the id of the field list they were redacted with: the commit
 * path does not walk them a second time when it redacts with the same list. A brand on the object itself,
 * so a copy or a value built any other way is walked again, and so is one redacted under another list (a
 * policy with more fields took over in between): the shortcut can save work, never skip a value that was
 * not redacted.
 */
const REDACTED = new WeakMap<object, string>();
/** Whether `v` was returned by redactValue under the same field list as `matcher`'s. */
const redactedWith = (v: object, matcher: FieldMatcher) => REDACTED.get(v) === matcher.id;

/** Warden's own ids (uuidv7, optionally `apr_`-style prefixed) and SHA-256 hex: no secret shape matches them. */
const PLAIN_ID =
  /^(?:[a-z]{1,12}_)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^[0-9a-f]{64}$/;
/** Cheaper than a scan, and a scan could not change these: the commit path skips them. */
const isPlainId = (s: string) => (s.length === 64 || (s.length >= 36 && s.length <= 49)) && PLAIN_ID.test(s);

const DEFAULT_MATCHER = new FieldMatcher(DEFAULT_SECRET_FIELDS);
const DEFAULT_LIMITS: Limits = {
  fields: DEFAULT_MATCHER,
  maxBytes: 65536,
  maxDepth: 32,
  maxStringBytes: 8192,
  trustRedacted: false,
};
const SAFE_LIMITS: Limits = {
  fields: null,
  maxBytes: Infinity,
  maxDepth: SAFE_DEPTH,
  maxStringBytes: Infinity,
  trustRedacted: false,
};
const STORED_LIMITS: Limits = { ...SAFE_LIMITS, fields: DEFAULT_MATCHER, trustRedacted: true };
const storedLimits = new WeakMap<readonly string[], Limits>();
const matchers = new WeakMap<readonly string[], FieldMatcher>();

const count = (n: unknown, fallback: number) =>
  typeof n === 'number' && n >= 0 && n <= Number.MAX_SAFE_INTEGER ? Math.floor(n) : fallback;

function limitsFor(o: RedactionOptions | undefined): Limits {
  if (o === undefined) return DEFAULT_LIMITS;
  let fields = DEFAULT_MATCHER;
  if (Array.isArray(o.fields) && o.fields.length > 0) {
    fields = matchers.get(o.fields) ?? new FieldMatcher([...DEFAULT_SECRET_FIELDS, ...o.fields.map(String)]);
    matchers.set(o.fields, fields);
  }
  return {
    fields,
    maxBytes: count(o.maxBytes, DEFAULT_LIMITS.maxBytes),
    maxDepth: Math.min(count(o.maxDepth, DEFAULT_LIMITS.maxDepth), SAFE_DEPTH),
    maxStringBytes: count(o.maxStringBytes, DEFAULT_LIMITS.maxStringBytes),
    trustRedacted: false,
  };
}

/**
 * One pass over the input: normalises to JSON, redacts (unless `limits.fields` is null, for toJsonSafe) and
 * keeps an upper bound of the output size so that small values skip the exact measurement.
 */
class Walker implements CapsHost {
  flags = 0;
  bound = 0;
  nodes = 0;
  /** Net bytes removed by cutting strings during the walk, for the summary's original size. */
  cutBytes = 0;
  readonly redactions: Redaction[] = [];
  readonly #limits: Limits;
  readonly #redact: boolean;
  readonly #trusted: boolean;
  readonly #path: (string | number)[] = [];
  readonly #ancestors: object[] = [];
  readonly #kinds: SecretKind[] = [];
  #cut: Set<string> | undefined;

  constructor(limits: Limits) {
    this.#limits = limits;
    this.#redact = limits.fields !== null;
    this.#trusted = limits.trustRedacted === true;
  }

  get exhausted(): boolean {
    return this.nodes > MAX_NODES && this.#redact;
  }

  /** The JSON form of `v`; undefined means "leave out" (dropped from objects, null in arrays). */
  value(v: unknown, depth: number): JsonValue | undefined {
    this.nodes++;
    switch (typeof v) {
      case 'string':
        return this.string(v);
      case 'number':
        return this.#number(v);
      case 'boolean':
        this.bound += 5;
        return v;
      case 'object':
        if (v === null) {
          this.bound += 4;
          return null;
        }
        return this.#object(v, depth);
      case 'bigint':
        return this.string(v.toString());
      case 'undefined':
        return undefined;
      default:
        this.flags |= NON_JSON;
        return undefined;
    }
  }

  string(s: string): string {
    if (this.#redact && s.length > this.#limits.maxBytes && s.length > this.#limits.maxStringBytes) {
      return this.#cutLong(s);
    }
    let out = s;
    if (!wellFormed(out).isWellFormed()) {
      out = wellFormed(out).toWellFormed();
      this.flags |= INVALID_UTF8;
    }
    if (this.#redact && out.length >= 8 && !(this.#trusted && isPlainId(out))) out = this.scan(out);
    this.bound += 6 * out.length + 2;
    return out;
  }

  /** Redacts secrets in text and reports them at the current path. */
  scan(s: string, path?: string): string {
    const kinds = this.#kinds;
    kinds.length = 0;
    const out = redactSecrets(s, kinds);
    for (const kind of kinds) this.#report(kind, path);
    return out;
  }

  /** Cuts a string to maxStringBytes (keeping its secrets redacted) and rescans what is kept. */
  cutString(s: string, removedBefore = 0, path?: string): string {
    const kept = sliceUtf8(s, this.#limits.maxStringBytes);
    const removed = Buffer.byteLength(s) - Buffer.byteLength(kept) + removedBefore;
    const out = truncatedText(kept.length >= 8 ? this.scan(kept, path) : kept, removed);
    this.#cut ??= new Set();
    this.#cut.add(out);
    this.flags |= TRUNCATED;
    return out;
  }

  /** A string bigger than maxBytes is certainly cut: only its head (plus a margin) is normalised and scanned. */
  #cutLong(s: string): string {
    let head = s.slice(0, this.#limits.maxStringBytes + SCAN_MARGIN);
    const last = head.charCodeAt(head.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) head = head.slice(0, -1);
    const rest = Buffer.byteLength(s) - Buffer.byteLength(head);
    if (!wellFormed(head).isWellFormed()) {
      head = wellFormed(head).toWellFormed();
      this.flags |= INVALID_UTF8;
    }
    const out = this.cutString(this.scan(head), rest);
    this.cutBytes += rest + Buffer.byteLength(head) - Buffer.byteLength(out);
    this.bound += 6 * out.length + 2;
    return out;
  }

  /** A string Warden wrote itself: nothing to normalise or scan. */
  #literal(s: string): string {
    this.bound += s.length + 2;
    return s;
  }

  #number(v: number): JsonValue {
    if (!Number.isFinite(v)) {
      this.flags |= NON_JSON;
      this.bound += 4;
      return null;
    }
    // Card numbers stored as JSON numbers (13 to 16 digits survive a double exactly).
    if (this.#redact && v >= 1e12 && v < 1e19 && Number.isInteger(v) && isCardNumber(String(v))) {
      this.#report('card_number');
      return this.#literal(placeholder('card_number'));
    }
    this.bound += 24;
    return v === 0 ? 0 : v; // -0 as 0, as JSON writes it
  }

  #report(kind: SecretKind, path?: string): void {
    if (this.redactions.length < MAX_REPORTED) {
      this.redactions.push({ path: path ?? formatPath(this.#path), kind });
    }
  }

  #object(v: object, depth: number): JsonValue {
    if (depth >= this.#limits.maxDepth) {
      this.flags |= TOO_DEEP;
      return this.#literal('[TOO_DEEP]');
    }
    if (this.#trusted && this.#limits.fields !== null && redactedWith(v, this.#limits.fields)) {
      this.bound += 2;
      return v as JsonValue;
    }
    if (this.#ancestors.includes(v)) {
      this.flags |= CIRCULAR;
      return this.#literal('[CIRCULAR]');
    }
    const pathLength = this.#path.length;
    this.#ancestors.push(v);
    try {
      if (Array.isArray(v)) return this.#array(v, depth);
      const proto = Object.getPrototypeOf(v);
      if (proto === Object.prototype || proto === null) return this.#members(v, Object.keys(v), depth);
      return this.#special(v, depth);
    } catch {
      // A throwing proxy trap or getter: nothing of the object is kept.
      this.#path.length = pathLength;
      this.flags |= NON_JSON;
      return this.#literal('[UNSERIALIZABLE]');
    } finally {
      this.#ancestors.pop();
    }
  }

  #special(v: object, depth: number): JsonValue {
    if (v instanceof Date) {
      const time = v.getTime();
      return Number.isNaN(time) ? this.#number(time) : this.string(v.toISOString());
    }
    const tag = Object.prototype.toString.call(v);
    if (ArrayBuffer.isView(v) || tag === '[object ArrayBuffer]' || tag === '[object SharedArrayBuffer]') {
      this.flags |= BINARY;
      return this.#literal(`[BINARY ${(v as ArrayBuffer).byteLength} bytes]`);
    }
    if (v instanceof Map) {
      const entries = [...v.entries()];
      if (!entries.every(([k]) => typeof k === 'string')) return this.#array(entries, depth);
      const obj: Record<string, unknown> = Object.create(null);
      for (const [k, value] of entries) obj[k as string] = value;
      return this.#members(obj, Object.keys(obj), depth);
    }
    if (v instanceof Set) return this.#array([...v], depth);
    if (v instanceof String || v instanceof Number || v instanceof Boolean || tag === '[object BigInt]') {
      return this.value(v.valueOf(), depth) ?? null;
    }
    const keys = Object.keys(v);
    // An Error's name and message are not enumerable, yet they are what a reader needs.
    if (v instanceof Error) keys.unshift(...['name', 'message'].filter((k) => !keys.includes(k)));
    return this.#members(v, keys, depth);
  }

  #array(src: readonly unknown[], depth: number): JsonValue[] {
    const length = Math.min(src.length, MAX_NODES + 1);
    // Preallocated: growing a pushed array of a million elements costs several times the walk itself.
    const out = new Array<JsonValue>(length);
    this.bound += 2 + length;
    let i = 0;
    for (; i < length && !this.exhausted; i++) {
      let raw: unknown;
      try {
        raw = src[i];
      } catch {
        this.flags |= NON_JSON;
      }
      this.#path.push(i);
      out[i] = this.value(raw, depth + 1) ?? null;
      this.#path.pop();
    }
    out.length = i;
    return out;
  }

  #members(src: object, keys: readonly string[], depth: number): JsonValue {
    const out: Record<string, JsonValue> = {};
    let renamed = false;
    this.bound += 2;
    for (const key of keys) {
      if (this.exhausted) break;
      let raw: unknown;
      try {
        raw = (src as Record<string, unknown>)[key];
      } catch {
        this.flags |= NON_JSON;
      }
      if (raw === undefined) continue;
      const name = this.#key(key);
      renamed ||= name !== key;
      this.#path.push(name);
      const field = this.#limits.fields?.matches(key) === true;
      if (field) this.#report('field');
      const v = field ? this.#literal(FIELD_PLACEHOLDER) : this.value(raw, depth + 1);
      this.#path.pop();
      if (v === undefined) continue;
      let unique = name;
      for (let n = 2; renamed && Object.hasOwn(out, unique); n++) unique = `${name}#${n}`;
      setOwn(out, unique, v);
      this.bound += 2;
    }
    return out;
  }

  /** Object keys are text too: normalised and, if long enough, scanned (reported at the redacted key). */
  #key(key: string): string {
    let name = key;
    if (!wellFormed(name).isWellFormed()) {
      name = wellFormed(name).toWellFormed();
      this.flags |= INVALID_UTF8;
    }
    this.bound += 6 * name.length + 2;
    if (!this.#redact || name.length < 8) return name;
    const kinds = this.#kinds;
    kinds.length = 0;
    name = redactSecrets(name, kinds);
    if (kinds.length > 0) {
      this.#path.push(name);
      for (const kind of kinds) this.#report(kind);
      this.#path.pop();
    }
    return name;
  }

  wasCut(s: string): boolean {
    return this.#cut?.has(s) === true;
  }

  markTruncated(): void {
    this.flags |= TRUNCATED;
  }

  flagList(): ValueFlag[] {
    return FLAG_ORDER.filter((_, i) => (this.flags & (1 << i)) !== 0);
  }
}

/**
 * Normalises `value` to JSON, replaces secrets with `[REDACTED:<kind>]` and caps its size. Never throws.
 * Typical tool arguments take about a microsecond.
 */
export function redactValue(value: unknown, options?: RedactionOptions): RedactedValue {
  let w: Walker | undefined;
  try {
    const limits = limitsFor(options);
    w = new Walker(limits);
    let out = w.value(value, 0) ?? null;
    if (w.bound > limits.maxBytes || w.exhausted)
      out = applyCaps(out, w, limits.maxBytes, limits.maxStringBytes);
    if (typeof out === 'object' && out !== null && limits.fields) REDACTED.set(out, limits.fields.id);
    return { value: out, redactions: w.redactions, flags: w.flagList() };
  } catch {
    // Only a hostile environment gets here (e.g. an exhausted stack); nothing of the input is kept.
    return { value: '[UNSERIALIZABLE]', redactions: w?.redactions ?? [], flags: ['non_json'] };
  }
}

/** The matcher for a policy's extra fields on top of the defaults (cached per list). */
function matcherFor(fields: readonly string[] | undefined): FieldMatcher {
  return fields && fields.length > 0 ? (limitsFor({ fields }).fields as FieldMatcher) : DEFAULT_MATCHER;
}

/**
 * Whether {@link redactStored} would change anything in `value`: the same checks without building a copy,
 * so the commit path pays only the scans for the usual event that holds no secret. Unusual values (not
 * plain JSON, invalid text, very deep) answer true and take the full path.
 */
export function needsRedaction(value: unknown, fields?: readonly string[]): boolean {
  try {
    return changes(value, matcherFor(fields), 0);
  } catch {
    return true;
  }
}

const SCRATCH: SecretKind[] = [];
/** Keys already seen holding no secret: events repeat the same few dozen keys. */
const CLEAN_KEYS = new Set<string>();

function keyChanges(k: string, matcher: FieldMatcher): boolean {
  if (matcher.matches(k)) return true;
  if (CLEAN_KEYS.has(k)) return false;
  if (changes(k, matcher, 0)) return true;
  if (CLEAN_KEYS.size >= 4096) CLEAN_KEYS.clear();
  CLEAN_KEYS.add(k);
  return false;
}

function changes(v: unknown, matcher: FieldMatcher, depth: number): boolean {
  switch (typeof v) {
    case 'string':
      if (!wellFormed(v).isWellFormed()) return true;
      if (v.length < 8 || isPlainId(v)) return false;
      SCRATCH.length = 0;
      return redactSecrets(v, SCRATCH) !== v;
    case 'number':
      return !Number.isFinite(v) || (v >= 1e12 && v < 1e19 && Number.isInteger(v) && isCardNumber(String(v)));
    case 'boolean':
    case 'undefined':
      return false;
    case 'object':
      return v !== null && !redactedWith(v, matcher) && containerChanges(v, matcher, depth);
    default:
      return true;
  }
}

function containerChanges(v: object, matcher: FieldMatcher, depth: number): boolean {
  if (depth >= SAFE_DEPTH) return true;
  if (Array.isArray(v)) {
    for (const x of v) if (changes(x, matcher, depth + 1)) return true;
    return false;
  }
  const proto = Object.getPrototypeOf(v);
  if (proto !== Object.prototype && proto !== null) return true;
  for (const k of Object.keys(v)) {
    const x = (v as Record<string, unknown>)[k];
    if (x === undefined) continue;
    if (keyChanges(k, matcher) || changes(x, matcher, depth + 1)) return true;
  }
  return false;
}

/**
 * Redacts a value about to be stored, whole: every string and key at any depth, with `fields` on top of the
 * defaults, but neither capped nor cut (what is stored beside it, ids and data, must stay whole). Containers
 * that {@link redactValue} returned are taken as they are, so arguments redacted when the event was built
 * are not walked twice. Never throws.
 */
export function redactStored(value: unknown, fields?: readonly string[]): RedactedValue {
  let w: Walker | undefined;
  try {
    let limits = STORED_LIMITS;
    if (fields && fields.length > 0) {
      limits = storedLimits.get(fields) ?? { ...STORED_LIMITS, fields: matcherFor(fields) };
      storedLimits.set(fields, limits);
    }
    w = new Walker(limits);
    const out = w.value(value, 0) ?? null;
    if (w.exhausted) w.markTruncated();
    return { value: out, redactions: w.redactions, flags: w.flagList() };
  } catch {
    return { value: '[UNSERIALIZABLE]', redactions: w?.redactions ?? [], flags: ['non_json'] };
  }
}

/**
 * The same normalisation as {@link redactValue} without redaction or size caps, for hashing the unredacted
 * arguments. Nesting is still bounded (1000 levels) so that no input can exhaust the stack.
 */
export function toJsonSafe(value: unknown): JsonValue {
  try {
    return new Walker(SAFE_LIMITS).value(value, 0) ?? null;
  } catch {
    return '[UNSERIALIZABLE]';
  }
}
