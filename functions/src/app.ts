/** Wires the services every handler uses, once; tests wire the same with their own clock. */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getAuth } from "firebase-admin/auth";
import type { Firestore } from "firebase-admin/firestore";
import { createAccessControl, type AccessControl, type VerifiedIdToken } from "./auth/access-control.js";
import { createPubSubBus, type Bus } from "./bus.js";
import { createFabricator, type Fabricator } from "./drivers/fabricator.js";
import { createIntegrationDriver } from "./drivers/integration-driver.js";
import { createDriverSpecs } from "./drivers/registry.js";
import { createSimulatedDriver } from "./drivers/simulated.js";
import { directorySourceReader } from "./drivers/sources.js";
import type { DriverIO } from "./drivers/types.js";
import { applicationDefaultAccess, type GoogleAccess } from "./drivers/live/google.js";
import type { AuditKey } from "./domain/audit.js";
import { approvalPolicyFor } from "./domain/config.js";
import { createEngine, type Engine, type EngineDeps } from "./engine/engine.js";
import { createEnvironmentResolver, type EnvironmentResolver } from "./engine/environments.js";
import { createHealthMonitor, type HealthMonitor } from "./engine/health.js";
import { createLearning, type Learning } from "./engine/learning.js";
import { createNotifier } from "./engine/notifier.js";
import { createOperations, type Operations } from "./engine/operations.js";
import { createScheduledJobs, type ScheduledJobs } from "./engine/scheduled-jobs.js";
import { createTuning, type Tuning } from "./engine/tuning.js";
import type { WarehouseMaintenance } from "./engine/job-actions.js";
import { functionsLogger, type Logger } from "./logs.js";
import { createEngineStore, type EngineStore } from "./store/engine-store.js";
import { createAuditLog, stageAudit, type AuditLog } from "./store/audit-log.js";
import { createHistory, type HistoryReader } from "./store/history.js";
import { createReleaseStore } from "./store/releases.js";
import { createRunHistory } from "./store/run-history.js";
import { secretResolverFromEnv, type SecretResolver } from "./store/secret-store.js";
import { createOutbox } from "./store/outbox.js";
import { createPersonalData, type PersonalData } from "./store/personal-data.js";
import { createStore, type Store } from "./store/store.js";
import { createTuningStore } from "./store/tuning-store.js";
import { warehouseFromEnv } from "./warehouse/from-env.js";
import { loadWindowAggregates } from "./warehouse/optimize.js";
import type { Warehouse } from "./warehouse/warehouse.js";

/** Answers undefined for firebase-admin's "no such user", and rethrows anything else. */
function userNotFound(error: unknown): undefined {
  if (typeof error === "object" && error !== null && "code" in error && error.code === "auth/user-not-found")
    return undefined;
  throw error;
}

/** A clock, injected so that time-based behaviour is testable without waiting. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** How often one instance runs the audit chain writer inline after staging records. */
const CHAIN_EVERY_MS = 1_000;

/** Waits `ms`, or until the signal aborts; never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** Everything a handler needs. */
export interface Services {
  store: Store;
  engineStore: EngineStore;
  engine: Engine;
  environments: EnvironmentResolver;
  fabricator: Fabricator;
  health: HealthMonitor;
  operations: Operations;
  access: AccessControl;
  audit: AuditLog;
  history: HistoryReader;
  /** Learned estimates of task durations and failures, from recent runs. */
  learning: Learning;
  /** Recommended setting changes applied as overrides, watched as canaries, reverted when worse. */
  tuning: Tuning;
  bus: Bus;
  clock: Clock;
  log: Logger;
  webClient: WebClientConfig;
  /** The scheduled jobs: catalog, runner and the Cloud Scheduler sync. */
  jobs: ScheduledJobs;
  /** The analytical store of orchestration_events, once resolved (null: none configured). */
  warehouse: () => Promise<Warehouse | null>;
  /** How live environments reach Google (the drivers' and the doctor's). */
  google: GoogleAccess;
  /** A person's data: export and erasure. */
  personalData: PersonalData;
}

/**
 * What the dashboard needs to reach Firebase from a browser: public by nature (a web app's config
 * is shipped to every visitor). On the Emulator Suite it names the emulators the functions were given.
 */
export interface WebClientConfig {
  project_id: string;
  api_key: string;
  auth_domain: string;
  emulators: { auth: string | null; firestore: string | null };
}

