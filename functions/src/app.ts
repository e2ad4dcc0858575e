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
import { createEngine, type Engine } from "./engine/engine.js";
import { createEnvironmentResolver, type EnvironmentResolver } from "./engine/environments.js";
import { createHealthMonitor, type HealthMonitor } from "./engine/health.js";
import { createOperations, type Operations } from "./engine/operations.js";
import { functionsLogger, type Logger } from "./logs.js";
import { createEngineStore, type EngineStore } from "./store/engine-store.js";
import { createAuditLog, type AuditLog } from "./store/audit-log.js";
import { createHistory, type HistoryReader } from "./store/history.js";
import { createReleaseStore } from "./store/releases.js";
import { createStore, type Store } from "./store/store.js";
import { warehouseFromEnv } from "./warehouse/from-env.js";
import type { Warehouse } from "./warehouse/warehouse.js";

/** A clock, injected so that time-based behaviour is testable without waiting. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

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
  bus: Bus;
  clock: Clock;
  log: Logger;
  webClient: WebClientConfig;
  /** The analytical store of orchestration_events, once resolved (null: none configured). */
  warehouse: () => Promise<Warehouse | null>;
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
  /** The warehouse; by default chosen from the environment (`warehouse/from-env.ts`). */
  warehouse?: Warehouse | null;
}): Services {
  const clock = deps.clock ?? systemClock;
  const store = createStore(deps.db);
  const engineStore = createEngineStore(deps.db);
  const bus = deps.bus ?? createPubSubBus();
  const log = deps.log ?? functionsLogger;
  const environments = createEnvironmentResolver(store);
  const specs = createDriverSpecs({
    db: deps.db,
    backupRoot: path.join(sourceRoot(), ".stack", "backups", process.env.GCLOUD_PROJECT ?? "local"),
  });
  const fabricator = createFabricator(specs, createReleaseStore(deps.db), deps.io ?? driverIO());
  const health = createHealthMonitor({ store, environments, fabricator, bus, clock, log });
  const audit = createAuditLog(deps.db, clock);
  const access = createAccessControl({
    db: deps.db,
    verifyIdToken: deps.verifyIdToken ?? ((token) => getAuth().verifyIdToken(token, true)),
    projectId: process.env.GCLOUD_PROJECT ?? "",
    clock,
  });
  // Bound after the engine exists: operations build on the engine, and the engine reports back to them.
  const late: { operations?: Operations } = {};
  let warehouseOnce: Promise<Warehouse | null> | undefined;
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
    random: Math.random,
    maxInlineWaitMs: 30_000,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    onFinished: (deployment) => late.operations?.deploymentFinished(deployment) ?? Promise.resolve(),
    // As in the API: the state change is committed; a failed append is logged, not turned into a failure.
    audit: (entry) =>
      audit.append(entry).catch((error: unknown) => {
        log.error("audit append failed", { error: error instanceof Error ? error.message : String(error) });
      }),
  });
  const operations = createOperations({ store, engine, environments, fabricator, health, clock });
  late.operations = operations;
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
    history: createHistory(deps.db),
    bus,
    clock,
    log,
    webClient: webClientConfig(),
    warehouse: () =>
      (warehouseOnce ??=
        deps.warehouse !== undefined ? Promise.resolve(deps.warehouse) : warehouseFromEnv(process.env)),
  };
}
