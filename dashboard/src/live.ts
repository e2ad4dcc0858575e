/**
 * Firestore listeners (no polling): each query's documents, parsed by the same zod schemas the
 * functions write them with. A document that does not parse is reported, not shown half-read.
 */
import {
  Timestamp,
  collection,
  limit,
  onSnapshot,
  orderBy,
  query,
  where,
  type Firestore,
  type Query,
} from "firebase/firestore";
import type { z } from "zod";
import { deploymentDocSchema, taskDocSchema } from "../../functions/src/domain/engine-model.js";
import {
  COLLECTIONS,
  alertDocSchema,
  environmentDocSchema,
  integrationDocSchema,
} from "../../functions/src/domain/model.js";

/** Firestore hands back Timestamps; the domain speaks Dates. */
function toDates(value: unknown): unknown {
  if (value instanceof Timestamp) return value.toDate();
  if (Array.isArray(value)) return value.map(toDates);
  if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, toDates(inner)]));
  }
  return value;
}

export type Row<S extends z.ZodType> = z.infer<S> & { id: string };

export interface Snapshot<S extends z.ZodType> {
  rows: Row<S>[];
  /** Documents that did not match their schema: path and the first problem. */
  corrupt: string[];
}

function listen<S extends z.ZodType>(
  source: Query,
  schema: S,
  onRows: (snapshot: Snapshot<S>) => void,
  onError: (message: string) => void,
): () => void {
  return onSnapshot(
    source,
    (snapshot) => {
      const rows: Row<S>[] = [];
      const corrupt: string[] = [];
      for (const doc of snapshot.docs) {
        const parsed = schema.safeParse(toDates(doc.data()));
        if (parsed.success) rows.push({ ...(parsed.data as object), id: doc.id } as Row<S>);
        else corrupt.push(`${doc.ref.path}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
      }
      onRows({ rows, corrupt });
    },
    (error) => onError(error.message),
  );
}

export type EnvironmentRow = Row<typeof environmentDocSchema>;
export type IntegrationRow = Row<typeof integrationDocSchema>;
export type AlertRow = Row<typeof alertDocSchema>;
export type DeploymentRow = Row<typeof deploymentDocSchema>;
export type TaskRow = Row<typeof taskDocSchema>;

/** Deployments the dashboard lists and draws trends from, newest first. */
export const RECENT_DEPLOYMENTS = 100;

export function liveQueries(db: Firestore, onError: (what: string, message: string) => void) {
  const failed = (what: string) => (message: string) => onError(what, message);
  return {
    environments: (on: (s: Snapshot<typeof environmentDocSchema>) => void) =>
      listen(collection(db, COLLECTIONS.environments), environmentDocSchema, on, failed("environments")),
    integrations: (on: (s: Snapshot<typeof integrationDocSchema>) => void) =>
      listen(collection(db, COLLECTIONS.integrations), integrationDocSchema, on, failed("integrations")),
    openAlerts: (on: (s: Snapshot<typeof alertDocSchema>) => void) =>
      listen(
        query(collection(db, COLLECTIONS.alerts), where("status", "==", "open")),
        alertDocSchema,
        on,
        failed("alerts"),
      ),
    deployments: (on: (s: Snapshot<typeof deploymentDocSchema>) => void) =>
      listen(
        query(
          collection(db, COLLECTIONS.deployments),
          orderBy("created_at", "desc"),
          limit(RECENT_DEPLOYMENTS),
        ),
        deploymentDocSchema,
        on,
        failed("deployments"),
      ),
    tasksOf: (deploymentId: string, on: (s: Snapshot<typeof taskDocSchema>) => void) =>
      listen(
        query(collection(db, COLLECTIONS.tasks), where("deployment_id", "==", deploymentId)),
        taskDocSchema,
        on,
        failed("tasks"),
      ),
  };
}
