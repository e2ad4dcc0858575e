/**
 * The engine's steps, one per trigger: plan a requested deployment, run one task attempt, settle
 * a task that reached a terminal state, finalize a deployment, cancel, sweep. Each step loads
 * state, asks the domain what to do, and applies it through compare-and-set transitions, so a
 * duplicate or late delivery changes nothing.
 */
import type { Clock } from "../app.js";
import type { Bus, OrchestrationEvent, TaskMessage } from "../bus.js";
import type { ResolvedEnvironment } from "../domain/config-schema.js";
import {
  deploymentRequestSchema,
  engineOptionsSchema,
  requestedDeployment,
  isTerminalTask,
  type Deployment,
  type DeploymentRequest,
  type EngineOptions,
  type Task,
} from "../domain/engine-model.js";
import { BadInputError, NonRetriableError, NotFoundError } from "../domain/errors.js";
import { settle } from "../domain/finalize.js";
import { engineOptions, planDeployment, retryDelayMs, type DeploymentPlan } from "../domain/planner.js";
import { zodIssueToProblem } from "../domain/problems.js";
import type { ApplyResult, Driver } from "../drivers/driver.js";
import type { EngineStore, Transition } from "../store/engine-store.js";
import type { Store } from "../store/store.js";
import type { Logger } from "../logs.js";
import type { AuditEntry } from "../domain/audit.js";

export interface EngineDeps {
  store: Store;
  engineStore: EngineStore;
  bus: Bus;
  clock: Clock;
  drivers: Record<Task["driver"], Driver>;
  random: () => number;
  log: Logger;
  /** The resolved environment from the loaded config; BadInputError naming the field when it is not declared. */
  environment: (name: string) => Promise<ResolvedEnvironment>;
  /** Longest an executor waits in-process for a retry's backoff; longer waits are left to the sweeper. */
  maxInlineWaitMs: number;
  sleep: (ms: number) => Promise<void>;
  /** Appends to the audit trail; every state change of a deployment is recorded there. */
  audit?: (entry: AuditEntry) => Promise<unknown>;
  /** Called once when a deployment reaches its end (alerts, environment status). */
  onFinished?: (deployment: Deployment) => Promise<void>;
}

/** How long a ready task may sit unclaimed before the sweeper publishes it again (a lost message). */
const STALE_READY_MS = 15_000;
/** How long a deployment may stay rolling_back before the sweeper resumes its fallback (a lost finalizer). */
const STALE_ROLLBACK_MS = 60_000;

