/** Runs engine tasks through the real drivers: the task's integration, in its environment, via the fabricator. */
import type { ResolvedEnvironment } from "../domain/config-schema.js";
import { NonRetriableError } from "../domain/errors.js";
import type { IntegrationKind } from "../domain/integrations.js";
import type { Driver } from "./driver.js";
import type { Fabricator } from "./fabricator.js";
import type { DriverTarget } from "./types.js";

/** The driver target for an integration of an environment: its merged settings come from the config. */
export function targetFor(environment: ResolvedEnvironment, integration: string): DriverTarget {
  const kind = integration.split(":")[0] as IntegrationKind;
  const declared = environment.integrations.find((candidate) => candidate.kind === kind);
  if (!declared)
    throw new NonRetriableError(
      `integration ${integration} is not declared in environment ${environment.name}`,
    );
  return { environment, integration, kind, settings: declared.settings };
}

export function createIntegrationDriver(
  fabricator: Fabricator,
  environment: (name: string) => Promise<ResolvedEnvironment>,
): Driver {
  return {
    async apply({ task, fence }) {
      const target = targetFor(await environment(task.environment), task.integration);
      const outcome = await fabricator.apply(target, task.deployment_id, fence);
      const mode = fabricator.modeOf(target);
      return {
        summary: outcome.summary,
        integrationStatus: mode === "staged" ? "staged" : "deployed",
        release: outcome.release?.number ?? null,
      };
    },
    async rollback({ task, fence }) {
      const target = targetFor(await environment(task.environment), task.integration);
      return fabricator.rollback(target, task.deployment_id, fence);
    },
  };
}
