/**
 * Operations built on the engine: provision an environment, promote one environment's artifacts
 * to the next behind a health and verification gate, and plan environments (task graph, timeline, driver plans, differences).
 */
import type { ResolvedEnvironment } from "../domain/config-schema.js";
import { diffEnvironments } from "../domain/config.js";
import type { Deployment } from "../domain/engine-model.js";
import { BadInputError, ConflictError } from "../domain/errors.js";
import { anomalyAlert } from "../domain/learning/anomalies.js";
import { planDeployment } from "../domain/planner.js";
import type { Clock } from "../app.js";
import type { Logger } from "../logs.js";
import type { Fabricator } from "../drivers/fabricator.js";
import { targetFor } from "../drivers/integration-driver.js";
import {
  artifactDigest,
  artifactHashes,
  isPromotable,
  promotedState,
  targetOverrides,
  type PromotionPins,
} from "../drivers/promotion.js";
import type { Change, Release } from "../drivers/types.js";
import type { Store } from "../store/store.js";
import type { Engine } from "./engine.js";
import type { EnvironmentResolver } from "./environments.js";
import type { Learning } from "./learning.js";
import type { Tuning } from "./tuning.js";
import type { HealthMonitor } from "./health.js";

/** What `POST /promote` and `POST /promote/plan` answer as `promotion_plan`. */
export interface PromotionPlan {
  from: string;
  to: string;
  promotable: boolean;
  refusals: string[];
  integrations: {
    integration: string;
    source: Record<string, unknown> & { release: number; artifact_sha256: string };
    target: { environment: string; release: number | null; artifact_sha256: string | null };
    target_overrides: { path: string; source: unknown; target: unknown }[];
    changes: Change[];
    summary: string;
  }[];
  not_promoted: { integration: string; reason: string }[];
  pins: PromotionPins;
}