export function createEngine(deps: EngineDeps) {
  const { store, engineStore, bus, clock, log, environment } = deps;

  function taskEvent(
    transition: Extract<Transition<Task>, { changed: true }>,
    correlationId: string,
    detail: string | null = null,
  ): OrchestrationEvent {
    const { before, after } = transition;
    return {
      event_id: `task:${after.id}:${after.status}:${after.attempt}:${after.retry_count}`,
      kind: "task",
      deployment_id: after.deployment_id,
      task_id: after.id,
      environment: after.environment,
      integration: after.integration,
      from: before.status,
      to: after.status,
      attempt: after.attempt,
      detail: detail ?? after.error_message ?? after.reason,
      correlation_id: correlationId,
      at: clock.now().toISOString(),
      duration: after.actual_duration,
      payload: {
        retry_count: after.retry_count,
        estimated_duration: after.estimated_duration,
        ready_at: after.ready_at?.toISOString() ?? null,
        started_at: after.started_at?.toISOString() ?? null,
      },
    };
  }

  function deploymentEvent(
    transition: Extract<Transition<Deployment>, { changed: true }>,
  ): OrchestrationEvent {
    const { before, after } = transition;
    return {
      event_id: `deployment:${after.id}:${after.status}`,
      kind: "deployment",
      deployment_id: after.id,
      task_id: null,
      environment: after.environment,
      integration: null,
      from: before.status,
      to: after.status,
      attempt: null,
      detail: after.error_message,
      correlation_id: after.correlation_id,
      at: clock.now().toISOString(),
      duration: after.actual_duration,
      actor: after.requested_by,
      payload: { created_at: after.created_at.toISOString(), integrations: after.integrations },
    };
  }

  async function emitTask(
    transition: Transition<Task>,
    correlationId: string,
    detail?: string,
  ): Promise<void> {
    if (transition.changed) await bus.publishEvent(taskEvent(transition, correlationId, detail));
  }

  async function emitDeployment(transition: Transition<Deployment>): Promise<void> {
    if (!transition.changed) return;
    const { before, after } = transition;
    await Promise.all([
      bus.publishEvent(deploymentEvent(transition)),
      deps.audit?.({
        actor: { kind: "system", id: "engine", role: null },
        action: `deployment.${before.status}->${after.status}`,
        target: after.id,
        source: "trigger",
        outcome: after.status === "failed" || after.status === "rolled_back" ? "error" : "ok",
        status: null,
        correlation_id: after.correlation_id || after.id,
        detail: after.error_message,
      }),
    ]);
  }

  /**
   * Publishes the environment's ready tasks, highest priority first, but no more than its free
   * slots minus the messages already out: concurrency is bounded at the source, so the Functions
   * runtime never starts more executors than the environment may run. Each task is reserved in
   * a transaction before it is published, so concurrent dispatchers never publish it twice.
   */
  async function dispatch(envName: string, limit: number): Promise<number> {
    try {
      const [running, inFlight] = await Promise.all([
        engineStore.runningCount(envName),
        engineStore.inFlightCount(envName),
      ]);
      const reserved = await engineStore.reserveForDispatch(
        envName,
        limit - running - inFlight,
        inFlight,
        clock.now(),
      );
      await Promise.all(
        reserved.map((task) => bus.publishTask({ task_id: task.id, deployment_id: task.deployment_id })),
      );
      return reserved.length;
    } catch (error) {
      // Whatever was not published stays ready and unreserved (or its reservation goes stale): the sweeper publishes it.
      log.error("dispatch failed; the sweeper will retry", {
        environment: envName,
        error: error instanceof Error ? error.message : String(error),
      });
      return 0;
    }
  }

  /** Validates a request and computes its plan, without writing anything. */
  async function preview(
    deploymentId: string,
    raw: unknown,
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
    const env = await environment(parsed.data.environment);
    const planned = planDeployment(deploymentId, parsed.data, env, clock.now());
    if (!planned.ok)
      throw new BadInputError(
        `the deployment cannot be planned: ${planned.problems.map((p) => p.message).join("; ")}`,
        planned.problems,
      );
    return { request: parsed.data, env, plan: planned.plan };
  }

  /** Ends a deployment whose tasks have all settled; under policy `all`, first undoes every applied task, last applied first. */
  async function finalize(deploymentId: string): Promise<void> {
    const deployment = await engineStore.getDeployment(deploymentId);
    if (!deployment || !["running", "cancelling", "rolling_back"].includes(deployment.status)) return;
    const tasks = await engineStore.tasksOf(deploymentId);
    if (tasks.some((task) => !isTerminalTask(task.status))) return;
    const env = await environment(deployment.environment);
    const settlement = settle(deployment, tasks, env.rollback_policy);
    if (settlement.outcome === "rolled_back") {
      const begun = await engineStore.transitionDeployment(deploymentId, {
        type: "begin_rollback",
        now: clock.now(),
        error: settlement.error,
      });
      await emitDeployment(begun);
      // Only the finalizer that moved the deployment to rolling_back runs the fallback; the sweeper resumes a lost one.
      if (!begun.changed && deployment.status !== "rolling_back") return;
      const byId = new Map(tasks.map((task) => [task.id, task]));
      for (const id of settlement.rollbackOrder) {
        const task = byId.get(id);
        if (!task) continue;
        const result = await deps.drivers[task.driver].rollback({
          task,
          attempt: task.attempt,
          configuration: deployment.configuration,
        });
        await emitTask(
          await engineStore.transitionTask(id, { type: "roll_back", now: clock.now(), note: result.summary }),
          deployment.correlation_id,
        );
      }
    }
    const finished = await engineStore.transitionDeployment(deploymentId, {
      type: "finish",
      now: clock.now(),
      outcome: settlement.outcome,
      error: settlement.error,
    });
    if (finished.changed) {
      log.info("deployment finished", {
        correlation_id: deployment.correlation_id,
        status: finished.after.status,
        error: finished.after.error_message,
      });
      await deps.onFinished?.(finished.after);
    }
    await emitDeployment(finished);
  }

  return {
    dispatch,
    preview,
    finalize,

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

    /** Deployment trigger, status `requested`: plan, write the tasks with the start, publish what is ready. */
    async startRequested(deployment: Deployment): Promise<void> {
      const correlation = deployment.correlation_id || deployment.id;
      let planned;
      try {
        planned = await preview(deployment.id, {
          environment: deployment.environment,
          integrations: deployment.integrations,
          configuration: deployment.configuration,
          requested_by: deployment.requested_by,
        });
      } catch (error) {
        if (!(error instanceof BadInputError || error instanceof NotFoundError)) throw error;
        const rejected = await engineStore.transitionDeployment(deployment.id, {
          type: "reject",
          now: clock.now(),
          error: error.message,
        });
        log.warn("deployment rejected", { correlation_id: correlation, error: error.message });
        await emitDeployment(rejected);
        return;
      }
      const { plan, env } = planned;
      const started = await engineStore.startDeployment(
        deployment.id,
        {
          type: "start",
          now: clock.now(),
          taskIds: plan.tasks.map((t) => t.id),
          estimatedCompletion: plan.estimatedCompletion,
          criticalPath: plan.criticalPath,
          correlationId: deployment.id,
        },
        plan.tasks,
      );
      if (!started.changed) {
        log.debug("deployment already started", { correlation_id: correlation, reason: started.reason });
        return;
      }
      log.info("deployment started", {
        correlation_id: correlation,
        tasks: plan.tasks.length,
        estimated_seconds: plan.estimatedSeconds,
      });
      await emitDeployment(started);
      // A provisioning request, by the API or by a document write, marks its environment until it ends.
      if (deployment.configuration.provision === true)
        await store.setEnvironmentStatus(env.name, "provisioning", clock.now());
      await dispatch(env.name, env.concurrency);
    },

    /** Pub/Sub executor: claim the task, run its driver once for this attempt, record the outcome. */
    async runTask(message: TaskMessage): Promise<void> {
      // Claim first: the claim transaction reads the task and its deployment anyway.
      let claim = await engineStore.claimTask(message.task_id, clock);
      if (!claim.claimed && claim.reason === "too_early" && claim.task?.not_before) {
        const waitMs = claim.task.not_before.getTime() - clock.now().getTime();
        // A short backoff is waited out here; a long one is left to the sweeper (the claim gave the reservation back).
        if (waitMs <= deps.maxInlineWaitMs) {
          await deps.sleep(Math.max(0, waitMs));
          claim = await engineStore.claimTask(message.task_id, clock);
        }
      }
      if (!claim.claimed) {
        log.debug("task not claimed", {
          task_id: message.task_id,
          reason: claim.reason,
          detail: claim.detail,
        });
        return;
      }
      const { deployment, task: running } = claim;
      const correlation = deployment.correlation_id;
      const startedEvent = emitTask({ changed: true, before: claim.before, after: running }, correlation);
      const context = { task: running, attempt: running.attempt, configuration: deployment.configuration };
      let result: ApplyResult | undefined;
      let failure: unknown;
      try {
        result = await deps.drivers[running.driver].apply(context);
      } catch (error) {
        failure = error;
      }
      let outcome: Transition<Task>;
      let detail: string | undefined;
      if (result) {
        // Before the outcome: once it is recorded the deployment may finish, and readers then expect this.
        if (result.integrationStatus) {
          const fields = { status: result.integrationStatus, release: result.release ?? null };
          await store.markIntegration(running.environment, running.integration, fields, clock.now());
        }
        outcome = await engineStore.recordOutcome(
          running.id,
          running.attempt,
          { type: "succeed", now: clock.now() },
          claim.slot,
        );
        detail = result.summary;
      } else {
        const reason = failure instanceof Error ? failure.message : String(failure);
        const now = clock.now();
        const retryAt =
          failure instanceof NonRetriableError
            ? null
            : new Date(
                now.getTime() + retryDelayMs(running.retry_count + 1, retryOptions(deployment), deps.random),
              );
        outcome = await engineStore.recordOutcome(
          running.id,
          running.attempt,
          { type: "fail", now, error: reason, retryAt },
          claim.slot,
        );
        log.warn("task attempt failed", {
          correlation_id: correlation,
          task_id: running.id,
          integration: running.integration,
          attempt: running.attempt,
          error: reason,
        });
      }
      if (!outcome.changed) {
        log.warn("outcome discarded", {
          correlation_id: correlation,
          task_id: running.id,
          attempt: running.attempt,
          reason: outcome.reason,
        });
      }
      // The slot this attempt held is free now: hand it on while the events go out.
      await Promise.all([
        startedEvent,
        emitTask(outcome, correlation, detail),
        dispatch(running.environment, running.concurrency_limit),
      ]);
    },

    /**
     * Task trigger: a task reached a terminal state. Release or skip its dependents, run the
     * fallback of a failed task, and finalize the deployment when nothing is left to run.
     */
    async onTaskSettled(task: Task): Promise<void> {
      if (!isTerminalTask(task.status)) return;
      const deployment = await engineStore.getDeployment(task.deployment_id);
      if (!deployment) return;
      const correlation = deployment.correlation_id;
      const env = await environment(task.environment);
      const now = clock.now();

      if (task.status === "succeeded") {
        const released = [];
        for (const dependentId of task.dependents) {
          const dependent = await engineStore.getTask(dependentId);
          if (!dependent || dependent.status !== "blocked") continue;
          const dependencies = await Promise.all(dependent.dependencies.map((id) => engineStore.getTask(id)));
          if (!dependencies.every((dep) => dep?.status === "succeeded")) continue;
          const transition = await engineStore.transitionTask(dependentId, { type: "release", now });
          await emitTask(transition, correlation);
          if (transition.changed) released.push(dependentId);
        }
        if (released.length > 0) await dispatch(env.name, env.concurrency);
      } else if (task.status === "failed" || task.status === "skipped" || task.status === "cancelled") {
        if (task.status === "failed" && task.rollback_note === null) {
          const result = await deps.drivers[task.driver].rollback({
            task,
            attempt: task.attempt,
            configuration: deployment.configuration,
          });
          await emitTask(
            await engineStore.transitionTask(task.id, {
              type: "roll_back",
              now,
              note: `fallback: ${result.summary}`,
            }),
            correlation,
          );
        }
        const reason = `${task.integration} ${task.status}`;
        for (const dependentId of task.dependents) {
          await emitTask(
            await engineStore.transitionTask(dependentId, {
              type: "skip",
              now,
              reason: `skipped because ${reason}`,
            }),
            correlation,
          );
        }
        if (task.status === "failed" && env.rollback_policy === "all") {
          // All-or-nothing: nothing new starts once a task has failed for good.
          for (const other of await engineStore.tasksOf(task.deployment_id)) {
            if (other.status === "blocked" || other.status === "ready") {
              await emitTask(
                await engineStore.transitionTask(other.id, {
                  type: "skip",
                  now,
                  reason: `skipped: deployment rolls back after ${task.integration} failed`,
                }),
                correlation,
              );
            }
          }
        }
      }
      if (!(await engineStore.hasUnsettledTasks(task.deployment_id))) await finalize(task.deployment_id);
    },

    /** Operator cancel: pending tasks become cancelled, running ones finish, then the deployment ends `cancelled`. */
    async cancel(deploymentId: string): Promise<Deployment> {
      const transition = await engineStore.transitionDeployment(deploymentId, {
        type: "cancel",
        now: clock.now(),
      });
      if (!transition.changed) {
        if (!transition.current) throw new NotFoundError(`deployment ${deploymentId} does not exist`);
        return transition.current;
      }
      await emitDeployment(transition);
      return transition.after;
    },

    /** Deployment trigger, status `cancelling`: cancel what has not started. */
    async cancelPending(deployment: Deployment): Promise<void> {
      const now = clock.now();
      for (const task of await engineStore.tasksOf(deployment.id)) {
        await emitTask(
          await engineStore.transitionTask(task.id, {
            type: "cancel",
            now,
            reason: `cancelled by an operator`,
          }),
          deployment.correlation_id,
        );
      }
      if (!(await engineStore.hasUnsettledTasks(deployment.id))) await finalize(deployment.id);
    },

    /** Scheduled sweeper: expired leases back to ready, lost messages republished, lost rollbacks resumed. */
    async sweep(): Promise<{ expired: number; republished: number; resumed: number }> {
      const now = clock.now();
      let expired = 0;
      const environments = new Map<string, number>();
      for (const task of await engineStore.expiredLeases(now, 200)) {
        const env = await environment(task.environment);
        const transition = await engineStore.expireLease(task.id, now);
        if (transition.changed) {
          expired += 1;
          const deployment = await engineStore.getDeployment(task.deployment_id);
          await emitTask(transition, deployment?.correlation_id ?? task.deployment_id);
          environments.set(env.name, env.concurrency);
        }
      }
      const stale = new Date(now.getTime() - STALE_READY_MS);
      const waiting = [
        ...(await engineStore.releaseStaleReservations(stale, 500)),
        ...(await engineStore.staleReadyTasks(stale, 500)),
      ];
      for (const task of waiting) {
        if (task.not_before && task.not_before.getTime() > now.getTime()) continue;
        environments.set(task.environment, (await environment(task.environment)).concurrency);
      }
      let republished = 0;
      for (const [name, limit] of environments) republished += await dispatch(name, limit);
      let resumed = 0;
      for (const deployment of await engineStore.deploymentsIn("rolling_back", 50)) {
        if (
          (deployment.completed_at ?? deployment.started_at ?? now).getTime() <
          now.getTime() - STALE_ROLLBACK_MS
        ) {
          await finalize(deployment.id);
          resumed += 1;
        }
      }
      return { expired, republished, resumed };
    },
  };
}

function retryOptions(deployment: Deployment): EngineOptions {
  const split = engineOptions(deployment.configuration);
  // The configuration was validated when the deployment was planned; defaults cover the impossible case.
  return "options" in split ? split.options : engineOptionsSchema.parse({});
}

export type Engine = ReturnType<typeof createEngine>;
