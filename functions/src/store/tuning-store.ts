/**
 * The tuning records: `tuning_actions` (every change applied, its canary and its outcome) and
 * `tuning_overrides` (the values in force instead of the config's, one document per environment
 * and setting, so reading an environment's overrides is one get per setting).
 */
import type { Firestore } from "firebase-admin/firestore";
import { TUNABLE_SETTINGS } from "../domain/config-schema.js";
import {
  TUNING_COLLECTIONS,
  overrideId,
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
    const refs = TUNABLE_SETTINGS.map((setting) => overrides.doc(overrideId(environment, setting)));
    const snaps = await Promise.all(refs.map((ref) => ref.get()));
    return snaps.flatMap((snap) => {
      const doc = snap.data();
      return doc ? [doc] : [];
    });
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