export function createOperations(deps: {
  store: Store;
  engine: Engine;
  environments: EnvironmentResolver;
  fabricator: Fabricator;
  health: HealthMonitor;
  clock: Clock;
  learning: Learning;
  tuning: Pick<Tuning, "watch">;
  log: Logger;
  /** The status of a deployment, for a release's verification; undefined when it does not exist. */
  deploymentStatus: (id: string) => Promise<string | undefined>;
}) {
  const { store, engine, environments, fabricator, health, clock, learning, log, deploymentStatus } = deps;
  const allOf = (env: ResolvedEnvironment) => env.integrations.map((integration) => integration.name);

  /** Why a source release cannot be promoted (its deployment never succeeded), or null when it was verified. */
  async function unverified(release: Release): Promise<string | null> {
    if (release.deployment_id === null) return "was recorded outside any deployment: never verified";
    const status = await deploymentStatus(release.deployment_id);
    if (status === "succeeded") return null;
    return `was recorded by deployment ${release.deployment_id}, which ${status === undefined ? "no longer exists" : `is ${status}`}: never verified (deploy it again and promote once that succeeded)`;
  }

  return {
    /** Provisions an environment with every integration its config requires, through the engine. */
    async provision(deploymentId: string, name: string, requestedBy: string) {
      const env = await environments.environment(name);
      const result = await engine.requestDeployment(
        deploymentId,
        { environment: env.name, integrations: allOf(env), configuration: { provision: true } },
        requestedBy,
      );
      return result;
    },

    /** Called when a deployment ends: a provisioning deployment settles its environment's status. */
    async deploymentFinished(deployment: Deployment): Promise<void> {
      if (deployment.configuration.provision === true) {
        await store.setEnvironmentStatus(
          deployment.environment,
          deployment.status === "succeeded" ? "ready" : "failed",
          clock.now(),
        );
      }
      const level =
        deployment.status === "succeeded"
          ? "info"
          : deployment.status === "cancelled"
            ? "warning"
            : "critical";
      const message =
        deployment.status === "succeeded"
          ? `deployment ${deployment.id} to ${deployment.environment} succeeded (${deployment.integrations.length} integrations)`
          : `deployment ${deployment.id} to ${deployment.environment} ended ${deployment.status}${deployment.error_message ? `: ${deployment.error_message}` : ""}`;
      await health.deploymentAlert(
        deployment.id,
        deployment.environment,
        level,
        message,
        deployment.expire_at,
      );
      // Anomalies are a finding on top of the outcome: failing to look for them loses no outcome.
      try {
        for (const anomaly of await learning.anomalies(deployment)) {
          const { id, alert } = anomalyAlert(anomaly, clock.now());
          await health.raiseAlert(id, alert);
        }
      } catch (error) {
        log.warn("anomalies of a finished deployment could not be checked", {
          correlation_id: deployment.id,
          error: error instanceof Error ? error.message : String(error),
        });
      }
      // A canary watching this environment counts the deployment; a failed look is retried by the next one.
      try {
        await deps.tuning.watch(deployment.environment);
      } catch (error) {
        log.warn("the tuning canary of the environment could not be judged", {
          correlation_id: deployment.id,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    },

    /**
     * The promotion plan of `from` to `to`: per integration both declare that holds an artifact, the
     * source's release with its hashes, the target's own overrides kept on top, and what would change
     * in the target; and every reason it cannot go ahead (an unhealthy source, a source release that
     * was never verified, a target plan refused). `gate: "check"` records the source's health check
     * (what a promotion runs); `"read"` only reads it (what a look at the plan runs).
     */
    async promotionPlan(
      request: { from: string; to: string },
      gate: "check" | "read",
    ): Promise<PromotionPlan> {
      // The route's schema has checked the shape; here only what needs the config.
      const from = await environments.environment(request.from);
      const to = await environments.environment(request.to);
      if (from.name === to.name)
        throw new BadInputError(`cannot promote ${from.name} to itself`, [
          {
            path: "to",
            found: `"${to.name}"`,
            allowed: "another environment",
            message: `to: found "${to.name}"; allowed: another environment`,
          },
        ]);
      const report = gate === "check" ? await health.check(from.name) : await health.status([from.name]);
      const refusals: string[] = [];
      const unhealthy = report.integration_status.filter((integration) => integration.health !== "healthy");
      if (unhealthy.length > 0)
        refusals.push(
          `${from.name} is not healthy: ${unhealthy.map((i) => `${i.name} is ${i.health} (${i.details})`).join("; ")}`,
        );
      // Instances promote to the instance of the same name: staging's functions:orders to production's.
      const shared = from.integrations.filter((integration) => allOf(to).includes(integration.name));
      const notPromoted = shared
        .filter((integration) => !isPromotable(integration.kind))
        .map((integration) => ({
          integration: integration.name,
          reason: `${to.name}'s own configuration, not an artifact: deploy it to ${to.name} on its own`,
        }));
      const promotable = shared.flatMap(({ kind, name }) => (isPromotable(kind) ? [{ kind, name }] : []));
      const integrations = await Promise.all(
        promotable.map(async ({ kind, name }) => {
          const source = await fabricator.latestRelease(from.name, name);
          if (!source)
            return { refusals: [`${from.name}/${name} has no release: deploy it to ${from.name} first`] };
          const why = await unverified(source);
          const refused = why ? [`release ${source.number} of ${from.name}/${name} ${why}`] : [];
          const targetLatest = await fabricator.latestRelease(to.name, name);
          const sourceDigest = artifactDigest(kind, source.state);
          let own: unknown;
          const planned = await fabricator.plan(targetFor(to, name), {
            reshape: (desired) => {
              own = desired;
              return promotedState(kind, source.state, desired);
            },
            promoted_from: { environment: from.name, release: source.number, artifact_sha256: sourceDigest },
          });
          if (planned.problems.length > 0) refused.push(`${to.name}/${name}: ${planned.summary}`);
          return {
            refusals: refused,
            entry: {
              integration: name,
              source: {
                environment: from.name,
                release: source.number,
                deployment_id: source.deployment_id,
                recorded_at: source.created_at.toISOString(),
                mode: source.mode,
                ...artifactHashes(kind, source.state),
              },
              target: {
                environment: to.name,
                release: targetLatest?.number ?? null,
                artifact_sha256: targetLatest ? artifactDigest(kind, targetLatest.state) : null,
              },
              target_overrides: targetOverrides(kind, source.state, own),
              changes: planned.changes,
              summary: planned.summary,
            },
          };
        }),
      );
      refusals.push(...integrations.flatMap((found) => found.refusals));
      const promoted = integrations.flatMap((found) => (found.entry ? [found.entry] : []));
      if (promoted.length === 0 && refusals.length === 0)
        refusals.push(`${from.name} and ${to.name} share no integration that holds an artifact`);
      return {
        from: from.name,
        to: to.name,
        promotable: refusals.length === 0,
        refusals,
        integrations: promoted,
        not_promoted: notPromoted,
        pins: {
          from: from.name,
          releases: Object.fromEntries(
            promoted.map((entry) => [
              entry.integration,
              { release: entry.source.release, artifact_sha256: entry.source.artifact_sha256 },
            ]),
          ),
        },
      };
    },

    /**
     * Promotes the artifacts `from` runs to `to` (dev to staging, staging to prod): refused (409,
     * naming each reason) unless the plan is promotable; the deployment applies exactly the pinned
     * source releases, verifies each against the source's hashes and rolls back as one unit.
     */
    async promote(deploymentId: string, request: { from: string; to: string }, requestedBy: string) {
      const plan = await this.promotionPlan(request, "check");
      if (!plan.promotable)
        throw new ConflictError(
          `promotion of ${plan.from} to ${plan.to} refused: ${plan.refusals.join("; ")}`,
        );
      const started = await engine.requestDeployment(
        deploymentId,
        {
          environment: plan.to,
          integrations: plan.integrations.map((entry) => entry.integration),
          configuration: { promoted_from: plan.from, promotion: plan.pins },
        },
        requestedBy,
      );
      return { ...started, promotion_plan: plan };
    },

    /** For each named environment: the task graph, its timeline and the drivers' plans; and how they differ. */
    /** Plans every integration of each environment, or only `only` (of a single environment). */
    async plan(names: string[], only?: string[]) {
      const envs = await Promise.all(names.map((name) => environments.environment(name)));
      const now = clock.now();
      const plans = await Promise.all(
        envs.map(async (env) => {
          const planned = planDeployment(
            `plan-${env.name}`,
            {
              environment: env.name,
              integrations: only ?? allOf(env),
              configuration: {},
              requested_by: "plan",
            },
            env,
            now,
            await learning.model(env.name),
          );
          if (!planned.ok)
            throw new BadInputError(`environment ${env.name} cannot be planned`, planned.problems);
          const drivers = await Promise.all(
            env.integrations
              .filter((integration) => only === undefined || only.includes(integration.name))
              .map(async (integration) => {
                const { state: _state, ...plan } = await fabricator.plan(targetFor(env, integration.name));
                return plan;
              }),
          );
          return { env, plan: planned.plan, drivers };
        }),
      );
      const differences = envs.slice(1).map((env, index) => {
        const previous = envs[index]!;
        return { from: previous.name, to: env.name, changes: diffEnvironments(previous, env) };
      });
      return { plans, differences };
    },
  };
}

export type Operations = ReturnType<typeof createOperations>;
