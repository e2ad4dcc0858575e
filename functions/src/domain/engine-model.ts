/**
 * Deployments and their tasks: the documents and their states. States are discriminated by
 * `status`; `transitionTask` and `transitionDeployment` are the only ways a state changes.
 */
import { z } from "zod";
import {
  ROLLBACK_POLICIES,
  TASK_ENGINE_BOUNDS,
  TASK_ENGINE_DEFAULTS,
  type TaskEngineSetting,
} from "./config-schema.js";
import { UnreachableError } from "./errors.js";
import { INTEGRATION_KINDS, INTEGRATION_NAME_PATTERN } from "./integrations.js";
import { endedExpireAt } from "./retention.js";

/** How the simulated driver behaves for one integration (a test and benchmark tool). */
export const simulationSchema = z.strictObject({
  latency_ms: z.int().min(0).max(600_000).default(0),
  fail_first: z.int().min(0).max(100).default(0),
  fail_always: z.boolean().default(false),
  hang_first: z.int().min(0).max(100).default(0),
  hang_ms: z.int().min(0).max(600_000).default(0),
});
export type Simulation = z.infer<typeof simulationSchema>;

function boundedSetting(setting: TaskEngineSetting) {
  const { min, max } = TASK_ENGINE_BOUNDS[setting];
  return z.int().min(min).max(max).default(TASK_ENGINE_DEFAULTS[setting]);
}

/**
 * Engine settings a deployment may carry in `configuration`; everything else there goes to the
 * drivers. `max_retries`, `retry_base_ms` and `lease_seconds` given here win over the environment's
 * `engine` settings of each integration.
 */
export const engineOptionsSchema = z.strictObject({
  /** `integration` runs the real driver of each kind; `simulated` is the test and benchmark tool. */
  driver: z.enum(["integration", "simulated"]).default("integration"),
  simulate: z.record(z.string(), simulationSchema).default({}),
  max_retries: boundedSetting("max_retries"),
  retry_base_ms: boundedSetting("retry_base_ms"),
  retry_max_ms: z.int().min(1).max(3_600_000).default(300_000),
  lease_seconds: boundedSetting("lease_seconds"),
});
export type EngineOptions = z.infer<typeof engineOptionsSchema>;

/** An integration as a deployment names it: `functions`, or `functions:orders` for a second instance. */
export const integrationRefSchema = z.string().regex(INTEGRATION_NAME_PATTERN, {
  error: `an integration kind (${INTEGRATION_KINDS.join(", ")}), optionally followed by ':' and an instance name`,
});

const date = z.date();
const nullableDate = z.date().nullable();

const taskCommon = {
  deployment_id: z.string().min(1),
  name: z.string().min(1),
  description: z.string(),
  environment: z.string().min(1),
  integration: integrationRefSchema,
  kind: z.enum(INTEGRATION_KINDS),
  priority: z.int(),
  dependencies: z.array(z.string()),
  dependents: z.array(z.string()),
  estimated_duration: z.number().min(0),
  actual_duration: z.number().min(0).nullable(),
  created_at: date,
  started_at: nullableDate,
  completed_at: nullableDate,
  error_message: z.string().nullable(),
  retry_count: z.int().min(0),
  max_retries: z.int().min(0),
  /** The retry backoff's base for this task: retry n waits about base x 2^(n-1), capped by the deployment's retry_max_ms. */
  // Tasks planned before the setting was per task backed off from the engine's default base.
  retry_base_ms: z.int().min(1).default(TASK_ENGINE_DEFAULTS.retry_base_ms),
  /** Attempts started so far; the attempt a claim starts is `attempt + 1`. */
  attempt: z.int().min(0),
  /** Which driver runs the task; `simulated` is a test tool and every status shows it. */
  driver: z.enum(["integration", "simulated"]),
  simulation: simulationSchema.nullable(),
  lease_seconds: z.int().min(1),
  /** The environment's concurrency limit when the task was planned: how many slots its claim may use. */
  concurrency_limit: z.int().min(1).max(100),
  /** When the task last became ready: the sweeper republishes tasks left ready too long. */
  ready_at: nullableDate,
  /** The next attempt may not start before this time (retry backoff). */
  not_before: nullableDate,
  /** True once the driver applied this task's change, so a rollback has something to undo. */
  applied: z.boolean(),
  /** What the fallback did for this task, if it ran. */
  rollback_note: z.string().nullable(),
  /** Why the task was skipped or cancelled. */
  reason: z.string().nullable(),
  /**
   * `base.schedules.retention_days` when the task was planned: it expires that long after it ends.
   * Null on tasks planned before retention was kept (the retention purge's old rule covers them).
   */
  retention_days: z.int().min(1).nullable().default(null),
  /** When Firestore's TTL may delete the task: set as it ends, null while it is live (see domain/retention.ts). */
  expire_at: nullableDate.default(null),
};

