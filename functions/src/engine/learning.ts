/**
 * What the control plane learns from its own runs, for the engine and the handlers: the learned
 * model of an environment's tasks (read from recent history, kept for a short while per instance,
 * so a burst of plans reads history once), and the anomalies among a finished deployment's runs.
 */
import type { Clock } from "../app.js";
import { detectAnomalies, type Anomaly } from "../domain/learning/anomalies.js";
import { learn, type LearnedModel } from "../domain/learning/estimates.js";
import type { Deployment } from "../domain/engine-model.js";
import type { Logger } from "../logs.js";
import type { RunHistory } from "../store/run-history.js";

/** How long one instance reuses a model it learned before reading history again. */
export const MODEL_TTL_MS = 5_000;

export function createLearning(deps: { runs: RunHistory; clock: Clock; log: Logger }) {
  const cache = new Map<string, { at: number; model: Promise<LearnedModel | undefined> }>();

  return {
    /**
     * The learned model for planning in `environment`, or undefined when history cannot be read:
     * a plan never fails for want of history, it falls back to the catalog.
     */
    model(environment: string): Promise<LearnedModel | undefined> {
      const now = deps.clock.now().getTime();
      const cached = cache.get(environment);
      if (cached && now - cached.at < MODEL_TTL_MS) return cached.model;
      const model = deps.runs.recentRuns(environment).then(
        (runs) => learn(runs),
        (error: unknown) => {
          deps.log.warn("history could not be read; planning from the catalog", {
            environment,
            error: error instanceof Error ? error.message : String(error),
          });
          cache.delete(environment);
          return undefined;
        },
      );
      cache.set(environment, { at: now, model });
      return model;
    },

    /**
     * The anomalies a finished deployment's runs show against the runs of their integrations
     * before them. The whole recent history is scanned, so an incident already reported for an
     * earlier deployment is not reported again.
     */
    async anomalies(deployment: Deployment): Promise<Anomaly[]> {
      const runs = await deps.runs.recentRuns(deployment.environment);
      return detectAnomalies([], runs).filter((anomaly) => anomaly.deployment_id === deployment.id);
    },
  };
}

export type Learning = ReturnType<typeof createLearning>;
