/**
 * Firestore listeners (no polling): each query's documents, parsed by the same zod schemas the
 * functions write them with. A document that does not parse is reported, not shown half-read.
 */
import {
  collection,
  doc,
  limit,
  onSnapshot,
  orderBy,
  query,
  where,
  type DocumentSnapshot,
  type Firestore,
  type Query,
  type QueryConstraint,
} from "firebase/firestore";
import type { z } from "zod";
import { deploymentDocSchema, taskDocSchema } from "../../functions/src/domain/engine-model.js";
import {
  COLLECTIONS,
  alertDocSchema,
  environmentDocSchema,
  integrationDocSchema,
} from "../../functions/src/domain/model.js";
import { timestampsToDates } from "../../functions/src/domain/timestamps.js";
import { JOB_COLLECTIONS, jobRunSchema } from "../../functions/src/domain/job-runs.js";

export type Row<S extends z.ZodType> = z.infer<S> & { id: string };

export interface Snapshot<S extends z.ZodType> {
  rows: Row<S>[];
  /** Documents that did not match their schema: path and the first problem. */
  corrupt: string[];
}

function parseAll<S extends z.ZodType>(schema: S, docs: readonly DocumentSnapshot[]): Snapshot<S> {
  const rows: Row<S>[] = [];
  const corrupt: string[] = [];
  for (const snapshot of docs) {
    if (!snapshot.exists()) continue;
    const parsed = schema.safeParse(timestampsToDates(snapshot.data()));
    if (parsed.success) rows.push({ ...(parsed.data as object), id: snapshot.id } as Row<S>);
    else corrupt.push(`${snapshot.ref.path}: ${parsed.error.issues[0]?.message ?? "invalid"}`);
  }
  return { rows, corrupt };
}

function listen<S extends z.ZodType>(
  source: Query,
  schema: S,
  onRows: (snapshot: Snapshot<S>) => void,
  onError: (message: string) => void,
): () => void {
  return onSnapshot(
    source,
    (snapshot) => onRows(parseAll(schema, snapshot.docs)),
    (error) => onError(error.message),
  );
}

/** One listener per named document, reported together (as a query would) whenever one changes. */
function listenEach<S extends z.ZodType>(
  db: Firestore,
  collectionName: string,
  ids: readonly string[],
  schema: S,
  onRows: (snapshot: Snapshot<S>) => void,
  onError: (message: string) => void,
): () => void {
  const latest = new Map<string, DocumentSnapshot>();
  const stops = ids.map((id) =>
    onSnapshot(
      doc(db, collectionName, id),
      (snapshot) => {
        latest.set(id, snapshot);
        if (latest.size === ids.length) onRows(parseAll(schema, [...latest.values()]));
      },
      (error) => onError(error.message),
    ),
  );
  if (ids.length === 0) onRows({ rows: [], corrupt: [] });
  return () => stops.forEach((stop) => stop());
}

export type EnvironmentRow = Row<typeof environmentDocSchema>;
export type IntegrationRow = Row<typeof integrationDocSchema>;
export type AlertRow = Row<typeof alertDocSchema>;
export type DeploymentRow = Row<typeof deploymentDocSchema>;
export type TaskRow = Row<typeof taskDocSchema>;
export type JobRunRow = Row<typeof jobRunSchema>;

/** How many of the latest scheduled-job runs the jobs panel follows. */
export const RECENT_JOB_RUNS = 30;

/** Deployments the dashboard lists and draws trends from, newest first. */
export const RECENT_DEPLOYMENTS = 100;
/** Firestore takes at most 30 values in one `in` filter. */
export const MAX_SCOPED_ENVIRONMENTS = 30;

/**
 * The dashboard's listeners. `scope` is the person's `environments` claim (null: every
 * environment): the rules let a scoped person list only with a query confined to their
 * environments, so every query carries the filter the rules check.
 */
export function liveQueries(
  db: Firestore,
  scope: readonly string[] | null,
  onError: (what: string, message: string) => void,
) {
  const failed = (what: string) => (message: string) => onError(what, message);
  const confined = (name: string, ...constraints: QueryConstraint[]) =>
    query(
      collection(db, name),
      ...(scope === null ? [] : [where("environment", "in", scope.slice(0, MAX_SCOPED_ENVIRONMENTS))]),
      ...constraints,
    );
  return {
    environments: (on: (s: Snapshot<typeof environmentDocSchema>) => void) =>
      scope === null
        ? listen(collection(db, COLLECTIONS.environments), environmentDocSchema, on, failed("environments"))
        : listenEach(db, COLLECTIONS.environments, scope, environmentDocSchema, on, failed("environments")),
    integrations: (on: (s: Snapshot<typeof integrationDocSchema>) => void) =>
      listen(confined(COLLECTIONS.integrations), integrationDocSchema, on, failed("integrations")),
    openAlerts: (on: (s: Snapshot<typeof alertDocSchema>) => void) =>
      listen(
        confined(COLLECTIONS.alerts, where("status", "==", "open")),
        alertDocSchema,
        on,
        failed("alerts"),
      ),
    deployments: (on: (s: Snapshot<typeof deploymentDocSchema>) => void) =>
      listen(
        confined(COLLECTIONS.deployments, orderBy("created_at", "desc"), limit(RECENT_DEPLOYMENTS)),
        deploymentDocSchema,
        on,
        failed("deployments"),
      ),
    jobRuns: (on: (s: Snapshot<typeof jobRunSchema>) => void) =>
      listen(
        confined(JOB_COLLECTIONS.runs, orderBy("scheduled_for", "desc"), limit(RECENT_JOB_RUNS)),
        jobRunSchema,
        on,
        failed("job runs"),
      ),
    tasksOf: (deploymentId: string, on: (s: Snapshot<typeof taskDocSchema>) => void) =>
      listen(
        confined(COLLECTIONS.tasks, where("deployment_id", "==", deploymentId)),
        taskDocSchema,
        on,
        failed("tasks"),
      ),
  };
}
