/**
 * The job runner: runs one tick of a catalog job as Cloud Scheduler would, whoever triggered it
 * (an `onSchedule` function, a Cloud Scheduler HTTP job, the local ticker, a person). Each tick
 * runs once (its `{job}_{tick}` run document is created once), a job never overlaps itself (a
 * lease per job, held until the action settles), ticks missed since the last one are handled by
 * the job's catch-up policy, and every run is recorded, published as a `job` event, and raises
 * (or resolves) the job's alert.
 */
import type { Clock } from "../app.js";
import type { Bus } from "../bus.js";
import type { JobRun, JobState } from "../domain/job-runs.js";
import { NotFoundError } from "../domain/errors.js";
import { jobRunExpireAt } from "../domain/retention.js";
import { decideCatchUp, nextTick, tickRunId, type JobDefinition, type JobKind } from "../domain/schedules.js";
import type { Logger } from "../logs.js";
import type { JobStore } from "../store/job-store.js";

/** What an action reports: one line, and optionally a result to keep with the run. */
export interface ActionResult {
  summary: string;
  result?: Record<string, unknown>;
  /** Nothing was done, and honestly so (e.g. no warehouse configured). */
  skipped?: boolean;
}

/** What each job kind does. */
export type JobActions = {
  [K in JobKind]: (job: JobDefinition, scheduledFor: Date) => Promise<ActionResult>;
};

/** A timer that can be cancelled; injected so that simulations advance virtual time. */
export type Timer = (ms: number) => { done: Promise<void>; cancel(): void };

/** A real timer that does not keep the process alive. */
export const realTimer: Timer = (ms) => {
  let handle: NodeJS.Timeout | undefined;
  const done = new Promise<void>((resolve) => {
    handle = setTimeout(resolve, ms);
    handle.unref();
  });
  return { done, cancel: () => clearTimeout(handle) };
};

/** One job as `GET /jobs` shows it. */
export interface JobView extends JobDefinition {
  paused: boolean;
  paused_by: string | null;
  next_run: string | null;
  running: boolean;
  last_run: { id: string; outcome: string; scheduled_for: string; finished_at: string | null } | null;
}

/** What happened to a trigger. */
export type TickReport =
  | { status: "ran"; runs: JobRun[] }
  | { status: "duplicate"; run_id: string }
  | { status: "paused"; job: string };

const LEASE_GRACE_MS = 60_000;

