/**
 * The audit trail: one record per mutating request and per deployment state change (who, what,
 * when, from where, outcome), each hash-chained to the one before, and the walk that finds the
 * first record that was changed, removed or reordered.
 *
 * A record's hash is HMAC-SHA256, under a key kept outside Firestore (Secret Manager in the cloud,
 * a key file locally), over the canonical JSON (keys sorted, dates as ISO strings) of every field
 * but `hash`, `prev_hash` included, so a record pins its content, its position (`seq`) and
 * everything before it. The fields that may name a person (`actor.id`, `target`, `detail`) enter
 * the hash as their keyed seal (`sealOf`), so that erasing a person replaces them with
 * `pseudonym:<seal>` and the chain still verifies; without the key nobody can compute the seal of
 * a value, so a field swapped for another value or another pseudonym is still caught. The chain head (`audit_head/chain`: last seq and hash) anchors the end, so
 * removing the last records is detected too. Because the hash is keyed, someone who can write
 * Firestore but does not hold the key cannot rewrite a record, every record after it and the head
 * into a chain that verifies: the first rewritten record no longer matches its keyed hash.
 */
import { createHmac } from "node:crypto";
import { z } from "zod";

export const AUDIT_COLLECTIONS = {
  /** `audit_log/{seq padded to 12 digits}`: the records, one document each. */
  log: "audit_log",
  /** `audit_head/chain`: the last record's seq and hash; `audit_head/writer`: the chain writer's lease. */
  head: "audit_head",
  /** `audit_inbox/{id}`: records staged with the state change or request, waiting to be chained. */
  inbox: "audit_inbox",
  /** `audit_index/{id}`: the seq each staged id was chained at, so that staging an id again adds nothing. */
  index: "audit_index",
} as const;

export const AUDIT_HEAD_ID = "chain";

/** The document in `audit_head` holding the chain writer's lease. */
export const AUDIT_LEASE_ID = "writer";

/** The hash the first record links to. */
export const GENESIS_HASH = "0".repeat(64);

export const ACTOR_KINDS = ["user", "key", "system", "anonymous"] as const;
export const AUDIT_OUTCOMES = ["ok", "refused", "error"] as const;

const hex64 = z.string().regex(/^[0-9a-f]{64}$/, "64 lower-case hex digits");

/** Who acted: a signed-in user, an API key, the system itself (triggers, jobs), or nobody proven. */
export const auditActorSchema = z.strictObject({
  kind: z.enum(ACTOR_KINDS),
  id: z.string().nullable(),
  role: z.string().nullable(),
});
export type AuditActor = z.infer<typeof auditActorSchema>;

/** What a caller hands the audit log: the chain fields (`seq`, `at`, `prev_hash`, `hash`) are the log's. */
export const auditEntrySchema = z.strictObject({
  actor: auditActorSchema,
  /** `POST /deploy`, `deployment.running->succeeded`... */
  action: z.string().min(1),
  /** A deployment id, an environment name... */
  target: z.string().nullable(),
  /** The caller's IP address, or `trigger` / `scheduler` for the system's own events. */
  source: z.string().nullable(),
  outcome: z.enum(AUDIT_OUTCOMES),
  /** The HTTP status answered, when the record is a request. */
  status: z.int().nullable(),
  correlation_id: z.string().nullable(),
  /** Free text (an error message, a reason), redacted before it is stored. */
  detail: z.string().nullable(),
});
export type AuditEntry = z.infer<typeof auditEntrySchema>;

/** `audit_log/{seq}`: one record of the chain. */
export const auditRecordSchema = z.strictObject({
  seq: z.int().min(1),
  at: z.date(),
  ...auditEntrySchema.shape,
  prev_hash: hex64,
  hash: hex64,
});
export type AuditRecord = z.infer<typeof auditRecordSchema>;

/** `audit_inbox/{id}`: one staged record; chained in (`staged_at`, id) order. */
export const auditInboxSchema = z.strictObject({
  entry: auditEntrySchema,
  staged_at: z.date(),
  /**
   * False for ids that cannot be staged twice (a fresh random id per request): the chain writer
   * then skips the `audit_index` lookup and entry, a read and a write per record.
   */
  dedupe: z.boolean().default(true),
});
export type AuditInboxDoc = z.infer<typeof auditInboxSchema>;

/** `audit_index/{id}`: where a staged id went in the chain. */
export const auditIndexSchema = z.strictObject({ seq: z.int().min(1) });

/** `audit_head/writer`: which chain writer may append, until when (a dead writer's lease runs out). */
export const auditLeaseSchema = z.strictObject({ owner: z.string().min(1), until: z.date() });
export type AuditLease = z.infer<typeof auditLeaseSchema>;

