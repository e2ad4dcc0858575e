/** `GET /events/search`: full-text search of orchestration events in the warehouse, in the caller's scope. */
import { z } from "zod";
import type { Services } from "../app.js";
import type { Principal } from "../domain/access.js";
import { readScope } from "../domain/scope.js";
import { MAX_SEARCH_RESULTS } from "../warehouse/queries.js";
import type { ApiResponse } from "./http.js";

const DAY_MS = 86_400_000;
/** How far back a search looks when `from` is not given. */
export const DEFAULT_SEARCH_DAYS = 7;

const instant = z.iso.datetime({
  offset: true,
  message: "an ISO time with a zone, such as 2026-11-01T00:00:00Z",
});

/** The query string: every field text, as query strings are. */
export const eventSearchQuerySchema = z
  .strictObject({
    q: z.string().max(200).default("").describe("free text; every word must occur in the event"),
    environment: z.string().min(1).max(64).optional(),
    from: instant.optional().describe(`default: ${DEFAULT_SEARCH_DAYS} days before \`to\``),
    to: instant.optional().describe("default: now"),
    correlation_id: z.string().min(1).max(200).optional(),
    deployment_id: z.string().min(1).max(200).optional(),
    integration: z.string().min(1).max(64).optional(),
    limit: z
      .string()
      .regex(/^\d+$/, { message: `a whole number from 1 to ${MAX_SEARCH_RESULTS}` })
      .transform(Number)
      .pipe(z.int().min(1).max(MAX_SEARCH_RESULTS))
      .optional(),
  })
  .refine((q) => q.from === undefined || q.to === undefined || new Date(q.from) < new Date(q.to), {
    message: "from must be before to",
    path: ["from"],
  });
export type EventSearchQuery = z.infer<typeof eventSearchQuerySchema>;

/** Runs a search; a scoped caller without `environment` searches only their environments. */
export async function searchEvents(
  services: Pick<Services, "warehouse" | "clock">,
  query: EventSearchQuery,
  principal: Principal | undefined,
): Promise<ApiResponse> {
  const warehouse = await services.warehouse();
  if (!warehouse)
    return {
      status: 503,
      body: {
        error: "no_warehouse",
        message:
          "No warehouse is configured: set ORCH_WAREHOUSE_URL (the local stack does) or ORCH_BIGQUERY_DATASET",
      },
    };
  const to = query.to ? new Date(query.to) : services.clock.now();
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - DEFAULT_SEARCH_DAYS * DAY_MS);
  const environments = readScope(principal, query.environment);
  const events = await warehouse.search({
    q: query.q,
    from: from.toISOString(),
    to: to.toISOString(),
    environments,
    ...(query.correlation_id && { correlation_id: query.correlation_id }),
    ...(query.deployment_id && { deployment_id: query.deployment_id }),
    ...(query.integration && { integration: query.integration }),
    ...(query.limit && { limit: query.limit }),
  });
  return {
    status: 200,
    body: {
      events,
      count: events.length,
      from: from.toISOString(),
      to: to.toISOString(),
      environments,
      warehouse: warehouse.engine === "duckdb" ? "duckdb (local, standing in for BigQuery)" : "bigquery",
    },
  };
}
