/**
 * The engine's steps, one per trigger: plan a requested deployment, run one task attempt, reconcile
 * a deployment after a task settled, finalize, cancel, sweep, relay the outbox. Each state change is
 * a compare-and-set transaction that also stages what it implies (event, audit record, finish
 * notifications) in the outbox, so a duplicate or late delivery changes nothing and a crash after a
 * commit loses nothing. Every step is level-triggered: it looks at the state as it is, so the sweeper
 * can run the same steps to repair whatever a lost trigger left behind.
 */
import type { WriteBatch } from "firebase-admin/firestore";
import type { Clock } from "../app.js";
import {
  orchestrationEventSchema,
  TASKS_PER_MESSAGE,
  tasksOfMessage,
  type Bus,
  type OrchestrationEvent,
  type TaskMessage,
  type TaskRef,
} from "../bus.js";
import type { AuditActor, AuditEntry } from "../domain/audit.js";
import type { ResolvedEnvironment } from "../domain/config-schema.js";
import {
  BLOCKING_END,
  decisionRefusal,
  deploymentRequestSchema,
  engineOptionsSchema,
  isTerminalDeployment,
  isTerminalTask,
  spreadStart,
  requestedDeployment,
  type Deployment,
  type DeploymentRequest,
  type EngineOptions,
  type Task,
  type TaskEvent,
} from "../domain/engine-model.js";
import {
  BadInputError,
  ConflictError,
  ForbiddenError,
  NonRetriableError,
  NotFoundError,
} from "../domain/errors.js";
import { settle } from "../domain/finalize.js";
import { topologicalOrder } from "../domain/graph.js";
import { engineOptions, planDeployment, retryDelayMs, type DeploymentPlan } from "../domain/planner.js";
import type { LearnedModel } from "../domain/learning/estimates.js";
import { zodIssueToProblem } from "../domain/problems.js";
import { retentionDaysOf } from "../domain/retention.js";
import { plainSecretProblems, scrubPlainSecrets } from "../domain/secrets.js";
import type { ApplyResult, Driver, Fence } from "../drivers/driver.js";
import type { Logger } from "../logs.js";
import {
  CONFIG_CHANGED,
  type ClaimHint,
  type Effects,
  type EngineStore,
  type RecordedOutcome,
  type Transition,
} from "../store/engine-store.js";
import type { Outbox, OutboxEntry } from "../store/outbox.js";
import type { Store } from "../store/store.js";
import { COLLECTIONS } from "../domain/model.js";

export interface EngineDeps {
  store: Store;
  engineStore: EngineStore;
  outbox: Outbox;
  bus: Bus;
  clock: Clock;
  drivers: Record<Task["driver"], Driver>;
  random: () => number;
  log: Logger;
  /** The resolved environment from the loaded config; BadInputError naming the field when it is not declared. */
  environment: (name: string) => Promise<ResolvedEnvironment>;
  /** Longest an executor waits in-process for a retry's backoff; longer waits are left to dispatch and the sweeper. */
  maxInlineWaitMs: number;
  /**
   * How long after its start an executor invocation still takes the next ready task itself when it
   * frees a slot, rather than publishing it (the invocation's timeout must leave room for that task).
   */
  inlineChainMs: number;
  /** Waits; resolves early when the signal aborts (a heartbeat that is no longer needed). */
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Stages an audit record under a stable id: the same id twice is one record. */
  stageAudit: (writer: WriteBatch, id: string, entry: AuditEntry) => void;
  /** Chains staged audit records now, if no chain writer ran in this instance a moment ago. */
  chainAudit?: () => Promise<void>;
  /** Checks who asked for a deployment before it is planned: null when allowed, otherwise the reason it is refused. */
  authorize?: (deployment: Deployment) => Promise<string | null>;
  /**
   * Whether a deployment to this environment must wait for a second person's approval, and how long
   * the request stays open; null (or no function) when it starts at once.
   */
  approvalPolicy?: (environment: string) => Promise<{ ttl_hours: number } | null>;
  /** Delivered once per ended deployment, through the outbox (alerts). */
  onFinished?: (deployment: Deployment) => Promise<void>;
  /** What history has taught about an environment's tasks; undefined plans from the catalog. */
  learned?: (environment: string) => Promise<LearnedModel | undefined>;
}

/** Tries at recording an attempt's outcome, and the pause before the second (longer before each next). */
const OUTCOME_TRIES = 3;
const OUTCOME_RETRY_MS = 500;

/** How long a ready task may sit unclaimed before the sweeper publishes it again (a lost message). */
const STALE_READY_MS = 15_000;
/** Outbox entries older than this were not delivered by the step that committed them: the sweeper relays them. */
const STALE_OUTBOX_MS = 30_000;
/** Driver tries of one rollback claim before the rollback is recorded as failed. */
const MAX_ROLLBACK_ATTEMPTS = 3;
/**
 * Claims of one rollback whose holders were lost (crashed, timed out) before it is abandoned: a lost
 * claim says nothing about the driver, so it has a budget of its own, larger than the driver's tries,
 * and bounded so a rollback that kills every executor still ends (each loss costs a lease).
 */
const MAX_LOST_ROLLBACK_CLAIMS = 8;
/** Plans of one start made again because a config was loaded meanwhile; the sweeper goes on after these. */
const MAX_REPLANS = 3;
/** How the note of a rollback that could not be done begins. */
const ROLLBACK_FAILED = "rollback failed";

const SYSTEM_ACTOR = { kind: "system", id: "engine", role: null } as const;

const errorText = (error: unknown) => (error instanceof Error ? error.message : String(error));

/** The dedupe key of a task transition: one per task, event type and attempt, whatever the delivery. */
export function taskEventId(type: TaskEvent["type"], task: Pick<Task, "id" | "attempt">): string {
  return `task:${task.id}:${type}:${task.attempt}`;
}

/** The dedupe key of a deployment transition: a deployment reaches each status at most once. */
export function deploymentEventId(deployment: Pick<Deployment, "id" | "status">): string {
  return `deployment:${deployment.id}:${deployment.status}`;
}

