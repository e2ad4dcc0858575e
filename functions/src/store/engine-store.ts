/**
 * Persistence for deployments, tasks and concurrency slots. Every state change is a
 * compare-and-set in a transaction: it applies the domain transition to the state it reads and
 * writes nothing if the transition is refused (a duplicate or late delivery).
 */
import type { Firestore, Transaction } from "firebase-admin/firestore";
import {
  deploymentDocSchema,
  isRefusal,
  rejectedRequest,
  taskDocSchema,
  transitionDeployment,
  transitionTask,
  type Deployment,
  type DeploymentDoc,
  type DeploymentEvent,
  type Task,
  type TaskEvent,
} from "../domain/engine-model.js";
import { COLLECTIONS } from "../domain/model.js";
import { z } from "zod";
import { typedCollection } from "./typed-collection.js";

/** One concurrency slot of an environment: a task holds it while it runs, so no counter document gets hot. */
const slotDocSchema = z.strictObject({
  environment: z.string(),
  holder: z.string().nullable(),
  lease_expires_at: z.date().nullable(),
});

const SLOTS = "concurrency_slots";

/** A message published for a ready task: at most one per task, so a task is never published twice. */
const reservationDocSchema = z.strictObject({
  environment: z.string(),
  deployment_id: z.string(),
  reserved_at: z.date(),
});

const RESERVATIONS = "task_reservations";

/** The outcome of a compare-and-set: the new state, or why nothing was written. */
export type Transition<T> =
  { changed: true; before: T; after: T } | { changed: false; reason: string; current: T | undefined };

export type ClaimResult =
  | { claimed: true; task: Task; before: Task; deployment: Deployment; slot: number }
  | {
      claimed: false;
      reason: "not_ready" | "too_early" | "throttled" | "deployment_inactive";
      detail: string;
      task: Task | undefined;
    };

