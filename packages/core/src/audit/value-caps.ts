/**
 * Size caps for audit values: exact JSON byte sizes, cutting strings and arrays, and the `$truncated`
 * summary of last resort. Also the small JSON helpers the redaction walk shares with them.
 */
import type { JsonValue } from './redaction.js';

/** What the caps need from the walk that produced the value. */
export interface CapsHost {
  /** The walk stopped early (too many values); only a summary can represent the value. */
  readonly exhausted: boolean;
  /** Net bytes the walk already removed by cutting strings. */
  readonly cutBytes: number;
  /** True for a string the walk already cut, which must not be cut again. */
  wasCut(s: string): boolean;
  /** Cuts a string to maxStringBytes and rescans the kept part, reporting at `path`. */
  cutString(s: string, removedBefore: number, path: string): string;
  /** Redacts secrets in text, reporting them at `path`. */
  scan(s: string, path: string): string;
  markTruncated(): void;
}

const PREVIEW_BYTES = 1024;
/** Size of `{"$truncated":true,"bytes":<n>,"preview":""}` with a generous n. */
const SUMMARY_OVERHEAD = 64;
const ARRAY_MARKER_RESERVE = 40;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `args.headers.Authorization`, `items[3]`, `headers["Set-Cookie"]`; the root is ''. */
export function formatPath(segments: readonly (string | number)[]): string {
  let path = '';
  for (const s of segments) {
    if (typeof s === 'number') path += `[${s}]`;
    else if (IDENTIFIER.test(s)) path += path === '' ? s : `.${s}`;
    else path += `[${JSON.stringify(s.length > 64 ? `${s.slice(0, 64)}…` : s)}]`;
  }
  return path;
}

/** Sets an own data property, also for `__proto__`, without touching any prototype. */
export function setOwn(out: Record<string, JsonValue>, key: string, value: JsonValue): void {
  if (key === '__proto__') {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  } else out[key] = value;
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON escapes exactly these characters.
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

/** UTF-8 size of the JSON encoding of a (well-formed) string. */
function stringBytes(s: string): number {
  return NEEDS_ESCAPE.test(s) ? Buffer.byteLength(JSON.stringify(s)) : Buffer.byteLength(s) + 2;
}

/** Length of the JSON text of a finite number, without building it for the common integers. */
function numberBytes(v: number): number {
  if (!Number.isSafeInteger(v)) return String(v).length;
  const abs = Math.abs(v);
  let n = v < 0 ? 2 : 1;
  for (let p = 10; abs >= p && p <= 1e15; p *= 10) n++;
  return n;
}

/** Exact UTF-8 size of the JSON text of `v`, or some number above `limit` once it is exceeded. */
function jsonBytes(v: JsonValue, limit = Infinity): number {
  if (typeof v === 'string') return stringBytes(v);
  if (typeof v === 'number') return numberBytes(v);
  if (typeof v === 'boolean') return v ? 4 : 5;
  if (v === null) return 4;
  let n = 1;
  if (Array.isArray(v)) {
    for (const el of v) {
      n += jsonBytes(el, limit - n) + 1;
      if (n > limit) return n;
    }
    return v.length === 0 ? 2 : n;
  }
  for (const k of Object.keys(v)) {
    n += stringBytes(k) + jsonBytes(v[k] as JsonValue, limit - n) + 2;
    if (n > limit) return n;
  }
  return n === 1 ? 2 : n;
}

/** The longest prefix of `s` within `maxBytes` UTF-8 bytes that does not split a surrogate pair. */
export function sliceUtf8(s: string, maxBytes: number): string {
  let bytes = 0;
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const pair = c >= 0xd800 && c <= 0xdbff && i + 1 < s.length;
    bytes += c < 0x80 ? 1 : c < 0x800 ? 2 : pair ? 4 : 3;
    if (bytes > maxBytes) break;
    if (pair) i++;
  }
  return s.slice(0, i);
}

/** A cut string: the kept head and how many UTF-8 bytes were removed. */
export const truncatedText = (kept: string, removedBytes: number) =>
  `${kept}…[TRUNCATED ${removedBytes} bytes]`;

/** Cuts arrays, in document order, to the leading elements that fit in `budget`; returns value and size. */
function fit(v: JsonValue, budget: number): [JsonValue, number] {
  const size = jsonBytes(v, budget);
  if (size <= budget || v === null || typeof v !== 'object') return [v, size];
  return Array.isArray(v) ? fitArray(v, budget) : fitObject(v, budget);
}

function fitArray(src: JsonValue[], budget: number): [JsonValue, number] {
  const out: JsonValue[] = [];
  const room = budget - ARRAY_MARKER_RESERVE;
  let used = 1;
  for (const el of src) {
    const [v, size] = fit(el, room - used - 1);
    if (used + size + 1 > room) break;
    out.push(v);
    used += size + 1;
    if (v !== el) break;
  }
  const marker = `…[TRUNCATED ${src.length - out.length} items]`;
  out.push(marker);
  return [out, used + stringBytes(marker) + 1];
}

