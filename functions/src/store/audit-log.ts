/**
 * The audit log in Firestore, in two steps so that no request or state change ever waits on the
 * chain head:
 *
 * 1. Staging: `stageAudit` writes `audit_inbox/{id}` inside the caller's transaction or batch
 *    (the state change and its record commit together, or neither does); `AuditLog.append` is the
 *    same as one write of its own. Staging touches no shared document, so it never contends.
 * 2. Chaining: one chain writer at a time (a lease in `audit_head/writer`) takes staged records in
 *    (staged time, id) order, in batches, and in one transaction per batch appends them to
 *    `audit_log/{seq}` with the keyed hash chain, moves the head `audit_head/chain`, notes each
 *    id's seq in `audit_index/{id}` and removes them from the inbox. It is woken by a trigger on
 *    the inbox and run by the sweeper too, so a lost trigger delays a record but never drops it;
 *    an id staged again after it was chained is removed without a second record.
 *
 * Every batch transaction re-reads the lease, the head and the staged documents: a writer whose
 * lease ran out (it stalled) commits nothing, and the chain stays one gapless total order even if
 * two writers overlap.
 */
import { randomBytes } from "node:crypto";
import { sha256 } from "../domain/digest.js";
import { hostname } from "node:os";
import {
  FieldPath,
  WriteBatch,
  type DocumentReference,
  type DocumentSnapshot,
  type Firestore,
  type Transaction,
} from "firebase-admin/firestore";
import {
  AUDIT_COLLECTIONS,
  AUDIT_HEAD_ID,
  AUDIT_LEASE_ID,
  EMPTY_HEAD,
  auditDocId,
  auditEntrySchema,
  auditHeadSchema,
  auditInboxSchema,
  auditIndexSchema,
  auditLeaseSchema,
  auditRecordSchema,
  chainRecord,
  pseudonymOf,
  pseudonymize,
  verifyChain,
  type AuditEntry,
  type AuditHead,
  type AuditInboxDoc,
  type AuditKey,
  type AuditRecord,
  type PersonalField,
  type VerifyResult,
} from "../domain/audit.js";
import { redactText } from "../logs.js";
import { timestampsToDates } from "../domain/timestamps.js";
import { loadAuditKey } from "./audit-key.js";
import { groupCommit } from "./group-commit.js";
import { parseDocument, typedCollection } from "./typed-collection.js";
import { runTransaction } from "./transaction.js";

/** Free text longer than this is cut before it is stored. */
const MAX_TEXT = 4000;

/** Records read per page when walking the chain. */
const PAGE = 1000;

/** Records read per page when erasing: each may be rewritten, within one batch's 500 writes. */
const ERASE_PAGE = 400;

/** Staged records read per batch: 2 writes each (3 with a dedupe entry), within the write budget below. */
const CHAIN_BATCH = 245;

/** Writes one batch transaction may make: Firestore's 500, less the head and the lease. */
const WRITE_BUDGET = 498;

/** How long a chain writer's lease lasts; each batch renews it. */
const LEASE_MS = 30_000;

function clean(text: string | null): string | null {
  if (text === null) return null;
  const redacted = redactText(text);
  return redacted.length > MAX_TEXT ? `${redacted.slice(0, MAX_TEXT)}... (cut)` : redacted;
}

/** The entry as it is stored: every free-text field redacted (a secret must never reach Firestore). */
function redactEntry(entry: AuditEntry): AuditEntry {
  return {
    ...entry,
    actor: { ...entry.actor, id: clean(entry.actor.id), role: clean(entry.actor.role) },
    action: clean(entry.action) ?? entry.action,
    target: clean(entry.target),
    source: clean(entry.source),
    correlation_id: clean(entry.correlation_id),
    detail: clean(entry.detail),
  };
}