export function createEngineStore(db: Firestore) {
  const tasks = typedCollection(db, COLLECTIONS.tasks, taskDocSchema);
  const deployments = typedCollection(db, COLLECTIONS.deployments, deploymentDocSchema);
  const slots = typedCollection(db, SLOTS, slotDocSchema);
  const slotRef = (environment: string, index: number) => slots.doc(`${environment}__${index}`);
  const reservations = typedCollection(db, RESERVATIONS, reservationDocSchema);
  const reservationRef = (taskId: string) => reservations.doc(taskId);

  const withId = <T>(id: string, doc: T): T & { id: string } => ({ ...doc, id });

  async function transitionTaskTx(tx: Transaction, id: string, event: TaskEvent): Promise<Transition<Task>> {
    const snap = await tx.get(tasks.doc(id));
    const before = snap.data();
    if (!before) return { changed: false, reason: `task ${id} does not exist`, current: undefined };
    const after = transitionTask(before, event);
    if (isRefusal(after)) return { changed: false, reason: after.refused, current: withId(id, before) };
    tx.set(tasks.doc(id), after);
    return { changed: true, before: withId(id, before), after: withId(id, after) };
  }

  return {
    tasks,
    deployments,

    async getDeployment(id: string): Promise<Deployment | undefined> {
      const doc = (await deployments.doc(id).get()).data();
      return doc && withId(id, doc);
    },

    async getTask(id: string): Promise<Task | undefined> {
      const doc = (await tasks.doc(id).get()).data();
      return doc && withId(id, doc);
    },

    async tasksOf(deploymentId: string): Promise<Task[]> {
      const snap = await tasks.where("deployment_id", "==", deploymentId).get();
      return snap.docs.map((doc) => withId(doc.id, doc.data()));
    },

    async hasUnsettledTasks(deploymentId: string): Promise<boolean> {
      const snap = await tasks
        .where("deployment_id", "==", deploymentId)
        .where("status", "in", ["blocked", "ready", "running"])
        .limit(1)
        .get();
      return !snap.empty;
    },

    /** Creates a deployment request document; the deployment trigger takes it from there. */
    async createDeployment(id: string, doc: DeploymentDoc): Promise<void> {
      await deployments.doc(id).create(doc);
    },

    /** Replaces a request document that cannot be read with a failed deployment saying why, if it is still a request. */
    async rejectUnreadableRequest(id: string, reason: string, now: Date): Promise<boolean> {
      return db.runTransaction(async (tx) => {
        const raw = (await tx.get(db.collection(COLLECTIONS.deployments).doc(id))).data();
        if (raw?.status !== "requested") return false;
        tx.set(deployments.doc(id), rejectedRequest(raw, reason, now));
        return true;
      });
    },

    /** Moves a deployment by one event, if the event applies to its current state. */
    async transitionDeployment(
      id: string,
      event: DeploymentEvent,
      alsoWrite?: (tx: Transaction) => void,
    ): Promise<Transition<Deployment>> {
      return db.runTransaction(async (tx) => {
        const before = (await tx.get(deployments.doc(id))).data();
        if (!before) return { changed: false, reason: `deployment ${id} does not exist`, current: undefined };
        const after = transitionDeployment(before, event);
        if (isRefusal(after)) return { changed: false, reason: after.refused, current: withId(id, before) };
        tx.set(deployments.doc(id), after);
        alsoWrite?.(tx);
        return { changed: true, before: withId(id, before), after: withId(id, after) };
      });
    },

    /** Starts a requested deployment and writes its tasks, atomically: a second delivery writes nothing. */
    async startDeployment(
      id: string,
      event: Extract<DeploymentEvent, { type: "start" }>,
      planned: Task[],
    ): Promise<Transition<Deployment>> {
      return this.transitionDeployment(id, event, (tx) => {
        for (const { id: taskId, ...task } of planned) tx.set(tasks.doc(taskId), task);
      });
    },

    /** Moves a task by one event, if the event applies to its current state. */
    async transitionTask(id: string, event: TaskEvent): Promise<Transition<Task>> {
      return db.runTransaction((tx) => transitionTaskTx(tx, id, event));
    },

    /**
     * Claims a ready task for one attempt: the task moves to running and takes a free
     * concurrency slot of its environment, or nothing changes.
     */
    async claimTask(id: string, clock: { now(): Date }): Promise<ClaimResult> {
      return db.runTransaction(async (tx): Promise<ClaimResult> => {
        const task = (await tx.get(tasks.doc(id))).data();
        if (!task || task.status !== "ready") {
          return {
            claimed: false,
            reason: "not_ready",
            detail: `task is ${task?.status ?? "missing"}`,
            task: task && withId(id, task),
          };
        }
        const deployment = (await tx.get(deployments.doc(task.deployment_id))).data();
        if (deployment?.status !== "running") {
          return {
            claimed: false,
            reason: "deployment_inactive",
            detail: `deployment is ${deployment?.status ?? "missing"}`,
            task: withId(id, task),
          };
        }
        const limit = task.concurrency_limit;
        const refs = Array.from({ length: limit }, (_, index) => slotRef(task.environment, index));
        const slotSnaps = await tx.getAll(...refs);
        // Read the time after the slots: a slot freed by another commit is then freed before this start.
        const now = clock.now();
        const claimed = transitionTask(task, { type: "claim", now });
        // Not claimed: give the reservation back, so the next dispatch may publish the task again.
        const giveBack = () => tx.delete(reservationRef(id));
        if (isRefusal(claimed)) {
          giveBack();
          return { claimed: false, reason: "too_early", detail: claimed.refused, task: withId(id, task) };
        }
        if (claimed.status !== "running") throw new Error("a claim always leads to running");
        const free = slotSnaps.findIndex((snap) => {
          const slot = snap.data();
          return (
            !slot ||
            slot.holder === null ||
            slot.holder === id ||
            (slot.lease_expires_at !== null && slot.lease_expires_at.getTime() <= now.getTime())
          );
        });
        if (free < 0) {
          giveBack();
          return {
            claimed: false,
            reason: "throttled",
            detail: `all ${limit} slots of ${task.environment} are taken`,
            task: withId(id, task),
          };
        }
        tx.set(tasks.doc(id), claimed);
        tx.delete(reservationRef(id));
        tx.set(refs[free]!, {
          environment: task.environment,
          holder: id,
          lease_expires_at: claimed.lease_expires_at,
        });
        return {
          claimed: true,
          task: withId(id, claimed),
          before: withId(id, task),
          deployment: withId(task.deployment_id, deployment),
          slot: free,
        };
      });
    },

    /**
     * Records the outcome of one attempt and frees its slot. Refused (nothing written) when the
     * task is no longer running that attempt: its lease expired and another executor took over.
     */
    async recordOutcome(
      id: string,
      attempt: number,
      event: Extract<TaskEvent, { type: "succeed" } | { type: "fail" }>,
      slot: number,
    ): Promise<Transition<Task>> {
      return db.runTransaction(async (tx) => {
        const current = (await tx.get(tasks.doc(id))).data();
        if (current && current.attempt !== attempt) {
          return {
            changed: false,
            reason: `attempt ${attempt} is stale; the task is on attempt ${current.attempt}`,
            current: withId(id, current),
          };
        }
        const slotSnap = current ? await tx.get(slotRef(current.environment, slot)) : undefined;
        const result = await transitionTaskTx(tx, id, event);
        if (result.changed && slotSnap?.data()?.holder === id) {
          tx.set(slotSnap.ref, {
            environment: result.after.environment,
            holder: null,
            lease_expires_at: null,
          });
        }
        return result;
      });
    },

    /** Returns a task whose executor was lost to ready, and frees the slot it held. */
    async expireLease(id: string, now: Date): Promise<Transition<Task>> {
      return db.runTransaction(async (tx) => {
        const current = (await tx.get(tasks.doc(id))).data();
        const refs = current
          ? Array.from({ length: current.concurrency_limit }, (_, index) =>
              slotRef(current.environment, index),
            )
          : [];
        const held =
          refs.length > 0 ? (await tx.getAll(...refs)).filter((snap) => snap.data()?.holder === id) : [];
        const result = await transitionTaskTx(tx, id, { type: "lease_expired", now });
        if (result.changed) {
          for (const snap of held)
            tx.set(snap.ref, { environment: result.after.environment, holder: null, lease_expires_at: null });
        }
        return result;
      });
    },

    /**
     * Reserves up to `count` ready, unpublished tasks of an environment, highest priority first:
     * a reservation is a `task_reservations/{task}` document made with create(), which fails if
     * another dispatcher got there first. Reservations live beside the tasks, not on them, so
     * reserving does not fire the task trigger.
     */
    async reserveForDispatch(
      environment: string,
      count: number,
      alreadyOut: number,
      now: Date,
    ): Promise<Task[]> {
      if (count <= 0) return [];
      const candidates = await tasks
        .where("environment", "==", environment)
        .where("status", "==", "ready")
        .orderBy("priority", "desc")
        .limit(count + alreadyOut)
        .get();
      if (candidates.empty) return [];
      const held = await db.getAll(...candidates.docs.map((doc) => reservationRef(doc.id)));
      const reserved: Task[] = [];
      for (const [index, doc] of candidates.docs.entries()) {
        if (reserved.length >= count) break;
        if (held[index]?.exists) continue;
        const task = doc.data();
        try {
          await reservationRef(doc.id).create({
            environment,
            deployment_id: task.deployment_id,
            reserved_at: now,
          });
          reserved.push(withId(doc.id, task));
        } catch {
          // Another dispatcher reserved it first.
        }
      }
      return reserved;
    },

    /** Messages out for ready tasks of an environment (reserved, not yet claimed): they will take slots soon. */
    async inFlightCount(environment: string): Promise<number> {
      return (await reservations.where("environment", "==", environment).count().get()).data().count;
    },

    /** Drops reservations whose message never led to a claim (a lost message or executor); returns their tasks. */
    async releaseStaleReservations(olderThan: Date, limit: number): Promise<Task[]> {
      const stale = await reservations.where("reserved_at", "<=", olderThan).limit(limit).get();
      const released: Task[] = [];
      for (const doc of stale.docs) {
        await doc.ref.delete();
        const task = (await tasks.doc(doc.id).get()).data();
        if (task?.status === "ready") released.push(withId(doc.id, task));
      }
      return released;
    },

    async runningCount(environment: string): Promise<number> {
      const snap = await tasks
        .where("environment", "==", environment)
        .where("status", "==", "running")
        .count()
        .get();
      return snap.data().count;
    },

    async expiredLeases(now: Date, limit: number): Promise<Task[]> {
      const snap = await tasks
        .where("status", "==", "running")
        .where("lease_expires_at", "<=", now)
        .limit(limit)
        .get();
      return snap.docs.map((doc) => withId(doc.id, doc.data()));
    },

    /** Ready tasks nobody has published for a while (no reservation): their environments get dispatched again. */
    async staleReadyTasks(olderThan: Date, limit: number): Promise<Task[]> {
      const snap = await tasks
        .where("status", "==", "ready")
        .where("ready_at", "<=", olderThan)
        .limit(limit)
        .get();
      if (snap.empty) return [];
      const held = await db.getAll(...snap.docs.map((doc) => reservationRef(doc.id)));
      return snap.docs.filter((_, index) => !held[index]?.exists).map((doc) => withId(doc.id, doc.data()));
    },

    async deploymentsIn(status: DeploymentDoc["status"], limit: number): Promise<Deployment[]> {
      const snap = await deployments.where("status", "==", status).limit(limit).get();
      return snap.docs.map((doc) => withId(doc.id, doc.data()));
    },
  };
}

export type EngineStore = ReturnType<typeof createEngineStore>;