export const taskDocSchema = z.discriminatedUnion("status", [
  z.strictObject({ ...taskCommon, status: z.literal("blocked") }),
  z.strictObject({ ...taskCommon, status: z.literal("ready") }),
  z.strictObject({ ...taskCommon, status: z.literal("running"), lease_expires_at: date }),
  z.strictObject({ ...taskCommon, status: z.literal("succeeded") }),
  z.strictObject({ ...taskCommon, status: z.literal("failed") }),
  z.strictObject({ ...taskCommon, status: z.literal("skipped") }),
  z.strictObject({ ...taskCommon, status: z.literal("cancelled") }),
  z.strictObject({ ...taskCommon, status: z.literal("rolled_back") }),
]);
export type TaskDoc = z.infer<typeof taskDocSchema>;
export type TaskStatus = TaskDoc["status"];
/** A task together with its document id. */
export type Task = TaskDoc & { id: string };

export const TERMINAL_TASK_STATUSES = ["succeeded", "failed", "skipped", "cancelled", "rolled_back"] as const;
export function isTerminalTask(status: TaskStatus): boolean {
  return (TERMINAL_TASK_STATUSES as readonly string[]).includes(status);
}

/** Task statuses that make a blocked dependent impossible to run. */
export const BLOCKING_END: readonly TaskStatus[] = ["failed", "skipped", "cancelled", "rolled_back"];

/**
 * What one task's success releases, decided in the transaction that records it: each blocked
 * dependent whose dependencies (looked up in `known`, the succeeded task among them) have all
 * succeeded. `null` when it is not that plain: the deployment is not running or rolls everything
 * back on a failure, or a dependent waits on a task that ended without succeeding. Reconcile
 * decides those, as it does skips, fallbacks and the finish.
 */
export function releasedBySuccess(
  deployment: Pick<DeploymentDoc, "status" | "rollback_policy">,
  dependents: readonly Pick<Task, "id" | "status" | "dependencies">[],
  known: ReadonlyMap<string, Pick<Task, "status">>,
): string[] | null {
  if (
    deployment.status !== "running" ||
    deployment.rollback_policy === null ||
    deployment.rollback_policy === "all"
  )
    return null;
  const released: string[] = [];
  for (const dependent of dependents) {
    if (dependent.status !== "blocked") continue;
    const statuses = dependent.dependencies.map((id) => known.get(id)?.status);
    if (statuses.some((status) => status !== undefined && BLOCKING_END.includes(status))) return null;
    if (statuses.every((status) => status === "succeeded")) released.push(dependent.id);
  }
  return released;
}

/** What can happen to a task. */
export type TaskEvent =
  | { type: "release"; now: Date }
  | { type: "claim"; now: Date }
  | { type: "succeed"; now: Date }
  | { type: "fail"; now: Date; error: string; retryAt: Date | null }
  | { type: "lease_expired"; now: Date }
  | { type: "skip"; now: Date; reason: string }
  | { type: "cancel"; now: Date; reason: string }
  | { type: "roll_back"; now: Date; note: string }
  /** The rollback of this task could not be done: the note says why; the task keeps its status. */
  | { type: "rollback_failed"; now: Date; note: string };

/** Why a transition was refused: the event does not apply to the state (a duplicate or late delivery). */
export interface Refusal {
  refused: string;
}

const seconds = (from: Date | null, to: Date) =>
  from ? Math.max(0, (to.getTime() - from.getTime()) / 1000) : null;

