/**
 * Where the job runner keeps its runs, leases, tick markers and alerts: Firestore in the functions,
 * and an in-memory version with the same atomic operations for the simulations of the unit tests.
 */
import type { Firestore } from "firebase-admin/firestore";
import {
  JOB_COLLECTIONS,
  initialJobState,
  jobRunSchema,
  jobStateSchema,
  type JobRun,
  type JobState,
} from "../domain/job-runs.js";
import { COLLECTIONS, alertDocSchema, type AlertDoc } from "../domain/model.js";
import { resolvedAlert } from "../domain/retention.js";
import { typedCollection } from "./typed-collection.js";
import { runTransaction } from "./transaction.js";

/** The atomic operations the job runner needs. */
export interface JobStore {
  /** A job's state (its initial state when it never ran). */
  state(job: string): Promise<JobState>;
  /** Every stored job state. */
  states(): Promise<JobState[]>;
  /** Moves `last_scheduled_for` forward to `tick` (never back); answers the value before. */
  advance(job: string, tick: Date): Promise<Date | null>;
  /** Creates a run document; false when that id (the `{job}_{tick}` marker) already exists. */
  createRun(run: JobRun): Promise<boolean>;
  /** Takes the job's lease unless another holder's lease is still valid at `now`. */
  acquireLease(
    job: string,
    holder: string,
    now: Date,
    until: Date,
  ): Promise<{ ok: true } | { ok: false; holder: string; until: Date }>;
  /** Records how a run ended, releases the lease `holder` holds and notes the run as the job's last, in one step. */
  finishRun(run: JobRun, holder: string): Promise<void>;
  /** Releases the lease if `holder` still holds it. */
  releaseLease(job: string, holder: string): Promise<void>;
  /** Pauses or resumes a job; answers the state after. */
  setPaused(job: string, paused: boolean, by: string, now: Date): Promise<JobState>;
  /** Runs, newest scheduled first. */
  listRuns(options: { job?: string; limit: number }): Promise<JobRun[]>;
  /** Opens (or refreshes) the alert of a failing job; true when it was newly opened. */
  openAlert(job: string, environment: string | null, message: string, now: Date): Promise<boolean>;
  /** Resolves the job's open alert, expiring `retentionDays` later (null: no expiry); true when there was one. */
  resolveAlert(job: string, now: Date, retentionDays: number | null): Promise<boolean>;
}

/** The alert document id of a job (one incident at a time per job). */
export const jobAlertId = (job: string): string => `job__${job}`;

function newAlert(job: string, environment: string | null, message: string, now: Date): AlertDoc {
  return {
    level: "critical",
    status: "open",
    source: "job",
    environment: environment ?? "control-plane",
    integration: null,
    deployment_id: null,
    message: `scheduled job ${job}: ${message}`,
    opened_at: now,
    last_seen_at: now,
    resolved_at: null,
  };
}

/** A job alert resolved at `now`, with its expiry when the retention is known. */
const resolved = (alert: AlertDoc, now: Date, retentionDays: number | null): AlertDoc =>
  retentionDays === null
    ? { ...alert, status: "resolved", resolved_at: now, last_seen_at: now }
    : resolvedAlert(alert, now, retentionDays);

const later = (a: Date | null, b: Date): Date => (a !== null && a.getTime() > b.getTime() ? a : b);

