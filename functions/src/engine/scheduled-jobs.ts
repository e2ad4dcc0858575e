/** The scheduled jobs, wired: the catalog from the loaded config, the runner on Firestore, and the Cloud Scheduler sync. */
import { randomUUID } from "node:crypto";
import type { Firestore } from "firebase-admin/firestore";
import type { Clock } from "../app.js";
import type { Bus } from "../bus.js";
import type { VerifyResult } from "../domain/audit.js";
import { NotFoundError } from "../domain/errors.js";
import {
  SCHEDULE_DEFAULTS,
  buildCatalog,
  wantedCloudJobs,
  type CloudJobStep,
  type ExistingCloudJob,
  type JobDefinition,
  type WantedCloudJob,
} from "../domain/schedules.js";
import type { CloudSchedulerSync } from "../drivers/cloud-scheduler.js";
import type { DriverIO } from "../drivers/types.js";
import type { Logger } from "../logs.js";
import { createFirestoreJobStore } from "../store/job-store.js";
import type { Engine } from "./engine.js";
import type { EnvironmentResolver } from "./environments.js";
import type { HealthMonitor } from "./health.js";
import { createJobActions, type WarehouseMaintenance } from "./job-actions.js";
import type { Tuning } from "./tuning.js";
import { createJobRunner, realTimer, type JobRunner } from "./jobs.js";

/** The Cloud Scheduler settings, from the environment (`ORCH_SCHEDULER_*`); null with the reason when incomplete. */
export function cloudSchedulerSettings(env: NodeJS.ProcessEnv = process.env):
  | {
      ok: true;
      project: string;
      location: string;
      uri: string;
      serviceAccountEmail: string;
      endpoint: string | undefined;
    }
  | { ok: false; reason: string } {
  const project = env.ORCH_SCHEDULER_PROJECT ?? env.GCLOUD_PROJECT;
  const uri = env.ORCH_SCHEDULER_TARGET_URI;
  const serviceAccountEmail = env.ORCH_SCHEDULER_SERVICE_ACCOUNT;
  const missing = [
    project ? null : "ORCH_SCHEDULER_PROJECT",
    uri ? null : "ORCH_SCHEDULER_TARGET_URI",
    serviceAccountEmail ? null : "ORCH_SCHEDULER_SERVICE_ACCOUNT",
  ].filter((name): name is string => name !== null);
  if (missing.length > 0 || !project || !uri || !serviceAccountEmail) {
    return {
      ok: false,
      reason: `Cloud Scheduler is not configured (set ${missing.join(", ")}; ORCH_SCHEDULER_ENDPOINT points at a local contract server). Locally the stack's ticker runs every job instead.`,
    };
  }
  return {
    ok: true,
    project,
    location: env.ORCH_SCHEDULER_LOCATION ?? "us-central1",
    uri,
    serviceAccountEmail,
    endpoint: env.ORCH_SCHEDULER_ENDPOINT,
  };
}

/** What `/plan` shows about the per-environment Cloud Scheduler jobs. */
export interface ScheduledJobsPlan {
  wanted: WantedCloudJob[];
  existing: ExistingCloudJob[] | null;
  steps: CloudJobStep[] | null;
  note: string;
}

/** Builds the catalog, the runner and the sync. */
export function createScheduledJobs(deps: {
  db: Firestore;
  clock: Clock;
  bus: Bus;
  log: Logger;
  engine: Engine;
  health: HealthMonitor;
  environments: EnvironmentResolver;
  tuning: Pick<Tuning, "autoTune">;
  io: DriverIO;
  backupRoot: string;
  projectId: string;
  verifyAudit: () => Promise<VerifyResult>;
  chainAudit: () => Promise<{ chained: number }>;
  warehouse: () => Promise<WarehouseMaintenance | null>;
  /** Overrides the sync (tests point one at a contract server). */
  sync?: CloudSchedulerSync | null;
}) {
  async function catalog(): Promise<JobDefinition[]> {
    try {
      return buildCatalog(await deps.environments.config());
    } catch (error) {
      // Before any config is loaded the control plane's own jobs still run.
      if (error instanceof NotFoundError)
        return buildCatalog({ environments: [], schedules: SCHEDULE_DEFAULTS });
      throw error;
    }
  }
  const store = createFirestoreJobStore(deps.db);
  const runner: JobRunner = createJobRunner({
    store,
    clock: deps.clock,
    bus: deps.bus,
    log: deps.log,
    timer: realTimer,
    catalog,
    actions: createJobActions(deps),
    newHolder: randomUUID,
    retentionDays: async () => {
      try {
        return (await deps.environments.config()).schedules.retention_days;
      } catch (error) {
        if (error instanceof NotFoundError) return SCHEDULE_DEFAULTS.retention_days;
        throw error;
      }
    },
  });
  const settings = cloudSchedulerSettings();
  let loading: Promise<CloudSchedulerSync | null> | undefined;
  /** Loaded on first use: Google's client is heavy, and a cold start that runs no sync should not pay for it. */
  const getSync = (): Promise<CloudSchedulerSync | null> => {
    loading ??=
      deps.sync !== undefined
        ? Promise.resolve(deps.sync)
        : settings.ok
          ? import("../drivers/cloud-scheduler.js").then((m) =>
              m.createCloudSchedulerSync(m.schedulerClient({ url: settings.endpoint }), settings),
            )
          : Promise.resolve(null);
    return loading;
  };

  async function wanted(sync: CloudSchedulerSync): Promise<WantedCloudJob[]> {
    const paused = new Set((await store.states()).filter((s) => s.paused).map((s) => s.job));
    return wantedCloudJobs(await catalog(), sync.target, paused);
  }

  return {
    catalog,
    runner,
    /** The difference between the Cloud Scheduler jobs the catalog wants and those that exist. */
    async plan(): Promise<ScheduledJobsPlan> {
      const sync = await getSync();
      if (!sync) {
        const reason = settings.ok ? "the sync is disabled" : settings.reason;
        return { wanted: [], existing: null, steps: null, note: reason };
      }
      const want = await wanted(sync);
      try {
        const { existing, steps } = await sync.plan(want);
        const where = `${sync.target.project}/${sync.target.location}`;
        return {
          wanted: want,
          existing,
          steps,
          note: `${steps.length} step(s) to make ${where} match the catalog`,
        };
      } catch (error) {
        // A plan answers what it can: the wanted jobs, and why the existing ones are unknown.
        const message = error instanceof Error ? error.message : String(error);
        return {
          wanted: want,
          existing: null,
          steps: null,
          note: `could not list the existing Cloud Scheduler jobs: ${message}`,
        };
      }
    },
    /** Applies the plan (idempotent). */
    async syncCloud(): Promise<{ done: string[]; note: string }> {
      const sync = await getSync();
      if (!sync) return { done: [], note: settings.ok ? "the sync is disabled" : settings.reason };
      const done = await sync.apply(await wanted(sync));
      return { done, note: done.length === 0 ? "already in sync" : `${done.length} step(s) applied` };
    },
  };
}

/** The scheduled jobs' type. */
export type ScheduledJobs = ReturnType<typeof createScheduledJobs>;
