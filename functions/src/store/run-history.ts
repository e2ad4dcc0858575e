/**
 * Reads the recent runs the learning needs: the newest finished tasks the real drivers ran, over
 * every environment (for the kind-level priors) and of one environment (its own estimates), with
 * bounded reads. The composite indexes tasks(driver, completed_at) and tasks(environment, driver,
 * completed_at) serve the two queries.
 */
import type { Firestore, Query } from "firebase-admin/firestore";
import { taskDocSchema, type Task, type TaskDoc } from "../domain/engine-model.js";
import { COLLECTIONS } from "../domain/model.js";
import { runsFromTasks, type RunRecord } from "../domain/learning/runs.js";
import { typedCollection } from "./typed-collection.js";

/** Newest tasks read over every environment, and of the one environment planned. */
export const RUN_HISTORY_LIMITS = { all: 1000, environment: 500 } as const;

export function createRunHistory(db: Firestore, limits = RUN_HISTORY_LIMITS) {
  const tasks = typedCollection(db, COLLECTIONS.tasks, taskDocSchema);
  const newestFinished = (query: Query<TaskDoc>, limit: number) =>
    query.where("driver", "==", "integration").orderBy("completed_at", "desc").limit(limit).get();

  return {
    /** Runs of every environment and, in more depth, of `environment`: oldest first, each once. */
    async recentRuns(environment?: string): Promise<RunRecord[]> {
      const [all, own] = await Promise.all([
        newestFinished(tasks, limits.all),
        environment === undefined
          ? Promise.resolve(null)
          : newestFinished(tasks.where("environment", "==", environment), limits.environment),
      ]);
      const byId = new Map<string, Task>();
      for (const doc of [...all.docs, ...(own?.docs ?? [])]) byId.set(doc.id, { ...doc.data(), id: doc.id });
      return runsFromTasks([...byId.values()]);
    },
  };
}

export type RunHistory = ReturnType<typeof createRunHistory>;
