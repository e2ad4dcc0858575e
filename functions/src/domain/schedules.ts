/**
 * The schedule catalog: every job the control plane runs on a schedule, with its cron expression,
 * time zone, what it runs, its catch-up policy and its timeout, built from the config (pure).
 * Cron parsing and next-run computation are croner's (Vixie cron semantics across DST changes:
 * a fixed-time job runs once when its time occurs twice and just after the gap when it does not
 * exist; an interval job runs on both occurrences and skips times in the gap).
 */
import { Cron } from "croner";
import { z } from "zod";
import { INTEGRATION_DEFAULTS, type ResolvedConfig, type ResolvedEnvironment } from "./config-schema.js";
import { instanceOf } from "./integrations.js";

/** What a job runs. */
export const JOB_KINDS = [
  "lease-sweep",
  "health-check",
  "optimization",
  "environment-backup",
  "control-plane-backup",
  "retention-purge",
  "warehouse-maintenance",
] as const;
export type JobKind = (typeof JOB_KINDS)[number];

/**
 * What happens to ticks missed while nothing ran (the stack was down, the function failed to fire):
 * `skip` records them as missed and waits for the next tick; `run-once` runs the latest missed tick
 * once; `run-all` runs every missed tick in order (at most MAX_CATCH_UP of them).
 */
export const CATCH_UP_POLICIES = ["skip", "run-once", "run-all"] as const;
export type CatchUpPolicy = (typeof CATCH_UP_POLICIES)[number];

/** The most missed ticks a `run-all` job replays, and the most a catch-up records one by one. */
export const MAX_CATCH_UP = 48;

/** Where a job runs in the cloud: an `onSchedule` function of the control plane, or a Cloud Scheduler job per environment. */
export const JOB_HOSTS = ["control-plane", "environment"] as const;

/** A time zone name the runtime knows (IANA tz database). */
export const timeZoneSchema = z.string().refine(
  (zone) => {
    try {
      new Intl.DateTimeFormat("en-US", { timeZone: zone });
      return true;
    } catch {
      return false;
    }
  },
  { error: "an IANA time zone such as UTC or Europe/Berlin" },
);

/** A cron expression croner accepts (five fields; six with seconds). */
export const cronSchema = z.string().refine(
  (expression) => {
    try {
      new Cron(expression, { paused: true });
      return true;
    } catch {
      return false;
    }
  },
  { error: "a cron expression such as '0 3 * * *'" },
);

/** One job of the catalog. */
export const jobDefinitionSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9_-]{1,62}$/),
  kind: z.enum(JOB_KINDS),
  description: z.string(),
  cron: cronSchema,
  time_zone: timeZoneSchema,
  environment: z.string().nullable(),
  /** The integration an environment job works on (`backup:weekly`); absent: the kind's default instance. */
  integration: z.string().min(1).optional(),
  host: z.enum(JOB_HOSTS),
  catch_up: z.enum(CATCH_UP_POLICIES),
  timeout_seconds: z.int().min(1).max(3600),
});
export type JobDefinition = z.infer<typeof jobDefinitionSchema>;

/** The schedules block of a resolved config when no config is loaded yet. */
export const SCHEDULE_DEFAULTS: ResolvedConfig["schedules"] = { time_zone: "UTC", retention_days: 90 };

/**
 * A cron expression for "every `seconds`": Cloud Scheduler runs at most once a minute, so the
 * interval rounds to whole minutes (at least one), then down to a divisor of the hour (or day)
 * so that every interval is equal and never longer than asked.
 */
export function cronForInterval(seconds: number): string {
  const minutes = Math.max(1, Math.round(seconds / 60));
  if (minutes < 60) {
    const step = [30, 20, 15, 12, 10, 6, 5, 4, 3, 2, 1].find((d) => d <= minutes) ?? 1;
    return step === 1 ? "* * * * *" : `*/${step} * * * *`;
  }
  const hours = Math.max(1, Math.round(minutes / 60));
  const step = [24, 12, 8, 6, 4, 3, 2, 1].find((d) => d <= hours) ?? 1;
  if (step === 24) return "0 0 * * *";
  return step === 1 ? "0 * * * *" : `0 */${step} * * *`;
}

function probeSeconds(env: ResolvedEnvironment): number {
  const monitoring = env.integrations.find((i) => i.kind === "monitoring");
  return monitoring?.kind === "monitoring"
    ? monitoring.settings.probe_interval_seconds
    : INTEGRATION_DEFAULTS.monitoring.probe_interval_seconds;
}

