/**
 * One simulated world: the real services (createServices) over the memory store, a bus and a
 * recording driver under the seeded scheduler, the real trigger handlers delivered from commits
 * and publishes (each delivery may be duplicated, delayed, reordered or lost), scheduled and
 * concurrent sweeps, operator cancels and config changes mid-deployment. A run builds a scenario
 * from its seed, injects faults for a while, then lets the sweeper run fault-free up to a bound
 * and checks the invariants.
 */
import { readFileSync } from "node:fs";
import { Timestamp } from "firebase-admin/firestore";
import { fileURLToPath } from "node:url";
import { createServices, type Services } from "../../functions/src/app.js";
import {
  orchestrationEventSchema,
  TOPICS,
  type Bus,
  type OrchestrationEvent,
} from "../../functions/src/bus.js";
import { validateConfig } from "../../functions/src/domain/config.js";
import {
  isTerminalDeployment,
  type DeploymentStatus,
  type Task,
} from "../../functions/src/domain/engine-model.js";
import { INTEGRATION_KINDS } from "../../functions/src/domain/integrations.js";
import { COLLECTIONS } from "../../functions/src/domain/model.js";
import { SETTLEMENTS } from "../../functions/src/store/engine-store.js";
import { AUDIT_COLLECTIONS } from "../../functions/src/domain/audit.js";
import { OUTBOX } from "../../functions/src/store/outbox.js";
import { onDeploymentWritten, onTaskMessage, onTaskSettled } from "../../functions/src/handlers/triggers.js";
import type { Logger } from "../../functions/src/logs.js";
import { createRecordingDriver, type ApplyRecord, type Behaviour } from "./driver.js";
import {
  checkInvariants,
  SIM_RETENTION_DAYS,
  type ExpiryRecord,
  type Observed,
  type Transition,
  type Violation,
} from "./invariants.js";
import {
  asFirestore,
  copy,
  FirestoreError,
  MemoryFirestore,
  type Data,
  type DocChange,
} from "./memory-firestore.js";
import { CrashError, Prng, Scheduler } from "./scheduler.js";

/** The engine's rollback claims (functions/src/store/engine-store.ts). */
const ROLLBACK_CLAIMS = "rollback_claims";

/** The snapshot a Firestore trigger hands its handler. */
export interface TriggerSnapshot {
  id: string;
  ref: { path: string };
  exists: boolean;
  data(): Data | undefined;
}

/** A Firestore trigger: which documents, which kind of change (as firebase-functions' onDocumentX), and the handler. */
export interface DocumentTrigger {
  name: string;
  collection: string;
  on: "created" | "updated" | "written" | "deleted";
  handle: (
    services: Services,
    before: TriggerSnapshot | undefined,
    after: TriggerSnapshot | undefined,
  ) => Promise<unknown>;
}

/** A Pub/Sub trigger: a topic and the handler of one message. */
export interface TopicTrigger {
  name: string;
  topic: string;
  handle: (services: Services, message: { readonly json: unknown }) => Promise<unknown>;
}

/**
 * The deployed triggers, as functions/src/index.ts wires them. Adding one is one line here, e.g.
 * `{ name: "outboxRelay", collection: "outbox", on: "created", handle: (s, _b, a) => relay(s, a) }`.
 */
export const DOCUMENT_TRIGGERS: DocumentTrigger[] = [
  {
    name: "deploymentWritten",
    collection: COLLECTIONS.deployments,
    on: "written",
    handle: (s, _b, a) => onDeploymentWritten(s, a),
  },
  {
    name: "taskSettled",
    collection: SETTLEMENTS,
    on: "written",
    handle: (s, _b, a) => onTaskSettled(s, a),
  },
];

/** The Pub/Sub triggers; the events topic has no subscriber inside the control plane. */
export const TOPIC_TRIGGERS: TopicTrigger[] = [
  { name: "runTask", topic: TOPICS.tasks, handle: (s, message) => onTaskMessage(s, message) },
];

