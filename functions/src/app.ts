/** Wires the services every handler uses, once; tests wire the same with their own clock. */
import type { Firestore } from "firebase-admin/firestore";
import { createPubSubBus, type Bus } from "./bus.js";
import { createSimulatedDriver } from "./drivers/simulated.js";
import { createEngine, type Engine } from "./engine/engine.js";
import { functionsLogger, type Logger } from "./logs.js";
import { createEngineStore, type EngineStore } from "./store/engine-store.js";
import { createStore, type Store } from "./store/store.js";

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
  bus: Bus;
  clock: Clock;
  log: Logger;
}

export function createServices(deps: { db: Firestore; clock?: Clock; bus?: Bus; log?: Logger }): Services {
  const clock = deps.clock ?? systemClock;
  const store = createStore(deps.db);
  const engineStore = createEngineStore(deps.db);
  const bus = deps.bus ?? createPubSubBus();
  const log = deps.log ?? functionsLogger;
  const engine = createEngine({
    store,
    engineStore,
    bus,
    clock,
    log,
    drivers: { simulated: createSimulatedDriver(deps.db) },
    random: Math.random,
    maxInlineWaitMs: 30_000,
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  });
  return { store, engineStore, engine, bus, clock, log };
}
