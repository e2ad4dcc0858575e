/**
 * Reads what happened over a time window (deployments, their tasks, alerts) and the integrations
 * as they are now, through the typed collections, with bounded reads: the input of optimize and
 * reports.
 */
import type { Firestore } from "firebase-admin/firestore";
import type { Task } from "../domain/engine-model.js";
import { COLLECTIONS, alertDocSchema, type AlertDoc } from "../domain/model.js";
import type { History, TimeRange } from "../domain/optimize.js";
import { createEngineStore } from "./engine-store.js";
import { createStore } from "./store.js";
import { typedCollection } from "./typed-collection.js";
import { runTransaction } from "./transaction.js";

export type { History, TimeRange };

/** How much one load reads at most; beyond it the newest documents are kept and `truncated` is set. */
export const HISTORY_LIMITS = { deployments: 5000, alerts: 5000 } as const;

/** Task documents fetched per getAll call (in a read-only transaction: its getAll is typed). */
const TASK_BATCH = 300;
/** Batches read at the same time. */
const PARALLEL_BATCHES = 8;

/**
 * History over a window: deployments created in it (`from <= created_at < to`), their tasks,
 * alerts opened in it, and every integration's current document. With an environment, each query
 * filters on it (the composite indexes deployments(environment, created_at) and
 * alerts(environment, opened_at) serve them).
 */
export function createHistory(
  db: Firestore,
  limits: { deployments: number; alerts: number } = HISTORY_LIMITS,
) {
  const engine = createEngineStore(db);
  const store = createStore(db);
  const alerts = typedCollection(db, COLLECTIONS.alerts, alertDocSchema);

  return {
    async load(range: TimeRange, environment?: string): Promise<History> {
      const deploymentQuery = (
        environment === undefined
          ? engine.deployments
          : engine.deployments.where("environment", "==", environment)
      )
        .where("created_at", ">=", range.from)
        .where("created_at", "<", range.to)
        .orderBy("created_at", "desc")
        .limit(limits.deployments + 1);
      const alertQuery = (environment === undefined ? alerts : alerts.where("environment", "==", environment))
        .where("opened_at", ">=", range.from)
        .where("opened_at", "<", range.to)
        .orderBy("opened_at", "desc")
        .limit(limits.alerts + 1);

      const [deploymentSnap, alertSnap, integrations] = await Promise.all([
        deploymentQuery.get(),
        alertQuery.get(),
        store.listIntegrations(environment),
      ]);
      const deployments = deploymentSnap.docs
        .slice(0, limits.deployments)
        .map((doc) => ({ ...doc.data(), id: doc.id }));
      const alertDocs: (AlertDoc & { id: string })[] = alertSnap.docs
        .slice(0, limits.alerts)
        .map((doc) => ({ ...doc.data(), id: doc.id }));

      // A deployment's task ids are written with its start, in the same transaction as the tasks.
      const refs = deployments.flatMap((deployment) => deployment.task_ids.map((id) => engine.tasks.doc(id)));
      const batches: (typeof refs)[] = [];
      for (let index = 0; index < refs.length; index += TASK_BATCH)
        batches.push(refs.slice(index, index + TASK_BATCH));
      const tasks: Task[] = [];
      for (let index = 0; index < batches.length; index += PARALLEL_BATCHES) {
        const read = await Promise.all(
          batches
            .slice(index, index + PARALLEL_BATCHES)
            .map((batch) => runTransaction(db, (tx) => tx.getAll(...batch), { readOnly: true })),
        );
        for (const snap of read.flat()) {
          const doc = snap.data();
          if (doc) tasks.push({ ...doc, id: snap.id });
        }
      }

      return {
        range,
        environment: environment ?? null,
        deployments,
        tasks,
        integrations,
        alerts: alertDocs,
        truncated: deploymentSnap.size > limits.deployments || alertSnap.size > limits.alerts,
        limits: { ...limits },
      };
    },
  };
}

export type HistoryReader = ReturnType<typeof createHistory>;
