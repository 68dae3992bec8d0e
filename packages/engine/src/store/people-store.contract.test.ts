import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, decided, freshStore, type StoreFixture } from '../../test-support/store-fixtures.js';
import type { PersonRecord } from './people-rows.js';

function person(over: Partial<PersonRecord> = {}): PersonRecord {
  return {
    issuer: 'https://idp.example.com',
    subject: '00u1alice',
    name: 'alice@example.com',
    email: 'Alice@Example.com',
    displayName: 'Alice A',
    role: 'approver',
    groups: ['dba', 'eng'],
    approverGroups: ['dba'],
    firstSignedInAt: '2026-03-01T12:00:00.000Z',
    lastSignedInAt: '2026-03-01T12:00:00.000Z',
    ...over,
  };
}

describe.each(DIALECTS)('People store contract (%s)', (dialect) => {
  let fx: StoreFixture;
  beforeEach(async () => {
    fx = await freshStore(dialect);
  });
  afterEach(async () => {
    await fx?.dispose();
  });

  const upsert = (p: PersonRecord) =>
    fx.store.commit([{ mutations: [{ kind: 'person.upsert', person: p }], events: [decided()] }]);

  it('records a person at sign-in and finds them by issuer and subject, email and name', async () => {
    const alice = person();
    await upsert(alice);
    expect(await fx.store.person(alice.issuer, alice.subject)).toEqual(alice);
    expect(await fx.store.personByEmail('alice@example.COM')).toEqual(alice);
    expect(await fx.store.personByName('alice@example.com')).toEqual(alice);
    expect(await fx.store.person('https://other.example.com', alice.subject)).toBeUndefined();
    expect(await fx.store.personByEmail('bob@example.com')).toBeUndefined();
  });

  it("takes the IdP's current word at each sign-in and keeps the first sign-in; another instance sees it", async () => {
    await upsert(person());
    const later = person({
      role: null,
      groups: ['eng'],
      approverGroups: [],
      displayName: null,
      firstSignedInAt: '2026-03-02T09:00:00.000Z',
      lastSignedInAt: '2026-03-02T09:00:00.000Z',
    });
    await upsert(later);
    const other = await fx.reopen();
    try {
      expect(await other.person(later.issuer, later.subject)).toEqual({
        ...later,
        firstSignedInAt: '2026-03-01T12:00:00.000Z',
      });
    } finally {
      await other.close();
    }
  });

  it('keeps one person per issuer and subject: the same email at two issuers is two people', async () => {
    await upsert(person());
    const elsewhere = person({
      issuer: 'https://other.example.com',
      lastSignedInAt: '2026-03-03T00:00:00.000Z',
    });
    await upsert(elsewhere);
    expect(await fx.store.personByEmail('alice@example.com')).toEqual(elsewhere);
    // Slack refuses an email more than one person has: it must see them all.
    expect(await fx.store.peopleByEmail('ALICE@example.com')).toEqual([elsewhere, person()]);
    expect(await fx.store.peopleByEmail('bob@example.com')).toEqual([]);
    expect((await fx.store.person(person().issuer, person().subject))?.issuer).toBe(person().issuer);
  });

  it('refuses a role that is not a person’s, writing nothing of the unit', async () => {
    const head = (await fx.store.head()).seq;
    await expect(upsert(person({ role: 'agent' }))).rejects.toThrow();
    expect((await fx.store.head()).seq).toBe(head);
    expect(await fx.store.person(person().issuer, person().subject)).toBeUndefined();
  });
});
