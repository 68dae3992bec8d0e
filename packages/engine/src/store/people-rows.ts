import type { ApiRole } from '@warden/api';

/**
 * A person who signed in through the OpenID Connect IdP, by (issuer, subject): the IdP's word on them
 * at their last sign-in. Authenticated requests read their role and groups from here, so a change in
 * the IdP takes effect everywhere at their next sign-in.
 */
export interface PersonRecord {
  readonly issuer: string;
  readonly subject: string;
  /** Their Warden principal id (the configured person claim: email or subject). */
  readonly name: string;
  readonly email: string | null;
  readonly displayName: string | null;
  /** The role their IdP groups map to; null when none does (they cannot sign in). */
  readonly role: ApiRole | null;
  /** Every IdP group they had at their last sign-in. */
  readonly groups: readonly string[];
  /** Those of their groups usable as policy approver groups. */
  readonly approverGroups: readonly string[];
  readonly firstSignedInAt: string;
  readonly lastSignedInAt: string;
}

/** The column list of `people`, in the order `personValues` gives them. */
export const PEOPLE_COLUMNS =
  'issuer, subject, name, email, display_name, role, groups, approver_groups, first_signed_in_at, last_signed_in_at';

/** One row of `people` as both dialects return it (groups as JSON text). */
export interface PersonRow {
  issuer: string;
  subject: string;
  name: string;
  email: string | null;
  display_name: string | null;
  role: string | null;
  groups: string;
  approver_groups: string;
  first_signed_in_at: string;
  last_signed_in_at: string;
}

/** The values for an insert, in PEOPLE_COLUMNS order. */
export function personValues(p: PersonRecord): (string | null)[] {
  return [
    p.issuer,
    p.subject,
    p.name,
    p.email,
    p.displayName,
    p.role,
    JSON.stringify(p.groups),
    JSON.stringify(p.approverGroups),
    p.firstSignedInAt,
    p.lastSignedInAt,
  ];
}

/** The record a row holds. */
export function toPerson(r: PersonRow): PersonRecord {
  return {
    issuer: r.issuer,
    subject: r.subject,
    name: r.name,
    email: r.email,
    displayName: r.display_name,
    role: r.role as ApiRole | null,
    groups: JSON.parse(r.groups) as string[],
    approverGroups: JSON.parse(r.approver_groups) as string[],
    firstSignedInAt: r.first_signed_in_at,
    lastSignedInAt: r.last_signed_in_at,
  };
}

/**
 * The upsert both dialects run (placeholders `?` become `$n` for PostgreSQL): a new person is inserted,
 * a known one gets the IdP's current word; their first sign-in is kept.
 */
export const UPSERT_PERSON_SQL = `INSERT INTO people (${PEOPLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
 ON CONFLICT (issuer, subject) DO UPDATE SET name = excluded.name, email = excluded.email,
   display_name = excluded.display_name, role = excluded.role, groups = excluded.groups,
   approver_groups = excluded.approver_groups, last_signed_in_at = excluded.last_signed_in_at`;

/** The person with an email (case-insensitive), the most recent sign-in first when several issuers know it. */
export const PERSON_BY_EMAIL_SQL = `SELECT ${PEOPLE_COLUMNS} FROM people WHERE lower(email) = lower(?)
 ORDER BY last_signed_in_at DESC LIMIT 1`;

/** Every person with this email (case-insensitive), the most recent sign-in first (at most a few). */
export const PEOPLE_BY_EMAIL_SQL = `SELECT ${PEOPLE_COLUMNS} FROM people WHERE lower(email) = lower(?)
 ORDER BY last_signed_in_at DESC LIMIT 10`;

/** The person a principal id names (the most recent sign-in first). */
export const PERSON_BY_NAME_SQL = `SELECT ${PEOPLE_COLUMNS} FROM people WHERE name = ?
 ORDER BY last_signed_in_at DESC LIMIT 1`;

export const PERSON_SQL = `SELECT ${PEOPLE_COLUMNS} FROM people WHERE issuer = ? AND subject = ?`;

/** `?` placeholders numbered for PostgreSQL. */
export function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
