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

/** A Warden id: a UUID, optionally behind a lowercase prefix (`key_…`, `sso_…`, `task_…`). */
const WARDEN_ID = /^(?:[a-z]{1,8}_)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** An issuer URL: scheme, host, port and path only (no user info, query or fragment to hide text in). */
const ISSUER = /^https?:\/\/[A-Za-z0-9.-]{1,253}(?::\d{1,5})?(?:\/[^\s@?#]{0,1000})?$/;
/** An OIDC subject: at most 255 printable ASCII characters (OpenID Connect Core §2). */
const SUBJECT = /^[\x21-\x7e]{1,255}$/;

/**
 * The verified identifiers of an identity proof, kept when they have their exact shape: a subject the IdP
 * signed (an Auth0-style `twitter|4532015112830366` looks like a card number) must stay comparable, or
 * separation of duties would miss the person later. A claimed proof's, and every `name`, are scanned.
 */
const PROOF_FIELDS: Readonly<Record<string, (v: unknown) => boolean>> = {
  issuer: (v) => typeof v === 'string' && ISSUER.test(v),
  subject: (v) => typeof v === 'string' && SUBJECT.test(v),
  keyId: (v) => typeof v === 'string' && WARDEN_ID.test(v),
  tokenId: (v) => typeof v === 'string' && WARDEN_ID.test(v),
  taskId: (v) => typeof v === 'string' && WARDEN_ID.test(v),
};

/** A proof's field kept aside: where it was (`agent`, `initiator`, `chain.2`, `taskToken`) and its value. */
type KeptProof = readonly [place: string, field: string, value: unknown];

/** `identity` without its verified identifiers of exact shape, and those identifiers. */
function splitIdentity(identity: unknown): { rest: unknown; kept: KeptProof[] } {
  if (typeof identity !== 'object' || identity === null || Array.isArray(identity))
    return { rest: identity, kept: [] };
  const kept: KeptProof[] = [];
  const strip = (place: string, proof: unknown): unknown => {
    if (typeof proof !== 'object' || proof === null || Array.isArray(proof)) return proof;
    const p = proof as Record<string, unknown>;
    // A claimed identity is whatever the caller wrote: all of it is scanned.
    if (place !== 'taskToken' && (typeof p.method !== 'string' || p.method === 'claimed')) return proof;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(p)) {
      if (PROOF_FIELDS[k]?.(v) === true) kept.push([place, k, v]);
      else out[k] = v;
    }
    return out;
  };
  const i = identity as Record<string, unknown>;
  const rest: Record<string, unknown> = { ...i };
  for (const place of ['agent', 'initiator', 'taskToken'])
    if (place in i) rest[place] = strip(place, i[place]);
  if (Array.isArray(i.chain)) rest.chain = i.chain.map((link, n) => strip(`chain.${n}`, link));
  return { rest, kept };
}

/** Puts the kept identifiers back into the (redacted) identity, each where it was. */
function joinIdentity(identity: unknown, kept: readonly KeptProof[]): unknown {
  if (kept.length === 0 || typeof identity !== 'object' || identity === null) return identity;
  const out: Record<string, unknown> = { ...(identity as Record<string, unknown>) };
  if (Array.isArray(out.chain)) out.chain = [...out.chain];
  for (const [place, field, value] of kept) {
    const [head, n] = place.split('.');
    if (head === 'chain') {
      const chain = out.chain as unknown[];
      chain[Number(n)] = { ...(chain[Number(n)] as object), [field]: value };
    } else out[head as string] = { ...(out[head as string] as object), [field]: value };
  }
  return out;
}

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
  let proofs: KeptProof[] = [];
  for (const [key, value] of Object.entries(event)) {
    if (value === undefined) continue;
    if (EXACT[key]?.(value) === true) kept[key] = value;
    else if (key === 'identity') {
      const split = splitIdentity(value);
      scanned[key] = split.rest;
      proofs = split.kept;
    } else scanned[key] = value;
  }
  // The usual event holds no secret: a look without a copy decides whether to build one.
  if (!needsRedaction(scanned, fields)) return event;
  const r = redactStored(scanned, fields);
  if (r.redactions.length === 0 && r.flags.length === 0) return event;
  const body = (typeof r.value === 'object' && r.value !== null ? r.value : {}) as Record<string, unknown>;
  if (proofs.length > 0) body.identity = joinIdentity(body.identity, proofs);
  const flags = [...new Set([...((kept.flags as string[] | undefined) ?? []), ...r.flags])].sort();
  const redactions = [...((kept.redactions as AuditEvent['redactions']) ?? []), ...r.redactions];
  return {
    ...body,
    ...kept,
    ...(redactions.length ? { redactions } : {}),
    ...(flags.length ? { flags } : {}),
  } as AuditEvent;
}
