/**
 * API keys for CI systems, in `api_keys/{id}`. Only the SHA-256 of a secret is stored; the secret
 * itself is returned once, by `create`. Nothing here returns a hash or a secret afterwards.
 */
import { randomBytes } from "node:crypto";
import { sha256 } from "../domain/digest.js";
import type { Firestore } from "firebase-admin/firestore";
import { z } from "zod";
import { ROLES, type Role } from "../domain/access.js";
import { coalesceByKey } from "./coalesce.js";
import { typedCollection } from "./typed-collection.js";
import { runTransaction } from "./transaction.js";

export const API_KEYS_COLLECTION = "api_keys";

/** Every key starts with this, so that leaked keys are recognisable by secret scanners. */
export const API_KEY_PREFIX = "orch_";

/** `orch_` + 32 random bytes in base64url (43 characters). */
const API_KEY_PATTERN = /^orch_[A-Za-z0-9_-]{43}$/;

/** How often, at most, a key's `last_used_at` is written (a busy CI key must not make a hot document). */
export const TOUCH_INTERVAL_MS = 60_000;

/** `api_keys/{id}` */
export const apiKeyDocSchema = z.strictObject({
  key_hash: z.string().regex(/^[0-9a-f]{64}$/),
  prefix: z.string().length(8),
  role: z.enum(ROLES),
  environments: z.array(z.string().min(1)).min(1).nullable(),
  label: z.string().min(1).max(100),
  created_by: z.string().min(1),
  created_at: z.date(),
  revoked_at: z.date().nullable(),
  last_used_at: z.date().nullable(),
});
export type ApiKeyDoc = z.infer<typeof apiKeyDocSchema>;

/** What listing shows of a key: everything but its hash. */
export type ApiKeySummary = Omit<ApiKeyDoc, "key_hash"> & { id: string };

/** A stored key found by its secret. */
export type ApiKeyRecord = ApiKeySummary;

export function hashApiKey(secret: string): string {
  return sha256(secret);
}

/** Whether a string has the shape of a key this system issues (checked before any lookup). */
export function looksLikeApiKey(value: string): boolean {
  return API_KEY_PATTERN.test(value);
}

const summary = (id: string, { key_hash: _hash, ...rest }: ApiKeyDoc): ApiKeySummary => ({ id, ...rest });

export function createApiKeyStore(db: Firestore) {
  const keys = typedCollection(db, API_KEYS_COLLECTION, apiKeyDocSchema);
  /** When this instance last wrote each key's last_used_at: a second guard besides the stored value. */
  const touched = new Map<string, number>();
  // A CI system sends many requests at once with one key: they share the lookups of its hash.
  const readByHash = coalesceByKey(async (hash: string) => {
    const found = (await keys.where("key_hash", "==", hash).limit(1).get()).docs[0];
    return found ? summary(found.id, found.data()) : undefined;
  });

  return {
    keys,

    /** Creates a key; the secret is in the answer and nowhere else. */
    async create(input: {
      role: Role;
      environments: string[] | null;
      label: string;
      created_by: string;
      now: Date;
    }): Promise<{ id: string; key: string; prefix: string }> {
      const key = API_KEY_PREFIX + randomBytes(32).toString("base64url");
      const id = `k_${randomBytes(8).toString("hex")}`;
      const prefix = key.slice(0, 8);
      await keys.doc(id).create({
        key_hash: hashApiKey(key),
        prefix,
        role: input.role,
        environments: input.environments,
        label: input.label,
        created_by: input.created_by,
        created_at: input.now,
        revoked_at: null,
        last_used_at: null,
      });
      return { id, key, prefix };
    },

    /** The key whose secret hashes to `hash`, revoked or not; undefined when there is none. */
    async findByHash(hash: string): Promise<ApiKeyRecord | undefined> {
      return structuredClone(await readByHash(hash));
    },

    async get(id: string): Promise<ApiKeyRecord | undefined> {
      const doc = await keys.doc(id).get();
      const data = doc.data();
      return data ? summary(doc.id, data) : undefined;
    },

    /**
     * Revokes a key. Answers "revoked", "already_revoked" (the first revocation time is kept) or
     * "not_found".
     */
    async revoke(id: string, now: Date): Promise<"revoked" | "already_revoked" | "not_found"> {
      return runTransaction(db, async (tx) => {
        const doc = await tx.get(keys.doc(id));
        const data = doc.data();
        if (!data) return "not_found";
        if (data.revoked_at !== null) return "already_revoked";
        tx.set(keys.doc(id), { ...data, revoked_at: now });
        return "revoked";
      });
    },

    /** Every key, oldest first, without hashes. */
    async list(): Promise<ApiKeySummary[]> {
      return (await keys.orderBy("created_at").get()).docs.map((doc) => summary(doc.id, doc.data()));
    },

    /**
     * Records a use of the key at `now`, at most once per TOUCH_INTERVAL_MS per key: skipped when
     * `lastUsed` (the stored value the caller just read) or this instance's last write is recent.
     * Answers whether it wrote.
     */
    async touch(id: string, now: Date, lastUsed: Date | null = null): Promise<boolean> {
      const recent = (at: number | undefined) => at !== undefined && now.getTime() - at < TOUCH_INTERVAL_MS;
      if (recent(lastUsed?.getTime()) || recent(touched.get(id))) return false;
      touched.set(id, now.getTime());
      await keys.doc(id).update({ last_used_at: now });
      return true;
    },
  };
}

export type ApiKeyStore = ReturnType<typeof createApiKeyStore>;
