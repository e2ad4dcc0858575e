/** Wires the services every handler uses, once; tests wire the same with their own clock. */
import type { Firestore } from "firebase-admin/firestore";
import { createStore, type Store } from "./store/store.js";

/** A clock, injected so that time-based behaviour is testable without waiting. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Everything a handler needs. */
export interface Services {
  store: Store;
  clock: Clock;
}

export function createServices(deps: { db: Firestore; clock?: Clock }): Services {
  return { store: createStore(deps.db), clock: deps.clock ?? systemClock };
}
