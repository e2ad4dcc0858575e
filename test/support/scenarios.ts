/** Simulation scenarios shared by the engine's unit tests and the hot-path count. */
import { INTEGRATION_KINDS } from "../../functions/src/domain/integrations.js";
import type { Behaviour } from "../sim/driver.js";
import type { Scenario } from "../sim/world.js";

/**
 * One deployment `d1` in environment `dev` of the given integrations (the ten kinds, in their
 * dependency order), `concurrency` at once, every task 150 ms, no fault; no deployment at all when
 * `integrations` is empty (the baseline a count takes off).
 */
export function oneDeployment(
  concurrency: number,
  integrations: readonly string[] = INTEGRATION_KINDS,
): Scenario {
  const behaviours = new Map<string, Behaviour>();
  for (const integration of integrations)
    behaviours.set(`d1--${integration}`, { latencyMs: 150, failFirst: 0, permanent: false, hangMs: 0 });
  return {
    envs: [{ name: "dev", concurrency, rollback_policy: "failed-only" }],
    deployments:
      integrations.length === 0
        ? []
        : [
            {
              id: "d1",
              at: 1000,
              environment: "dev",
              integrations: [...integrations],
              configuration: { driver: "simulated", max_retries: 2, lease_seconds: 60 },
              cancelAt: null,
            },
          ],
    behaviours,
    configChanges: [],
  };
}