/** A staged id as a document id: kept when Firestore allows it as one, else replaced by a digest of it. */
function inboxDocId(id: string): string {
  if (/^[A-Za-z0-9_.:@+=-]{1,400}$/.test(id) && !/^__.*__$/.test(id) && id !== "." && id !== "..") return id;
  return `h_${sha256(id)}`;
}

/**
 * Stages one audit record inside the caller's transaction or batch, under a deterministic `id`
 * (an event id, a request id): it is chained later, off the request path. Staging the same id
 * twice yields one record. Throws (before anything is written) when the entry is not valid.
 */
export function stageAudit(
  writer: Transaction | WriteBatch,
  db: Firestore,
  id: string,
  entry: AuditEntry,
  now: Date,
  options: { dedupe?: boolean } = {},
): void {
  const staged: AuditInboxDoc = {
    entry: redactEntry(auditEntrySchema.parse(entry)),
    staged_at: now,
    dedupe: options.dedupe ?? true,
  };
  const ref = typedCollection(db, AUDIT_COLLECTIONS.inbox, auditInboxSchema).doc(inboxDocId(id));
  if (writer instanceof WriteBatch) writer.set(ref, staged);
  else writer.set(ref, staged);
}

/** What one call of `drain` did. */
export interface DrainResult {
  /** Records appended to the chain. */
  chained: number;
  /** Staged ids found already chained (staged twice), removed without a record. */
  duplicates: number;
  /** True when another writer held the lease and this call left the work to it. */
  busy: boolean;
}

export interface AuditLog {
  /** Stages a record (one write, no shared document); it is chained by `drain`. Answers its id. */
  append(entry: AuditEntry, id?: string): Promise<{ id: string }>;
  /**
   * Chains what is staged, in (staged time, id) order, while holding the writer's lease. Safe to
   * call concurrently and repeatedly: a call that finds the lease held returns `busy` (the holder
   * looks at the inbox again after it lets go), unless `untilEmpty` makes it wait for an empty
   * inbox (at most `timeoutMs`, default 60 s).
   */
  drain(options?: {
    untilEmpty?: boolean;
    timeoutMs?: number;
    /** Called after each committed batch with the records it chained (for progress and benches). */
    onBatch?: (chained: number) => void;
  }): Promise<DrainResult>;
  /** How many records are staged and not chained yet. */
  pending(): Promise<number>;
  /** The seq a staged id (one given to `stageAudit` or `append`) was chained at, or undefined while it is not chained. */
  seqOf(id: string): Promise<number | undefined>;
  /** The records in chain (document-id) order, each validated; `from` is the first seq wanted. */
  list(options?: { from?: number; limit?: number }): Promise<AuditRecord[]>;
  /** Walks the whole chain against the head and the key; never throws for tampered data. */
  verify(): Promise<VerifyResult>;
  /** Makes `pseudonym:<seal>` of values under the chain's key: what erasure writes in every store. */
  pseudonymizer(): Promise<(value: string) => string>;
  /**
   * Replaces, in every chained record, the personal fields `select` names by their pseudonyms (the
   * records' hashes cover the seals, so the chain still verifies). Answers how many records changed.
   */
  erasePersonal(select: (record: AuditRecord) => readonly PersonalField[]): Promise<number>;
}

/** The record chained in place of a staged document that cannot be read: the fact it existed is kept. */
function unreadableEntry(id: string, reason: string): AuditEntry {
  return {
    actor: { kind: "system", id: null, role: null },
    action: "audit.unreadable_staged_record",
    target: `${AUDIT_COLLECTIONS.inbox}/${id}`,
    source: "audit-chain",
    outcome: "error",
    status: null,
    correlation_id: null,
    detail: clean(reason),
  };
}

/**
 * The audit log of `db`. The key is loaded on first need (chaining, verifying) from Secret Manager
 * or the local key file (see audit-key.ts) unless `options.key` provides it.
 */