/** How often Cloud Scheduler runs the sweeper. */
const SWEEP_EVERY_MS = 60_000;
/** Faults (crashes, transient errors, lost/duplicate/late deliveries, hangs) stop here... */
export const FAULTS_END_MS = 5 * 60_000;
/** ...and every deployment must have ended this much later, with the sweeper running fault-free. */
export const TERMINATION_BOUND_MS = 20 * 60_000;
const MAX_STEPS = 300_000;
const START = Date.UTC(2026, 0, 1);

/** Fault rates while faults are on. */
const FAULTS = {
  crash: 0.01,
  transient: 0.01,
  lost: 0.04,
  duplicate: 0.12,
  late: 0.06,
  lateMaxMs: 45_000,
  concurrentSweep: 0.3,
};

const examplePath = fileURLToPath(new URL("../../orchestration.json", import.meta.url));
const exampleConfig = JSON.parse(readFileSync(examplePath, "utf8")) as Record<string, unknown>;

export interface EnvSpec {
  name: string;
  concurrency: number;
  rollback_policy: "all" | "failed-only";
}

/** A config with the given environments (development ones, every integration), from the shipped example. */
function configFor(envs: readonly EnvSpec[]): Record<string, unknown> {
  const config = structuredClone(exampleConfig);
  const base = config.base as Record<string, unknown>;
  config.base = { ...base, schedules: { ...(base.schedules ?? {}), retention_days: SIM_RETENTION_DAYS } };
  config.environments = envs.map((env, index) => ({
    name: env.name,
    type: "development",
    project_id: `demo-sim-${env.name}`,
    mode: "emulated",
    concurrency: env.concurrency,
    rollback_policy: env.rollback_policy,
    integrations: [...INTEGRATION_KINDS],
    ...(index === 0 ? {} : {}),
  }));
  return config;
}

export interface DeploymentSpec {
  id: string;
  at: number;
  environment: string;
  integrations: string[];
  configuration: Record<string, unknown>;
  cancelAt: number | null;
}

interface ConfigChange {
  at: number;
  label: string;
  envs: EnvSpec[];
}

/** What a seed decides before the run: environments, deployments, behaviours, cancels, config changes. */
export interface Scenario {
  envs: EnvSpec[];
  deployments: DeploymentSpec[];
  behaviours: Map<string, Behaviour>;
  configChanges: ConfigChange[];
}

function buildScenario(rng: Prng): Scenario {
  const policy = () => rng.pick(["all", "failed-only"] as const);
  const envs: EnvSpec[] = [
    { name: "dev", concurrency: rng.between(1, 3), rollback_policy: policy() },
    { name: "lab", concurrency: rng.between(1, 3), rollback_policy: policy() },
  ];
  const deployments: DeploymentSpec[] = [];
  const behaviours = new Map<string, Behaviour>();
  const count = rng.between(1, 3);
  for (let index = 0; index < count; index++) {
    const id = `d${index + 1}`;
    const pool = [...INTEGRATION_KINDS];
    const integrations: string[] = [];
    const size = rng.between(2, 5);
    while (integrations.length < size) integrations.push(pool.splice(rng.int(pool.length), 1)[0]!);
    const leaseSeconds = 20;
    for (const integration of integrations) {
      behaviours.set(`${id}--${integration}`, {
        latencyMs: rng.between(200, 8000),
        failFirst: rng.chance(0.25) ? rng.between(1, 2) : 0,
        permanent: rng.chance(0.1),
        hangMs: rng.chance(0.08) ? rng.between(leaseSeconds * 1500, leaseSeconds * 3000) : 0,
      });
    }
    deployments.push({
      id,
      at: rng.between(1000, 90_000),
      environment: rng.pick(envs).name,
      integrations,
      configuration: {
        driver: "simulated",
        max_retries: rng.between(0, 2),
        retry_base_ms: 500,
        retry_max_ms: 10_000,
        lease_seconds: leaseSeconds,
      },
      cancelAt: rng.chance(0.1) ? rng.between(2000, 120_000) : null,
    });
  }
  const configChanges: ConfigChange[] = [];
  if (rng.chance(0.35)) {
    const at = rng.between(5000, FAULTS_END_MS);
    const kind = rng.pick(["policy", "concurrency", "remove"] as const);
    const target = rng.pick(envs);
    const changed = envs.map((env) => ({ ...env }));
    if (kind === "remove") {
      configChanges.push({
        at,
        label: `remove environment ${target.name}`,
        envs: changed.filter((env) => env.name !== target.name),
      });
    } else {
      const env = changed.find((candidate) => candidate.name === target.name)!;
      if (kind === "policy") env.rollback_policy = env.rollback_policy === "all" ? "failed-only" : "all";
      else env.concurrency = rng.between(1, 4);
      configChanges.push({
        at,
        label: `${kind} of ${env.name}: ${env.rollback_policy}, concurrency ${env.concurrency}`,
        envs: changed,
      });
    }
  }
  return { envs, deployments, behaviours, configChanges };
}

