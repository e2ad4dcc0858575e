/**
 * The tuning records: `tuning_actions` (every change applied, its canary and its outcome) and
 * `tuning_overrides` (the values in force instead of the config's, one document per environment,
 * setting and, for the task engine settings, integration; an environment's are one query).
 */
import type { Firestore } from "firebase-admin/firestore";
import {
  TUNING_COLLECTIONS,
  tuningActionSchema,
  tuningOverrideSchema,
  type TuningOverride,
} from "../domain/learning/tuning.js";
import { coalesceByKey } from "./coalesce.js";
import { typedCollection } from "./typed-collection.js";

export function createTuningStore(db: Firestore) {
  const actions = typedCollection(db, TUNING_COLLECTIONS.actions, tuningActionSchema);
  const overrides = typedCollection(db, TUNING_COLLECTIONS.overrides, tuningOverrideSchema);
  // Every deployment request resolves its environment: concurrent ones share these reads.
  const readOverrides = coalesceByKey(async (environment: string) => {
    const snap = await overrides.where("environment", "==", environment).get();
    return snap.docs.map((doc) => doc.data());
  });
  return {
    db,
    actions,
    overrides,
    /** The overrides in force for an environment (none when nothing was applied). */
    async overridesOf(environment: string): Promise<TuningOverride[]> {
      return structuredClone(await readOverrides(environment));
    },
  };
}

export type TuningStore = ReturnType<typeof createTuningStore>;
