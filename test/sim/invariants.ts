/**
 * The invariants issue 10 lists, checked after every simulated run against what was observed:
 * the commits (every committed transition), the events published, the audit records, and what
 * the recording driver ran. The expectations come from the statement, not from the engine.
 */
import type { OrchestrationEvent } from "../../functions/src/bus.js";
import type { ApplyRecord, RollbackRecord } from "./driver.js";
import type { Data } from "./memory-firestore.js";

/** Each invariant and what it requires. */
export const INVARIANTS = {
  terminates:
    "every deployment reaches a terminal state once faults stop, within the bound, while the sweeper keeps running",
  "apply-once": "each (task, attempt) apply runs at most once",
  "rollback-once":
    "each task's change is undone at most once (a repeated call for the same release is a no-op, as the drivers' contract says)",
  "rollback-policy":
    "rollbacks only as the deployment's policy at plan time says: a succeeded task is undone only under `all` after a failure, and then every applied task is undone",
  "dependencies-first": "no task's apply starts before all its dependencies succeeded",
  "concurrency-limit":
    "overlapping driver applies in an environment, by attempts that hold their task, never exceed its concurrency limit",
  "event-per-transition": "every committed transition yields exactly one event after dedupe by event_id",
  "audit-per-transition":
    "every committed transition yields exactly one audit record (`<kind>.<from>-><to>` on its id)",
  "no-unhandled-rejection": "no promise rejection is left unhandled (a process would die of it)",
  "fenced-outcome":
    "a running task leaves running only by the outcome of the attempt that holds it (after that attempt's apply returned) or once its lease has expired",
  "claim-lease": "a rollback claim is taken over only once its holder's lease has expired",
  expiry:
    "Firestore's TTL never has a live record to delete: a task or deployment carries expire_at only once it has ended, and each that ended expires the config's retention_days after it completed (a done rollback claim with its task)",
} as const;

/** The simulated config's `base.schedules.retention_days` (world.ts writes it): what every expiry is measured by. */
export const SIM_RETENTION_DAYS = 30;

export type InvariantName = keyof typeof INVARIANTS;

export interface Violation {
  invariant: InvariantName;
  detail: string;
}

/** A committed change of state: a status change, or a failed task's fallback note. */
export interface Transition {
  kind: "deployment" | "task";
  id: string;
  from: string;
  to: string;
}

/** A task leaving `running` (by an outcome or a lease expiry), as committed. */
export interface TaskExit {
  taskId: string;
  attempt: number;
  to: string;
  /** Simulated time of the commit, and the lease it ended (epoch ms). */
  at: number;
  leaseUntil: number;
  /** Whether that attempt's driver apply had returned by then. */
  applyReturned: boolean;
}

/** A rollback claim moving to a new attempt while the previous one was still marked running. */
export interface ClaimTakeover {
  taskId: string;
  fromAttempt: number;
  toAttempt: number;
  at: number;
  leaseUntil: number;
}

/** A task's, deployment's or rollback claim's state as committed, with its expiry (epoch ms, or null). */
export interface ExpiryRecord {
  kind: "deployment" | "task" | "claim";
  id: string;
  status: string;
  expireAt: number | null;
  completedAt: number | null;
}

/** What a run observed. */
export interface Observed {
  transitions: Transition[];
  events: OrchestrationEvent[];
  /** The rollback policy of each deployment's environment when it was planned (the start commit). */
  policies: Map<string, string>;
  unhandled: string[];
  applies: ApplyRecord[];
  rollbacks: RollbackRecord[];
  /** Final documents, raw. */
  deployments: Map<string, Data>;
  tasks: Map<string, Data>;
  audit: Data[];
  taskExits: TaskExit[];
  claimTakeovers: ClaimTakeover[];
  /** Every committed state of a task, deployment or rollback claim. */
  expiries: ExpiryRecord[];
}