/** The Firestore job store: transactions for the lease and the tick cursor, `create()` for the tick marker. */
export function createFirestoreJobStore(db: Firestore): JobStore {
  const runs = typedCollection(db, JOB_COLLECTIONS.runs, jobRunSchema);
  const states = typedCollection(db, JOB_COLLECTIONS.state, jobStateSchema);
  const alerts = typedCollection(db, COLLECTIONS.alerts, alertDocSchema);
  const update = <T>(
    job: string,
    change: (state: JobState) => { next: JobState | null; answer: T },
  ): Promise<T> =>
    runTransaction(db, async (tx) => {
      const snap = await tx.get(states.doc(job));
      const { next, answer } = change(snap.data() ?? initialJobState(job));
      if (next) tx.set(states.doc(job), next);
      return answer;
    });
  return {
    async state(job) {
      return (await states.doc(job).get()).data() ?? initialJobState(job);
    },
    async states() {
      return (await states.get()).docs.map((doc) => doc.data());
    },
    advance(job, tick) {
      return update(job, (state) => ({
        next: { ...state, last_scheduled_for: later(state.last_scheduled_for, tick) },
        answer: state.last_scheduled_for,
      }));
    },
    async createRun(run) {
      try {
        await runs.doc(run.id).create(run);
        return true;
      } catch (error) {
        // 6 = ALREADY_EXISTS: this tick was claimed before.
        if ((error as { code?: number }).code === 6) return false;
        throw error;
      }
    },
    acquireLease(job, holder, now, until) {
      return update<{ ok: true } | { ok: false; holder: string; until: Date }>(job, (state) => {
        if (state.lease && state.lease.holder !== holder && state.lease.until.getTime() > now.getTime()) {
          return {
            next: null,
            answer: { ok: false as const, holder: state.lease.holder, until: state.lease.until },
          };
        }
        return { next: { ...state, lease: { holder, until } }, answer: { ok: true as const } };
      });
    },
    async finishRun(run, holder) {
      await runTransaction(db, async (tx) => {
        const snap = await tx.get(states.doc(run.job));
        const state = snap.data() ?? initialJobState(run.job);
        tx.set(runs.doc(run.id), run);
        tx.set(states.doc(run.job), {
          ...state,
          lease: state.lease?.holder === holder ? null : state.lease,
          last_run: {
            id: run.id,
            outcome: run.outcome,
            scheduled_for: run.scheduled_for,
            finished_at: run.finished_at,
          },
        });
      });
    },
    releaseLease(job, holder) {
      return update(job, (state) => ({
        next: state.lease?.holder === holder ? { ...state, lease: null } : null,
        answer: undefined,
      }));
    },
    setPaused(job, paused, by, now) {
      return update(job, (state) => {
        const next = { ...state, paused, paused_by: paused ? by : null, changed_at: now };
        return { next, answer: next };
      });
    },
    async listRuns({ job, limit }) {
      const query = job === undefined ? runs : runs.where("job", "==", job);
      return (await query.orderBy("scheduled_for", "desc").limit(limit).get()).docs.map((doc) => doc.data());
    },
    openAlert(job, environment, message, now) {
      return runTransaction(db, async (tx) => {
        const ref = alerts.doc(jobAlertId(job));
        const current = (await tx.get(ref)).data();
        if (current?.status === "open") {
          tx.set(ref, {
            ...current,
            message: newAlert(job, environment, message, now).message,
            last_seen_at: now,
          });
          return false;
        }
        tx.set(ref, newAlert(job, environment, message, now));
        return true;
      });
    },
    resolveAlert(job, now, retentionDays) {
      return runTransaction(db, async (tx) => {
        const ref = alerts.doc(jobAlertId(job));
        const current = (await tx.get(ref)).data();
        if (current?.status !== "open") return false;
        tx.set(ref, resolved(current, now, retentionDays));
        return true;
      });
    },
  };
}

/** The same store in memory (each operation is atomic, as a transaction is); for simulations and tests. */
export function createMemoryJobStore(): JobStore & {
  runs: Map<string, JobRun>;
  alerts: Map<string, AlertDoc>;
} {
  const runs = new Map<string, JobRun>();
  const states = new Map<string, JobState>();
  const alerts = new Map<string, AlertDoc>();
  const get = (job: string): JobState => structuredClone(states.get(job) ?? initialJobState(job));
  const put = (state: JobState): JobState => {
    states.set(state.job, jobStateSchema.parse(structuredClone(state)));
    return structuredClone(state);
  };
  return {
    runs,
    alerts,
    state: (job) => Promise.resolve(get(job)),
    states: () => Promise.resolve([...states.values()].map((s) => structuredClone(s))),
    advance(job, tick) {
      const state = get(job);
      put({ ...state, last_scheduled_for: later(state.last_scheduled_for, tick) });
      return Promise.resolve(state.last_scheduled_for);
    },
    createRun(run) {
      if (runs.has(run.id)) return Promise.resolve(false);
      runs.set(run.id, jobRunSchema.parse(structuredClone(run)));
      return Promise.resolve(true);
    },
    acquireLease(job, holder, now, until) {
      const state = get(job);
      if (state.lease && state.lease.holder !== holder && state.lease.until.getTime() > now.getTime()) {
        return Promise.resolve({ ok: false as const, holder: state.lease.holder, until: state.lease.until });
      }
      put({ ...state, lease: { holder, until } });
      return Promise.resolve({ ok: true as const });
    },
    finishRun(run, holder) {
      runs.set(run.id, jobRunSchema.parse(structuredClone(run)));
      const state = get(run.job);
      put({
        ...state,
        lease: state.lease?.holder === holder ? null : state.lease,
        last_run: {
          id: run.id,
          outcome: run.outcome,
          scheduled_for: run.scheduled_for,
          finished_at: run.finished_at,
        },
      });
      return Promise.resolve();
    },
    releaseLease(job, holder) {
      const state = get(job);
      if (state.lease?.holder === holder) put({ ...state, lease: null });
      return Promise.resolve();
    },
    setPaused(job, paused, by, now) {
      return Promise.resolve(put({ ...get(job), paused, paused_by: paused ? by : null, changed_at: now }));
    },
    listRuns({ job, limit }) {
      const all = [...runs.values()].filter((run) => job === undefined || run.job === job);
      all.sort((a, b) => b.scheduled_for.getTime() - a.scheduled_for.getTime());
      return Promise.resolve(all.slice(0, limit).map((run) => structuredClone(run)));
    },
    openAlert(job, environment, message, now) {
      const current = alerts.get(jobAlertId(job));
      if (current?.status === "open") {
        alerts.set(jobAlertId(job), { ...current, last_seen_at: now });
        return Promise.resolve(false);
      }
      alerts.set(jobAlertId(job), newAlert(job, environment, message, now));
      return Promise.resolve(true);
    },
    resolveAlert(job, now, retentionDays) {
      const current = alerts.get(jobAlertId(job));
      if (current?.status !== "open") return Promise.resolve(false);
      alerts.set(jobAlertId(job), resolved(current, now, retentionDays));
      return Promise.resolve(true);
    },
  };
}
