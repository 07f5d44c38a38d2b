import { ErrorCode } from '@hal/protocol';
import { z } from 'zod';
import { idempotencyHeaderParameter } from '../idempotency-key.ts';
import { defineRoute, type RouteSpec } from '../route-table.ts';

type JsonSchema = Record<string, unknown>;

const toJson = (schema: z.ZodType, io: 'input' | 'output'): JsonSchema => {
  // Coercions and defaults cannot all be expressed in JSON Schema; `any` keeps the rest exact.
  const { $schema: _drop, ...json } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as JsonSchema;
  return json;
};

function objectParameters(schema: z.ZodType | undefined, where: 'path' | 'query'): JsonSchema[] {
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, z.ZodType>).map(([name, field]) => ({
    name,
    in: where,
    // A field that accepts "absent" (optional or defaulted) is an optional parameter.
    required: where === 'path' || !field.safeParse(undefined).success,
    schema: toJson(field, 'input'),
    ...(field.description === undefined ? {} : { description: field.description }),
  }));
}

const errorSchema: JsonSchema = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.values(ErrorCode) },
        message: { type: 'string' },
        details: {},
      },
    },
  },
};

/** OpenAPI 3.1 built from the route table itself: every registered route, with its zod schemas. */
export function openApiDocument(routes: readonly RouteSpec[]): JsonSchema {
  const paths: Record<string, Record<string, JsonSchema>> = {};
  for (const route of routes) {
    const path = route.url.replace(/:(\w+)/g, '{$1}');
    const success = route.stream
      ? {
          description: 'Server-Sent Events',
          content: { 'text/event-stream': { schema: toJson(route.response, 'output') } },
        }
      : {
          description: 'Success',
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['data', 'meta'],
                properties: { data: toJson(route.response, 'output'), meta: { type: 'object' } },
              },
            },
          },
        };
    const errorResponse = {
      description: 'Error (code from the catalogue; status derived from the code)',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
    };
    const operations = paths[path] ?? {};
    paths[path] = operations;
    operations[route.method.toLowerCase()] = {
      summary: route.summary,
      tags: [route.tag],
      operationId: `${route.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ?? '').toUpperCase())}`,
      'x-hal-role': route.role,
      parameters: [
        ...objectParameters(route.params, 'path'),
        ...objectParameters(route.query, 'query'),
        ...(route.idempotent ? [idempotencyHeaderParameter] : []),
      ],
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: toJson(route.body, 'input') } },
            },
          }
        : {}),
      responses: {
        [String(route.successStatus ?? 200)]: success,
        '4XX': errorResponse,
        '5XX': errorResponse,
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'HAL-O-SWARM API', version: '1' },
    security: [{ bearer: [] }],
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
      schemas: { Error: errorSchema },
    },
    paths,
  };
}

/** `GET /api/openapi.json`; `all` returns the whole table including this route. */
export function openApiRoute(all: () => readonly RouteSpec[]): RouteSpec {
  let cached: JsonSchema | undefined;
  return defineRoute({
    method: 'GET',
    url: '/api/openapi.json',
    summary: 'This OpenAPI 3.1 document',
    tag: 'meta',
    role: 'viewer',
    response: z.object({ openapi: z.string() }).passthrough(),
    async handler({ reply }) {
      cached ??= openApiDocument(all());
      // The document itself, not wrapped in the envelope: tools expect a bare OpenAPI file.
      await reply.code(200).send(cached);
      return undefined;
    },
  });
}
