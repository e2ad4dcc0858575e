/**
 * The local stand-in for Cloud Scheduler: for each catalog job, waits until the job's next tick
 * (croner's answer for its cron expression and time zone) and fires it. It holds no schedule of
 * its own: the catalog comes from the control plane, and `resync` picks up a changed catalog.
 * Firing does not wait for the run, so a run that outlasts its interval meets the next tick;
 * the runner's lease decides (no overlap), as Cloud Scheduler's own ticks would meet it.
 */
import type { Clock } from "../app.js";
import { nextTick, type JobDefinition } from "../domain/schedules.js";
import type { Timer } from "./jobs.js";

/** The part of a job the ticker needs. */
export type TickerJob = Pick<JobDefinition, "name" | "cron" | "time_zone">;

/** A running ticker. */
export interface Ticker {
  /** Re-reads the catalog: starts new jobs, restarts changed ones, stops removed ones. */
  resync(): Promise<void>;
  /** Stops every job's loop. */
  stop(): void;
}

/** Starts ticking; `catchUp` is started once per job, for the ticks missed while nothing ticked. */
export async function startTicker(deps: {
  clock: Clock;
  timer: Timer;
  jobs: () => Promise<TickerJob[]>;
  fire: (job: string, tick: Date) => Promise<void>;
  catchUp?: (job: string, now: Date) => Promise<void>;
  onError: (job: string, error: unknown) => void;
}): Promise<Ticker> {
  const loops = new Map<string, { key: string; stop: () => void }>();
  let stopped = false;

  function loop(job: TickerJob): () => void {
    let cancelled = false;
    let pending: ReturnType<Timer> | null = null;
    void (async () => {
      let last: Date | null = null;
      while (!cancelled) {
        const now = deps.clock.now();
        // A timer may wake a little early: never fire a tick twice, never go back.
        const after = last !== null && last.getTime() > now.getTime() ? last : now;
        const next = nextTick(job, after);
        if (next === null) return;
        pending = deps.timer(Math.max(0, next.getTime() - deps.clock.now().getTime()));
        await pending.done;
        if (cancelled) return;
        if (deps.clock.now().getTime() < next.getTime()) continue;
        last = next;
        deps.fire(job.name, next).catch((error: unknown) => deps.onError(job.name, error));
      }
    })();
    return () => {
      cancelled = true;
      pending?.cancel();
    };
  }

  async function resync(): Promise<void> {
    if (stopped) return;
    const jobs = await deps.jobs();
    const seen = new Set<string>();
    for (const job of jobs) {
      seen.add(job.name);
      const key = `${job.cron}|${job.time_zone}`;
      const current = loops.get(job.name);
      if (current?.key === key) continue;
      current?.stop();
      loops.set(job.name, { key, stop: loop(job) });
    }
    for (const [name, entry] of loops) {
      if (!seen.has(name)) {
        entry.stop();
        loops.delete(name);
      }
    }
  }

  if (deps.catchUp) {
    // Not awaited: a catch-up run takes as long as it takes, and the job's lease keeps ticks off it.
    const now = deps.clock.now();
    for (const job of await deps.jobs()) {
      deps.catchUp(job.name, now).catch((error: unknown) => deps.onError(job.name, error));
    }
  }
  await resync();
  return {
    resync,
    stop() {
      stopped = true;
      for (const entry of loops.values()) entry.stop();
      loops.clear();
    },
  };
}
