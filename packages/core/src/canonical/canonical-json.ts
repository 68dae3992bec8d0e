import { createHash } from 'node:crypto';

/**
 * Canonical JSON per RFC 8785 (JCS): object keys sorted by UTF-16 code units, no whitespace,
 * numbers in ECMAScript shortest form. Policy versions and every audit event hash are computed over
 * it, so the same value always yields the same bytes on every instance. It runs once per audit event,
 * so it appends to one string rather than building arrays.
 */
export function canonicalJson(value: unknown): string {
  return write(value);
}

function write(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) throw new Error('canonical JSON cannot encode a non-finite number');
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'object':
      if (value === null) return 'null';
      return Array.isArray(value) ? writeArray(value) : writeObject(value as Record<string, unknown>);
    default:
      throw new Error(`canonical JSON cannot encode a ${typeof value}`);
  }
}

function writeArray(arr: readonly unknown[]): string {
  let out = '[';
  for (let i = 0; i < arr.length; i++) {
    if (i > 0) out += ',';
    const v = arr[i];
    out += v === undefined ? 'null' : write(v);
  }
  return `${out}]`;
}

/** Quoted keys, memoised: the same few dozen field names recur in every event. Bounded. */
const quotedKeys = new Map<string, string>();

function quoteKey(k: string): string {
  let q = quotedKeys.get(k);
  if (q === undefined) {
    q = JSON.stringify(k);
    if (quotedKeys.size < 4096) quotedKeys.set(k, q);
  }
  return q;
}

function writeObject(obj: Record<string, unknown>): string {
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const v = obj[k];
    if (v === undefined) continue;
    out += first ? quoteKey(k) : `,${quoteKey(k)}`;
    out += `:${write(v)}`;
    first = false;
  }
  return `${out}}`;
}

/** Hex SHA-256 of the canonical JSON of `value`. */
export function canonicalHash(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex');
}