/** A transition's effects, and the delivery of the very entries they staged once it has committed. */
interface Facts<T> {
  effects: Effects<T>;
  /** The very entries staged, if the transition committed. */
  entries: (transition: Transition<T>) => OutboxEntry[];
  deliver: (transition: Transition<T>) => Promise<void>;
}

export function createEngine(deps: EngineDeps) {
  const { engineStore, outbox, bus, clock, log, environment } = deps;

  /** The facts of a task transition: its event and its audit record. */
  function taskFacts(type: TaskEvent["type"], detail: string | null = null) {
    return facts(taskEntries(type, detail));
  }

  /** How a task transition's facts are built. */
  function taskEntries(type: TaskEvent["type"], detail: string | null = null): Effects<Task> {
    return (before, after) => {
      const event: OrchestrationEvent = {
        event_id: taskEventId(type, after),
        kind: "task",
        deployment_id: after.deployment_id,
        task_id: after.id,
        environment: after.environment,
        integration: after.integration,
        from: before.status,
        to: after.status,
        attempt: after.attempt,
        detail: detail ?? after.rollback_note ?? after.error_message ?? after.reason,
        correlation_id: after.deployment_id,
        at: clock.now().toISOString(),
        duration: after.actual_duration,
        payload: {
          retry_count: after.retry_count,
          estimated_duration: after.estimated_duration,
          ready_at: after.ready_at?.toISOString() ?? null,
          started_at: after.started_at?.toISOString() ?? null,
        },
      };
      return [entry(event, `task.${before.status}->${after.status}`, after.id, null)];
    };
  }

  /** The facts of a deployment transition; `actor` names the person behind it when one is (an approver). */
  function deploymentFacts(actor?: AuditActor): Facts<Deployment> {
    return facts((before, after) => {
      const event: OrchestrationEvent = {
        event_id: deploymentEventId(after),
        kind: "deployment",
        deployment_id: after.id,
        task_id: null,
        environment: after.environment,
        integration: null,
        from: before.status,
        to: after.status,
        attempt: null,
        detail: after.error_message,
        correlation_id: after.correlation_id || after.id,
        at: clock.now().toISOString(),
        duration: after.actual_duration,
        actor: actor?.id ?? after.requested_by,
        payload: { created_at: after.created_at.toISOString(), integrations: after.integrations },
      };
      const ended = isTerminalDeployment(after.status) ? after.id : null;
      return [entry(event, `deployment.${before.status}->${after.status}`, after.id, ended, actor)];
    });
  }

  /**
   * Effects for one transition, kept as built: when the transition commits, the step delivers the
   * very entries its transaction staged, with no read back (the sweeper reads what a crash left).
   */
  function facts<T>(build: Effects<T>): Facts<T> {
    let built: OutboxEntry[] = [];
    const entries = (transition: Transition<T>) => (transition.changed ? built : []);
    return {
      effects: (before, after) => (built = build(before, after)),
      entries,
      deliver: (transition) => deliverEntries(entries(transition)),
    };
  }

  /**
   * Effects for several task transitions of one transaction (one per task): `entries` gives the
   * very entries staged for those that committed. A retried transaction builds them again.
   */
  function factsOfEach(build: Effects<Task>) {
    const built = new Map<string, OutboxEntry[]>();
    return {
      effects: (before: Task, after: Task) => {
        const staged = build(before, after);
        built.set(after.id, staged);
        return staged;
      },
      entries: (committed: readonly Transition<Task>[]) =>
        committed.flatMap((transition) => (transition.changed ? (built.get(transition.after.id) ?? []) : [])),
    };
  }

  /**
   * Delivers entries that committed, in one relay, then chains their audit records, unless
   * `leaveChaining` (the executor's way: on the emulator every executor is a process of its own, and
   * each chaining after every task made them all wait, seconds at a time, on the chain writer's
   * lease). Records left staged are durable in the inbox and chained by the next pass: a trigger's
   * delivery, the deployment's finish, or the sweeper's.
   */
  async function deliverEntries(entries: readonly OutboxEntry[], leaveChaining = false): Promise<void> {
    if (entries.length === 0) return;
    await relaySafely(entries);
    if (!leaveChaining) await chainAudit();
  }

  function entry(
    event: OrchestrationEvent,
    action: string,
    target: string,
    finished: string | null,
    actor: AuditActor = SYSTEM_ACTOR,
  ): OutboxEntry {
    const failed = event.to === "failed" || event.to === "rolled_back";
    return {
      event: orchestrationEventSchema.parse(event),
      audit: {
        actor,
        action,
        target,
        source: "trigger",
        outcome: failed ? "error" : "ok",
        status: null,
        correlation_id: event.correlation_id,
        detail: event.detail,
      },
      finished_deployment: finished,
      created_at: clock.now(),
    };
  }

  /**
   * Delivers outbox entries: their events, the finish notifications, then their audit records
   * staged together with marking the entries delivered, in one batch. Any number of relays may run
   * for one entry; every delivery is keyed by the event id (the bus's dedupe key, the audit
   * record's id, the alert's id).
   */
  async function relay(entries: readonly OutboxEntry[]): Promise<void> {
    await Promise.all(entries.map((staged) => bus.publishEvent(staged.event)));
    for (const staged of entries) {
      if (staged.finished_deployment === null) continue;
      const deployment = await engineStore.getDeployment(staged.finished_deployment);
      if (deployment) await deps.onFinished?.(deployment);
    }
    await outbox.delivered(
      entries.map((staged) => staged.event.event_id),
      (batch) => {
        for (const staged of entries) deps.stageAudit(batch, staged.event.event_id, staged.audit);
      },
    );
  }

  /** Relays the entry an outbox document holds (the sweeper's way: what a crash left). */
  async function relayStored(id: string): Promise<void> {
    const staged = await outbox.get(id);
    if (staged) await relay([staged]);
  }

  /** Chains the audit records just staged; a failure leaves them staged for the next writer or the sweeper. */
  async function chainAudit(): Promise<void> {
    try {
      await deps.chainAudit?.();
    } catch (error) {
      log.warn("audit chaining failed; the records stay staged", { error: errorText(error) });
    }
  }

  /** The fast path of delivery, right after the commit; what fails here the sweeper relays later. */
  async function relaySafely(entries: readonly OutboxEntry[]): Promise<void> {
    try {
      await relay(entries);
    } catch (error) {
      log.warn("outbox relay failed; the sweeper will deliver it", {
        event_ids: entries.map((staged) => staged.event.event_id),
        error: errorText(error),
      });
    }
  }

  async function transitionTask(id: string, event: TaskEvent, detail?: string): Promise<Transition<Task>> {
    const facts = taskFacts(event.type, detail);
    const transition = await engineStore.transitionTask(id, event, facts.effects);
    await facts.deliver(transition);
    return transition;
  }

  /**
   * Keeps a lease alive while long work runs (every third of the lease), so a slow driver is never
   * mistaken for a lost one. Stops when told, or as soon as a renewal says the attempt was superseded.
   */
  function keepAlive(renew: () => Promise<boolean>, leaseSeconds: number): () => void {
    const controller = new AbortController();
    const everyMs = (leaseSeconds * 1000) / 3;
    void (async () => {
      while (!controller.signal.aborted) {
        await deps.sleep(everyMs, controller.signal);
        if (controller.signal.aborted) return;
        if (!(await renew())) return;
      }
    })().catch((error: unknown) => {
      log.warn("lease heartbeat failed; the lease may expire", { error: errorText(error) });
    });
    return () => controller.abort();
  }

  /**
   * Publishes the environment's ready tasks, highest priority first, but no more than its free
   * slots minus the messages already out: concurrency is bounded at the source, so the Functions
   * runtime never starts more executors than the environment may run. Each task is reserved before
   * it is published, so concurrent dispatchers never publish it twice. The due tasks are read
   * first and the slots counted only when there are some: most dispatches (a slot freed while
   * nothing waits) end after that one query.
   */
  async function dispatch(envName: string, limit: number): Promise<number> {
    return (await dispatchKeeping(envName, limit, false)).published;
  }

  /**
   * Dispatch that may keep the first reserved task for the caller to run itself (`keep`): an
   * executor that freed a slot takes the next task in the same invocation, with no hop through
   * Pub/Sub. The rest go out up to TASKS_PER_MESSAGE a message, each message one invocation that
   * runs its tasks side by side: the Functions runtime starts an instance per concurrent
   * invocation, so fewer messages is fewer instances. A kept task is reserved like a published one;
   * if its executor is lost before the claim, the reservation goes stale and the sweeper publishes it.
   */
  async function dispatchKeeping(
    envName: string,
    limit: number,
    keep: boolean | "only",
    spread?: string,
  ): Promise<{ published: number; kept: TaskRef | undefined }> {
    try {
      const now = clock.now();
      const due = await engineStore.dueReadyTasks(envName, limit, now);
      if (due.length === 0) return { published: 0, kept: undefined };
      // The slot the caller freed is room for the one task it keeps; nothing needs counting then.
      const [running, inFlight] = keep === "only" ? [limit - 1, 0] : await countTaken(envName);
      // Executors freeing slots at once each start at their own place among the due tasks, so that
      // they do not all try to reserve the same one first and pass over it one after another.
      const start = keep === "only" && spread !== undefined ? spreadStart(spread, due.length) : 0;
      const candidates = [...due.slice(start), ...due.slice(0, start)];
      const reserved = (
        await engineStore.reserve(envName, candidates, limit - running - inFlight, now, inFlight)
      ).map((task): TaskRef => ({
        task_id: task.id,
        deployment_id: task.deployment_id,
        environment: task.environment,
        concurrency_limit: task.concurrency_limit,
      }));
      const kept = keep ? reserved.shift() : undefined;
      const messages: TaskRef[][] = [];
      for (let at = 0; at < reserved.length; at += TASKS_PER_MESSAGE)
        messages.push(reserved.slice(at, at + TASKS_PER_MESSAGE));
      await Promise.all(messages.map((tasks) => bus.publishTask({ tasks })));
      return { published: reserved.length, kept };
    } catch (error) {
      // Whatever was not published stays ready and unreserved (or its reservation goes stale): the sweeper publishes it.
      log.error("dispatch failed; the sweeper will retry", { environment: envName, error: errorText(error) });
      return { published: 0, kept: undefined };
    }
  }

  async function countTaken(envName: string): Promise<[running: number, inFlight: number]> {
    return Promise.all([engineStore.runningCount(envName), engineStore.inFlightCount(envName)]);
  }

  /** `base.schedules.retention_days` of the loaded config: how long an ended deployment or task stays in Firestore. */
  async function retentionDays(): Promise<number> {
    return retentionDaysOf((await deps.store.currentConfig())?.config_data);
  }

  /** Validates a request and computes its plan (its tasks keep `retentionDays`), without writing anything. */
  async function preview(
    deploymentId: string,
    raw: unknown,
    retention: number | null = null,
  ): Promise<{ request: DeploymentRequest; env: ResolvedEnvironment; plan: DeploymentPlan }> {
    const parsed = deploymentRequestSchema.safeParse(raw);
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) =>
        zodIssueToProblem(issue, raw, deploymentRequestSchema),
      );
      throw new BadInputError(
        `the deployment request has ${problems.length} problem(s): ${problems.map((p) => p.message).join("; ")}`,
        problems,
      );
    }
    const secrets = plainSecretProblems(parsed.data.configuration, ["configuration"]);
    if (secrets.length > 0)
      throw new BadInputError(
        `the deployment request has ${secrets.length} secret(s) in plain text: ${secrets.map((p) => p.message).join("; ")}`,
        secrets,
      );
    const env = await environment(parsed.data.environment);
    // The simulated driver's durations come from its request: no history to read for it.
    const learned =
      parsed.data.configuration.driver === "simulated" ? undefined : await deps.learned?.(env.name);
    const planned = planDeployment(deploymentId, parsed.data, env, clock.now(), learned, retention);
    if (!planned.ok)
      throw new BadInputError(
        `the deployment cannot be planned: ${planned.problems.map((p) => p.message).join("; ")}`,
        planned.problems,
      );
    return { request: parsed.data, env, plan: planned.plan };
  }

  /** Refuses a request; a plain secret it carried (written straight to the document) is not kept. */
  async function reject(deployment: Deployment, reason: string, retention: number): Promise<void> {
    const facts = deploymentFacts();
    const holdsSecrets = plainSecretProblems(deployment.configuration).length > 0;
    const rejected = await engineStore.transitionDeployment(
      deployment.id,
      {
        type: "reject",
        now: clock.now(),
        error: reason,
        ...(holdsSecrets ? { configuration: scrubPlainSecrets(deployment.configuration) } : {}),
        retentionDays: retention,
      },
      facts.effects,
    );
    log.warn("deployment rejected", { correlation_id: deployment.id, error: reason });
    await facts.deliver(rejected);
  }

  /**
   * Deployment status `requested` (or `approved`): authorize, plan, and then either wait for a
   * second person's approval (a production environment that requires one, asked once per request)
   * or write the tasks with the start and publish what is ready.
   */
  async function startRequested(deployment: Deployment, replans = 0): Promise<void> {
    if (deployment.status !== "requested" && deployment.status !== "approved") return;
    // The config the plan is made from; the start commits only if it is still the current one.
    const current = await deps.store.currentConfig();
    const configHash = current?.content_hash ?? null;
    const retention = retentionDaysOf(current?.config_data);
    const refusal = (await deps.authorize?.(deployment)) ?? null;
    if (refusal !== null) {
      await reject(deployment, refusal, retention);
      return;
    }
    let planned;
    let approval: { ttl_hours: number } | null = null;
    try {
      // Asked before planning, so that the plan (and the rollback policy it snapshots) comes from
      // the config read closest to the start's commit.
      if (deployment.status === "requested")
        approval = (await deps.approvalPolicy?.(deployment.environment)) ?? null;
      planned = await preview(
        deployment.id,
        {
          environment: deployment.environment,
          integrations: deployment.integrations,
          configuration: deployment.configuration,
          requested_by: deployment.requested_by,
        },
        retention,
      );
    } catch (error) {
      if (!(error instanceof BadInputError || error instanceof NotFoundError)) throw error;
      await reject(deployment, error.message, retention);
      return;
    }
    const { plan, env } = planned;
    if (approval !== null) {
      await awaitApproval(deployment, approval.ttl_hours);
      return;
    }
    const startFacts = deploymentFacts();
    const started = await engineStore.startDeployment(
      deployment.id,
      {
        type: "start",
        now: clock.now(),
        taskIds: plan.tasks.map((t) => t.id),
        estimatedCompletion: plan.estimatedCompletion,
        criticalPath: plan.criticalPath,
        correlationId: deployment.id,
        // A promotion is one unit: any failed task undoes every artifact it applied.
        rollbackPolicy: deployment.configuration.promotion !== undefined ? "all" : env.rollback_policy,
      },
      plan.tasks,
      startFacts.effects,
      // A provisioning request, by the API or by a document write, marks its environment until it ends.
      deployment.configuration.provision === true ? "provisioning" : undefined,
      configHash,
    );
    if (!started.changed && started.reason === CONFIG_CHANGED && replans < MAX_REPLANS) {
      const current = await engineStore.getDeployment(deployment.id);
      if (current) await startRequested(current, replans + 1);
      return;
    }
    if (!started.changed) {
      log.debug("deployment already started", { correlation_id: deployment.id, reason: started.reason });
      return;
    }
    log.info("deployment started", {
      correlation_id: deployment.id,
      tasks: plan.tasks.length,
      estimated_seconds: plan.estimatedSeconds,
    });
    await startFacts.deliver(started);
    await dispatch(env.name, env.concurrency);
  }

  /** Parks a request until a second person decides, or until the request expires. */
  async function awaitApproval(deployment: Deployment, ttlHours: number): Promise<void> {
    const now = clock.now();
    const facts = deploymentFacts();
    const waiting = await engineStore.transitionDeployment(
      deployment.id,
      { type: "await_approval", now, expiresAt: new Date(now.getTime() + ttlHours * 3_600_000) },
      facts.effects,
    );
    if (waiting.changed)
      log.info("deployment awaits approval", {
        correlation_id: deployment.id,
        expires_at: waiting.after.approval?.expires_at.toISOString(),
      });
    await facts.deliver(waiting);
  }

  /** Ends an approval request nobody decided in time; a no-op while it is still open. */
  async function expireApproval(deploymentId: string): Promise<Transition<Deployment>> {
    const facts = deploymentFacts();
    const expired = await engineStore.transitionDeployment(
      deploymentId,
      { type: "expire_approval", now: clock.now(), retentionDays: await retentionDays() },
      facts.effects,
    );
    if (expired.changed) log.warn("approval expired", { correlation_id: deploymentId });
    await facts.deliver(expired);
    return expired;
  }

  /**
   * A second person's decision on a deployment that awaits approval. Refused (and nothing written)
   * when it is not waiting (409), when the decider requested it (403), or when the request expired
   * (409; the deployment is then cancelled as expired). Both the check and the write happen in one
   * transaction, so of two concurrent decisions exactly one lands.
   */
  async function decide(
    deploymentId: string,
    decision: { type: "approve" } | { type: "decline"; reason: string },
    by: readonly string[],
    actor: AuditActor,
  ): Promise<Deployment> {
    const facts = deploymentFacts(actor);
    const now = clock.now();
    const transition = await engineStore.transitionDeployment(
      deploymentId,
      decision.type === "approve"
        ? { type: "approve", now, by }
        : { ...decision, now, by, retentionDays: await retentionDays() },
      facts.effects,
    );
    if (transition.changed) {
      log.info(decision.type === "approve" ? "deployment approved" : "deployment rejected", {
        correlation_id: deploymentId,
        by: by[0],
      });
      await facts.deliver(transition);
      return transition.after;
    }
    const current = transition.current;
    if (!current) throw new NotFoundError(`deployment ${deploymentId} does not exist`);
    const refusal = decisionRefusal(current, by, now);
    if (refusal?.reason === "own_request") throw new ForbiddenError(refusal.refused);
    if (refusal?.reason === "expired") {
      await expireApproval(deploymentId);
      throw new ConflictError(`${refusal.refused}; the deployment is cancelled`);
    }
    throw new ConflictError(refusal?.refused ?? transition.reason);
  }

  /**
   * Undoes one task through its driver, at most once: the rollback is claimed (a lease kept alive by
   * heartbeats; a lost holder's claim is taken over when its lease expires) and recorded together
   * with the claim's end. Answers whether the rollback is settled (done or given up) or held elsewhere.
   */
  async function rollBackTask(
    task: Task,
    deployment: Deployment,
    why: "fallback" | "policy",
  ): Promise<"settled" | "held"> {
    const claim = await engineStore.claimRollback(task, clock.now());
    if (!claim.claimed) return claim.done ? "settled" : "held";
    const { attempt } = claim;
    const complete = async (
      event: Extract<TaskEvent, { type: "roll_back" } | { type: "rollback_failed" }>,
    ) => {
      const facts = taskFacts(event.type);
      const transition = await engineStore.completeRollback(task.id, attempt, event, facts.effects);
      await facts.deliver(transition);
      return transition.changed ? "settled" : "held";
    };
    if (attempt > MAX_LOST_ROLLBACK_CLAIMS) {
      return complete({
        type: "rollback_failed",
        now: clock.now(),
        note: `${ROLLBACK_FAILED}: abandoned after ${MAX_LOST_ROLLBACK_CLAIMS} attempts were lost`,
      });
    }
    const fence: Fence = { path: `rollback_claims/${task.id}`, attempt };
    const stop = keepAlive(() => engineStore.renewRollback(task, attempt, clock.now()), task.lease_seconds);
    let lastError: unknown;
    try {
      for (let tries = 1; tries <= MAX_ROLLBACK_ATTEMPTS; tries += 1) {
        try {
          const result = await deps.drivers[task.driver].rollback({
            task,
            attempt: task.attempt,
            configuration: deployment.configuration,
            fence,
          });
          const note = why === "fallback" ? `fallback: ${result.summary}` : result.summary;
          return await complete({ type: "roll_back", now: clock.now(), note });
        } catch (error) {
          lastError = error;
          log.warn("rollback attempt failed", {
            correlation_id: deployment.id,
            task_id: task.id,
            attempt: tries,
            error: errorText(error),
          });
        }
      }
    } finally {
      stop();
    }
    return complete({
      type: "rollback_failed",
      now: clock.now(),
      note: `${ROLLBACK_FAILED} after ${MAX_ROLLBACK_ATTEMPTS} attempts: ${errorText(lastError)}`,
    });
  }

  /** Ends a deployment whose tasks have all settled; under policy `all`, first undoes every applied task, last applied first. */
  async function finalize(deployment: Deployment, tasks: Task[]): Promise<void> {
    const policy = deployment.rollback_policy ?? (await policyOf(deployment));
    const settlement = settle(deployment, tasks, policy);
    let outcome = settlement.outcome;
    let error = settlement.error;
    if (settlement.outcome === "rolled_back") {
      if (deployment.status !== "rolling_back") {
        const beginFacts = deploymentFacts();
        await beginFacts.deliver(
          await engineStore.transitionDeployment(
            deployment.id,
            { type: "begin_rollback", now: clock.now(), error: settlement.error },
            beginFacts.effects,
          ),
        );
        const current = await engineStore.getDeployment(deployment.id);
        if (current?.status !== "rolling_back") return;
      }
      const byId = new Map(tasks.map((task) => [task.id, task]));
      for (const id of settlement.rollbackOrder) {
        const task = byId.get(id);
        if (!task) continue;
        // One at a time, last applied first: while another executor holds this one, it goes on from here.
        if ((await rollBackTask(task, deployment, "policy")) === "held") return;
      }
      const after = await engineStore.tasksOf(deployment.id);
      const notUndone = after.filter((task) => task.rollback_note?.startsWith(ROLLBACK_FAILED) === true);
      if (notUndone.length > 0) {
        outcome = "failed";
        error = `${settlement.error}; not rolled back: ${notUndone.map((task) => `${task.integration} (${task.rollback_note ?? ""})`).join(", ")}`;
      }
    }
    // The retention its tasks were planned with; deployments planned before it was kept read the config's.
    const retention =
      tasks.find((task) => task.retention_days !== null)?.retention_days ?? (await retentionDays());
    const finishFacts = deploymentFacts();
    const finished = await engineStore.transitionDeployment(
      deployment.id,
      { type: "finish", now: clock.now(), outcome, error, retentionDays: retention },
      finishFacts.effects,
      {
        environmentStatus: (after) =>
          after.configuration.provision === true ? (after.status === "succeeded" ? "ready" : "failed") : null,
      },
    );
    if (finished.changed) {
      log.info("deployment finished", {
        correlation_id: deployment.correlation_id,
        status: finished.after.status,
        error: finished.after.error_message,
      });
    }
    await finishFacts.deliver(finished);
  }

  /** The policy of a deployment planned before policies were kept on it: the environment's, or the safe default. */
  async function policyOf(deployment: Deployment): Promise<ResolvedEnvironment["rollback_policy"]> {
    try {
      return (await environment(deployment.environment)).rollback_policy;
    } catch {
      return "failed-only";
    }
  }

  /**
   * Brings a deployment forward from its state as it is: plans it if still requested, cancels what
   * has not started if cancelling, runs the fallback of failed tasks, releases or skips blocked tasks,
   * and finalizes when every task has settled. Idempotent, so executors, triggers, their duplicates
   * and the sweeper may all run it. Answers whether it dispatched the environment's ready tasks.
   */
  async function reconcile(deploymentId: string): Promise<boolean> {
    const deployment = await engineStore.getDeployment(deploymentId);
    if (!deployment || isTerminalDeployment(deployment.status)) return false;
    if (deployment.status === "requested" || deployment.status === "approved") {
      await startRequested(deployment);
      return false;
    }
    if (deployment.status === "awaiting_approval") {
      const expiresAt = deployment.approval?.expires_at.getTime() ?? 0;
      if (expiresAt <= clock.now().getTime()) await expireApproval(deploymentId);
      return false;
    }
    const tasks = await engineStore.tasksOf(deploymentId);
    const byId = new Map(tasks.map((task) => [task.id, task]));
    const now = clock.now();
    const policy = deployment.rollback_policy ?? (await policyOf(deployment));
    const track = (transition: Transition<Task>) => {
      const current = transition.changed ? transition.after : transition.current;
      if (current) byId.set(current.id, current);
    };

    if (deployment.status === "cancelling") {
      for (const task of tasks) {
        if (task.status === "blocked" || task.status === "ready")
          track(await transitionTask(task.id, { type: "cancel", now, reason: "cancelled by an operator" }));
      }
    }
    // A fallback held by another executor (or by a dead one, until its lease expires) is not done:
    // the deployment may not end before it is.
    let fallbackPending = false;
    for (const task of tasks) {
      if (task.status === "failed" && task.rollback_note === null) {
        if ((await rollBackTask(task, deployment, "fallback")) === "settled") {
          const current = await engineStore.getTask(task.id);
          if (current) byId.set(current.id, current);
        } else {
          fallbackPending = true;
        }
      }
    }
    const firstFailed = [...byId.values()].find((task) => task.status === "failed");
    const sorted = topologicalOrder([...byId.keys()], (id) =>
      (byId.get(id)?.dependencies ?? []).filter((dep) => byId.has(dep)),
    );
    const order = "order" in sorted ? sorted.order : [...byId.keys()];
    let released = false;
    for (const id of order) {
      const task = byId.get(id);
      if (!task || (task.status !== "blocked" && task.status !== "ready")) continue;
      if (policy === "all" && firstFailed) {
        // All-or-nothing: nothing new starts once a task has failed for good.
        track(
          await transitionTask(id, {
            type: "skip",
            now,
            reason: `skipped: deployment rolls back after ${firstFailed.integration} failed`,
          }),
        );
        continue;
      }
      if (task.status !== "blocked") continue;
      const dependencies = task.dependencies.map((dep) => byId.get(dep));
      const blocker = dependencies.find((dep) => dep && BLOCKING_END.includes(dep.status));
      if (blocker) {
        track(
          await transitionTask(id, {
            type: "skip",
            now,
            reason: `skipped because ${blocker.integration} ${blocker.status}`,
          }),
        );
      } else if (dependencies.every((dep) => dep?.status === "succeeded")) {
        const transition = await transitionTask(id, { type: "release", now });
        track(transition);
        released ||= transition.changed;
      }
    }
    const settled = [...byId.values()];
    const sample = settled[0];
    const dispatched = released && sample !== undefined;
    if (dispatched) await dispatch(deployment.environment, sample.concurrency_limit);
    if (!fallbackPending && settled.every((task) => isTerminalTask(task.status))) {
      const current = await engineStore.getDeployment(deploymentId);
      if (current && !isTerminalDeployment(current.status)) await finalize(current, settled);
    }
    return dispatched;
  }

  /**
   * After an attempt's outcome: the dependents its success released (in the outcome's own
   * transaction) and the slot it held are handed on by one dispatch. An outcome off the plain path
   * (a failure for good, a deployment cancelling or rolling everything back) is reconciled right
   * here; the settlement trigger reconciles it too, as the safety net for an executor lost after
   * the outcome. A plain success leaves no settlement: its executor finishes the deployment when
   * the success was the last task to settle, and the sweeper does when that executor is lost.
   */
  async function afterOutcome(
    task: Task,
    recorded: RecordedOutcome,
    keep: boolean,
  ): Promise<TaskRef | undefined> {
    let dispatched = false;
    if (recorded.reconcile) {
      try {
        dispatched = await reconcile(task.deployment_id);
      } catch (error) {
        log.warn("reconcile after the outcome failed; the task trigger and the sweeper will", {
          correlation_id: task.deployment_id,
          task_id: task.id,
          error: errorText(error),
        });
      }
    }
    if (dispatched) return undefined;
    // Only a settled task's executor takes another: one waiting out a retry keeps its own slot's turn.
    const settled = recorded.outcome.changed && isTerminalTask(recorded.outcome.after.status);
    // A slot freed with at most one task released (a chain's step): the executor keeps the next
    // task for its own slot, with no counting. Tasks already ready mean the other slots are taken
    // (each dispatch fills what is free), so this is all a full dispatch would do; any left over by
    // a lost message the sweeper republishes. More released at once may find free slots: counted.
    const mode = keep && settled ? (recorded.released.length <= 1 ? "only" : true) : false;
    // A success that released nothing may have been the last: two such at once, the later one's read sees both.
    const mayBeLast = settled && !recorded.reconcile && recorded.released.length === 0;
    const [{ kept }] = await Promise.all([
      dispatchKeeping(task.environment, task.concurrency_limit, mode, task.id),
      mayBeLast ? finishIfSettled(task.deployment_id) : undefined,
    ]);
    return kept;
  }

  /** Reconciles, and so finishes, a deployment none of whose tasks is left to settle. */
  async function finishIfSettled(deploymentId: string): Promise<void> {
    try {
      if (!(await engineStore.hasUnsettledTasks(deploymentId))) await reconcile(deploymentId);
    } catch (error) {
      log.warn("finishing the deployment failed; the sweeper will", {
        correlation_id: deploymentId,
        error: errorText(error),
      });
    }
  }

  /**
   * Records an attempt's outcome, trying again when the store fails (on the emulator, a transaction
   * that lost its locks to others until it gave up): the outcome is fenced by its attempt, so a try
   * after one that did commit changes nothing. Without it the task would wait out its whole lease.
   */
  async function recordRetrying(
    running: Task,
    record: () => Promise<RecordedOutcome>,
  ): Promise<RecordedOutcome> {
    for (let tries = 1; ; tries += 1) {
      try {
        return await record();
      } catch (error) {
        if (tries >= OUTCOME_TRIES) throw error;
        log.warn("recording the outcome failed; trying again", {
          task_id: running.id,
          attempt: running.attempt,
          error: errorText(error),
        });
        await deps.sleep(OUTCOME_RETRY_MS * tries * (0.5 + deps.random()));
      }
    }
  }

  /**
   * Runs one attempt of a claimed task: the driver under a heartbeat, then the outcome, fenced by
   * the attempt, then `next` (what follows the outcome). A transition's event and audit record are
   * delivered beside the work that follows it, not before it: they are not on the step's path.
   */
  async function runClaimed(
    claim: Extract<Awaited<ReturnType<EngineStore["claimTask"]>>, { claimed: true }>,
    claimFacts: Facts<Task>,
    next: (recorded: RecordedOutcome) => Promise<void>,
  ): Promise<Transition<Task>> {
    const { deployment, task: running, slot } = claim;
    const renew = () => engineStore.renewLease(running.id, running.attempt, slot, clock.now());
    // The heartbeat starts with the claim: the lease must outlive delivering the claim's facts too.
    const stop = keepAlive(renew, running.lease_seconds);
    // Never rejects (a failed relay is left to the sweeper); awaited before the outcome is recorded.
    const claimDelivered = deliverEntries(
      claimFacts.entries({ changed: true, before: claim.before, after: running }),
      true,
    );
    // Measured from the claim's own time (inside its transaction), not from when this process resumed.
    const leaseStart =
      running.status === "running"
        ? running.lease_expires_at.getTime() - running.lease_seconds * 1000
        : clock.now().getTime();
    const claimedFor = clock.now().getTime() - leaseStart;
    // Slow to get here (a paused process): make sure the attempt still holds its task and slot.
    if (claimedFor > (running.lease_seconds * 1000) / 3 && !(await renew())) {
      stop();
      log.warn("attempt superseded before its driver started", {
        correlation_id: deployment.id,
        task_id: running.id,
        attempt: running.attempt,
      });
      const superseded: Transition<Task> = {
        changed: false,
        reason: "superseded before the driver started",
        current: running,
      };
      await Promise.all([claimDelivered, next({ outcome: superseded, released: [], reconcile: false })]);
      return superseded;
    }
    let result: ApplyResult | undefined;
    let failure: unknown;
    try {
      result = await deps.drivers[running.driver].apply({
        task: running,
        attempt: running.attempt,
        configuration: deployment.configuration,
        fence: { path: `${COLLECTIONS.tasks}/${running.id}`, attempt: running.attempt },
      });
    } catch (error) {
      failure = error;
    } finally {
      stop();
    }
    await claimDelivered;
    let recorded: RecordedOutcome;
    let outcomeFacts: Facts<Task>;
    const releaseFacts = factsOfEach(taskEntries("release"));
    if (result) {
      outcomeFacts = taskFacts("succeed", result.summary);
      recorded = await recordRetrying(running, () =>
        engineStore.recordOutcome(
          running,
          running.attempt,
          { type: "succeed", now: clock.now() },
          slot,
          outcomeFacts.effects,
          releaseFacts.effects,
          result.integrationStatus
            ? { status: result.integrationStatus, release: result.release ?? null }
            : undefined,
        ),
      );
    } else {
      outcomeFacts = taskFacts("fail");
      const reason = errorText(failure);
      const now = clock.now();
      const retryAt =
        failure instanceof NonRetriableError
          ? null
          : new Date(
              now.getTime() +
                retryDelayMs(
                  running.retry_count + 1,
                  {
                    retry_base_ms: running.retry_base_ms,
                    retry_max_ms: retryOptions(deployment).retry_max_ms,
                  },
                  deps.random,
                ),
            );
      recorded = await recordRetrying(running, () =>
        engineStore.recordOutcome(
          running,
          running.attempt,
          { type: "fail", now, error: reason, retryAt },
          slot,
          outcomeFacts.effects,
          releaseFacts.effects,
        ),
      );
      log.warn("task attempt failed", {
        correlation_id: deployment.id,
        task_id: running.id,
        integration: running.integration,
        attempt: running.attempt,
        error: reason,
      });
    }
    const { outcome, released } = recorded;
    if (!outcome.changed) {
      log.warn("outcome discarded", {
        correlation_id: deployment.id,
        task_id: running.id,
        attempt: running.attempt,
        reason: outcome.reason,
      });
    }
    const entries = [...outcomeFacts.entries(outcome), ...releaseFacts.entries(released)];
    await Promise.all([deliverEntries(entries, true), next(recorded)]);
    return outcome;
  }

  /** Runs one task's attempts in this invocation; answers the next task it took on, if any. */
  async function runOne(
    ref: TaskRef,
    startedMs: number,
    freedSlot?: number,
  ): Promise<{ ref: TaskRef; freedSlot: number } | undefined> {
    let slotFreed = freedSlot;
    for (;;) {
      const claimFacts = taskFacts("claim");
      const hint = claimHint(ref, slotFreed);
      let claim = await engineStore.claimTask(ref.task_id, clock, claimFacts.effects, hint);
      if (!claim.claimed && claim.reason === "too_early" && claim.task?.not_before) {
        const waitMs = claim.task.not_before.getTime() - clock.now().getTime();
        if (waitMs > deps.maxInlineWaitMs) return undefined;
        await deps.sleep(Math.max(0, waitMs));
        claim = await engineStore.claimTask(ref.task_id, clock, claimFacts.effects, hint);
      }
      if (!claim.claimed) {
        log.debug("task not claimed", { task_id: ref.task_id, reason: claim.reason, detail: claim.detail });
        return undefined;
      }
      const claimed = claim.task;
      let kept: TaskRef | undefined;
      const outcome = await runClaimed(claim, claimFacts, async (recorded) => {
        kept = await afterOutcome(claimed, recorded, clock.now().getTime() - startedMs < deps.inlineChainMs);
      });
      // The next claim, of the kept task or of this one's retry, looks first at the slot this attempt held.
      slotFreed = claim.slot;
      if (kept) return { ref: kept, freedSlot: claim.slot };
      const retry = outcome.changed && outcome.after.status === "ready" ? outcome.after.not_before : null;
      if (!retry || retry.getTime() - clock.now().getTime() > deps.maxInlineWaitMs) return undefined;
      await deps.sleep(Math.max(0, retry.getTime() - clock.now().getTime()));
    }
  }

  return {
    dispatch,
    preview,
    reconcile,
    startRequested,

    /** The API's way in: validates, plans for the answer, and writes the same request document a person could write. */
    async requestDeployment(deploymentId: string, raw: unknown, requestedBy: string) {
      const { request, plan } = await preview(deploymentId, raw);
      const doc = requestedDeployment(request, requestedBy, clock.now(), deploymentId);
      await engineStore.createDeployment(deploymentId, doc);
      log.info("deployment requested", {
        correlation_id: deploymentId,
        environment: request.environment,
        tasks: plan.tasks.length,
      });
      return { plan, doc };
    },

    /**
     * Pub/Sub executor: runs the message's tasks side by side. Each is claimed, its driver run once
     * for this attempt and the outcome recorded; a short retry backoff is waited out here and the
     * next attempt run; the freed slot is handed on, while the invocation is young to a task this
     * executor then runs itself. One task's failure does not stop the others; it is raised once
     * they are done, so the message is delivered again (claims make that a no-op for the done ones).
     */
    async runTask(message: TaskMessage): Promise<void> {
      const startedMs = clock.now().getTime();
      const chains = await Promise.allSettled(
        tasksOfMessage(message).map(async (first) => {
          let next = await runOne(first, startedMs);
          while (next) next = await runOne(next.ref, startedMs, next.freedSlot);
        }),
      );
      const failed = chains.find((chain) => chain.status === "rejected");
      if (failed) throw failed.reason;
    },

    /** A second person approves a production deployment that awaits approval; the deployment trigger then starts it. */
    approve: (deploymentId: string, by: readonly string[], actor: AuditActor) =>
      decide(deploymentId, { type: "approve" }, by, actor),

    /** A second person rejects a deployment that awaits approval: it ends cancelled, saying who and why. */
    reject: (deploymentId: string, by: readonly string[], actor: AuditActor, reason: string) =>
      decide(deploymentId, { type: "decline", reason }, by, actor),

    /** Operator cancel: pending tasks become cancelled, running ones finish, then the deployment ends `cancelled`. */
    async cancel(deploymentId: string): Promise<Deployment> {
      const facts = deploymentFacts();
      const transition = await engineStore.transitionDeployment(
        deploymentId,
        { type: "cancel", now: clock.now() },
        facts.effects,
      );
      if (!transition.changed) {
        if (!transition.current) throw new NotFoundError(`deployment ${deploymentId} does not exist`);
        return transition.current;
      }
      await facts.deliver(transition);
      return transition.after;
    },

    /** Deployment trigger, status `cancelling`: cancel what has not started. */
    async cancelPending(deployment: Deployment): Promise<void> {
      await reconcile(deployment.id);
    },

    /**
     * Scheduled sweeper: expired leases back to ready, lost messages republished, every deployment
     * that has not ended reconciled (lost triggers, lost finalizers, rollbacks whose holder was lost),
     * undelivered outbox entries relayed, environments left provisioning settled. One broken
     * environment or deployment never stops the rest: each is isolated and its failure reported.
     */
    async sweep(): Promise<{
      expired: number;
      republished: number;
      reconciled: number;
      relayed: number;
      environments_settled: number;
      errors: string[];
    }> {
      const now = clock.now();
      const errors: string[] = [];
      const isolate = async (what: string, work: () => Promise<void>) => {
        try {
          await work();
        } catch (error) {
          errors.push(`${what}: ${errorText(error)}`);
          log.error("sweep step failed", { what, error: errorText(error) });
        }
      };
      let expired = 0;
      // Limits come from the tasks themselves (snapshotted at planning), never from the live config.
      const environments = new Map<string, number>();
      for (const task of await engineStore.expiredLeases(now, 200)) {
        await isolate(`lease of ${task.id}`, async () => {
          const facts = taskFacts("lease_expired");
          const transition = await engineStore.expireLease(task.id, now, facts.effects);
          await facts.deliver(transition);
          if (transition.changed) {
            expired += 1;
            environments.set(task.environment, task.concurrency_limit);
          }
        });
      }
      const stale = new Date(now.getTime() - STALE_READY_MS);
      await isolate("stale reservations", async () => {
        const waiting = [
          ...(await engineStore.releaseStaleReservations(stale, 500)),
          ...(await engineStore.staleReadyTasks(stale, 500)),
        ];
        for (const task of waiting) {
          if (task.not_before && task.not_before.getTime() > now.getTime()) continue;
          environments.set(task.environment, task.concurrency_limit);
        }
      });
      let republished = 0;
      for (const [name, limit] of environments) republished += await dispatch(name, limit);
      let reconciled = 0;
      for (const deployment of await engineStore.activeDeployments(200)) {
        await isolate(`deployment ${deployment.id}`, async () => {
          await reconcile(deployment.id);
          reconciled += 1;
        });
      }
      let relayed = 0;
      await isolate("outbox", async () => {
        for (const id of await outbox.pending(new Date(now.getTime() - STALE_OUTBOX_MS), 500)) {
          await isolate(`outbox ${id}`, async () => {
            await relayStored(id);
            relayed += 1;
          });
        }
        if (relayed > 0) await chainAudit();
      });
      let environmentsSettled = 0;
      await isolate("provisioning environments", async () => {
        for (const name of await engineStore.provisioningEnvironments(50)) {
          await isolate(`environment ${name}`, async () => {
            const [newest] = await engineStore.provisioningDeployments(name, 1);
            if (!newest || !isTerminalDeployment(newest.status)) return;
            await engineStore.setEnvironmentStatus(
              name,
              newest.status === "succeeded" ? "ready" : "failed",
              now,
            );
            environmentsSettled += 1;
          });
        }
      });
      return { expired, republished, reconciled, relayed, environments_settled: environmentsSettled, errors };
    },
  };
}

/** What a message tells of its task beyond its id, when it tells it (messages published before it did do not). */
function claimHint(ref: TaskRef, freedSlot: number | undefined): ClaimHint | undefined {
  const { deployment_id, environment, concurrency_limit } = ref;
  if (environment === undefined || concurrency_limit === undefined) return undefined;
  return freedSlot === undefined
    ? { deployment_id, environment, concurrency_limit }
    : { deployment_id, environment, concurrency_limit, freed_slot: freedSlot };
}

function retryOptions(deployment: Deployment): EngineOptions {
  const split = engineOptions(deployment.configuration);
  // The configuration was validated when the deployment was planned; defaults cover the impossible case.
  return "options" in split ? split.options : engineOptionsSchema.parse({});
}

export type Engine = ReturnType<typeof createEngine>;