/** `audit_head/chain`: where the next record links (seq 0 and the genesis hash before the first). */
export const auditHeadSchema = z.strictObject({
  seq: z.int().min(0),
  hash: hex64,
});
export type AuditHead = z.infer<typeof auditHeadSchema>;

export const EMPTY_HEAD: AuditHead = { seq: 0, hash: GENESIS_HASH };

/** The fields a record's hash covers: all but `hash`. */
const HASHED_FIELDS = [
  "seq",
  "at",
  "actor",
  "action",
  "target",
  "source",
  "outcome",
  "status",
  "correlation_id",
  "detail",
  "prev_hash",
] as const satisfies readonly (keyof AuditRecord)[];

/** The document id of record `seq`: zero-padded so that document-id order is chain order. */
export function auditDocId(seq: number): string {
  return String(seq).padStart(12, "0");
}

/** JSON with object keys sorted at every depth and Dates as ISO strings; undefined fields are left out. */
export function canonicalJson(value: unknown): string {
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item ?? null)).join(",")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value)
      .filter(([, inner]) => inner !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, inner]) => `${JSON.stringify(key)}:${canonicalJson(inner)}`).join(",")}}`;
  }
  if (typeof value === "number" && !Number.isFinite(value))
    throw new Error(`cannot hash the number ${value}`);
  return JSON.stringify(value) ?? "null";
}

/** The secret the chain is keyed with (at least 32 bytes). */
export type AuditKey = Uint8Array;

/** Shortest key accepted: HMAC-SHA256 gains nothing from more than 32 bytes and is weak with fewer. */
export const AUDIT_KEY_MIN_BYTES = 32;

/** What an erased value becomes: its keyed seal, which the record's hash covers in its place. */
const PSEUDONYM = /^pseudonym:([0-9a-f]{64})$/;

export function isPseudonym(value: string): boolean {
  return PSEUDONYM.test(value);
}

/**
 * The keyed seal of a value that may name a person: HMAC-SHA256 under the chain's key, so equal
 * values have equal seals and nobody without the key can link a seal to a value they guess. A
 * pseudonym's seal is the one it carries.
 */
export function sealOf(key: AuditKey, value: string): string {
  return PSEUDONYM.exec(value)?.[1] ?? createHmac("sha256", key).update(`personal:${value}`).digest("hex");
}

/** `pseudonym:<seal>`: what erasure writes in place of a value that names a person, in every store. */
export function pseudonymOf(key: AuditKey, value: string): string {
  return `pseudonym:${sealOf(key, value)}`;
}

/** The fields of a record that may name a person: the actor, a target (a key's owner), free text. */
export const PERSONAL_FIELDS = ["actor.id", "target", "detail"] as const;
export type PersonalField = (typeof PERSONAL_FIELDS)[number];

const sealed = (key: AuditKey, value: string | null) => (value === null ? null : sealOf(key, value));

/**
 * HMAC-SHA256 (hex) under `key` of the record's canonical JSON, `prev_hash` included, `hash` (if
 * present) left out, and the personal fields as their seals.
 */
export function hashRecord(key: AuditKey, record: Omit<AuditRecord, "hash"> & { hash?: string }): string {
  const hashed: Record<string, unknown> = Object.fromEntries(
    HASHED_FIELDS.map((field) => [field, record[field]]),
  );
  hashed.actor = { ...record.actor, id: sealed(key, record.actor.id) };
  hashed.target = sealed(key, record.target);
  hashed.detail = sealed(key, record.detail);
  return createHmac("sha256", key).update(canonicalJson(hashed)).digest("hex");
}

/** The record with the given personal fields replaced by their pseudonyms; its hash still holds. */
export function pseudonymize(
  key: AuditKey,
  record: AuditRecord,
  fields: readonly PersonalField[],
): AuditRecord {
  const erase = (value: string | null) => (value === null ? null : pseudonymOf(key, value));
  return {
    ...record,
    actor: fields.includes("actor.id") ? { ...record.actor, id: erase(record.actor.id) } : record.actor,
    target: fields.includes("target") ? erase(record.target) : record.target,
    detail: fields.includes("detail") ? erase(record.detail) : record.detail,
  };
}

/** The record that follows `head` in the chain. */
export function chainRecord(key: AuditKey, head: AuditHead, entry: AuditEntry, at: Date): AuditRecord {
  const unhashed = { ...auditEntrySchema.parse(entry), seq: head.seq + 1, at, prev_hash: head.hash };
  return { ...unhashed, hash: hashRecord(key, unhashed) };
}

/** A whole chain from entries, for tests and tools: record i+1 at `at(i)`. */
export function buildChain(
  key: AuditKey,
  entries: readonly AuditEntry[],
  at: (index: number) => Date,
): AuditRecord[] {
  const records: AuditRecord[] = [];
  let head = EMPTY_HEAD;
  entries.forEach((entry, index) => {
    const record = chainRecord(key, head, entry, at(index));
    records.push(record);
    head = { seq: record.seq, hash: record.hash };
  });
  return records;
}

export type AuditProblem = "changed" | "removed" | "reordered";

export type VerifyResult =
  { ok: true; count: number } | { ok: false; seq: number; problem: AuditProblem; message: string };

function broken(seq: number, problem: AuditProblem, message: string): VerifyResult {
  return { ok: false, seq, problem, message };
}

/**
 * Walks the chain in stored order (document-id order, which is seq order for an untouched log)
 * and reports the first bad position:
 *
 * - `changed` at k: record k's content does not match its keyed hash (any field edited, the hash
 *   included, a field it has no business having, or a hash computed without the key: a rewritten
 *   tail is caught at its first record), or record k was rewritten with a fresh hash
 *   (record k+1, or the head, no longer links to it);
 * - `removed` at k: record k is missing, the next stored record being a later one that nothing
 *   stored after it precedes (a deleted record reports its own seq; the last one is caught by
 *   `head`);
 * - `reordered` at k: the record stored where k belongs is a later record while k (or another
 *   record before it) is stored further on (a swap of records i < j reports i), or a record
 *   comes again after the ones that follow it.
 *
 * `head` is the chain head as read before the records: the chain must reach `head.seq` with
 * `head.hash` there; records appended after the head was read are verified like the others.
 * For a single tamper the position reported is exactly the tampered record (for a swap, the
 * earlier of the two); after several, the first position where the chain breaks.
 */
export function verifyChain(key: AuditKey, records: readonly AuditRecord[], head?: AuditHead): VerifyResult {
  let expected = 1;
  let prevHash = GENESIS_HASH;
  for (let index = 0; index < records.length; index++) {
    const record = records[index]!;
    const laterSeqs = () => records.slice(index + 1).map((later) => later.seq);
    if (hashRecord(key, record) !== record.hash) {
      // A record whose seq jumps ahead and whose link is broken too: what is missing is before it.
      if (
        record.seq > expected &&
        record.prev_hash !== prevHash &&
        !laterSeqs().some((s) => s < record.seq)
      ) {
        return broken(
          expected,
          "removed",
          `record #${expected} is missing (the next stored record claims #${record.seq})`,
        );
      }
      return broken(expected, "changed", `record #${expected} does not match its hash`);
    }
    if (record.seq > expected) {
      const earlier = laterSeqs().filter((seq) => seq < record.seq);
      if (earlier.length > 0) {
        return broken(
          expected,
          "reordered",
          `record #${record.seq} is stored where #${expected} belongs; #${Math.min(...earlier)} is stored after it`,
        );
      }
      const missing = record.seq - expected === 1 ? `#${expected}` : `#${expected} to #${record.seq - 1}`;
      return broken(
        expected,
        "removed",
        `record ${missing} missing: #${record.seq} follows #${expected - 1}`,
      );
    }
    if (record.seq < expected) {
      return broken(record.seq, "reordered", `record #${record.seq} is stored again after #${expected - 1}`);
    }
    if (record.prev_hash !== prevHash) {
      const linksLater = records.slice(index + 1).some((later) => later.hash === record.prev_hash);
      if (linksLater) {
        return broken(expected, "reordered", `record #${expected} links to a record stored after it`);
      }
      const culprit = Math.max(1, expected - 1);
      return broken(
        culprit,
        "changed",
        expected === 1
          ? "record #1 does not link to the start of the chain"
          : `record #${culprit} is not the record #${expected} was chained to`,
      );
    }
    prevHash = record.hash;
    expected += 1;
  }
  const last = expected - 1;
  if (head !== undefined) {
    if (last < head.seq) {
      const missing = head.seq - last === 1 ? `#${head.seq}` : `#${last + 1} to #${head.seq}`;
      return broken(last + 1, "removed", `record ${missing} missing: the chain head is at #${head.seq}`);
    }
    const atHead = head.seq === 0 ? GENESIS_HASH : records[head.seq - 1]?.hash;
    if (atHead !== head.hash) {
      return broken(
        Math.max(1, head.seq),
        "changed",
        `record #${head.seq} is not the record the chain head was written with`,
      );
    }
  }
  return { ok: true, count: last };
}