/** Builds the runner over a store, a clock, a bus, the catalog and the actions. */
export function createJobRunner(deps: {
  store: JobStore;
  clock: Clock;
  bus: Bus;
  log: Logger;
  timer: Timer;
  catalog: () => Promise<JobDefinition[]>;
  actions: JobActions;
  /** A unique id per attempt (the lease holder). */
  newHolder: () => string;
  /**
   * `base.schedules.retention_days`: a finished run, and a resolved job alert, expire that long after
   * they ended. Without it (or when it fails) they get no `expire_at` and the retention purge's old rule applies.
   */
  retentionDays?: () => Promise<number>;
}) {
  const { store, clock, bus, log } = deps;

  async function retention(): Promise<number | null> {
    try {
      return (await deps.retentionDays?.()) ?? null;
    } catch (error) {
      // A run is recorded whatever happens to the config: without an expiry, the purge's old rule takes it.
      log.warn("retention unknown; the run is kept without expire_at", {
        error: error instanceof Error ? error.message : String(error),
      });
      return null;
    }
  }

  /** A run that ended, with its expiry. */
  async function expiring(run: JobRun): Promise<JobRun> {
    const days = await retention();
    return days === null ? run : { ...run, expire_at: jobRunExpireAt(run, days) };
  }

  async function definition(name: string): Promise<JobDefinition> {
    const found = (await deps.catalog()).find((job) => job.name === name);
    if (!found) throw new NotFoundError(`no scheduled job "${name}"; GET /api/orchestration/jobs lists them`);
    return found;
  }

  async function publish(run: JobRun): Promise<void> {
    try {
      await bus.publishEvent({
        event_id: `job:${run.id}:${run.outcome}`,
        kind: "job",
        deployment_id: null,
        task_id: null,
        environment: run.environment ?? "control-plane",
        integration: null,
        from: run.outcome === "running" ? null : "running",
        to: run.outcome,
        attempt: null,
        detail: `${run.job} (${run.trigger}, scheduled for ${run.scheduled_for.toISOString()}): ${run.summary}`,
        correlation_id: run.id,
        at: clock.now().toISOString(),
      });
    } catch (error) {
      // The run is recorded either way; the event stream is best effort here.
      log.error("job event publish failed", {
        run: run.id,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  async function alertFor(job: JobDefinition, run: JobRun): Promise<void> {
    const now = clock.now();
    if (run.outcome === "failed" || run.outcome === "timed_out") {
      if (await store.openAlert(job.name, job.environment, `${run.outcome}: ${run.summary}`, now)) {
        await publishAlert(job, "raised", `${run.outcome}: ${run.summary}`, "critical:open");
      }
    } else if (run.outcome === "succeeded" && (await store.resolveAlert(job.name, now, await retention()))) {
      await publishAlert(job, "resolved", `run ${run.id} succeeded`, "critical:resolved");
    }
  }

  async function publishAlert(job: JobDefinition, change: string, detail: string, to: string): Promise<void> {
    try {
      await bus.publishEvent({
        event_id: `alert:job__${job.name}:${to}:${clock.now().getTime()}`,
        kind: "alert",
        deployment_id: null,
        task_id: null,
        environment: job.environment ?? "control-plane",
        integration: null,
        from: null,
        to,
        attempt: null,
        detail: `${change}: scheduled job ${job.name}: ${detail}`,
        correlation_id: `job__${job.name}`,
        at: clock.now().toISOString(),
      });
    } catch (error) {
      log.error("job alert publish failed", {
        job: job.name,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  function base(
    job: JobDefinition,
    id: string,
    scheduledFor: Date,
    trigger: JobRun["trigger"],
    requestedBy: string | null,
  ) {
    return {
      id,
      job: job.name,
      kind: job.kind,
      environment: job.environment,
      trigger,
      scheduled_for: scheduledFor,
      requested_by: requestedBy,
    };
  }

  async function notRun(
    job: JobDefinition,
    id: string,
    scheduledFor: Date,
    trigger: JobRun["trigger"],
    outcome: "missed" | "skipped",
    summary: string,
    requestedBy: string | null = null,
  ): Promise<JobRun | null> {
    const run = await expiring({
      ...base(job, id, scheduledFor, trigger, requestedBy),
      outcome,
      summary,
      started_at: null,
      finished_at: clock.now(),
      duration_ms: null,
      result: null,
      expire_at: null,
    });
    if (!(await store.createRun(run))) return null;
    await publish(run);
    return run;
  }

  /** Runs one tick under the job's lease; answers null when the tick was already taken. */
  async function execute(
    job: JobDefinition,
    id: string,
    scheduledFor: Date,
    trigger: JobRun["trigger"],
    requestedBy: string | null,
  ): Promise<JobRun | null> {
    const holder = deps.newHolder();
    const startedAt = clock.now();
    const lease = await store.acquireLease(
      job.name,
      holder,
      startedAt,
      new Date(startedAt.getTime() + job.timeout_seconds * 1000 + LEASE_GRACE_MS),
    );
    if (!lease.ok) {
      return notRun(
        job,
        id,
        scheduledFor,
        trigger,
        "skipped",
        `not started: the previous run (${lease.holder}) is still running, and a job never overlaps itself`,
        requestedBy,
      );
    }
    const running: JobRun = {
      ...base(job, id, scheduledFor, trigger, requestedBy),
      outcome: "running",
      summary: "running",
      started_at: startedAt,
      finished_at: null,
      duration_ms: null,
      result: null,
      expire_at: null,
    };
    if (!(await store.createRun(running))) {
      await store.releaseLease(job.name, holder);
      return null;
    }
    await publish(running);
    const timer = deps.timer(job.timeout_seconds * 1000);
    const action = deps.actions[job.kind](job, scheduledFor).then(
      (value) => ({ kind: "done" as const, value }),
      (error: unknown) => ({
        kind: "error" as const,
        message: error instanceof Error ? error.message : String(error),
      }),
    );
    const first = await Promise.race([action, timer.done.then(() => ({ kind: "timeout" as const }))]);
    timer.cancel();
    const finishedAt = clock.now();
    const ended = {
      ...base(job, id, scheduledFor, trigger, requestedBy),
      started_at: startedAt,
      finished_at: finishedAt,
      duration_ms: Math.max(0, finishedAt.getTime() - startedAt.getTime()),
      expire_at: null,
    };
    let run: JobRun;
    if (first.kind === "done" && first.value.skipped) {
      run = {
        ...ended,
        outcome: "succeeded",
        summary: `nothing to do: ${first.value.summary}`,
        result: first.value.result ?? null,
      };
    } else if (first.kind === "done") {
      run = {
        ...ended,
        outcome: "succeeded",
        summary: first.value.summary,
        result: first.value.result ?? null,
      };
    } else if (first.kind === "error") {
      run = { ...ended, outcome: "failed", summary: first.message, result: null };
    } else {
      run = {
        ...ended,
        outcome: "timed_out",
        summary: `did not finish within ${job.timeout_seconds} s`,
        result: null,
      };
    }
    run = await expiring(run);
    if (first.kind === "timeout") {
      // The action still runs: record the timeout now, keep the lease until it settles so nothing overlaps it.
      await store.finishRun(run, "(kept until the action settles)");
      void action.then(() => store.releaseLease(job.name, holder));
    } else {
      await store.finishRun(run, holder);
    }
    await publish(run);
    await alertFor(job, run);
    return run;
  }

  return {
    /** The catalog with pause state, next and last runs. */
    async list(): Promise<JobView[]> {
      const [catalog, states] = await Promise.all([deps.catalog(), store.states()]);
      const byJob = new Map(states.map((state) => [state.job, state]));
      const now = clock.now();
      return catalog.map((job) => view(job, byJob.get(job.name), now));
    },

    /** Runs a scheduled tick: first the ticks missed since the last one (by policy), then this one. */
    async runTick(name: string, tick: Date): Promise<TickReport> {
      const job = await definition(name);
      const state = await store.state(job.name);
      const previous = await store.advance(job.name, tick);
      if (state.paused) return { status: "paused", job: job.name };
      const runs = await catchUp(job, previous, tick);
      const run = await execute(job, tickRunId(job.name, tick), tick, "schedule", null);
      if (run === null) return { status: "duplicate", run_id: tickRunId(job.name, tick) };
      return { status: "ran", runs: [...runs, run] };
    },

    /** Handles ticks missed up to `now` (after downtime) without running a current tick. */
    async catchUpTo(name: string, now: Date): Promise<JobRun[]> {
      const job = await definition(name);
      const state = await store.state(job.name);
      if (state.paused || state.last_scheduled_for === null) {
        await store.advance(job.name, now);
        return [];
      }
      const previous = await store.advance(job.name, now);
      // `now` is not a tick: the decision covers every tick in (previous, now].
      return catchUp(job, previous, new Date(now.getTime() + 1));
    },

    /** Runs a job now, on request (admin); a run in progress is not overlapped. */
    async runNow(name: string, requestedBy: string): Promise<JobRun> {
      const job = await definition(name);
      const now = clock.now();
      const id = `${job.name}_manual_${now.toISOString().replace(/[-:.]/g, "")}_${deps.newHolder().slice(-6)}`;
      const run = await execute(job, id, now, "manual", requestedBy);
      if (run === null) throw new Error(`run ${id} was created twice`);
      return run;
    },

    /** Pauses or resumes a job (scheduled ticks are not run while paused). */
    async setPaused(name: string, paused: boolean, by: string): Promise<JobState> {
      const job = await definition(name);
      return store.setPaused(job.name, paused, by, clock.now());
    },

    /** Recent runs, newest first. */
    runs(options: { job?: string; limit: number }): Promise<JobRun[]> {
      return store.listRuns(options);
    },
  };

  async function catchUp(job: JobDefinition, previous: Date | null, tick: Date): Promise<JobRun[]> {
    const decision = decideCatchUp(job, previous, tick);
    const out: JobRun[] = [];
    for (const [index, missed] of decision.missed.entries()) {
      const note =
        index === 0 && decision.uncounted > 0
          ? ` (and ${decision.uncounted} earlier tick(s) not recorded one by one)`
          : "";
      const run = await notRun(
        job,
        tickRunId(job.name, missed),
        missed,
        "catch-up",
        "missed",
        `missed while nothing ran; catch-up policy ${job.catch_up}${note}`,
      );
      if (run) out.push(run);
    }
    for (const missed of decision.run) {
      const run = await execute(job, tickRunId(job.name, missed), missed, "catch-up", null);
      if (run) out.push(run);
    }
    return out;
  }
}

function view(job: JobDefinition, state: JobState | undefined, now: Date): JobView {
  const next = nextTick(job, now);
  return {
    ...job,
    paused: state?.paused ?? false,
    paused_by: state?.paused_by ?? null,
    next_run: state?.paused ? null : (next?.toISOString() ?? null),
    running: state?.lease != null && state.lease.until.getTime() > now.getTime(),
    last_run: state?.last_run
      ? {
          id: state.last_run.id,
          outcome: state.last_run.outcome,
          scheduled_for: state.last_run.scheduled_for.toISOString(),
          finished_at: state.last_run.finished_at?.toISOString() ?? null,
        }
      : null,
  };
}

/** The job runner's type. */
export type JobRunner = ReturnType<typeof createJobRunner>;