/** Objects keep every member; their container values share what the later members leave over. */
function fitObject(src: { [k: string]: JsonValue }, budget: number): [JsonValue, number] {
  const keys = Object.keys(src);
  const costs = keys.map((k) => stringBytes(k) + 2);
  const least = keys.map((k, i) => {
    const v = src[k] as JsonValue;
    const size = jsonBytes(v, budget);
    return (costs[i] as number) + (v !== null && typeof v === 'object' ? Math.min(size, 64) : size);
  });
  let tail = least.reduce((a, b) => a + b, 0);
  const out: Record<string, JsonValue> = {};
  let used = 1;
  keys.forEach((k, i) => {
    tail -= least[i] as number;
    const [v, size] = fit(src[k] as JsonValue, budget - used - (costs[i] as number) - tail);
    setOwn(out, k, v);
    used += (costs[i] as number) + size;
  });
  return [out, Math.max(used, 2)];
}

/** The first `max` characters of the JSON text of `v`, without serialising all of a huge value. */
function jsonPrefix(v: JsonValue, max: number): string {
  const parts: string[] = [];
  let length = 0;
  const emit = (s: string) => {
    parts.push(s);
    length += s.length;
    return length >= max;
  };
  const walk = (x: JsonValue): boolean => {
    if (x === null || typeof x !== 'object') {
      return emit(JSON.stringify(typeof x === 'string' && x.length > max ? x.slice(0, max) : x));
    }
    const keys = Array.isArray(x) ? null : Object.keys(x);
    const n = keys === null ? (x as JsonValue[]).length : keys.length;
    if (emit(keys === null ? '[' : '{')) return true;
    for (let i = 0; i < n; i++) {
      if (i > 0 && emit(',')) return true;
      const k = keys?.[i];
      if (k !== undefined && emit(`${JSON.stringify(k)}:`)) return true;
      if (
        walk(
          k === undefined
            ? ((x as JsonValue[])[i] as JsonValue)
            : ((x as Record<string, JsonValue>)[k] as JsonValue),
        )
      )
        return true;
    }
    return emit(keys === null ? ']' : '}');
  };
  walk(v);
  return parts.join('').slice(0, max);
}

/** Step 1 of the caps: cuts every string over maxStringBytes (not yet cut) and rescans what is kept. */
function cutStrings(v: JsonValue, w: CapsHost, maxStringBytes: number, path: (string | number)[]): JsonValue {
  if (typeof v === 'string') {
    return v.length * 3 > maxStringBytes && !w.wasCut(v) && Buffer.byteLength(v) > maxStringBytes
      ? w.cutString(v, 0, formatPath(path))
      : v;
  }
  if (v === null || typeof v !== 'object') return v;
  // Copy on write: most of a large value is usually left as it is.
  const keys = Array.isArray(v) ? null : Object.keys(v);
  const n = keys === null ? (v as JsonValue[]).length : keys.length;
  let copy: JsonValue[] | undefined;
  for (let i = 0; i < n; i++) {
    const el = (
      keys === null ? (v as JsonValue[])[i] : (v as Record<string, JsonValue>)[keys[i] as string]
    ) as JsonValue;
    path.push(keys === null ? i : (keys[i] as string));
    const out = cutStrings(el, w, maxStringBytes, path);
    path.pop();
    if (out !== el)
      copy ??=
        keys === null
          ? (v as JsonValue[]).slice()
          : keys.map((k) => (v as Record<string, JsonValue>)[k] as JsonValue);
    if (copy !== undefined) copy[i] = out;
  }
  if (copy === undefined || keys === null) return copy ?? v;
  const obj: Record<string, JsonValue> = {};
  for (let i = 0; i < n; i++) setOwn(obj, keys[i] as string, copy[i] as JsonValue);
  return obj;
}

/** The last resort: a marker with the original size and a redacted preview of the JSON text. */
function summary(v: JsonValue, bytes: number, w: CapsHost, maxBytes: number): JsonValue {
  // The preview is a JSON text inside a JSON string, so escaping can double its size.
  const budget = Math.min(PREVIEW_BYTES, Math.max(0, Math.floor((maxBytes - SUMMARY_OVERHEAD) / 2)));
  let preview = sliceUtf8(jsonPrefix(v, budget), budget);
  preview = sliceUtf8(w.scan(preview, 'preview'), budget);
  return { $truncated: true, bytes, preview };
}

/**
 * Applies maxBytes to a walked value: cuts strings over maxStringBytes, then arrays to their leading
 * elements, then falls back to the `$truncated` summary. Returns the value unchanged when it fits.
 */
export function applyCaps(
  value: JsonValue,
  w: CapsHost,
  maxBytes: number,
  maxStringBytes: number,
): JsonValue {
  if (!w.exhausted && jsonBytes(value, maxBytes) <= maxBytes) return value;
  w.markTruncated();
  const original = jsonBytes(value) + w.cutBytes;
  if (w.exhausted) return summary(value, original, w, maxBytes);
  let v = cutStrings(value, w, maxStringBytes, []);
  if (jsonBytes(v, maxBytes) <= maxBytes) return v;
  v = fit(v, maxBytes)[0];
  return jsonBytes(v, maxBytes) <= maxBytes ? v : summary(v, original, w, maxBytes);
}
