/** Runs engine tasks through the real drivers: the task's integration, in its environment, via the fabricator. */
import type { ResolvedEnvironment } from "../domain/config-schema.js";
import { NonRetriableError } from "../domain/errors.js";
import { formatPath } from "../domain/problems.js";
import type { Driver, Fence } from "./driver.js";
import type { Fabricator } from "./fabricator.js";
import {
  artifactDigest,
  isPromotable,
  promotedState,
  promotionPinsSchema,
  type PromotionPins,
} from "./promotion.js";
import type { DriverTarget } from "./types.js";

/** The driver target for an integration of an environment: its merged settings come from the config. */
export function targetFor(environment: ResolvedEnvironment, integration: string): DriverTarget {
  const declared = environment.integrations.find((candidate) => candidate.name === integration);
  if (!declared)
    throw new NonRetriableError(
      `integration ${integration} is not declared in environment ${environment.name} (it declares ${environment.integrations.map((i) => i.name).join(", ")})`,
    );
  return { environment, integration, kind: declared.kind, settings: declared.settings };
}

/** The promotion pins of a deployment's configuration; undefined for a deployment that promotes nothing. */
export function promotionPinsOf(configuration: Record<string, unknown>): PromotionPins | undefined {
  if (configuration.promotion === undefined) return undefined;
  const parsed = promotionPinsSchema.safeParse(configuration.promotion);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new NonRetriableError(
      `${formatPath(["configuration", "promotion", ...(issue?.path ?? [])])}: ${issue?.message ?? "malformed"}; allowed: the pins POST /promote writes`,
    );
  }
  return parsed.data;
}

export function createIntegrationDriver(
  fabricator: Fabricator,
  environment: (name: string) => Promise<ResolvedEnvironment>,
): Driver {
  /**
   * Applies the source release's artifact with the target's own settings around it, then checks
   * that what the target now holds (observed where the kind reaches a service, else its recorded
   * release) carries the source's artifact digest; a mismatch fails the task, and the deployment
   * (policy `all`) rolls back as one unit.
   */
  async function applyPromoted(
    target: DriverTarget,
    pins: PromotionPins,
    deploymentId: string,
    fence: Fence,
  ) {
    const pin = pins.releases[target.integration];
    if (!isPromotable(target.kind) || !pin)
      throw new NonRetriableError(
        `configuration.promotion.releases: ${target.integration} is not pinned; allowed: the integrations the promotion plan lists`,
      );
    const kind = target.kind;
    const source = await fabricator.release(pins.from, target.integration, pin.release);
    if (!source)
      throw new NonRetriableError(
        `promotion: release ${pin.release} of ${pins.from}/${target.integration} does not exist`,
      );
    const sourceDigest = artifactDigest(kind, source.state);
    if (sourceDigest !== pin.artifact_sha256)
      throw new NonRetriableError(
        `promotion: release ${pin.release} of ${pins.from}/${target.integration} holds artifact ${sourceDigest.slice(0, 12)}, not the ${pin.artifact_sha256.slice(0, 12)} the plan pinned`,
      );
    const outcome = await fabricator.apply(target, deploymentId, fence, {
      reshape: (desired) => promotedState(kind, source.state, desired),
      promoted_from: { environment: pins.from, release: pin.release, artifact_sha256: sourceDigest },
    });
    const recorded = outcome.release ? artifactDigest(kind, outcome.release.state) : "none";
    const now = await fabricator.observed(target);
    const held = artifactDigest(kind, now.state);
    if (recorded !== sourceDigest || held !== sourceDigest)
      throw new NonRetriableError(
        `promotion verification failed for ${target.environment.name}/${target.integration}: source ${pins.from} release ${pin.release} artifact ${sourceDigest.slice(0, 12)}, target release ${outcome.release?.number ?? "none"} ${recorded.slice(0, 12)}, ${now.from} ${held.slice(0, 12)}`,
      );
    return {
      outcome,
      summary: `${outcome.summary}; verified: artifact ${sourceDigest.slice(0, 12)} of ${pins.from} release ${pin.release} matches release ${outcome.release?.number ?? "?"} (${now.from === "observed" ? "and what the target holds" : "recorded"})`,
    };
  }

  return {
    async apply({ task, fence, configuration }) {
      const target = targetFor(await environment(task.environment), task.integration);
      const pins = promotionPinsOf(configuration);
      const { outcome, summary } = pins
        ? await applyPromoted(target, pins, task.deployment_id, fence)
        : await fabricator.apply(target, task.deployment_id, fence).then((outcome) => ({
            outcome,
            summary: outcome.summary,
          }));
      const mode = fabricator.modeOf(target);
      return {
        summary,
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
