/**
 * The server's route table and the API contract (@warden/api's API_ROUTES) are the same routes with the
 * same schemas, by identity: a schema written in the server instead of the contract, a route added on
 * one side only, or a status that differs fails here.
 */
import { API_ROUTES, type RouteContract } from '@warden/api';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import type { AnyRoute } from '../http/route-spec.js';
import { ROUTES } from './route-table.js';

const keyOf = (r: { method: string; url: string }) => `${r.method} ${r.url}`;
const contracts = new Map<string, RouteContract>(API_ROUTES.map((c) => [keyOf(c), c]));

/**
 * A server schema is the contract's, or the contract's refined with the domain's rules (the check
 * request: no credential-looking ids), which Zod makes as a copy that names the contract's as its parent.
 */
function isContractSchema(server: z.ZodType | undefined, contract: z.ZodType | undefined): boolean {
  if (server === contract) return true;
  return server !== undefined && contract !== undefined && server._zod.parent === contract;
}

describe('the route table follows the API contract', () => {
  it('has exactly the contract’s routes', () => {
    expect(ROUTES.map(keyOf).sort()).toEqual([...contracts.keys()].sort());
    expect(new Set(API_ROUTES.map(keyOf)).size).toBe(API_ROUTES.length);
  });

  it.each(ROUTES.map((r) => [keyOf(r), r] as const))(
    '%s takes and answers the contract’s schemas',
    (_, route: AnyRoute) => {
      const c = contracts.get(keyOf(route));
      expect(c, 'in the contract').toBeDefined();
      if (!c) return;
      for (const part of ['body', 'query', 'params'] as const) {
        expect(isContractSchema(route[part], c[part]), `${part} is the contract's`).toBe(true);
      }
      expect(route.response.status).toBe(c.response.status);
      expect(route.response.schema).toBe('schema' in c.response ? c.response.schema : undefined);
      expect(route.response.stream).toBe('stream' in c.response ? c.response.stream : undefined);
    },
  );
});
