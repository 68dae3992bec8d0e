import { ErrorBodySchema } from '@warden/api';
import { z } from 'zod';
import { HTTP_STATUS } from './error-status.js';
import type { AnyRoute } from './route-spec.js';

type Json = Record<string, unknown>;

/**
 * The named schemas (Zod `.meta({ id })`) of one document. Zod emits them as `#/$defs/<id>` next to the
 * schema that uses them, which does not resolve inside an OpenAPI document (its root has no `$defs`), so
 * they are moved to `components.schemas` and every reference is pointed there. When an id's input and
 * output forms differ, the one seen second is kept as `<id>Input` or `<id>Output`.
 */
class NamedSchemas {
  readonly schemas: Record<string, Json> = {};
  readonly #raw = new Map<string, string>();

  /** A schema as JSON Schema, its named parts registered here. */
  jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
    const {
      $schema: _drop,
      $defs,
      ...rest
    } = z.toJSONSchema(schema, {
      io,
      unrepresentable: 'any',
      reused: 'inline',
    }) as Json & { $defs?: Record<string, Json> };
    const names = new Map<string, string>();
    for (const [id, def] of Object.entries($defs ?? {})) {
      const raw = JSON.stringify(def);
      const name =
        this.#raw.has(id) && this.#raw.get(id) !== raw ? `${id}${io === 'input' ? 'Input' : 'Output'}` : id;
      names.set(id, name);
      this.#raw.set(name, raw);
    }
    const rewrite = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(rewrite);
      if (v === null || typeof v !== 'object') return v;
      return Object.fromEntries(
        Object.entries(v).map(([k, x]) => {
          if (k === '$ref' && typeof x === 'string' && x.startsWith('#/$defs/')) {
            const id = x.slice('#/$defs/'.length);
            return [k, `#/components/schemas/${names.get(id) ?? id}`];
          }
          return [k, rewrite(x)];
        }),
      );
    };
    for (const [id, def] of Object.entries($defs ?? {})) {
      this.schemas[names.get(id) ?? id] = rewrite(def) as Json;
    }
    return rewrite(rest) as Json;
  }
}

/** The OpenAPI 3.1 document, derived from the same route table and Zod schemas the server runs. */
export function openApiDocument(routes: readonly AnyRoute[], version: string): Record<string, unknown> {
  const named = new NamedSchemas();
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:([A-Za-z]+)/g, '{$1}');
    paths[path] ??= {};
    (paths[path] as Record<string, unknown>)[r.method.toLowerCase()] = operation(r, named);
  }
  named.jsonSchema(ErrorBodySchema, 'output');
  return {
    openapi: '3.1.0',
    info: {
      title: 'Warden API',
      version,
      description:
        'The governance layer for AI agents: decide tool calls, keep sessions, read and verify the audit trail. Every endpoint except health needs Authorization: Bearer <key>.',
    },
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'A Warden API key (wdn_…).' },
      },
      schemas: named.schemas,
    },
    security: [{ bearer: [] }],
    paths,
  };
}

function operation(r: AnyRoute, named: NamedSchemas): Record<string, unknown> {
  const parameters = [...params(r.params, 'path', named), ...params(r.query, 'query', named)];
  const responses: Record<string, unknown> = {
    [r.response.status]: {
      description: 'Success',
      ...(r.response.schema
        ? { content: { 'application/json': { schema: named.jsonSchema(r.response.schema, 'output') } } }
        : r.response.stream
          ? { content: { [r.response.stream]: { schema: { type: 'string' } } } }
          : {}),
    },
  };
  const codes = new Set(r.errors ?? []);
  if (r.body || r.query || r.params) codes.add('REQUEST_INVALID');
  if (r.roles !== 'public')
    for (const c of ['UNAUTHENTICATED', 'FORBIDDEN', 'RATE_LIMITED'] as const) codes.add(c);
  if (r.body) codes.add('BODY_TOO_LARGE');
  for (const code of codes) {
    const status = String(HTTP_STATUS[code] ?? 500);
    const existing = responses[status] as { description: string } | undefined;
    responses[status] = {
      description: existing ? `${existing.description}, ${code}` : code,
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
  }
  return {
    operationId: `${r.method.toLowerCase()}${r.url.replace(/[/:]+(\w)/g, (_m, c: string) => c.toUpperCase())}`,
    tags: [r.tag],
    summary: r.summary,
    ...(r.roles === 'public'
      ? { security: [] }
      : { description: `Roles: ${r.roles.join(', ')}.`, 'x-warden-roles': r.roles }),
    ...(parameters.length > 0 ? { parameters } : {}),
    ...(r.body
      ? {
          requestBody: {
            required: true,
            content: { 'application/json': { schema: named.jsonSchema(r.body, 'input') } },
          },
        }
      : {}),
    responses,
  };
}

function params(
  schema: z.ZodType | undefined,
  where: 'path' | 'query',
  named: NamedSchemas,
): Record<string, unknown>[] {
  if (!schema) return [];
  const s = named.jsonSchema(schema, 'input') as {
    properties?: Record<string, unknown>;
    required?: string[];
  };
  return Object.entries(s.properties ?? {}).map(([name, prop]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    schema: prop,
  }));
}