/** The whole catalog for a config: control-plane jobs first, then each environment's, by name. */
export function buildCatalog(config: Pick<ResolvedConfig, "environments" | "schedules">): JobDefinition[] {
  const settings = config.schedules;
  const zone = settings.time_zone;
  const controlPlane: JobDefinition[] = [
    {
      name: "lease-sweeper",
      kind: "lease-sweep",
      description: "Returns tasks whose lease expired to ready and republishes lost task messages",
      cron: "* * * * *",
      time_zone: "UTC",
      environment: null,
      host: "control-plane",
      catch_up: "skip",
      timeout_seconds: 55,
    },
    {
      name: "optimization",
      kind: "optimization",
      description: "Computes the optimization recommendations from the last 30 days and records them",
      cron: "30 2 * * *",
      time_zone: zone,
      environment: null,
      host: "control-plane",
      catch_up: "run-once",
      timeout_seconds: 300,
    },
    {
      name: "control-plane-backup",
      kind: "control-plane-backup",
      description:
        "Exports the control plane's Firestore collections and audit chain to a dated folder with a manifest",
      cron: "0 4 * * *",
      time_zone: zone,
      environment: null,
      host: "control-plane",
      catch_up: "run-once",
      timeout_seconds: 540,
    },
    {
      name: "retention-purge",
      kind: "retention-purge",
      description: `Deletes from Firestore what TTL deletes in the cloud: tasks, deployments, resolved alerts, job runs and rollback claims ${settings.retention_days} days after they ended (expire_at), and older ones by their age`,
      cron: "30 4 * * *",
      time_zone: zone,
      environment: null,
      host: "control-plane",
      catch_up: "run-once",
      timeout_seconds: 540,
    },
    {
      name: "warehouse-maintenance",
      kind: "warehouse-maintenance",
      description:
        "Runs the warehouse's maintenance hook (partition expiry, compaction) when a warehouse is wired",
      cron: "0 5 * * *",
      time_zone: zone,
      environment: null,
      host: "control-plane",
      catch_up: "run-once",
      timeout_seconds: 540,
    },
  ];
  const perEnvironment: JobDefinition[] = [];
  for (const env of [...config.environments].sort((a, b) => a.name.localeCompare(b.name))) {
    const seconds = probeSeconds(env);
    perEnvironment.push({
      name: `health-${env.name}`,
      kind: "health-check",
      description: `Checks every integration of ${env.name} (probe interval ${seconds} s)`,
      cron: cronForInterval(seconds),
      time_zone: "UTC",
      environment: env.name,
      host: "environment",
      catch_up: "skip",
      timeout_seconds: Math.min(540, Math.max(30, seconds)),
    });
    // Each backup instance runs on its own schedule and keeps its own exports.
    for (const backup of env.integrations) {
      if (backup.kind !== "backup") continue;
      const instance = instanceOf(backup.name);
      perEnvironment.push({
        // `_` appears in no environment or instance name, so `dev` + `nightly` never meets `dev-nightly`.
        name: instance === null ? `backup-${env.name}` : `backup-${env.name}_${instance}`,
        kind: "environment-backup",
        description: `Exports ${env.name}'s Firestore and Auth data${instance === null ? "" : ` (${backup.name})`} (keeps ${backup.settings.retention_days} days)`,
        cron: backup.settings.schedule,
        time_zone: zone,
        environment: env.name,
        ...(instance === null ? {} : { integration: backup.name }),
        host: "environment",
        catch_up: "run-once",
        timeout_seconds: 540,
      });
    }
  }
  return [...controlPlane, ...perEnvironment].map((job) => jobDefinitionSchema.parse(job));
}

/**
 * A control-plane job's schedule for its `onSchedule` function, fixed at deploy time: the catalog's
 * cron in `timeZone` (the deploy's ORCH_SCHEDULE_TIME_ZONE, which should match base.schedules.time_zone).
 */
export function controlPlaneSchedule(name: string, timeZone: string | undefined): JobDefinition {
  const zone =
    timeZone && timeZoneSchema.safeParse(timeZone).success ? timeZone : SCHEDULE_DEFAULTS.time_zone;
  const found = buildCatalog({ environments: [], schedules: { ...SCHEDULE_DEFAULTS, time_zone: zone } }).find(
    (job) => job.name === name && job.host === "control-plane",
  );
  if (!found) throw new Error(`no control-plane job "${name}" in the catalog`);
  return found;
}

function cronOf(job: Pick<JobDefinition, "cron" | "time_zone">): Cron {
  return new Cron(job.cron, { timezone: job.time_zone, paused: true });
}

/** The first tick strictly after `after`, or null when the expression never fires again. */
export function nextTick(job: Pick<JobDefinition, "cron" | "time_zone">, after: Date): Date | null {
  return cronOf(job).nextRun(after);
}

/** The next `count` ticks strictly after `after`. */
export function nextTicks(
  job: Pick<JobDefinition, "cron" | "time_zone">,
  after: Date,
  count: number,
): Date[] {
  return cronOf(job).nextRuns(count, after);
}

/** Every tick in (from, to], oldest first, at most `limit` of them (the latest ones when there are more). */
export function ticksBetween(
  job: Pick<JobDefinition, "cron" | "time_zone">,
  from: Date,
  to: Date,
  limit = MAX_CATCH_UP * 10,
): { ticks: Date[]; dropped: number } {
  const cron = cronOf(job);
  const ticks: Date[] = [];
  let dropped = 0;
  for (let at = cron.nextRun(from); at !== null && at.getTime() <= to.getTime(); at = cron.nextRun(at)) {
    ticks.push(at);
    if (ticks.length > limit) {
      ticks.shift();
      dropped += 1;
    }
  }
  return { ticks, dropped };
}