/**
 * The one transition function for tasks. Returns the next state, or why the event does not apply.
 * A task that ends takes its `expire_at` from its own retention.
 */
export function transitionTask(task: TaskDoc, event: TaskEvent): TaskDoc | Refusal {
  const next = nextTask(task, event);
  if (isRefusal(next) || next.expire_at !== null) return next;
  const expireAt = endedExpireAt(isTerminalTask(next.status), next.completed_at, next.retention_days);
  return expireAt === null ? next : { ...next, expire_at: expireAt };
}

function nextTask(task: TaskDoc, event: TaskEvent): TaskDoc | Refusal {
  const refuse = (): Refusal => ({ refused: `${event.type} does not apply to a ${task.status} task` });
  const { now } = event;
  switch (event.type) {
    case "release":
      return task.status === "blocked" ? { ...task, status: "ready", ready_at: now } : refuse();
    case "claim": {
      if (task.status !== "ready") return refuse();
      if (task.not_before && task.not_before.getTime() > now.getTime()) {
        return {
          refused: `attempt ${task.attempt + 1} may not start before ${task.not_before.toISOString()}`,
        };
      }
      const { status: _status, ...rest } = task;
      return {
        ...rest,
        status: "running",
        attempt: task.attempt + 1,
        started_at: task.started_at ?? now,
        lease_expires_at: new Date(now.getTime() + task.lease_seconds * 1000),
        not_before: null,
      };
    }
    case "succeed": {
      if (task.status !== "running") return refuse();
      const { lease_expires_at: _lease, status: _status, ...rest } = task;
      return {
        ...rest,
        status: "succeeded",
        applied: true,
        completed_at: now,
        actual_duration: seconds(task.started_at, now),
        error_message: null,
      };
    }
    case "fail": {
      if (task.status !== "running") return refuse();
      const { lease_expires_at: _lease, status: _status, ...rest } = task;
      const message = `attempt ${task.attempt} of ${task.max_retries + 1}: ${event.error}`;
      if (event.retryAt && task.retry_count < task.max_retries) {
        return {
          ...rest,
          status: "ready",
          retry_count: task.retry_count + 1,
          not_before: event.retryAt,
          ready_at: now,
          error_message: message,
        };
      }
      return {
        ...rest,
        status: "failed",
        completed_at: now,
        actual_duration: seconds(task.started_at, now),
        error_message: message,
      };
    }
    case "lease_expired": {
      if (task.status !== "running" || task.lease_expires_at.getTime() > now.getTime()) return refuse();
      // A lost executor costs the attempt, so a task that always hangs ends instead of looping.
      const { lease_expires_at: _lease, status: _status, ...rest } = task;
      const message = `attempt ${task.attempt} of ${task.max_retries + 1}: lease expired at ${task.lease_expires_at.toISOString()} (executor lost)`;
      if (task.retry_count < task.max_retries) {
        return {
          ...rest,
          status: "ready",
          retry_count: task.retry_count + 1,
          ready_at: now,
          error_message: message,
        };
      }
      return {
        ...rest,
        status: "failed",
        completed_at: now,
        actual_duration: seconds(task.started_at, now),
        error_message: message,
      };
    }
    case "skip":
      return task.status === "blocked" || task.status === "ready"
        ? { ...task, status: "skipped", reason: event.reason, completed_at: now }
        : refuse();
    case "cancel":
      return task.status === "blocked" || task.status === "ready"
        ? { ...task, status: "cancelled", reason: event.reason, completed_at: now }
        : refuse();
    case "roll_back":
      if (task.status === "succeeded") return { ...task, status: "rolled_back", rollback_note: event.note };
      // A failed task's fallback, or a task skipped or cancelled after an attempt whose outcome was
      // lost (its change may be in place): undone, and the status keeps saying how it ended.
      // A note is written once: a second delivery of the same rollback is refused like any other.
      if (mayHaveApplied(task) && task.rollback_note === null) return { ...task, rollback_note: event.note };
      return refuse();
    case "rollback_failed":
      return (task.status === "succeeded" || mayHaveApplied(task)) && task.rollback_note === null
        ? { ...task, rollback_note: event.note }
        : refuse();
    default:
      throw new UnreachableError(event);
  }
}

