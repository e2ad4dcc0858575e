/**
 * The simulation's driver: implements the engine's Driver interface, takes simulated time, fails
 * and hangs as the seed says, and records every apply and rollback it runs, with what it saw of
 * the store when it started (the dependencies' states, the applies already running in the
 * environment), so the invariants can be checked against what really ran.
 */
import type { Task } from "../../functions/src/domain/engine-model.js";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import { COLLECTIONS } from "../../functions/src/domain/model.js";
import type { Driver } from "../../functions/src/drivers/driver.js";
import type { MemoryFirestore } from "./memory-firestore.js";
import type { Scheduler } from "./scheduler.js";

/** How one integration of one deployment behaves under the simulated driver. */
export interface Behaviour {
  latencyMs: number;
  /** Attempts up to this one fail with a retriable error. */
  failFirst: number;
  /** Every attempt fails with a non-retriable error. */
  permanent: boolean;
  /** The first attempt hangs this long (longer than the lease) while faults are on; 0 for none. */
  hangMs: number;
}

/** One apply the driver ran. */
export interface ApplyRecord {
  taskId: string;
  deploymentId: string;
  environment: string;
  attempt: number;
  invocation: number;
  start: number;
  end: number | null;
  outcome: "running" | "succeeded" | "failed" | "crashed";
  /** Dependencies that had not succeeded when this apply started. */
  unmetDependencies: string[];
  /** Applies in the environment running at the start, this one included, and the limit they were planned with. */
  overlapping: number;
  limit: number;
}

/** One rollback the driver ran. */
export interface RollbackRecord {
  taskId: string;
  deploymentId: string;
  attempt: number;
  invocation: number;
  at: number;
}

export interface RecordingDriver extends Driver {
  applies: ApplyRecord[];
  rollbacks: RollbackRecord[];
}

export function createRecordingDriver(deps: {
  scheduler: Scheduler;
  db: MemoryFirestore;
  behaviour: (task: Task) => Behaviour;
  /** Whether faults (hangs) are still being injected. */
  faultsOn: () => boolean;
}): RecordingDriver {
  const { scheduler, db } = deps;
  const applies: ApplyRecord[] = [];
  const rollbacks: RollbackRecord[] = [];
  const limits = new Map<ApplyRecord, number>();

  return {
    applies,
    rollbacks,
    async apply({ task, attempt }) {
      await scheduler.point(`driver.apply ${task.id}#${attempt}`);
      const unmet = task.dependencies.filter(
        (id) => db.peek(`${COLLECTIONS.tasks}/${id}`)?.status !== "succeeded",
      );
      // An apply whose attempt has been superseded (its holder paused past its lease, and the task or
      // its slot was given to another attempt) may still be running, but holds no slot: every write
      // it makes is refused by fencing. The limit counts the attempts that hold their task and slot.
      const holdsTask = (record: ApplyRecord) => {
        const current = db.peek(`${COLLECTIONS.tasks}/${record.taskId}`);
        const holdsSlot = db
          .list("concurrency_slots")
          .some((slot) => slot.data.holder === record.taskId && slot.data.environment === record.environment);
        return current?.status === "running" && current.attempt === record.attempt && holdsSlot;
      };
      const active = applies.filter(
        (record) => record.environment === task.environment && record.end === null && holdsTask(record),
      );
      const limit = Math.max(task.concurrency_limit, ...active.map((record) => limits.get(record) ?? 0));
      const record: ApplyRecord = {
        taskId: task.id,
        deploymentId: task.deployment_id,
        environment: task.environment,
        attempt,
        invocation: scheduler.current()?.id ?? 0,
        start: scheduler.now,
        end: null,
        outcome: "running",
        unmetDependencies: unmet,
        overlapping: active.length + 1,
        limit,
      };
      limits.set(record, task.concurrency_limit);
      applies.push(record);
      const behaviour = deps.behaviour(task);
      try {
        if (behaviour.hangMs > 0 && attempt === 1 && deps.faultsOn())
          await scheduler.sleep(behaviour.hangMs, `driver.hang ${task.id}#${attempt}`);
        await scheduler.sleep(behaviour.latencyMs, `driver.work ${task.id}#${attempt}`);
        if (behaviour.permanent) {
          record.outcome = "failed";
          throw new NonRetriableError(`simulated permanent failure of ${task.integration}`);
        }
        if (attempt <= behaviour.failFirst) {
          record.outcome = "failed";
          throw new Error(`simulated transient failure ${attempt} of ${behaviour.failFirst}`);
        }
        record.outcome = "succeeded";
        return { summary: `simulated apply of ${task.integration} (attempt ${attempt})` };
      } catch (error) {
        if (record.outcome === "running") record.outcome = "crashed";
        throw error;
      } finally {
        record.end = scheduler.now;
      }
    },
    async rollback({ task, attempt }) {
      await scheduler.point(`driver.rollback ${task.id}#${attempt}`);
      // The drivers' contract: a rollback names the release it undoes, so a second call for the same
      // task (a lost holder's claim taken over) finds it undone and changes nothing.
      if (rollbacks.some((record) => record.taskId === task.id)) {
        return { summary: `simulated rollback of ${task.integration}: already rolled back` };
      }
      rollbacks.push({
        taskId: task.id,
        deploymentId: task.deployment_id,
        attempt,
        invocation: scheduler.current()?.id ?? 0,
        at: scheduler.now,
      });
      await scheduler.sleep(deps.behaviour(task).latencyMs / 2, `driver.undo ${task.id}`);
      return { summary: `simulated rollback of ${task.integration}` };
    },
  };
}