const TERMINAL = new Set(["succeeded", "failed", "rolled_back", "cancelled"]);
/** How a task ends, as the specification lists it. */
const TASK_TERMINAL = new Set(["succeeded", "failed", "skipped", "cancelled", "rolled_back"]);
const DAY_MS = 86_400_000;
/** At most this many violations of one invariant are reported per run. */
const PER_INVARIANT = 3;

function counts<T>(items: Iterable<T>, key: (item: T) => string): Map<string, number> {
  const found = new Map<string, number>();
  for (const item of items) found.set(key(item), (found.get(key(item)) ?? 0) + 1);
  return found;
}

const transitionKey = (t: Transition) => `${t.kind} ${t.id} ${t.from}->${t.to}`;

/** Compares committed transitions with what was emitted for them, key by key. */
function compare(transitions: Map<string, number>, emitted: Map<string, number>, what: string): string[] {
  const problems: string[] = [];
  for (const key of new Set([...transitions.keys(), ...emitted.keys()])) {
    const committed = transitions.get(key) ?? 0;
    const seen = emitted.get(key) ?? 0;
    if (committed !== seen) problems.push(`${key}: ${committed} committed, ${seen} ${what}`);
  }
  return problems;
}

/** Checks every invariant; `ended` says how the run stopped. */
export function checkInvariants(observed: Observed, ended: "stopped" | "deadline" | "steps"): Violation[] {
  const violations: Violation[] = [];
  const add = (invariant: InvariantName, details: string[]) => {
    for (const detail of details.slice(0, PER_INVARIANT)) violations.push({ invariant, detail });
    if (details.length > PER_INVARIANT)
      violations.push({ invariant, detail: `... and ${details.length - PER_INVARIANT} more` });
  };

  add(
    "terminates",
    [...observed.deployments]
      .filter(([, doc]) => !TERMINAL.has(String(doc.status)))
      .map(([id, doc]) => `deployment ${id} is still ${String(doc.status)} (run ${ended})`),
  );

  add(
    "apply-once",
    [...counts(observed.applies, (apply) => `${apply.taskId}#${apply.attempt}`)]
      .filter(([, n]) => n > 1)
      .map(([key, n]) => `apply ${key} ran ${n} times`),
  );

  const rollbacksOf = counts(observed.rollbacks, (rollback) => rollback.taskId);
  add(
    "rollback-once",
    [...rollbacksOf].filter(([, n]) => n > 1).map(([task, n]) => `task ${task} was rolled back ${n} times`),
  );

  const policyProblems: string[] = [];
  const applied = new Set(
    observed.applies.filter((apply) => apply.outcome === "succeeded").map((apply) => apply.taskId),
  );
  for (const [deploymentId, policy] of observed.policies) {
    const tasks = [...observed.tasks].filter(([, doc]) => doc.deployment_id === deploymentId);
    const anyFailed = tasks.some(([, doc]) => doc.status === "failed");
    const deployment = observed.deployments.get(deploymentId);
    for (const [taskId, doc] of tasks) {
      const undone = rollbacksOf.get(taskId) ?? 0;
      const fallback = doc.status === "failed";
      if (undone > 0 && !fallback && !(policy === "all" && anyFailed))
        policyProblems.push(
          `task ${taskId} (${String(doc.status)}) was rolled back under policy ${policy}${anyFailed ? "" : " with no failed task"}`,
        );
      if (
        policy === "all" &&
        anyFailed &&
        applied.has(taskId) &&
        undone === 0 &&
        deployment &&
        TERMINAL.has(String(deployment.status))
      )
        policyProblems.push(
          `task ${taskId} was applied but never rolled back, though policy all and a task failed (deployment ${String(deployment.status)})`,
        );
    }
  }
  add("rollback-policy", policyProblems);

  add(
    "dependencies-first",
    observed.applies
      .filter((apply) => apply.unmetDependencies.length > 0)
      .map(
        (apply) =>
          `apply ${apply.taskId}#${apply.attempt} started while ${apply.unmetDependencies.join(", ")} had not succeeded`,
      ),
  );

  add(
    "concurrency-limit",
    observed.applies
      .filter((apply) => apply.overlapping > apply.limit)
      .map(
        (apply) =>
          `apply ${apply.taskId}#${apply.attempt} made ${apply.overlapping} concurrent applies in ${apply.environment} (limit ${apply.limit})`,
      ),
  );

  const transitions = counts(observed.transitions, transitionKey);
  const events = new Map<string, string>();
  for (const event of observed.events) {
    if (event.kind === "alert") continue;
    const id = event.kind === "task" ? event.task_id : event.deployment_id;
    events.set(event.event_id, `${event.kind} ${id} ${event.from}->${event.to}`);
  }
  add(
    "event-per-transition",
    compare(
      transitions,
      counts(events.values(), (key) => key),
      "distinct event(s)",
    ),
  );

  const audited: string[] = [];
  for (const record of observed.audit) {
    const match = /^(deployment|task)\.([a-z_-]+)->([a-z_-]+)$/.exec(String(record.action));
    if (match) audited.push(`${match[1]} ${String(record.target)} ${match[2]}->${match[3]}`);
  }
  add(
    "audit-per-transition",
    compare(
      transitions,
      counts(audited, (key) => key),
      "audit record(s)",
    ),
  );

  add(
    "no-unhandled-rejection",
    observed.unhandled.map((reason) => `unhandled rejection: ${reason}`),
  );

  const iso = (ms: number) => new Date(ms).toISOString();
  add(
    "fenced-outcome",
    observed.taskExits
      .filter((exit) => !exit.applyReturned && exit.at < exit.leaseUntil)
      .map(
        (exit) =>
          `task ${exit.taskId} left running (to ${exit.to}) at ${iso(exit.at)} while attempt ${exit.attempt}'s apply had not returned and its lease ran until ${iso(exit.leaseUntil)}`,
      ),
  );

  add(
    "claim-lease",
    observed.claimTakeovers
      .filter((takeover) => takeover.at < takeover.leaseUntil)
      .map(
        (takeover) =>
          `the rollback claim of ${takeover.taskId} went from attempt ${takeover.fromAttempt} to ${takeover.toAttempt} at ${iso(takeover.at)} while the lease ran until ${iso(takeover.leaseUntil)}`,
      ),
  );

  const expiryProblems: string[] = [];
  const last = new Map<string, ExpiryRecord>();
  for (const record of observed.expiries) {
    const ended =
      record.kind === "deployment" ? TERMINAL.has(record.status) : TASK_TERMINAL.has(record.status);
    if (record.kind !== "claim" && !ended && record.expireAt !== null)
      expiryProblems.push(
        `${record.kind} ${record.id} was committed ${record.status} with expire_at ${iso(record.expireAt)}: TTL could delete it while live`,
      );
    if (record.kind === "claim" && record.status === "running" && record.expireAt !== null)
      expiryProblems.push(`rollback claim ${record.id} is held with expire_at ${iso(record.expireAt)}`);
    last.set(`${record.kind} ${record.id}`, record);
  }
  for (const record of last.values()) {
    if (record.kind === "claim") {
      if (record.status !== "done") continue;
      const task = last.get(`task ${record.id}`)?.expireAt ?? null;
      if (record.expireAt !== task)
        expiryProblems.push(
          `rollback claim ${record.id} is done with expire_at ${record.expireAt === null ? "none" : iso(record.expireAt)}, its task's is ${task === null ? "none" : iso(task)}`,
        );
      continue;
    }
    const ended =
      record.kind === "deployment" ? TERMINAL.has(record.status) : TASK_TERMINAL.has(record.status);
    if (!ended) continue;
    const want = record.completedAt === null ? null : record.completedAt + SIM_RETENTION_DAYS * DAY_MS;
    if (want === null || record.expireAt !== want)
      expiryProblems.push(
        `${record.kind} ${record.id} ended ${record.status} at ${record.completedAt === null ? "no time" : iso(record.completedAt)} with expire_at ${record.expireAt === null ? "none" : iso(record.expireAt)}, not ${SIM_RETENTION_DAYS} days later`,
      );
  }
  add("expiry", expiryProblems);
  return violations;
}
