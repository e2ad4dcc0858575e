/**
 * Persistence for deployments, tasks and concurrency slots. Every state change is a
 * compare-and-set in a transaction: it applies the domain transition to the state it reads and
 * writes nothing if the transition is refused (a duplicate or late delivery).
 */
import type { DocumentReference, DocumentSnapshot, Firestore, Transaction } from "firebase-admin/firestore";
import type { TaskDoc } from "../domain/engine-model.js";
import {
  claimRollback,
  isTerminalTask,
  releasedBySuccess,
  TERMINAL_TASK_STATUSES,
  deploymentDocSchema,
  LIVE_DEPLOYMENT_STATUSES,
  isRefusal,
  rollbackClaimDocSchema,
  rejectedRequest,
  slotProbeOrder,
  taskDocSchema,
  transitionDeployment,
  transitionTask,
  type Deployment,
  type DeploymentDoc,
  type DeploymentEvent,
  type Task,
  type TaskEvent,
} from "../domain/engine-model.js";
import {
  COLLECTIONS,
  environmentDocSchema,
  integrationDocId,
  integrationDocSchema,
  type EnvironmentDoc,
  type IntegrationDoc,
} from "../domain/model.js";
import { z } from "zod";
import { createOutbox, type OutboxEntry } from "./outbox.js";
import { CURRENT_CONFIG_ID } from "./store.js";
import { groupCommit } from "./group-commit.js";
import { typedCollection } from "./typed-collection.js";
import { runTransaction } from "./transaction.js";

/** What a committed transition implies, built from the states before and after it; staged in its transaction. */
export type Effects<T> = (before: T, after: T) => OutboxEntry[];

/** `rollback_claims/{task}`: who undoes an applied task, and once done, how it went. */
export const ROLLBACK_CLAIMS = "rollback_claims";

/** Why a start was refused: the config changed between planning and the start's commit. */
export const CONFIG_CHANGED = "the config changed while the deployment was planned";

/** One concurrency slot of an environment: a task holds it while it runs, so no counter document gets hot. */
const slotDocSchema = z.strictObject({
  environment: z.string(),
  holder: z.string().nullable(),
  lease_expires_at: z.date().nullable(),
});

type SlotDoc = z.infer<typeof slotDocSchema>;

const SLOTS = "concurrency_slots";

/** A message published for a ready task: at most one per task, so a task is never published twice. */
const reservationDocSchema = z.strictObject({
  environment: z.string(),
  deployment_id: z.string(),
  reserved_at: z.date(),
});

const RESERVATIONS = "task_reservations";

/**
 * `task_settlements/{task}`: written with a task's transition into a terminal state that leaves its
 * deployment to reconcile (all but a plain success, whose own transaction released its dependents
 * and whose executor looks whether the deployment is done). The settlement trigger listens here
 * rather than on the tasks, whose every write (ready, running, each lease renewal) would invoke a
 * function that has nothing to do for all but the terminal one.
 */
export const SETTLEMENTS = "task_settlements";

export const settlementDocSchema = z.strictObject({
  deployment_id: z.string(),
  status: z.enum(TERMINAL_TASK_STATUSES),
  settled_at: z.date(),
  /** The task's own expiry: the settlement goes with it. */
  expire_at: z.date().nullable(),
});

/** How many ready tasks dispatch reads beyond what it may publish, to pass over those still backing off. */
const DISPATCH_LOOKAHEAD = 50;

/** The outcome of a compare-and-set: the new state, or why nothing was written. */
export type Transition<T> =
  { changed: true; before: T; after: T } | { changed: false; reason: string; current: T | undefined };

/** An attempt's outcome as recorded, the dependents released with it, and whether reconcile has more to decide. */
export interface RecordedOutcome {
  outcome: Transition<Task>;
  released: Extract<Transition<Task>, { changed: true }>[];
  reconcile: boolean;
}

