/** The documents of scheduled jobs: one `job_runs` document per run (or missed tick), one `job_state` per job. */
import { z } from "zod";
import { JOB_KINDS } from "./schedules.js";

/** The collections the job runner writes. */
export const JOB_COLLECTIONS = { runs: "job_runs", state: "job_state" } as const;

/** Why a run happened: its schedule, a catch-up of a missed tick, or a person. */
export const JOB_TRIGGERS = ["schedule", "catch-up", "manual"] as const;

const common = {
  id: z.string().min(1),
  job: z.string().min(1),
  kind: z.enum(JOB_KINDS),
  environment: z.string().nullable(),
  trigger: z.enum(JOB_TRIGGERS),
  scheduled_for: z.date(),
  requested_by: z.string().nullable(),
  summary: z.string(),
  /**
   * When Firestore's TTL may delete the run: `retention_days` after it finished (or was recorded
   * missed or skipped); null while it runs (and on runs recorded before it was kept).
   */
  expire_at: z.date().nullable().default(null),
};

/** `job_runs/{job}_{tick}` (or `{job}_manual_{time}`): a run and how it ended, as a discriminated union on `outcome`. */
export const jobRunSchema = z.discriminatedUnion("outcome", [
  z.strictObject({
    ...common,
    outcome: z.literal("running"),
    started_at: z.date(),
    finished_at: z.null(),
    duration_ms: z.null(),
    result: z.null(),
  }),
  z.strictObject({
    ...common,
    outcome: z.enum(["succeeded", "failed", "timed_out"]),
    started_at: z.date(),
    finished_at: z.date(),
    duration_ms: z.int().min(0),
    result: z.record(z.string(), z.unknown()).nullable(),
  }),
  // Never started: a tick missed while nothing ran, or skipped (paused, overlapping, nothing to do).
  z.strictObject({
    ...common,
    outcome: z.enum(["missed", "skipped"]),
    started_at: z.null(),
    finished_at: z.date(),
    duration_ms: z.null(),
    result: z.null(),
  }),
]);
export type JobRun = z.infer<typeof jobRunSchema>;
export type JobOutcome = JobRun["outcome"];

/** `job_state/{job}`: pause switch, the lease of the run in progress, and the last tick and run seen. */
export const jobStateSchema = z.strictObject({
  job: z.string().min(1),
  paused: z.boolean(),
  paused_by: z.string().nullable(),
  changed_at: z.date().nullable(),
  lease: z.strictObject({ holder: z.string(), until: z.date() }).nullable(),
  last_scheduled_for: z.date().nullable(),
  last_run: z
    .strictObject({
      id: z.string(),
      outcome: z.string(),
      scheduled_for: z.date(),
      finished_at: z.date().nullable(),
    })
    .nullable(),
});
export type JobState = z.infer<typeof jobStateSchema>;

/** A job's state before anything happened to it. */
export function initialJobState(job: string): JobState {
  return {
    job,
    paused: false,
    paused_by: null,
    changed_at: null,
    lease: null,
    last_scheduled_for: null,
    last_run: null,
  };
}