export function webClientConfig(env: NodeJS.ProcessEnv = process.env): WebClientConfig {
  const projectId = env.GCLOUD_PROJECT ?? "";
  return {
    project_id: projectId,
    // The Auth emulator accepts any key; a real project sets its web API key.
    api_key: env.ORCH_WEB_API_KEY ?? "emulator-only",
    auth_domain: env.ORCH_WEB_AUTH_DOMAIN ?? `${projectId}.firebaseapp.com`,
    emulators: {
      auth: env.FIREBASE_AUTH_EMULATOR_HOST ? `http://${env.FIREBASE_AUTH_EMULATOR_HOST}` : null,
      firestore: env.FIRESTORE_EMULATOR_HOST ?? null,
    },
  };
}

/** The repository root, where the environment sources (rules, sites, function code) live; ORCH_SOURCE_ROOT overrides. */
function sourceRoot(): string {
  return process.env.ORCH_SOURCE_ROOT ?? path.resolve(fileURLToPath(new URL("../..", import.meta.url)));
}

/** The emulator hosts the drivers call, from the variables the Emulator Suite sets for functions. */
export function driverIO(): DriverIO {
  const env = process.env;
  return {
    sources: directorySourceReader(sourceRoot()),
    emulators: {
      firestore: env.FIRESTORE_EMULATOR_HOST,
      auth: env.FIREBASE_AUTH_EMULATOR_HOST,
      pubsub: env.PUBSUB_EMULATOR_HOST,
      hub: env.FIREBASE_EMULATOR_HUB,
    },
    fetch: (input, init) => fetch(input, init),
    now: () => new Date(),
    // Credentials are looked up on the first live call only: emulated environments never ask.
    google: applicationDefaultAccess(),
  };
}

