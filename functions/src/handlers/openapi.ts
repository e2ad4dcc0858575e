/** The OpenAPI 3.1 document of the API, generated from the route table's zod schemas. */
import { z } from "zod";
import { REPORT_MEDIA_TYPES } from "../domain/reports.js";
import { ROUTES } from "./routes.js";

/** Routes that can answer a document instead of JSON: the media types their 200 may carry. */
const DOCUMENT_RESPONSES: Record<string, Record<string, unknown>> = {
  "/reports": Object.fromEntries(
    Object.entries(REPORT_MEDIA_TYPES).map(([format, { contentType }]): [string, unknown] => [
      contentType.replace(/;.*/, ""),
      {
        schema:
          format === "json"
            ? {}
            : { type: "string", ...(format === "pdf" || format === "png" ? { format: "binary" } : {}) },
      },
    ]),
  ),
  "/deployments/{id}/picture": {
    "image/svg+xml": { schema: { type: "string" } },
    "image/png": { schema: { type: "string", format: "binary" } },
  },
};

const errorSchema = {
  type: "object",
  properties: {
    error: {
      type: "object",
      properties: {
        status: { type: "integer" },
        code: { type: "string" },
        message: { type: "string" },
        problems: {
          type: "array",
          items: {
            type: "object",
            properties: {
              path: { type: "string" },
              found: { type: "string" },
              allowed: { type: "string" },
              message: { type: "string" },
            },
          },
        },
      },
      required: ["status", "code", "message"],
    },
  },
};

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
  return rest;
}

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const spec of ROUTES) {
    const path = `/api/orchestration${spec.path}`;
    const pathParams = [...spec.path.matchAll(/\{([^}]+)\}/g)].map((match) => ({
      name: match[1],
      in: "path",
      required: true,
      schema: { type: "string", pattern: "^[A-Za-z0-9_-]{1,128}$" },
    }));
    const querySchema = spec.query ? jsonSchema(spec.query) : { properties: {} };
    const required = new Set((querySchema.required as string[] | undefined) ?? []);
    const queryParams = Object.entries(
      (querySchema.properties as Record<string, unknown> | undefined) ?? {},
    ).map(([name, schema]) => ({
      name,
      in: "query",
      required: required.has(name),
      schema,
    }));
    paths[path] ??= {};
    paths[path][spec.method.toLowerCase()] = {
      summary: spec.summary,
      operationId: `${spec.method.toLowerCase()}${spec.path.replace(/[{}]/g, "").replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ""))}`,
      ...(spec.action === "public" ? { security: [] } : { "x-required-action": spec.action }),
      parameters: [...pathParams, ...queryParams],
      ...(spec.body
        ? {
            requestBody: {
              required: true,
              content: { "application/json": { schema: jsonSchema(spec.body) } },
            },
          }
        : {}),
      responses: {
        "200": {
          description: "OK",
          content: DOCUMENT_RESPONSES[spec.path] ?? { "application/json": { schema: {} } },
        },
        "400": {
          description: "Bad input: the field and the reason",
          content: { "application/json": { schema: errorSchema } },
        },
        "401": { description: "Not authenticated", content: { "application/json": { schema: errorSchema } } },
        "403": {
          description: "Not allowed for this role or environment",
          content: { "application/json": { schema: errorSchema } },
        },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Firebase Master Orchestration System API",
      version: "1.0.0",
      description:
        "Plan, deploy, monitor and optimize Firebase environments. Generated from the same zod schemas that validate requests.",
    },
    servers: [{ url: "/" }],
    security: [{ bearerAuth: [] }, { apiKey: [] }],
    components: {
      securitySchemes: {
        bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "Firebase ID token" },
        apiKey: { type: "apiKey", in: "header", name: "X-Api-Key" },
      },
    },
    paths,
  };
}