/** The outcome of one seeded run. */
export interface SimulationResult {
  seed: number;
  violations: Violation[];
  steps: number;
  simulatedMs: number;
  ended: "stopped" | "deadline" | "steps";
  deployments: { id: string; status: string }[];
  crashes: number;
  trace: string[];
}

const snapshot = (change: DocChange, data: Data | undefined): TriggerSnapshot => ({
  id: change.id,
  ref: { path: change.path },
  exists: data !== undefined,
  data: () => data && copy(data),
});

const triggerFires: Record<DocumentTrigger["on"], (change: DocChange) => boolean> = {
  created: (change) => !change.before && !!change.after,
  updated: (change) => !!change.before && !!change.after,
  deleted: (change) => !!change.before && !change.after,
  written: () => true,
};

/** Labels of operations that may fail transiently: Firestore calls and publishes (not sleeps or drivers). */
const transientLabel = (label: string) =>
  /^(get|query|count|getAll|tx\.get|tx\.getAll|tx\.query|commit|publish) /.test(label);

/** How a run may differ from a soak's: a given scenario, no faults, and a look at every call it makes. */
export interface SimulationOptions {
  trace?: boolean;
  /** The run's scenario instead of the one its seed draws. */
  scenario?: Scenario;
  /** False: no crash, transient error, lost, duplicate or late delivery, hang, time jump or concurrent sweep. */
  faults?: boolean;
  /** Sees each Firestore call (`get tasks/x`, `commit ...`) and publish (`publish <topic>`) as it is made. */
  onCall?: (label: string) => void;
  /** Sees each function invocation a delivery starts (the trigger's name). */
  onInvocation?: (trigger: string) => void;
}