/** A task that did not succeed but ran at least one attempt, so its driver may have changed something. */
export function mayHaveApplied(task: TaskDoc): boolean {
  return (
    task.status === "failed" ||
    ((task.status === "skipped" || task.status === "cancelled") && task.attempt > 0)
  );
}

/** How many concurrency slots a claim reads at a time: a claim reads a few, not all of them. */
export const SLOT_PROBE_WIDTH = 4;

/**
 * The order in which a claim looks at its environment's slots, in reads of `SLOT_PROBE_WIDTH`:
 * from a start spread by the task id (FNV-1a), round the ring, so every slot is looked at once.
 * Claims of different tasks start at different slots and so mostly read (and, on the emulator,
 * lock) different documents; only a claim that finds its first few taken reads further.
 */
export function slotProbeOrder(taskId: string, limit: number): number[][] {
  const start = spreadStart(taskId, limit);
  const ring = Array.from({ length: limit }, (_, offset) => (start + offset) % limit);
  const reads: number[][] = [];
  for (let at = 0; at < ring.length; at += SLOT_PROBE_WIDTH)
    reads.push(ring.slice(at, at + SLOT_PROBE_WIDTH));
  return reads;
}

/** Where among `count` places a key starts (FNV-1a of the key, modulo the count): keys spread evenly. */
export function spreadStart(key: string, count: number): number {
  let hash = 0x811c9dc5;
  for (let at = 0; at < key.length; at += 1) {
    hash ^= key.charCodeAt(at);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}

export function isRefusal<T extends object>(value: T | Refusal): value is Refusal {
  return "refused" in value;
}

/**
 * A production change's approval: asked for when the deployment was requested, decided by a second
 * person (approved or rejected) or by the clock (expired). Null when no approval was needed.
 */
export const approvalSchema = z.strictObject({
  requested_at: date,
  expires_at: date,
  decision: z.enum(["approved", "rejected", "expired"]).nullable(),
  /** Who decided (as `requested_by` names people: `user:alice@acme.dev`, `key:k_1a2b`); null for expiry. */
  decided_by: z.string().nullable(),
  decided_at: nullableDate,
  /** Why it was rejected or when it expired, as the person or the engine said. */
  note: z.string().nullable(),
});
export type Approval = z.infer<typeof approvalSchema>;

const deploymentCommon = {
  environment: z.string(),
  /** As requested; the planner validates each name, and a refused request keeps what was asked. */
  integrations: z.array(z.string()),
  configuration: z.record(z.string(), z.unknown()),
  requested_by: z.string().min(1),
  created_at: date,
  task_ids: z.array(z.string()),
  estimated_completion: nullableDate,
  critical_path: z.array(z.string()),
  started_at: nullableDate,
  completed_at: nullableDate,
  actual_duration: z.number().min(0).nullable(),
  /** Which task, integration, attempt and error ended the deployment, when one did. */
  error_message: z.string().nullable(),
  correlation_id: z.string(),
  /**
   * The environment's rollback policy when the deployment was planned: a config loaded mid-deployment
   * does not change how it ends. Null until it starts (and on documents written before it was kept).
   */
  rollback_policy: z.enum(ROLLBACK_POLICIES).nullable().default(null),
  /** The approval this deployment waited for, when its environment requires one. */
  approval: approvalSchema.nullable().default(null),
  /**
   * When Firestore's TTL may delete the deployment: `retention_days` after it ended, set by the
   * event that ends it; null while it is live (and on deployments that ended before it was kept).
   */
  expire_at: nullableDate.default(null),
};

/**
 * A person may request a deployment by writing only the request fields with status `requested`;
 * the engine's own fields then start out empty. (`created_at` defaults to the time it is read.)
 */
function fillRequestDefaults(raw: unknown): unknown {
  if (typeof raw !== "object" || raw === null || (raw as { status?: unknown }).status !== "requested")
    return raw;
  return {
    configuration: {},
    requested_by: "firestore",
    created_at: new Date(),
    ...notStarted(),
    correlation_id: "",
    ...raw,
  };
}

/** The engine's own fields of a deployment that has not started (fresh arrays each time). */
function notStarted() {
  return {
    task_ids: [] as string[],
    estimated_completion: null,
    critical_path: [] as string[],
    started_at: null,
    completed_at: null,
    actual_duration: null,
    error_message: null,
    rollback_policy: null,
    approval: null,
    expire_at: null,
  };
}

/** A new deployment request document, as the API writes it. */
export function requestedDeployment(
  request: DeploymentRequest,
  requestedBy: string,
  now: Date,
  correlationId: string,
): DeploymentDoc {
  return {
    status: "requested",
    environment: request.environment,
    integrations: request.integrations,
    configuration: request.configuration,
    requested_by: requestedBy,
    created_at: now,
    ...notStarted(),
    correlation_id: correlationId,
  };
}

export const deploymentDocSchema = z.preprocess(
  fillRequestDefaults,
  z.discriminatedUnion("status", [
    z.strictObject({ ...deploymentCommon, status: z.literal("requested") }),
    z.strictObject({ ...deploymentCommon, status: z.literal("awaiting_approval") }),
    z.strictObject({ ...deploymentCommon, status: z.literal("approved") }),
    z.strictObject({ ...deploymentCommon, status: z.literal("running") }),
    z.strictObject({ ...deploymentCommon, status: z.literal("cancelling") }),
    z.strictObject({ ...deploymentCommon, status: z.literal("rolling_back") }),
    z.strictObject({ ...deploymentCommon, status: z.literal("succeeded") }),
    z.strictObject({ ...deploymentCommon, status: z.literal("failed") }),
    z.strictObject({ ...deploymentCommon, status: z.literal("rolled_back") }),
    z.strictObject({ ...deploymentCommon, status: z.literal("cancelled") }),
  ]),
);
export type DeploymentDoc = z.infer<typeof deploymentDocSchema>;
export type DeploymentStatus = DeploymentDoc["status"];
export type Deployment = DeploymentDoc & { id: string };

export const TERMINAL_DEPLOYMENT_STATUSES = ["succeeded", "failed", "rolled_back", "cancelled"] as const;
/** The statuses of a deployment that has not ended: the sweeper reconciles these, and nothing of theirs expires. */
export const LIVE_DEPLOYMENT_STATUSES = [
  "requested",
  "awaiting_approval",
  "approved",
  "running",
  "cancelling",
  "rolling_back",
] as const;
export function isTerminalDeployment(status: DeploymentStatus): boolean {
  return (TERMINAL_DEPLOYMENT_STATUSES as readonly string[]).includes(status);
}

/** A refused request document, rewritten so it reads back valid and says why it was refused. */
export function rejectedRequest(raw: unknown, reason: string, now: Date): DeploymentDoc {
  const fields = typeof raw === "object" && raw !== null ? (raw as Record<string, unknown>) : {};
  const strings = (value: unknown) =>
    Array.isArray(value) ? value.filter((item): item is string => typeof item === "string") : [];
  return {
    status: "failed",
    environment: typeof fields.environment === "string" ? fields.environment : "",
    integrations: strings(fields.integrations),
    configuration: {},
    requested_by:
      typeof fields.requested_by === "string" && fields.requested_by !== ""
        ? fields.requested_by
        : "firestore",
    created_at: now,
    ...notStarted(),
    completed_at: now,
    actual_duration: 0,
    error_message: reason,
    correlation_id: "",
  };
}

/** The fields a person or the API writes to request a deployment; the engine fills in the rest. */
export const deploymentRequestSchema = z.strictObject({
  environment: z.string().min(1),
  integrations: z.array(integrationRefSchema).min(1).max(500),
  configuration: z.record(z.string(), z.unknown()).default({}),
  requested_by: z.string().min(1).max(200).default("anonymous"),
});
export type DeploymentRequest = z.infer<typeof deploymentRequestSchema>;

/**
 * The events that end a deployment carry `retentionDays` (`base.schedules.retention_days`): the
 * deployment expires that long after it ended. Without it (null or absent) it gets no `expire_at`.
 */
export type DeploymentEvent =
  | {
      type: "start";
      now: Date;
      taskIds: string[];
      estimatedCompletion: Date;
      criticalPath: string[];
      correlationId: string;
      rollbackPolicy: (typeof ROLLBACK_POLICIES)[number];
    }
  /** Refused before it started; `configuration` replaces what was asked when that must not be kept (a plain secret). */
  | {
      type: "reject";
      now: Date;
      error: string;
      configuration?: Record<string, unknown>;
      retentionDays?: number | null;
    }
  /** The environment requires a second person's approval: wait for it until `expiresAt`. */
  | { type: "await_approval"; now: Date; expiresAt: Date }
  /** `by`: the decider's names, the one recorded first (a person may have requested under another). */
  | { type: "approve"; now: Date; by: readonly string[] }
  /** An approver refused the change: the deployment ends cancelled, saying who and why. */
  | { type: "decline"; now: Date; by: readonly string[]; reason: string; retentionDays?: number | null }
  /** Nobody decided in time: the deployment ends cancelled. */
  | { type: "expire_approval"; now: Date; retentionDays?: number | null }
  | { type: "cancel"; now: Date }
  | { type: "begin_rollback"; now: Date; error: string }
  | {
      type: "finish";
      now: Date;
      outcome: "succeeded" | "failed" | "rolled_back" | "cancelled";
      error: string | null;
      retentionDays?: number | null;
    };

/** The one transition function for deployments. A deployment that ends expires by the event's retention. */
export function transitionDeployment(
  deployment: DeploymentDoc,
  event: DeploymentEvent,
): DeploymentDoc | Refusal {
  const next = nextDeployment(deployment, event);
  if (isRefusal(next) || next.expire_at !== null) return next;
  const days = "retentionDays" in event ? event.retentionDays : null;
  const expireAt = endedExpireAt(isTerminalDeployment(next.status), next.completed_at, days);
  return expireAt === null ? next : { ...next, expire_at: expireAt };
}

function nextDeployment(deployment: DeploymentDoc, event: DeploymentEvent): DeploymentDoc | Refusal {
  const refuse = (): Refusal => ({
    refused: `${event.type} does not apply to a ${deployment.status} deployment`,
  });
  switch (event.type) {
    case "start":
      // The engine starts a request directly when its environment needs no approval; an approved one
      // only with the approval recorded.
      return deployment.status === "requested" ||
        (deployment.status === "approved" && deployment.approval?.decision === "approved")
        ? {
            ...deployment,
            status: "running",
            task_ids: event.taskIds,
            estimated_completion: event.estimatedCompletion,
            critical_path: event.criticalPath,
            started_at: event.now,
            correlation_id: deployment.correlation_id || event.correlationId,
            rollback_policy: event.rollbackPolicy,
          }
        : refuse();
    case "reject":
      return deployment.status === "requested" || deployment.status === "approved"
        ? {
            ...deployment,
            configuration: event.configuration ?? deployment.configuration,
            status: "failed",
            error_message: event.error,
            completed_at: event.now,
            actual_duration: 0,
          }
        : refuse();
    case "await_approval":
      return deployment.status === "requested"
        ? {
            ...deployment,
            status: "awaiting_approval",
            approval: {
              requested_at: event.now,
              expires_at: event.expiresAt,
              decision: null,
              decided_by: null,
              decided_at: null,
              note: null,
            },
          }
        : refuse();
    case "approve":
    case "decline": {
      const refusal = decisionRefusal(deployment, event.by, event.now);
      if (refusal || deployment.approval === null) return refusal ?? refuse();
      const decider = event.by[0] ?? "anonymous";
      const decided = { ...deployment.approval, decided_by: decider, decided_at: event.now };
      return event.type === "approve"
        ? { ...deployment, status: "approved", approval: { ...decided, decision: "approved" } }
        : {
            ...deployment,
            status: "cancelled",
            approval: { ...decided, decision: "rejected", note: event.reason },
            error_message: `approval rejected by ${decider}: ${event.reason}`,
            completed_at: event.now,
            actual_duration: 0,
          };
    }
    case "expire_approval": {
      const { approval } = deployment;
      if (deployment.status !== "awaiting_approval" || approval === null) return refuse();
      if (approval.expires_at.getTime() > event.now.getTime())
        return { refused: `the approval request is open until ${approval.expires_at.toISOString()}` };
      const note = `nobody approved it before ${approval.expires_at.toISOString()}`;
      return {
        ...deployment,
        status: "cancelled",
        approval: { ...approval, decision: "expired", decided_at: event.now, note },
        error_message: `approval expired: ${note}`,
        completed_at: event.now,
        actual_duration: 0,
      };
    }
    case "cancel":
      return deployment.status === "running" ||
        deployment.status === "requested" ||
        deployment.status === "awaiting_approval" ||
        deployment.status === "approved"
        ? { ...deployment, status: "cancelling" }
        : refuse();
    case "begin_rollback":
      return deployment.status === "running" || deployment.status === "cancelling"
        ? { ...deployment, status: "rolling_back", error_message: event.error }
        : refuse();
    case "finish": {
      if (
        deployment.status !== "running" &&
        deployment.status !== "cancelling" &&
        deployment.status !== "rolling_back"
      )
        return refuse();
      const outcome =
        deployment.status === "cancelling" && event.outcome === "succeeded" ? "cancelled" : event.outcome;
      return {
        ...deployment,
        status: outcome,
        error_message: event.error,
        completed_at: event.now,
        actual_duration: seconds(deployment.started_at, event.now),
      };
    }
    default:
      throw new UnreachableError(event);
  }
}

/** Why an approval decision by `by` cannot be taken now, in words for the person who tried. */
export type DecisionRefusal = Refusal & { reason: "not_awaiting" | "own_request" | "expired" };

/**
 * Whether the person known by the names `by` may decide the approval of `deployment` at `now`: it
 * must be waiting, unexpired, and asked for under none of their names (the second person of a
 * four-eyes control). Null when the decision may go ahead.
 */
export function decisionRefusal(
  deployment: DeploymentDoc,
  by: readonly string[],
  now: Date,
): DecisionRefusal | null {
  const { approval } = deployment;
  if (deployment.status !== "awaiting_approval" || approval === null) {
    const decided = approval?.decision
      ? ` (${approval.decision}${approval.decided_by ? ` by ${approval.decided_by}` : ""})`
      : "";
    return {
      reason: "not_awaiting",
      refused: `the deployment is ${deployment.status}${decided}, not awaiting approval`,
    };
  }
  if (by.includes(deployment.requested_by))
    return {
      reason: "own_request",
      refused: `${deployment.requested_by} requested this deployment and cannot approve or reject it; a second person must`,
    };
  if (approval.expires_at.getTime() <= now.getTime())
    return {
      reason: "expired",
      refused: `the approval request expired at ${approval.expires_at.toISOString()}`,
    };
  return null;
}

/**
 * The claim on undoing one applied task: at most one executor holds it at a time (a lease, kept alive
 * by heartbeats), and once `done` it is never taken again, so each task is rolled back at most once.
 */
export const rollbackClaimDocSchema = z.discriminatedUnion("status", [
  z.strictObject({
    status: z.literal("running"),
    task_id: z.string(),
    deployment_id: z.string(),
    attempt: z.int().min(1),
    lease_expires_at: date,
  }),
  z.strictObject({
    status: z.literal("done"),
    task_id: z.string(),
    deployment_id: z.string(),
    attempt: z.int().min(1),
    note: z.string(),
    /** Its task's `expire_at`: the claim goes with the task (null for claims done before it was kept). */
    expire_at: nullableDate.default(null),
  }),
]);
export type RollbackClaimDoc = z.infer<typeof rollbackClaimDocSchema>;

/** Takes the rollback of a task: free, or held by an executor whose lease expired (a lost one). */
export function claimRollback(
  current: RollbackClaimDoc | undefined,
  task: Pick<Task, "id" | "deployment_id" | "lease_seconds">,
  now: Date,
): RollbackClaimDoc | Refusal {
  if (current?.status === "done") return { refused: `the rollback of ${task.id} is done: ${current.note}` };
  if (current?.status === "running" && current.lease_expires_at.getTime() > now.getTime())
    return { refused: `the rollback of ${task.id} is held by attempt ${current.attempt}` };
  return {
    status: "running",
    task_id: task.id,
    deployment_id: task.deployment_id,
    attempt: (current?.attempt ?? 0) + 1,
    lease_expires_at: new Date(now.getTime() + task.lease_seconds * 1000),
  };
}
