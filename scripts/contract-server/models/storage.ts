import { ApiError } from "../resources.js";
import type { ContractServer } from "../server.js";

type Json = Record<string, unknown>;
/** A bucket as the model keeps it (the JSON API's field names). */
export type StoredBucket = Json & { name: string; location: string; metageneration: string };

/** What the model holds, for tests to inspect and seed: buckets by name. */
export type StorageModel = { buckets: Map<string, StoredBucket> };

const isEmpty = (value: unknown): boolean =>
  value === null ||
  (Array.isArray(value) && value.length === 0) ||
  (typeof value === "object" &&
    value !== null &&
    !Array.isArray(value) &&
    Object.values(value).every((v) => isEmpty(v)));

/**
 * Cloud Storage JSON API v1 buckets as its reference describes them, on a contract server: `get`
 * answers the bucket (404 when there is none: buckets are not created by this model), `patch`
 * replaces each top-level field it is sent (an empty list or object clears it, and the answer then
 * omits it, as Cloud Storage omits empty fields), and bumps `metageneration`; `location`
 * cannot be patched. (Preconditions such as `ifMetagenerationMatch`, answered 412 by Cloud Storage,
 * are not modelled: the driver sends none.)
 */
export function storageModel(server: ContractServer, now: () => Date = () => new Date()): StorageModel {
  const model: StorageModel = { buckets: new Map() };
  const find = (name: string | undefined): StoredBucket => {
    const bucket = model.buckets.get(name ?? "");
    if (!bucket) throw new ApiError("NOT_FOUND", "The specified bucket does not exist.");
    return bucket;
  };
  server
    .on("storage.buckets.get", ({ params }) => ({ body: structuredClone(find(params.bucket)) }))
    .on("storage.buckets.patch", ({ params, body }) => {
      const bucket = find(params.bucket);
      const patch = (body ?? {}) as Json;
      if (patch.location !== undefined && patch.location !== bucket.location)
        throw new ApiError("INVALID_ARGUMENT", "The bucket location cannot be changed.");
      const updated: StoredBucket = {
        ...bucket,
        metageneration: String(Number(bucket.metageneration) + 1),
        updated: now().toISOString(),
      };
      for (const [field, value] of Object.entries(patch)) {
        if (field === "name" || field === "location") continue;
        if (isEmpty(value)) delete updated[field];
        else updated[field] = structuredClone(value);
      }
      model.buckets.set(bucket.name, updated);
      return { body: structuredClone(updated) };
    });
  return model;
}