/** Runs one seed and checks the invariants. */
export async function simulate(seed: number, options: SimulationOptions = {}): Promise<SimulationResult> {
  const rng = new Prng(seed);
  const drawn = buildScenario(rng);
  const scenario = options.scenario ?? drawn;
  const scheduler = new Scheduler(rng, 0, options.trace ?? false);
  let faultsOn = options.faults ?? true;
  if (!faultsOn) scheduler.step = { ...scheduler.step, jumpChance: 0 };
  const db = new MemoryFirestore(
    {
      point: (label) => {
        options.onCall?.(label);
        return scheduler.point(label);
      },
    },
    () => new Date(START + scheduler.now),
  );
  const observed: Observed = {
    transitions: [],
    events: [],
    policies: new Map(),
    unhandled: [],
    applies: [],
    rollbacks: [],
    deployments: new Map(),
    tasks: new Map(),
    audit: [],
    taskExits: [],
    claimTakeovers: [],
    expiries: [],
  };
  const driver = createRecordingDriver({
    scheduler,
    db,
    behaviour: (task: Task) =>
      scenario.behaviours.get(task.id) ?? { latencyMs: 1000, failFirst: 0, permanent: false, hangMs: 0 },
    faultsOn: () => faultsOn,
  });
  const log: Logger = {
    debug: () => undefined,
    info: (message, fields) => scheduler.log(() => `log info ${message} ${describe(fields)}`),
    warn: (message, fields) => scheduler.log(() => `log warn ${message} ${describe(fields)}`),
    error: (message, fields) => scheduler.log(() => `log error ${message} ${describe(fields)}`),
  };

  // Filled in below: deliveries only fire once the scheduler runs, after the services exist.
  const wiring: { services?: Services } = {};
  const deliver = (name: string, run: (services: Services) => Promise<unknown>) => {
    if (faultsOn && rng.chance(FAULTS.lost)) {
      scheduler.log(`LOST delivery ${name}`);
      return;
    }
    const copies = faultsOn && rng.chance(FAULTS.duplicate) ? 2 : 1;
    for (let copy = 0; copy < copies; copy++) {
      const delay = rng.int(500) + (faultsOn && rng.chance(FAULTS.late) ? rng.int(FAULTS.lateMaxMs) : 0);
      scheduler.at(scheduler.now + delay, `deliver ${name}${copy > 0 ? " (duplicate)" : ""}`, () => {
        options.onInvocation?.(name.split(" ")[0]!);
        scheduler.spawn(name, () => run(wiring.services!));
      });
    }
  };

  const policyCache = new Map<string, Map<string, string>>();
  const policiesNow = (): Map<string, string> => {
    const raw = db.peek(`${COLLECTIONS.config}/current`)?.config_data;
    const key = JSON.stringify(raw ?? null);
    let found = policyCache.get(key);
    if (!found) {
      const result = validateConfig(raw);
      found = new Map(
        result.ok ? result.config.environments.map((env) => [env.name, env.rollback_policy]) : [],
      );
      policyCache.set(key, found);
    }
    return found;
  };

  db.onCommit((changes) => {
    for (const change of changes) {
      recordTransition(change, observed.transitions);
      recordLeaseEnds(change, START + scheduler.now, driver.applies, observed);
      recordExpiry(change, observed.expiries);
      if (
        change.collection === COLLECTIONS.deployments &&
        change.before?.status === "requested" &&
        change.after?.status === "running"
      ) {
        const policy = policiesNow().get(String(change.after.environment));
        if (policy) observed.policies.set(change.id, policy);
      }
      for (const trigger of DOCUMENT_TRIGGERS) {
        if (trigger.collection !== change.collection || !triggerFires[trigger.on](change)) continue;
        const before = change.before && snapshot(change, change.before);
        const after = change.after && snapshot(change, change.after);
        deliver(`${trigger.name} ${change.id}`, (s) => trigger.handle(s, before, after));
      }
    }
  });

  const publish = async (topic: string, json: unknown) => {
    options.onCall?.(`publish ${topic}`);
    await scheduler.point(`publish ${topic}`);
    for (const trigger of TOPIC_TRIGGERS) {
      if (trigger.topic !== topic) continue;
      const message = { json: copy(json) };
      deliver(`${trigger.name} ${JSON.stringify(json)}`, (s) => trigger.handle(s, message));
    }
  };
  const bus: Bus = {
    publishTask: (message) => publish(TOPICS.tasks, message),
    async publishEvent(event: OrchestrationEvent) {
      const parsed = orchestrationEventSchema.parse(event);
      await publish(TOPICS.events, parsed);
      observed.events.push(parsed);
    },
  };

  const live = createServices({
    db: asFirestore(db),
    clock: { now: () => new Date(START + scheduler.now) },
    bus,
    log,
    // A fixed key: reading the key file is real I/O, which the scheduler cannot order.
    auditKey: () => Promise.resolve(new Uint8Array(32).fill(7)),
    engine: {
      drivers: { simulated: driver, integration: driver },
      random: () => rng.next(),
      sleep: (ms: number, signal?: AbortSignal) => scheduler.sleep(ms, "sleep", signal),
      maxInlineWaitMs: 30_000,
    },
  });
  wiring.services = live;

  const onUnhandled = (reason: unknown) => {
    if (reason instanceof CrashError) return; // the process is dead anyway
    observed.unhandled.push(reason instanceof Error ? reason.message : String(reason));
  };
  // Code that reads the wall clock (Date.now) sees simulated time, so leases on it expire with the simulation.
  const realNow = Date.now;
  Date.now = () => START + scheduler.now;
  const others = process.listeners("unhandledRejection");
  process.removeAllListeners("unhandledRejection");
  process.on("unhandledRejection", onUnhandled);
  try {
    const loadConfig = (envs: readonly EnvSpec[]) => async () => {
      const raw = configFor(envs);
      const validated = validateConfig(raw);
      if (!validated.ok)
        throw new Error(`the simulated config is invalid: ${validated.problems[0]?.message}`);
      await live.store.loadConfig(validated.config, raw, live.clock.now());
    };
    const setup = scheduler.spawn("setup: load config", loadConfig(scenario.envs), true);
    await scheduler.run(() => setup.done, 10_000, MAX_STEPS);
    if (setup.error) throw new Error(`setup failed: ${setup.error}`);

    if (faultsOn)
      scheduler.faults = {
        crash: FAULTS.crash,
        transient: FAULTS.transient,
        transientLabel,
        transientError: (label) =>
          label.startsWith("publish")
            ? new Error(`Pub/Sub publish failed (simulated): ${label}`)
            : new FirestoreError(14, `14 UNAVAILABLE: simulated transient failure of ${label}`),
      };
    let lastScripted = FAULTS_END_MS;
    for (const spec of scenario.deployments) {
      const request = {
        environment: spec.environment,
        integrations: spec.integrations,
        configuration: spec.configuration,
      };
      scheduler.at(spec.at, `request ${spec.id}`, () => {
        scheduler.spawn(`POST /deploy ${spec.id}`, () =>
          live.engine.requestDeployment(spec.id, request, "system:sim"),
        );
      });
      if (spec.cancelAt !== null) {
        const at = spec.at + spec.cancelAt;
        lastScripted = Math.max(lastScripted, at);
        scheduler.at(at, `cancel ${spec.id}`, () => {
          scheduler.spawn(`POST /deployments/${spec.id}/cancel`, () => live.engine.cancel(spec.id));
        });
      }
    }
    for (const change of scenario.configChanges) {
      scheduler.at(change.at, `config change: ${change.label}`, () => {
        scheduler.spawn(`POST /config (${change.label})`, loadConfig(change.envs));
      });
    }
    scheduler.at(FAULTS_END_MS, "faults stop", () => {
      faultsOn = false;
      scheduler.faults = { ...scheduler.faults, crash: 0, transient: 0 };
      scheduler.step = { ...scheduler.step, jumpChance: 0 };
    });
    const deadline = FAULTS_END_MS + TERMINATION_BOUND_MS;
    const sweepAt = (at: number) =>
      scheduler.at(
        at,
        "sweep (Cloud Scheduler)",
        () => {
          const sweepers = faultsOn && rng.chance(FAULTS.concurrentSweep) ? 2 : 1;
          for (let index = 0; index < sweepers; index++)
            // As functions/src/index.ts: the sweeper also drains the audit chain, even when the engine's sweep fails.
            scheduler.spawn("sweep", async () => {
              const [swept, drained] = await Promise.allSettled([live.engine.sweep(), live.audit.drain()]);
              if (swept.status === "rejected") throw swept.reason;
              if (drained.status === "rejected") throw drained.reason;
            });
          if (at + SWEEP_EVERY_MS <= deadline) sweepAt(at + SWEEP_EVERY_MS);
        },
        true,
      );
    sweepAt(SWEEP_EVERY_MS);

    // Quiescent: every deployment ended and every committed fact delivered (outbox relayed, audit
    // records chained); the sweeper keeps running until then, up to the bound.
    const allEnded = () =>
      db
        .list(COLLECTIONS.deployments)
        .every((doc) => isTerminalDeployment(doc.data.status as DeploymentStatus)) &&
      db.list(OUTBOX).length === 0 &&
      db.list(AUDIT_COLLECTIONS.inbox).length === 0;
    const ended = await scheduler.run(
      () => scheduler.now > lastScripted && !scheduler.busy() && allEnded(),
      deadline,
      MAX_STEPS,
    );
    for (const doc of db.list(COLLECTIONS.deployments)) observed.deployments.set(doc.id, doc.data);
    for (const doc of db.list(COLLECTIONS.tasks)) observed.tasks.set(doc.id, doc.data);
    observed.audit = db.list("audit_log").map((doc) => doc.data);
    observed.applies = driver.applies;
    observed.rollbacks = driver.rollbacks;
    const violations = checkInvariants(observed, ended);
    for (const violation of violations)
      scheduler.log(`VIOLATION ${violation.invariant}: ${violation.detail}`);
    return {
      seed,
      violations,
      steps: scheduler.steps,
      simulatedMs: scheduler.now,
      ended,
      deployments: [...observed.deployments].map(([id, doc]) => ({ id, status: String(doc.status) })),
      crashes: scheduler.invocations.filter((invocation) => invocation.dead).length,
      trace: scheduler.trace,
    };
  } finally {
    Date.now = realNow;
    process.removeAllListeners("unhandledRejection");
    for (const listener of others) process.on("unhandledRejection", listener);
  }
}