export function createAuditLog(
  db: Firestore,
  clock: { now(): Date },
  options: { key?: () => Promise<AuditKey> } = {},
): AuditLog {
  const records = typedCollection(db, AUDIT_COLLECTIONS.log, auditRecordSchema);
  const inbox = db.collection(AUDIT_COLLECTIONS.inbox);
  const index = db.collection(AUDIT_COLLECTIONS.index);
  const headRef = db.collection(AUDIT_COLLECTIONS.head).doc(AUDIT_HEAD_ID);
  const leaseRef = db.collection(AUDIT_COLLECTIONS.head).doc(AUDIT_LEASE_ID);
  const loadKey = options.key ?? (() => loadAuditKey());
  let keyPromise: Promise<AuditKey> | undefined;
  const key = (): Promise<AuditKey> => {
    keyPromise ??= loadKey().catch((error: unknown) => {
      keyPromise = undefined; // a failed load is tried again next time
      throw error;
    });
    return keyPromise;
  };

  /** Takes the lease when it is free, expired or already ours; answers whether we hold it. */
  async function acquire(owner: string): Promise<boolean> {
    const heldByAnother = (data: unknown) => {
      const parsed = auditLeaseSchema.safeParse(timestampsToDates(data));
      return parsed.success && parsed.data.owner !== owner && parsed.data.until.getTime() > Date.now();
    };
    // A plain read first: the many wake-ups that find the writer busy must not contend on the lease.
    if (heldByAnother((await leaseRef.get()).data())) return false;
    return runTransaction(db, async (tx) => {
      if (heldByAnother((await tx.get(leaseRef)).data())) return false;
      tx.set(leaseRef, { owner, until: new Date(Date.now() + LEASE_MS) });
      return true;
    });
  }

  async function release(owner: string): Promise<void> {
    await runTransaction(db, async (tx) => {
      const snap = await tx.get(leaseRef);
      const parsed = auditLeaseSchema.safeParse(timestampsToDates(snap.data()));
      if (parsed.success && parsed.data.owner === owner) tx.delete(leaseRef);
    });
  }

  function pendingQuery(limit: number) {
    return inbox.orderBy("staged_at").orderBy(FieldPath.documentId()).limit(limit);
  }

  /**
   * One batch: answers what it did, or "lost" when the lease is no longer ours (nothing written).
   * The staged documents come from a query outside the transaction: the lease, read inside it,
   * proves no other writer committed since our last batch, so none of them was chained meanwhile.
   */
  async function chainBatch(
    owner: string,
    hmacKey: AuditKey,
  ): Promise<{ taken: number; chained: number; duplicates: number } | "lost"> {
    const pending = (await pendingQuery(CHAIN_BATCH).get()).docs;
    if (pending.length === 0) return { taken: 0, chained: 0, duplicates: 0 };
    const staged: { ref: DocumentReference; parsed: ReturnType<typeof auditInboxSchema.safeParse> }[] = [];
    let writes = 0;
    for (const doc of pending) {
      const parsed = auditInboxSchema.safeParse(timestampsToDates(doc.data()));
      const cost = !parsed.success || parsed.data.dedupe ? 3 : 2;
      if (writes + cost > WRITE_BUDGET) break; // the rest waits for the next batch, in order
      writes += cost;
      staged.push({ ref: doc.ref, parsed });
    }
    // Only records whose id could be staged twice need the index; unreadable ones are checked too.
    const checked = staged.filter(({ parsed }) => !parsed.success || parsed.data.dedupe);
    return runTransaction(db, async (tx) => {
      const refs: DocumentReference[] = [leaseRef, headRef, ...checked.map(({ ref }) => index.doc(ref.id))];
      const snaps: DocumentSnapshot[] = await tx.getAll(...refs);
      const lease = auditLeaseSchema.safeParse(timestampsToDates(snaps[0]!.data()));
      if (!lease.success || lease.data.owner !== owner) return "lost" as const;
      // A damaged head fails the batch (parseDocument throws): appending after it could overwrite records.
      let head: AuditHead = snaps[1]!.exists
        ? parseDocument(auditHeadSchema, headRef.path, snaps[1]!.data())
        : EMPTY_HEAD;
      const alreadyChained = new Set(snaps.slice(2).flatMap((snap) => (snap.exists ? [snap.id] : [])));
      let chained = 0;
      let duplicates = 0;
      for (const { ref, parsed } of staged) {
        tx.delete(ref);
        if (alreadyChained.has(ref.id)) {
          duplicates += 1;
          continue;
        }
        const entry = parsed.success
          ? parsed.data.entry
          : unreadableEntry(
              ref.id,
              parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; "),
            );
        const record = chainRecord(
          hmacKey,
          head,
          entry,
          parsed.success ? parsed.data.staged_at : clock.now(),
        );
        // create, not set: if the head was damaged, fail rather than overwrite a record.
        tx.create(records.doc(auditDocId(record.seq)), record);
        if (!parsed.success || parsed.data.dedupe)
          tx.set(index.doc(ref.id), auditIndexSchema.parse({ seq: record.seq }));
        head = { seq: record.seq, hash: record.hash };
        chained += 1;
      }
      if (chained > 0) tx.set(headRef, head);
      tx.set(leaseRef, { owner, until: new Date(Date.now() + LEASE_MS) });
      // `taken` is what the query found: a full page means more may be waiting.
      return { taken: pending.length, chained, duplicates };
    });
  }

  return {
    async append(entry, id) {
      const stagedId = id ?? `req-${Date.now().toString(36)}-${randomBytes(8).toString("hex")}`;
      const parsed = auditEntrySchema.parse(entry); // a bad entry fails its own call, not the batch it would join
      const now = clock.now();
      // A fresh random id cannot come twice: no dedupe entry needed for it.
      await groupCommit(db, (batch) =>
        stageAudit(batch, db, stagedId, parsed, now, { dedupe: id !== undefined }),
      );
      return { id: stagedId };
    },

    async drain(options = {}) {
      const deadline = Date.now() + (options.timeoutMs ?? 60_000);
      const owner = `${hostname()}:${process.pid}:${randomBytes(6).toString("hex")}`;
      const result: DrainResult = { chained: 0, duplicates: 0, busy: false };
      const hmacKey = await key();
      for (;;) {
        if (!(await acquire(owner))) {
          if (!options.untilEmpty || Date.now() > deadline) return { ...result, busy: true };
          await new Promise((resolve) => setTimeout(resolve, 50));
          if ((await pendingQuery(1).get()).empty) return result;
          continue;
        }
        try {
          for (;;) {
            const batch = await chainBatch(owner, hmacKey);
            if (batch === "lost") break;
            result.chained += batch.chained;
            result.duplicates += batch.duplicates;
            options.onBatch?.(batch.chained);
            if (batch.taken < CHAIN_BATCH) break;
          }
        } finally {
          await release(owner);
        }
        // Records staged while we held the lease may have had their wake-up find it busy: look again.
        if ((await pendingQuery(1).get()).empty) return result;
        if (Date.now() > deadline) return { ...result, busy: true };
      }
    },

    async pending() {
      return (await inbox.count().get()).data().count;
    },

    async seqOf(id) {
      const snap = await index.doc(inboxDocId(id)).get();
      return snap.exists ? parseDocument(auditIndexSchema, snap.ref.path, snap.data()).seq : undefined;
    },

    async list(options = {}) {
      let query = records.orderBy(FieldPath.documentId());
      if (options.from !== undefined) query = query.startAt(auditDocId(options.from));
      if (options.limit !== undefined) query = query.limit(options.limit);
      return (await query.get()).docs.map((doc) => doc.data());
    },

    async pseudonymizer() {
      const hmacKey = await key();
      return (value) => pseudonymOf(hmacKey, value);
    },

    async erasePersonal(select) {
      const hmacKey = await key();
      let changed = 0;
      let after: string | undefined;
      for (;;) {
        let query = records.orderBy(FieldPath.documentId()).limit(ERASE_PAGE);
        if (after !== undefined) query = query.startAfter(after);
        const page = await query.get();
        const batch = db.batch();
        let writes = 0;
        for (const doc of page.docs) {
          const record = doc.data();
          const fields = select(record);
          if (fields.length === 0) continue;
          const erased = pseudonymize(hmacKey, record, fields);
          // Only the personal fields: the chain writer may be appending meanwhile, never to these documents.
          batch.update(doc.ref, {
            "actor.id": erased.actor.id,
            target: erased.target,
            detail: erased.detail,
          });
          writes += 1;
        }
        if (writes > 0) await batch.commit();
        changed += writes;
        if (page.size < ERASE_PAGE) return changed;
        after = page.docs[page.docs.length - 1]!.id;
      }
    },

    async verify() {
      const hmacKey = await key();
      // The head first: records appended while the walk runs are then simply past it.
      const headSnap = await db.collection(AUDIT_COLLECTIONS.head).doc(AUDIT_HEAD_ID).get();
      const parsedHead = headSnap.exists
        ? auditHeadSchema.safeParse(timestampsToDates(headSnap.data()))
        : { success: true as const, data: EMPTY_HEAD };
      const valid: AuditRecord[] = [];
      let invalid: { id: string; reason: string } | undefined;
      let after: string | undefined;
      // Raw reads: a tampered document must be reported, not thrown as a CorruptDocumentError.
      pages: for (;;) {
        let query = db.collection(AUDIT_COLLECTIONS.log).orderBy(FieldPath.documentId()).limit(PAGE);
        if (after !== undefined) query = query.startAfter(after);
        const page = await query.get();
        for (const doc of page.docs) {
          const parsed = auditRecordSchema.safeParse(timestampsToDates(doc.data()));
          if (!parsed.success) {
            invalid = {
              id: doc.id,
              reason: parsed.error.issues
                .map((issue) => `${issue.path.join(".") || "(document)"}: ${issue.message}`)
                .join("; "),
            };
            break pages;
          }
          valid.push(parsed.data);
        }
        if (page.size < PAGE) break;
        after = page.docs[page.docs.length - 1]!.id;
      }
      if (invalid === undefined) {
        if (!parsedHead.success) {
          const result = verifyChain(hmacKey, valid);
          if (!result.ok) return result;
          return {
            ok: false,
            seq: Math.max(1, result.count),
            problem: "changed",
            message: `the chain head ${AUDIT_COLLECTIONS.head}/${AUDIT_HEAD_ID} is not valid`,
          };
        }
        const result = verifyChain(hmacKey, valid, parsedHead.data);
        // Every append writes the head: records without one mean it was deleted (and perhaps the last records with it).
        if (result.ok && !headSnap.exists && result.count > 0) {
          return {
            ok: false,
            seq: result.count + 1,
            problem: "removed",
            message: `the chain head ${AUDIT_COLLECTIONS.head}/${AUDIT_HEAD_ID} is missing: records after #${result.count} may have been removed with it`,
          };
        }
        return result;
      }
      // Everything stored before the unreadable document must be intact for it to be the first problem.
      const before = verifyChain(hmacKey, valid);
      if (!before.ok) return before;
      const position = before.count + 1;
      const slot = /^\d{12}$/.test(invalid.id) ? Number(invalid.id) : position;
      if (slot > position) {
        return {
          ok: false,
          seq: position,
          problem: "removed",
          message: `record #${position} is missing (the next stored document, ${AUDIT_COLLECTIONS.log}/${invalid.id}, is not a valid record either)`,
        };
      }
      return {
        ok: false,
        seq: position,
        problem: "changed",
        message: `record #${position} (${AUDIT_COLLECTIONS.log}/${invalid.id}) is not a valid record: ${invalid.reason}`,
      };
    },
  };
}
