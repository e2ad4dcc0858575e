/**
 * Cloud Storage, live: the environment's Firebase bucket (`<project>.firebasestorage.app`) gets the
 * CORS and lifecycle the config lists through the Cloud Storage JSON API (v1, `buckets.patch`, the
 * call `gcloud storage buckets update` makes), and its security rules through the Firebase Rules API
 * (the `firebase.storage/<bucket>` release, what `firebase deploy --only storage` does). A bucket's
 * location is fixed when it is created: a config naming another one is refused, not "fixed".
 */
import type { storage_v1 } from "googleapis/build/src/apis/storage/v1.js";
import { NonRetriableError } from "../../domain/errors.js";

import { storageDriver } from "../storage.js";
import type { DriverSpec, DriverTarget } from "../types.js";
import { callGoogle, callGoogleData, requireAccess, storageApi, type GoogleAccess } from "./google.js";
import { releasedRules, releaseRules, type RulesTarget } from "./rules-release.js";
import { sha256 } from "../../domain/digest.js";

/** One lifecycle rule as Cloud Storage spells it. */
export interface LifecycleRule {
  action: { type: string; storageClass?: string };
  condition: { age?: number; isLive?: boolean; matchesPrefix?: string[]; numNewerVersions?: number };
}

/** What the live bucket holds of ours, in Cloud Storage's own spelling. */
export interface StorageLiveState {
  bucket: string;
  /** Upper case, as Cloud Storage reports it ("US-CENTRAL1"). */
  location: string;
  cors: { origin: string[]; method: string[]; maxAgeSeconds: number }[];
  lifecycle: LifecycleRule[];
  /** The source the bucket's rules release serves; null when it never had rules released. */
  rules: string | null;
}

const RULES_FILE = "storage.rules";
const READ = "storage.buckets.get";
const WRITE = "storage.buckets.update";

const rulesTarget = (project: string, bucket: string): RulesTarget => ({
  project,
  release: `firebase.storage/${bucket}`,
  file: RULES_FILE,
});

/** A bucket's CORS and lifecycle as our state spells them (Cloud Storage omits empty fields and a 0 max age). */
function bucketConfig(bucket: storage_v1.Schema$Bucket): Pick<StorageLiveState, "cors" | "lifecycle"> {
  return {
    cors: (bucket.cors ?? []).map((entry) => ({
      origin: entry.origin ?? [],
      method: entry.method ?? [],
      maxAgeSeconds: entry.maxAgeSeconds ?? 0,
    })),
    lifecycle: (bucket.lifecycle?.rule ?? []).map((rule) => ({
      action: {
        type: rule.action?.type ?? "",
        ...(rule.action?.storageClass ? { storageClass: rule.action.storageClass } : {}),
      },
      condition: Object.fromEntries(
        Object.entries(rule.condition ?? {}).filter(([, value]) => value !== undefined && value !== null),
      ),
    })),
  };
}

async function liveBucket(
  access: GoogleAccess,
  api: storage_v1.Storage,
  target: DriverTarget<"storage">,
  bucket: string,
): Promise<storage_v1.Schema$Bucket> {
  const answer = await callGoogle(
    access,
    `reading bucket ${bucket}`,
    READ,
    () => api.buckets.get({ bucket }),
    [404],
  );
  if (!answer.ok)
    throw new NonRetriableError(
      `bucket ${bucket} was not found (${answer.failure.message}); create the default bucket of ${target.environment.project_id} in the Firebase console (Storage, Get started) in ${target.settings.location}, then plan again`,
    );
  return answer.data;
}

const sameConfig = (
  a: Pick<StorageLiveState, "cors" | "lifecycle">,
  b: Pick<StorageLiveState, "cors" | "lifecycle">,
) => JSON.stringify([a.cors, a.lifecycle]) === JSON.stringify([b.cors, b.lifecycle]);

/** The live half of the storage driver; the staged half (storage.ts) validates the same settings. */
export const liveStorageSpec: DriverSpec<"storage", StorageLiveState> = {
  kind: "storage",
  mode: () => "live",

  async desired(target, io) {
    const staged = await storageDriver.desired(target, io);
    const rules = await io.sources.readText(target.settings.rules_file);
    return {
      ...staged,
      state: {
        bucket: staged.state.bucket,
        location: staged.state.location.toUpperCase(),
        cors: staged.state.cors.map((entry) => ({
          origin: entry.origin,
          method: entry.method,
          maxAgeSeconds: entry.max_age_seconds,
        })),
        lifecycle:
          staged.state.lifecycle.delete_after_days === null
            ? []
            : [{ action: { type: "Delete" }, condition: { age: staged.state.lifecycle.delete_after_days } }],
        rules: rules ?? null,
      },
    };
  },

  async observe(target, io) {
    const access = requireAccess(io.google, "storage");
    const bucket = `${target.environment.project_id}.firebasestorage.app`;
    const live = await liveBucket(access, await storageApi(access), target, bucket);
    return {
      bucket,
      location: (live.location ?? "").toUpperCase(),
      ...bucketConfig(live),
      rules: await releasedRules(access, rulesTarget(target.environment.project_id, bucket)),
    };
  },

  async apply(target, state, io) {
    const access = requireAccess(io.google, "storage");
    const api = await storageApi(access);
    const live = await liveBucket(access, api, target, state.bucket);
    const location = (live.location ?? "").toUpperCase();
    if (location !== state.location)
      throw new NonRetriableError(
        `bucket ${state.bucket} is in ${location}, the config asks for ${state.location}: a bucket's location is fixed when it is created (set storage.location to ${location.toLowerCase()}, or move the data to a new bucket yourself)`,
      );
    if (!sameConfig(bucketConfig(live), state))
      // Empty lists are sent, not left out: a field left out of a patch keeps its old value.
      await callGoogleData(access, `updating the CORS and lifecycle of ${state.bucket}`, WRITE, () =>
        api.buckets.patch({
          bucket: state.bucket,
          requestBody: { cors: state.cors, lifecycle: { rule: state.lifecycle } },
        }),
      );
    const rules = rulesTarget(target.environment.project_id, state.bucket);
    if (state.rules !== null && (await releasedRules(access, rules)) !== state.rules)
      await releaseRules(access, rules, state.rules);
  },

  async verify(target, io, release) {
    const access = requireAccess(io.google, "storage");
    const bucket = `${target.environment.project_id}.firebasestorage.app`;
    const live = await liveBucket(access, await storageApi(access), target, bucket);
    const rules = await releasedRules(access, rulesTarget(target.environment.project_id, bucket));
    const config = bucketConfig(live);
    const wanted = release ? (release.state as StorageLiveState) : undefined;
    if (wanted && !sameConfig(config, wanted))
      return {
        status: "degraded",
        details: `bucket ${bucket}'s CORS or lifecycle differ from release ${release?.number ?? "?"} (changed outside the control plane?)`,
      };
    if (wanted && rules !== wanted.rules)
      return {
        status: "degraded",
        details: `the rules bucket ${bucket} serves (${rules === null ? "none" : sha256(rules).slice(0, 12)}) differ from release ${release?.number ?? "?"}'s`,
      };
    return {
      status: "healthy",
      details: `Google reports bucket ${bucket} in ${live.location ?? "?"} with ${config.cors.length} CORS entr${config.cors.length === 1 ? "y" : "ies"}, ${config.lifecycle.length} lifecycle rule(s) and rules ${rules === null ? "absent" : sha256(rules).slice(0, 12)}`,
    };
  },
};
