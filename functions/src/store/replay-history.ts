/**
 * A control plane's own history as the backtest replays it: its finished deployments with their
 * tasks, read from its Firestore (the demo's or a bench's stack, or a real project), and the
 * environments of its loaded config. A deployment the current config cannot plan (its environment
 * or an integration was removed since) is left out, with the reason.
 */
import type { Firestore } from "firebase-admin/firestore";
import { deploymentDocSchema, type Deployment } from "../domain/engine-model.js";
import type { ResolvedEnvironment } from "../domain/config-schema.js";
import type { ReplayedDeployment } from "../domain/learning/backtest.js";
import { COLLECTIONS } from "../domain/model.js";
import { planDeployment } from "../domain/planner.js";
import { createEngineStore } from "./engine-store.js";
import { typedCollection } from "./typed-collection.js";

const FINISHED = ["succeeded", "failed", "rolled_back"] as const;
type Finished = (typeof FINISHED)[number];

/** Most deployments read: the newest are kept when there are more. */
export const REPLAY_LIMIT = 5_000;

export interface ReplayHistory {
  deployments: ReplayedDeployment[];
  skipped: { id: string; reason: string }[];
}

const isFinished = (deployment: Deployment): deployment is Deployment & { status: Finished } =>
  (FINISHED as readonly string[]).includes(deployment.status);

export async function loadReplayHistory(
  db: Firestore,
  environments: readonly ResolvedEnvironment[],
  limit = REPLAY_LIMIT,
): Promise<ReplayHistory> {
  const engineStore = createEngineStore(db);
  const snapshot = await typedCollection(db, COLLECTIONS.deployments, deploymentDocSchema)
    .where("status", "in", [...FINISHED])
    .get();
  const finished = snapshot.docs
    .map((doc) => ({ ...doc.data(), id: doc.id }))
    .filter(isFinished)
    .sort((a, b) => b.created_at.getTime() - a.created_at.getTime())
    .slice(0, limit);
  const deployments: ReplayedDeployment[] = [];
  const skipped: ReplayHistory["skipped"] = [];
  for (const deployment of finished) {
    const env = environments.find((candidate) => candidate.name === deployment.environment);
    const request = {
      environment: deployment.environment,
      integrations: deployment.integrations,
      configuration: deployment.configuration,
      requested_by: deployment.requested_by,
    };
    const why =
      env === undefined
        ? `environment ${deployment.environment} is not in the loaded config`
        : deployment.started_at === null || deployment.actual_duration === null
          ? "it never started"
          : (() => {
              const planned = planDeployment(deployment.id, request, env, deployment.created_at);
              return planned.ok ? null : planned.problems.map((problem) => problem.message).join("; ");
            })();
    if (why !== null) {
      skipped.push({ id: deployment.id, reason: why });
      continue;
    }
    deployments.push({
      id: deployment.id,
      request,
      created_at: deployment.created_at,
      status: deployment.status,
      actual_seconds: deployment.actual_duration ?? 0,
      tasks: await engineStore.tasksOf(deployment.id),
    });
  }
  return { deployments, skipped };
}
