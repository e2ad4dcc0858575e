/**
 * Operations built on the engine: provision an environment, promote one environment to the next
 * behind a health gate, and plan environments (task graph, timeline, driver plans, differences).
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
import type { Store } from "../store/store.js";
import type { Engine } from "./engine.js";
import type { EnvironmentResolver } from "./environments.js";
import type { Learning } from "./learning.js";
import type { Tuning } from "./tuning.js";
import type { HealthMonitor } from "./health.js";

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
}) {
  const { store, engine, environments, fabricator, health, clock, learning, log } = deps;
  const allOf = (env: ResolvedEnvironment) => env.integrations.map((integration) => integration.kind);

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
      await health.deploymentAlert(deployment.id, deployment.environment, level, message);
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
     * Promotes what runs in `from` to `to` (dev to staging, staging to prod): refused while any
     * integration of `from` is unhealthy; deploys every integration both environments declare.
     */
    async promote(deploymentId: string, request: { from: string; to: string }, requestedBy: string) {
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
      const report = await health.check(from.name);
      const unhealthy = report.integration_status.filter((integration) => integration.health !== "healthy");
      if (unhealthy.length > 0) {
        throw new ConflictError(
          `promotion of ${from.name} to ${to.name} refused: ${from.name} is not healthy: ${unhealthy.map((i) => `${i.name} is ${i.health} (${i.details})`).join("; ")}`,
        );
      }
      const kinds = allOf(from).filter((kind) => allOf(to).includes(kind));
      const sourceReleases = Object.fromEntries(
        (await store.listIntegrations(from.name))
          .filter((doc) => kinds.includes(doc.type))
          .map((doc) => [doc.name, doc.release]),
      );
      return engine.requestDeployment(
        deploymentId,
        {
          environment: to.name,
          integrations: kinds,
          configuration: { promoted_from: from.name, source_releases: sourceReleases },
        },
        requestedBy,
      );
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
              .filter((integration) => only === undefined || only.includes(integration.kind))
              .map(async (integration) => {
                const { state: _state, ...plan } = await fabricator.plan(targetFor(env, integration.kind));
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
