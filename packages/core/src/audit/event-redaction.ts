/**
 * The last redaction before storage: one pass over a whole audit event, so that no field is stored
 * verbatim because whoever built the event forgot to redact it (a label, a human's reason, an error text).
 * Only the few fields Warden writes in shapes that cannot hold a secret are kept without a look, and only
 * when they have that shape.
 */
import { AUDIT_EVENT_TYPES, type AuditEvent } from './audit-event.js';
import { needsRedaction, redactStored, SECRET_KINDS, VALUE_FLAGS } from './redaction.js';

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;
const HEX = /^[0-9a-f]{64}$/;
const TYPES: ReadonlySet<unknown> = new Set(AUDIT_EVENT_TYPES);
const FLAGS: ReadonlySet<unknown> = new Set(VALUE_FLAGS);
const KINDS: ReadonlySet<unknown> = new Set(SECRET_KINDS);

/** Fields kept exactly when they have the shape Warden writes them in (else they are scanned too). */
const EXACT: Readonly<Record<string, (v: unknown) => boolean>> = {
  ts: (v) => typeof v === 'string' && ISO_TIME.test(v),
  type: (v) => TYPES.has(v),
  argsHmac: (v) => typeof v === 'string' && HEX.test(v),
  flags: (v) => Array.isArray(v) && v.every((f) => FLAGS.has(f)),
  // Warden's own record of what it removed: paths of already redacted keys, and kinds.
  redactions: (v) => Array.isArray(v) && v.every(isRedaction),
};

/** `{ path, kind }` exactly, with a text path and a known secret kind: nothing else rides along unscanned. */
function isRedaction(r: unknown): boolean {
  if (typeof r !== 'object' || r === null || Array.isArray(r) || Object.keys(r).length !== 2) return false;
  const { path, kind } = r as Record<string, unknown>;
  return typeof path === 'string' && KINDS.has(kind);
}

/**
 * `event` with every secret in it replaced (any field, any depth; keys too), the redactions appended to
 * its `redactions` and any value flags to its `flags`. Returns `event` itself when there was nothing to
 * remove. `fields` are the policy's extra secret field names. Never throws.
 */
export function redactEvent(event: AuditEvent, fields?: readonly string[]): AuditEvent {
  const scanned: Record<string, unknown> = {};
  const kept: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    if (value === undefined) continue;
    if (EXACT[key]?.(value) === true) kept[key] = value;
    else scanned[key] = value;
  }
  // The usual event holds no secret: a look without a copy decides whether to build one.
  if (!needsRedaction(scanned, fields)) return event;
  const r = redactStored(scanned, fields);
  if (r.redactions.length === 0 && r.flags.length === 0) return event;
  const body = (typeof r.value === 'object' && r.value !== null ? r.value : {}) as Record<string, unknown>;
  const flags = [...new Set([...((kept.flags as string[] | undefined) ?? []), ...r.flags])].sort();
  const redactions = [...((kept.redactions as AuditEvent['redactions']) ?? []), ...r.redactions];
  return {
    ...body,
    ...kept,
    ...(redactions.length ? { redactions } : {}),
    ...(flags.length ? { flags } : {}),
  } as AuditEvent;
}
