/** `GET /trends`: the dashboard's per-day deployment trends from the warehouse, in the caller's scope. */
import { z } from "zod";
import type { Services } from "../app.js";
import type { Principal } from "../domain/access.js";
import { readScope } from "../domain/scope.js";
import { DEFAULT_TREND_DAYS, MAX_TREND_DAYS, loadDeploymentTrends } from "../warehouse/trends.js";
import type { ApiResponse } from "./http.js";

/** The query string: every field text, as query strings are. */
export const trendsQuerySchema = z.strictObject({
  days: z
    .string()
    .regex(/^\d+$/, { message: `a whole number of days from 1 to ${MAX_TREND_DAYS}` })
    .transform(Number)
    .pipe(z.int().min(1).max(MAX_TREND_DAYS))
    .optional()
    .describe(`UTC days back from today, today included (default ${DEFAULT_TREND_DAYS})`),
  environment: z.string().min(1).max(64).optional(),
});
export type TrendsQuery = z.infer<typeof trendsQuerySchema>;

/**
 * Answers the trends; with `environment` the route has checked the caller's scope (403 outside
 * it), without it a scoped caller sees only their environments and an unscoped one every one.
 */
export async function deploymentTrends(
  services: Pick<Services, "warehouse" | "clock">,
  query: TrendsQuery,
  principal: Principal | undefined,
): Promise<ApiResponse> {
  return {
    status: 200,
    body: await loadDeploymentTrends(
      await services.warehouse(),
      services.clock.now(),
      query.days ?? DEFAULT_TREND_DAYS,
      readScope(principal, query.environment),
    ),
  };
}