export function createServices(deps: {
  db: Firestore;
  clock?: Clock;
  bus?: Bus;
  log?: Logger;
  io?: DriverIO;
  /** Verifies Firebase ID tokens; by default firebase-admin's, which accepts Auth emulator tokens when it runs. */
  verifyIdToken?: (token: string) => Promise<VerifiedIdToken>;
  /** Overrides of the engine's drivers, randomness, sleep and inline wait: the deterministic simulation controls them. */
  engine?: Partial<Pick<EngineDeps, "drivers" | "random" | "sleep" | "maxInlineWaitMs" | "inlineChainMs">>;
  /** The audit chain's HMAC key; by default from Secret Manager or the local key file. The simulation fixes it. */
  auditKey?: () => Promise<AuditKey>;
  /** Where Secret Manager references resolve; by default from the environment (`store/secret-store.ts`). */
  secrets?: SecretResolver;
  /** The warehouse; by default chosen from the environment (`warehouse/from-env.ts`). */
  warehouse?: Warehouse | null;
}): Services {
  const clock = deps.clock ?? systemClock;
  const store = createStore(deps.db);
  const engineStore = createEngineStore(deps.db);
  const bus = deps.bus ?? createPubSubBus();
  const log = deps.log ?? functionsLogger;
  const tuningStore = createTuningStore(deps.db);
  const environments = createEnvironmentResolver(store, (name) => tuningStore.overridesOf(name));
  const backupRoot = path.join(sourceRoot(), ".stack", "backups", process.env.GCLOUD_PROJECT ?? "local");
  const specs = createDriverSpecs({ db: deps.db, backupRoot });
  const io = deps.io ?? driverIO();
  const fabricator = createFabricator(specs, createReleaseStore(deps.db), io);
  const notifier = createNotifier({
    db: deps.db,
    environments,
    secrets: deps.secrets ?? secretResolverFromEnv(),
    clock,
    log,
  });
  let warehouseOnce: Promise<Warehouse | null> | undefined;
  const warehouse = () =>
    (warehouseOnce ??=
      deps.warehouse !== undefined ? Promise.resolve(deps.warehouse) : warehouseFromEnv(process.env));
  const health = createHealthMonitor({
    store,
    environments,
    fabricator,
    bus,
    clock,
    log,
    notifier,
    warehouse,
  });
  const audit = createAuditLog(deps.db, clock, deps.auditKey ? { key: deps.auditKey } : {});
  let lastChained = 0;
  const access = createAccessControl({
    db: deps.db,
    verifyIdToken: deps.verifyIdToken ?? ((token) => getAuth().verifyIdToken(token, true)),
    lookupUser: (uid) => getAuth().getUser(uid).catch(userNotFound),
    lookupUserByEmail: (email) => getAuth().getUserByEmail(email).catch(userNotFound),
    listUsers: async () => {
      const users = [];
      let pageToken: string | undefined;
      do {
        const page = await getAuth().listUsers(1000, pageToken);
        users.push(...page.users);
        pageToken = page.pageToken;
      } while (pageToken);
      return users;
    },
    config: () => environments.config(),
    projectId: process.env.GCLOUD_PROJECT ?? "",
    clock,
  });
  // Bound after the engine exists: operations build on the engine, and the engine reports back to them.
  const late: { operations?: Operations } = {};
  const learning = createLearning({ runs: createRunHistory(deps.db), clock, log });
  const engine = createEngine({
    store,
    engineStore,
    bus,
    clock,
    log,
    environment: (name) => environments.environment(name),
    drivers: {
      simulated: createSimulatedDriver(deps.db),
      integration: createIntegrationDriver(fabricator, (name) => environments.environment(name)),
    },
    outbox: createOutbox(deps.db),
    random: Math.random,
    maxInlineWaitMs: 30_000,
    // runTask's timeout is 540 s: a task taken on in the first minute has eight left to finish.
    inlineChainMs: 60_000,
    sleep,
    ...deps.engine,
    onFinished: (deployment) => late.operations?.deploymentFinished(deployment) ?? Promise.resolve(),
    stageAudit: (writer, id, entry) => stageAudit(writer, deps.db, id, entry, clock.now()),
    chainAudit: async () => {
      // One chain writer pass a second per instance at most: records staged meanwhile wait for the
      // next pass (or the sweeper's), durable in the inbox, rather than costing a pass each.
      const now = Date.now();
      if (now - lastChained < CHAIN_EVERY_MS) return;
      lastChained = now;
      await audit.drain({ timeoutMs: 5_000 });
    },
    authorize: (deployment) => access.authorizeRequest(deployment),
    learned: (environment) => learning.model(environment),
    approvalPolicy: async (name) => {
      const config = await environments.config();
      const env = config.environments.find((candidate) => candidate.name === name);
      // An undeclared environment is refused by planning, right after this.
      return env ? approvalPolicyFor(config, env) : null;
    },
  });
  const history = createHistory(deps.db);
  const tuning = createTuning({
    tuning: tuningStore,
    engineStore,
    history,
    environments,
    raiseAlert: (id, alert) => health.raiseAlert(id, alert),
    bus,
    audit,
    clock,
    log,
    aggregates: async (range, environments) => {
      const store = await warehouse();
      if (!store) return null;
      try {
        return await loadWindowAggregates(store, range, environments);
      } catch (error) {
        log.warn("tuning: the warehouse did not answer; recommendations from the documents alone", {
          error: (error as Error).message,
        });
        return null;
      }
    },
  });
  const operations = createOperations({
    store,
    engine,
    environments,
    fabricator,
    health,
    clock,
    learning,
    tuning,
    log,
    deploymentStatus: async (id) => (await engineStore.getDeployment(id))?.status,
  });
  late.operations = operations;
  const jobs = createScheduledJobs({
    db: deps.db,
    clock,
    bus,
    log,
    engine,
    health,
    environments,
    tuning,
    io,
    backupRoot,
    projectId: process.env.GCLOUD_PROJECT ?? "",
    verifyAudit: () => audit.verify(),
    chainAudit: () => audit.drain({ timeoutMs: 30_000 }),
    warehouse: async (): Promise<WarehouseMaintenance | null> => {
      const found = await warehouse();
      return (
        found && {
          maintain: async (now) => {
            const { deleted } = await found.purge(now);
            return {
              summary: `${found.engine}: ${deleted} row(s) past retention purged`,
              result: { deleted },
            };
          },
        }
      );
    },
  });
  return {
    store,
    engineStore,
    engine,
    environments,
    fabricator,
    health,
    operations,
    access,
    audit,
    history,
    learning,
    tuning,
    bus,
    clock,
    log,
    webClient: webClientConfig(),
    jobs,
    warehouse,
    google: io.google ?? applicationDefaultAccess(),
    personalData: createPersonalData({ db: deps.db, audit, warehouse, clock }),
  };
}