/** What a task message says of its task, so a claim reads task, deployment and slots at once. */
export interface ClaimHint {
  deployment_id: string;
  environment: string;
  concurrency_limit: number;
  /** The slot the claiming executor has just freed in this environment, most likely still free. */
  freed_slot?: number;
}

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
  const claims = typedCollection(db, ROLLBACK_CLAIMS, rollbackClaimDocSchema);
  const environments = typedCollection(db, COLLECTIONS.environments, environmentDocSchema);
  const integrations = typedCollection(db, COLLECTIONS.integrations, integrationDocSchema);
  const outbox = createOutbox(db);
  const settlements = typedCollection(db, SETTLEMENTS, settlementDocSchema);

  const withId = <T>(id: string, doc: T): T & { id: string } => ({ ...doc, id });

  /**
   * Applies a task event to a state already read in the transaction; writes the change and its
   * effects, and, when the task reaches a terminal state and `settles`, its settlement (what the
   * settlement trigger reconciles the deployment on).
   */
  function applyTaskEvent(
    tx: Transaction,
    id: string,
    before: TaskDoc | undefined,
    event: TaskEvent,
    effects: Effects<Task>,
    settles = true,
  ): Transition<Task> {
    if (!before) return { changed: false, reason: `task ${id} does not exist`, current: undefined };
    const after = transitionTask(before, event);
    if (isRefusal(after)) return { changed: false, reason: after.refused, current: withId(id, before) };
    tx.set(tasks.doc(id), after);
    if (settles && isTerminalTask(after.status) && after.status !== before.status)
      tx.set(settlements.doc(id), {
        deployment_id: after.deployment_id,
        status: after.status,
        settled_at: event.now,
        expire_at: after.expire_at,
      });
    const transition = { changed: true as const, before: withId(id, before), after: withId(id, after) };
    outbox.stage(tx, effects(transition.before, transition.after));
    return transition;
  }

  async function transitionTaskTx(
    tx: Transaction,
    id: string,
    event: TaskEvent,
    effects: Effects<Task>,
  ): Promise<Transition<Task>> {
    return applyTaskEvent(tx, id, (await tx.get(tasks.doc(id))).data(), event, effects);
  }

  /**
   * Who waits on a task, found outside any transaction: which tasks depend on which is fixed when
   * the deployment is planned, so the answer cannot go stale. (A query inside a transaction makes the
   * Firestore emulator lock far more than the documents it returns, and every outcome contended.)
   */
  async function waitingOn(task: Task): Promise<{ dependents: string[]; others: string[] }> {
    const snap = await tasks
      .where("deployment_id", "==", task.deployment_id)
      .where("dependencies", "array-contains", task.id)
      .get();
    const dependents = snap.docs.map((doc) => doc.id);
    const others = new Set(snap.docs.flatMap((doc) => doc.data().dependencies));
    others.delete(task.id);
    return { dependents, others: [...others] };
  }

  /** What a success may release is read from: its deployment, then the tasks of `waiting`. */
  const releaseRefs = (succeeded: Task, waiting: { dependents: string[]; others: string[] }) => [
    deployments.doc(succeeded.deployment_id),
    ...[...waiting.dependents, ...waiting.others].map((id) => tasks.doc(id)),
  ];

  /**
   * What the success of `succeeded` would release, from the snapshots of `releaseRefs` read in its
   * transaction: the dependents it was the last to wait for. Null off the plain path.
   */
  function releasable(
    succeeded: Task,
    waiting: { dependents: string[]; others: string[] },
    [deploymentSnap, ...taskSnaps]: DocumentSnapshot[],
  ): { dependents: { id: string; doc: TaskDoc }[] } | null {
    const deployment = deploymentSnap?.data() as DeploymentDoc | undefined;
    if (!deployment) return null;
    const read = new Map<string, TaskDoc>();
    for (const snap of taskSnaps) {
      const doc = snap.data() as TaskDoc | undefined;
      if (doc) read.set(snap.id, doc);
    }
    const dependents = waiting.dependents.flatMap((id) => {
      const doc = read.get(id);
      return doc ? [withId(id, doc)] : [];
    });
    const known = new Map<string, Pick<Task, "status">>([[succeeded.id, { status: "succeeded" }]]);
    for (const id of waiting.others) {
      const doc = read.get(id);
      if (doc) known.set(id, doc);
    }
    const ids = releasedBySuccess(deployment, dependents, known);
    if (ids === null) return null;
    return { dependents: ids.map((id) => ({ id, doc: read.get(id)! })) };
  }

  /** The environment document with a lifecycle status, if that is a change (read before any write). */
  async function environmentWithStatus(
    tx: Transaction,
    name: string,
    status: EnvironmentDoc["status"],
    now: Date,
  ): Promise<(() => void) | undefined> {
    const ref = environments.doc(name);
    const current = (await tx.get(ref)).data();
    if (!current || current.status === status) return undefined;
    return () => tx.set(ref, { ...current, status, last_updated: now });
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

    /** Whether any task of the deployment has yet to settle: one document read at most. */
    async hasUnsettledTasks(deploymentId: string): Promise<boolean> {
      const snap = await tasks
        .where("deployment_id", "==", deploymentId)
        .where("status", "in", ["blocked", "ready", "running"])
        .limit(1)
        .get();
      return !snap.empty;
    },

    /**
     * Creates a deployment request document; the deployment trigger takes it from there. Requests
     * arriving together share one commit (a request whose document exists still fails alone).
     */
    async createDeployment(id: string, doc: DeploymentDoc): Promise<void> {
      await groupCommit(db, (batch) => batch.create(deployments.doc(id), doc));
    },

    /** Replaces a request document that cannot be read with a failed deployment saying why, if it is still a request. */
    async rejectUnreadableRequest(id: string, reason: string, now: Date): Promise<boolean> {
      return runTransaction(db, async (tx) => {
        const raw = (await tx.get(db.collection(COLLECTIONS.deployments).doc(id))).data();
        if (raw?.status !== "requested") return false;
        tx.set(deployments.doc(id), rejectedRequest(raw, reason, now));
        return true;
      });
    },

    /**
     * Moves a deployment by one event, if the event applies to its current state, with its effects
     * and, when given, the environment's lifecycle status, all in one transaction.
     */
    async transitionDeployment(
      id: string,
      event: DeploymentEvent,
      effects: Effects<Deployment>,
      options: {
        alsoWrite?: (tx: Transaction) => void;
        environmentStatus?: (after: DeploymentDoc) => EnvironmentDoc["status"] | null;
        /** Read in the transaction before anything is written: a reason refuses the transition. */
        precondition?: (tx: Transaction) => Promise<string | null>;
      } = {},
    ): Promise<Transition<Deployment>> {
      return runTransaction(db, async (tx) => {
        const before = (await tx.get(deployments.doc(id))).data();
        if (!before) return { changed: false, reason: `deployment ${id} does not exist`, current: undefined };
        const unmet = (await options.precondition?.(tx)) ?? null;
        if (unmet !== null) return { changed: false, reason: unmet, current: withId(id, before) };
        const after = transitionDeployment(before, event);
        if (isRefusal(after)) return { changed: false, reason: after.refused, current: withId(id, before) };
        const status = options.environmentStatus?.(after) ?? null;
        const writeEnvironment = status
          ? await environmentWithStatus(tx, after.environment, status, event.now)
          : undefined;
        tx.set(deployments.doc(id), after);
        options.alsoWrite?.(tx);
        writeEnvironment?.();
        const transition = { changed: true as const, before: withId(id, before), after: withId(id, after) };
        outbox.stage(tx, effects(transition.before, transition.after));
        return transition;
      });
    },

    /** Starts a requested deployment and writes its tasks, atomically: a second delivery writes nothing. */
    async startDeployment(
      id: string,
      event: Extract<DeploymentEvent, { type: "start" }>,
      planned: Task[],
      effects: Effects<Deployment>,
      environmentStatus?: EnvironmentDoc["status"],
      plannedWithConfig?: string | null,
    ): Promise<Transition<Deployment>> {
      return this.transitionDeployment(id, event, effects, {
        alsoWrite: (tx) => {
          for (const { id: taskId, ...task } of planned) tx.set(tasks.doc(taskId), task);
        },
        environmentStatus: () => environmentStatus ?? null,
        // A config loaded while this was planned (its rollback policy, its limits) makes the plan stale.
        precondition:
          plannedWithConfig === undefined
            ? undefined
            : async (tx) => {
                const hash: unknown = (
                  await tx.get(db.collection(COLLECTIONS.config).doc(CURRENT_CONFIG_ID))
                ).get("content_hash");
                return (hash ?? null) === plannedWithConfig ? null : CONFIG_CHANGED;
              },
      });
    },

    /** Moves a task by one event, if the event applies to its current state. */
    async transitionTask(id: string, event: TaskEvent, effects: Effects<Task>): Promise<Transition<Task>> {
      return runTransaction(db, (tx) => transitionTaskTx(tx, id, event, effects));
    },

    /**
     * Claims a ready task for one attempt: the task moves to running and takes a free
     * concurrency slot of its environment, or nothing changes.
     */
    async claimTask(
      id: string,
      clock: { now(): Date },
      effects: Effects<Task>,
      hint?: ClaimHint,
    ): Promise<ClaimResult> {
      return runTransaction(db, async (tx): Promise<ClaimResult> => {
        const isFree = (snap: DocumentSnapshot<SlotDoc>, now: Date) => {
          const slot = snap.data();
          return (
            !slot ||
            slot.holder === null ||
            slot.holder === id ||
            (slot.lease_expires_at !== null && slot.lease_expires_at.getTime() <= now.getTime())
          );
        };
        // With the message's hint, the task, its deployment and the first slots it probes are one read.
        // The refs are of three collections; each snapshot is still read through its own ref's converter.
        // An executor that keeps a task for the slot it just freed reads that slot first, alone.
        const reads = (limit: number, preferred: number | undefined) =>
          preferred !== undefined && preferred < limit
            ? [[preferred], ...slotProbeOrder(id, limit)]
            : slotProbeOrder(id, limit);
        const hintedFirst = hint ? reads(hint.concurrency_limit, hint.freed_slot)[0]! : [];
        const hinted = hint
          ? await tx.getAll(
              ...([
                tasks.doc(id),
                deployments.doc(hint.deployment_id),
                ...hintedFirst.map((index) => slotRef(hint.environment, index)),
              ] as unknown as DocumentReference<TaskDoc | DeploymentDoc | SlotDoc>[]),
            )
          : undefined;
        const task = hinted
          ? (hinted[0]!.data() as TaskDoc | undefined)
          : (await tx.get(tasks.doc(id))).data();
        // Not claimed, for whatever reason: give the reservation back, so dispatch is never stalled by it.
        const giveBack = () => tx.delete(reservationRef(id));
        if (!task || task.status !== "ready") {
          giveBack();
          return {
            claimed: false,
            reason: "not_ready",
            detail: `task is ${task?.status ?? "missing"}`,
            task: task && withId(id, task),
          };
        }
        const deployment =
          hinted && hint?.deployment_id === task.deployment_id
            ? (hinted[1]!.data() as DeploymentDoc | undefined)
            : (await tx.get(deployments.doc(task.deployment_id))).data();
        if (deployment?.status !== "running") {
          giveBack();
          return {
            claimed: false,
            reason: "deployment_inactive",
            detail: `deployment is ${deployment?.status ?? "missing"}`,
            task: withId(id, task),
          };
        }
        const limit = task.concurrency_limit;
        // A hint that does not match the task (a message of an older plan) costs the right read.
        const hintHolds =
          hinted && hint?.environment === task.environment && hint.concurrency_limit === limit;
        const order = reads(limit, hintHolds ? hint?.freed_slot : undefined);
        let read = hintHolds ? 1 : 0;
        let looked = hintHolds
          ? order[0]!.map((index, at) => ({ index, snap: hinted[2 + at] as DocumentSnapshot<SlotDoc> }))
          : [];
        // The time is read after each read of slots: a slot freed by another commit is then freed before this start.
        let now = clock.now();
        let free = looked.find(({ snap }) => isFree(snap, now));
        while (!free && read < order.length) {
          const indexes = order[read]!;
          const snaps = await tx.getAll(...indexes.map((index) => slotRef(task.environment, index)));
          read += 1;
          looked = indexes.map((index, at) => ({ index, snap: snaps[at]! }));
          now = clock.now();
          free = looked.find(({ snap }) => isFree(snap, now));
        }
        const claimed = transitionTask(task, { type: "claim", now });
        if (isRefusal(claimed)) {
          giveBack();
          return { claimed: false, reason: "too_early", detail: claimed.refused, task: withId(id, task) };
        }
        if (claimed.status !== "running") throw new Error("a claim always leads to running");
        if (!free) {
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
        tx.set(slotRef(task.environment, free.index), {
          environment: task.environment,
          holder: id,
          lease_expires_at: claimed.lease_expires_at,
        });
        outbox.stage(tx, effects(withId(id, task), withId(id, claimed)));
        return {
          claimed: true,
          task: withId(id, claimed),
          before: withId(id, task),
          deployment: withId(task.deployment_id, deployment),
          slot: free.index,
        };
      });
    },

    /**
     * Records the outcome of one attempt and frees its slot. Refused (nothing written) when the
     * task is no longer running that attempt: its lease expired and another executor took over.
     * A success releases, in the same transaction, the dependents it was the last to wait for
     * (`releasedBySuccess`), each with its own facts (`releaseEffects`); `reconcile` says whether
     * the deployment still needs reconciling (an outcome off that plain path).
     */
    async recordOutcome(
      running: Task,
      attempt: number,
      event: Extract<TaskEvent, { type: "succeed" } | { type: "fail" }>,
      slot: number,
      effects: Effects<Task>,
      releaseEffects: Effects<Task>,
      integration?: Pick<IntegrationDoc, "status" | "release">,
    ): Promise<RecordedOutcome> {
      const id = running.id;
      const waiting = event.type === "succeed" ? await waitingOn(running) : undefined;
      // Fenced with the outcome: only the attempt that holds the task may mark its integration. A
      // task's environment and integration never change, so the running copy names every document.
      const integrationRef = integration
        ? integrations.doc(integrationDocId(running.environment, running.integration))
        : undefined;
      return runTransaction(db, async (tx): Promise<RecordedOutcome> => {
        // Every read in one round trip: the task, its slot, its integration when marked, and what a
        // success may release.
        const [taskSnap, slotSnap, ...rest] = await tx.getAll(
          ...([
            tasks.doc(id),
            slotRef(running.environment, slot),
            ...(integrationRef ? [integrationRef] : []),
            ...(waiting ? releaseRefs(running, waiting) : []),
          ] as unknown as DocumentReference[]),
        );
        const current = taskSnap?.data() as TaskDoc | undefined;
        if (current && current.attempt !== attempt) {
          return {
            outcome: {
              changed: false,
              reason: `attempt ${attempt} is stale; the task is on attempt ${current.attempt}`,
              current: withId(id, current),
            },
            released: [],
            reconcile: false,
          };
        }
        const integrationDoc = integrationRef
          ? (rest.shift()?.data() as IntegrationDoc | undefined)
          : undefined;
        const release =
          current?.status === "running" && waiting ? releasable(withId(id, current), waiting, rest) : null;
        const outcome = applyTaskEvent(tx, id, current, event, effects, release === null);
        if (!outcome.changed) return { outcome, released: [], reconcile: false };
        if (integrationRef && integrationDoc && integration) {
          tx.set(integrationRef, { ...integrationDoc, ...integration, last_updated: event.now });
        }
        if ((slotSnap?.data() as SlotDoc | undefined)?.holder === id) {
          tx.set(slotRef(running.environment, slot), {
            environment: outcome.after.environment,
            holder: null,
            lease_expires_at: null,
          });
        }
        const released: RecordedOutcome["released"] = [];
        for (const dependent of release?.dependents ?? []) {
          const transition = applyTaskEvent(
            tx,
            dependent.id,
            dependent.doc,
            { type: "release", now: event.now },
            releaseEffects,
          );
          if (transition.changed) released.push(transition);
        }
        return {
          outcome,
          released,
          reconcile: isTerminalTask(outcome.after.status) && release === null,
        };
      });
    },

    /** Returns a task whose executor was lost to ready, and frees the slot it held. */
    async expireLease(id: string, now: Date, effects: Effects<Task>): Promise<Transition<Task>> {
      return runTransaction(db, async (tx) => {
        const current = (await tx.get(tasks.doc(id))).data();
        const refs = current
          ? Array.from({ length: current.concurrency_limit }, (_, index) =>
              slotRef(current.environment, index),
            )
          : [];
        const held =
          refs.length > 0 ? (await tx.getAll(...refs)).filter((snap) => snap.data()?.holder === id) : [];
        const result = applyTaskEvent(tx, id, current, { type: "lease_expired", now }, effects);
        if (result.changed) {
          for (const snap of held)
            tx.set(snap.ref, { environment: result.after.environment, holder: null, lease_expires_at: null });
        }
        return result;
      });
    },

    /**
     * Extends the lease of the attempt that holds a running task (a heartbeat), and of its slot.
     * False when the task is no longer running that attempt, or its slot went to another task: the
     * executor has been superseded and must not start (or go on with) the driver's work.
     */
    async renewLease(id: string, attempt: number, slot: number, now: Date): Promise<boolean> {
      return runTransaction(db, async (tx) => {
        const current = (await tx.get(tasks.doc(id))).data();
        if (current?.status !== "running" || current.attempt !== attempt) return false;
        const slotSnap = await tx.get(slotRef(current.environment, slot));
        // A slot given to another task (this holder paused past its lease): the attempt has lost its place.
        if (slotSnap.data()?.holder !== id) return false;
        const lease = new Date(now.getTime() + current.lease_seconds * 1000);
        tx.set(tasks.doc(id), { ...current, lease_expires_at: lease });
        tx.set(slotSnap.ref, { environment: current.environment, holder: id, lease_expires_at: lease });
        return true;
      });
    },

    /** Takes the rollback of a task (see claimRollback); the claim's attempt fences everything done under it. */
    async claimRollback(
      task: Task,
      now: Date,
    ): Promise<{ claimed: true; attempt: number } | { claimed: false; done: boolean; reason: string }> {
      return runTransaction(db, async (tx) => {
        const ref = claims.doc(task.id);
        const current = (await tx.get(ref)).data();
        const next = claimRollback(current, task, now);
        if (isRefusal(next))
          return { claimed: false, done: current?.status === "done", reason: next.refused };
        tx.set(ref, next);
        return { claimed: true, attempt: next.attempt };
      });
    },

    /** A heartbeat of a rollback in progress; false when another attempt took it over. */
    async renewRollback(task: Task, attempt: number, now: Date): Promise<boolean> {
      return runTransaction(db, async (tx) => {
        const ref = claims.doc(task.id);
        const current = (await tx.get(ref)).data();
        if (current?.status !== "running" || current.attempt !== attempt) return false;
        tx.set(ref, { ...current, lease_expires_at: new Date(now.getTime() + task.lease_seconds * 1000) });
        return true;
      });
    },

    /**
     * Records a finished rollback (or one given up): the claim becomes `done` and the task takes the event,
     * together, only if this attempt still holds the claim.
     */
    async completeRollback(
      id: string,
      attempt: number,
      event: Extract<TaskEvent, { type: "roll_back" } | { type: "rollback_failed" }>,
      effects: Effects<Task>,
    ): Promise<Transition<Task>> {
      return runTransaction(db, async (tx) => {
        const ref = claims.doc(id);
        const [claimSnap, taskSnap] = await Promise.all([tx.get(ref), tx.get(tasks.doc(id))]);
        const claim = claimSnap.data();
        const task = taskSnap.data();
        if (claim?.status !== "running" || claim.attempt !== attempt) {
          return {
            changed: false,
            reason: `rollback attempt ${attempt} of ${id} no longer holds its claim`,
            current: task && withId(id, task),
          };
        }
        const result = applyTaskEvent(tx, id, task, event, effects);
        tx.set(ref, {
          status: "done",
          task_id: id,
          deployment_id: claim.deployment_id,
          attempt,
          note: event.note,
          // The claim goes with its task (an ended task, so its expiry is set when it has a retention).
          expire_at: (result.changed ? result.after : result.current)?.expire_at ?? null,
        });
        return result;
      });
    },

    /** Deployments that have not ended, oldest first: the sweeper reconciles each. */
    async activeDeployments(limit: number): Promise<Deployment[]> {
      const snap = await deployments
        .where("status", "in", [...LIVE_DEPLOYMENT_STATUSES])
        .limit(limit)
        .get();
      return snap.docs.map((doc) => withId(doc.id, doc.data()));
    },

    /** Environments still marked provisioning, for the sweeper to check against their deployments. */
    async provisioningEnvironments(limit: number): Promise<string[]> {
      const snap = await environments.where("status", "==", "provisioning").limit(limit).get();
      return snap.docs.map((doc) => doc.id);
    },

    /** The newest provisioning deployments of an environment. */
    async provisioningDeployments(environment: string, limit: number): Promise<Deployment[]> {
      const snap = await deployments.where("environment", "==", environment).get();
      return snap.docs
        .map((doc) => withId(doc.id, doc.data()))
        .filter((deployment) => deployment.configuration.provision === true)
        .sort((a, b) => b.created_at.getTime() - a.created_at.getTime())
        .slice(0, limit);
    },

    /** Sets an environment's lifecycle status, if it differs. */
    async setEnvironmentStatus(name: string, status: EnvironmentDoc["status"], now: Date): Promise<void> {
      await runTransaction(db, async (tx) => (await environmentWithStatus(tx, name, status, now))?.());
    },

    /**
     * The ready tasks of an environment that are due, highest priority first: up to `atMost` plus a
     * lookahead, because reserved ones (messages already out) are still ready and come first.
     * Tasks waiting out a retry backoff are passed over (they are published when due), so they never
     * stand in front of ready tasks of other deployments: the query reads past them.
     */
    async dueReadyTasks(environment: string, atMost: number, now: Date): Promise<Task[]> {
      const candidates = await tasks
        .where("environment", "==", environment)
        .where("status", "==", "ready")
        .orderBy("priority", "desc")
        .limit(atMost + DISPATCH_LOOKAHEAD)
        .get();
      return candidates.docs
        .map((doc) => withId(doc.id, doc.data()))
        .filter((task) => task.not_before === null || task.not_before.getTime() <= now.getTime());
    },

    /**
     * Reserves up to `count` of the given due tasks that no dispatcher has reserved yet, in their
     * order: a reservation is a `task_reservations/{task}` document made with create(), which fails
     * if another dispatcher got there first. Reservations live beside the tasks, not on them, so
     * reserving does not fire the task trigger.
     */
    async reserve(
      environment: string,
      due: Task[],
      count: number,
      now: Date,
      inFlight: number,
    ): Promise<Task[]> {
      if (count <= 0 || due.length === 0) return [];
      // With no message out in the environment there is nothing to pass over: create() alone decides.
      const held = inFlight > 0 ? await db.getAll(...due.map((task) => reservationRef(task.id))) : [];
      let candidates = due.filter((_, index) => !held[index]?.exists);
      const reserved: Task[] = [];
      // As many creates at once as there is room for; those another dispatcher got first make room for the next.
      while (reserved.length < count && candidates.length > 0) {
        const round = candidates.slice(0, count - reserved.length);
        candidates = candidates.slice(round.length);
        const created = await Promise.all(
          round.map((task) =>
            reservationRef(task.id)
              .create({ environment, deployment_id: task.deployment_id, reserved_at: now })
              .then(
                () => true,
                () => false,
              ),
          ),
        );
        reserved.push(...round.filter((_, index) => created[index]));
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