const millis = (value: unknown) => (value instanceof Timestamp ? value.toMillis() : Number.NaN);

/** A task leaving running, and a rollback claim moving to a new attempt, with the lease they ended. */
function recordLeaseEnds(
  change: DocChange,
  at: number,
  applies: readonly ApplyRecord[],
  into: Observed,
): void {
  const { before, after } = change;
  if (!before || !after || before.status !== "running") return;
  if (change.collection === COLLECTIONS.tasks && after.status !== "running") {
    const attempt = Number(before.attempt);
    into.taskExits.push({
      taskId: change.id,
      attempt,
      to: String(after.status),
      at,
      leaseUntil: millis(before.lease_expires_at),
      applyReturned: applies.some(
        (apply) => apply.taskId === change.id && apply.attempt === attempt && apply.end !== null,
      ),
    });
  }
  if (change.collection === ROLLBACK_CLAIMS && Number(after.attempt) > Number(before.attempt)) {
    into.claimTakeovers.push({
      taskId: change.id,
      fromAttempt: Number(before.attempt),
      toAttempt: Number(after.attempt),
      at,
      leaseUntil: millis(before.lease_expires_at),
    });
  }
}

/** The state and expiry a commit left a task, deployment or rollback claim in. */
function recordExpiry(change: DocChange, into: ExpiryRecord[]): void {
  const kind =
    change.collection === COLLECTIONS.tasks
      ? "task"
      : change.collection === COLLECTIONS.deployments
        ? "deployment"
        : change.collection === ROLLBACK_CLAIMS
          ? "claim"
          : null;
  if (kind === null || !change.after) return;
  const expireAt = change.after.expire_at;
  into.push({
    kind,
    id: change.id,
    status: String(change.after.status),
    expireAt: expireAt === null || expireAt === undefined ? null : millis(expireAt),
    completedAt: change.after.completed_at ? millis(change.after.completed_at) : null,
  });
}

/** A committed change of a deployment's or task's state, as the invariants count them. */
function recordTransition(change: DocChange, into: Transition[]): void {
  const { before, after } = change;
  if (!before || !after) return;
  if (change.collection === COLLECTIONS.deployments && before.status !== after.status) {
    into.push({ kind: "deployment", id: change.id, from: String(before.status), to: String(after.status) });
  }
  if (
    change.collection === COLLECTIONS.tasks &&
    (before.status !== after.status || (before.rollback_note === null && after.rollback_note !== null))
  ) {
    into.push({ kind: "task", id: change.id, from: String(before.status), to: String(after.status) });
  }
}

function describe(fields: Record<string, unknown> | undefined): string {
  return fields ? JSON.stringify(fields) : "";
}