/** What to do with the ticks missed before `current`: which to run (in order) and which to record as missed. */
export interface CatchUpDecision {
  run: Date[];
  missed: Date[];
  /** Missed ticks beyond what is recorded one by one. */
  uncounted: number;
}

/** Applies a job's catch-up policy to the ticks in (lastScheduled, current) (pure). */
export function decideCatchUp(
  job: Pick<JobDefinition, "cron" | "time_zone" | "catch_up">,
  lastScheduled: Date | null,
  current: Date,
): CatchUpDecision {
  if (lastScheduled === null) return { run: [], missed: [], uncounted: 0 };
  const before = new Date(current.getTime() - 1);
  const { ticks, dropped } = ticksBetween(job, lastScheduled, before, MAX_CATCH_UP);
  switch (job.catch_up) {
    case "skip":
      return { run: [], missed: ticks, uncounted: dropped };
    case "run-once":
      return { run: ticks.slice(-1), missed: ticks.slice(0, -1), uncounted: dropped };
    case "run-all":
      return { run: ticks, missed: [], uncounted: dropped };
  }
}

/** The id of a tick's run: `{job}_{tick}` (the tick in compact UTC), created once per tick. */
export function tickRunId(job: string, tick: Date): string {
  return `${job}_${tick
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}Z$/, "Z")}`;
}

/** A Cloud Scheduler job as the control plane wants it (the fields it manages). */
export interface WantedCloudJob {
  /** projects/{project}/locations/{location}/jobs/{id} */
  name: string;
  description: string;
  schedule: string;
  timeZone: string;
  attemptDeadline: string;
  uri: string;
  body: string;
  serviceAccountEmail: string;
  paused: boolean;
}

/** A Cloud Scheduler job as it exists (what the API answered). */
export interface ExistingCloudJob {
  name: string;
  description?: string | null;
  schedule?: string | null;
  timeZone?: string | null;
  attemptDeadline?: string | null;
  uri?: string | null;
  body?: string | null;
  serviceAccountEmail?: string | null;
  state: "ENABLED" | "PAUSED" | "DISABLED" | "UPDATE_FAILED" | "STATE_UNSPECIFIED";
}

/** The prefix of the Cloud Scheduler jobs the control plane owns (it never touches others). */
export const CLOUD_JOB_PREFIX = "orch-";

/** The Cloud Scheduler jobs the catalog's per-environment jobs stand for. */
export function wantedCloudJobs(
  catalog: JobDefinition[],
  target: { project: string; location: string; uri: string; serviceAccountEmail: string },
  paused: ReadonlySet<string>,
): WantedCloudJob[] {
  return catalog
    .filter((job) => job.host === "environment")
    .map((job) => ({
      name: `projects/${target.project}/locations/${target.location}/jobs/${CLOUD_JOB_PREFIX}${job.name}`,
      description: job.description.slice(0, 500),
      schedule: job.cron,
      timeZone: job.time_zone,
      // Cloud Scheduler allows HTTP deadlines of 15 s to 30 min.
      attemptDeadline: `${Math.min(1800, Math.max(15, job.timeout_seconds))}s`,
      uri: target.uri,
      body: JSON.stringify({ job: job.name }),
      serviceAccountEmail: target.serviceAccountEmail,
      paused: paused.has(job.name),
    }));
}

/** One step that makes the existing Cloud Scheduler jobs match the wanted ones. */
export type CloudJobStep =
  | { action: "create"; job: WantedCloudJob }
  | { action: "update"; job: WantedCloudJob; fields: string[] }
  | { action: "pause"; name: string }
  | { action: "resume"; name: string }
  | { action: "delete"; name: string };

/** The difference between wanted and existing jobs, as the ordered steps that remove it (pure). */
export function diffCloudJobs(wanted: WantedCloudJob[], existing: ExistingCloudJob[]): CloudJobStep[] {
  const steps: CloudJobStep[] = [];
  const have = new Map(existing.map((job) => [job.name, job]));
  const fields = [
    "description",
    "schedule",
    "timeZone",
    "attemptDeadline",
    "uri",
    "body",
    "serviceAccountEmail",
  ] as const;
  for (const job of wanted) {
    const found = have.get(job.name);
    if (!found) {
      steps.push({ action: "create", job });
      if (job.paused) steps.push({ action: "pause", name: job.name });
      continue;
    }
    const changed = fields.filter((field) => (found[field] ?? "") !== job[field]);
    if (changed.length > 0 || found.state === "UPDATE_FAILED") {
      steps.push({ action: "update", job, fields: changed.length > 0 ? changed : [...fields] });
    }
    if (job.paused && found.state === "ENABLED") steps.push({ action: "pause", name: job.name });
    if (!job.paused && found.state === "PAUSED") steps.push({ action: "resume", name: job.name });
  }
  const wantedNames = new Set(wanted.map((job) => job.name));
  for (const job of existing) {
    const id = job.name.split("/").at(-1) ?? "";
    if (id.startsWith(CLOUD_JOB_PREFIX) && !wantedNames.has(job.name))
      steps.push({ action: "delete", name: job.name });
  }
  return steps;
}
