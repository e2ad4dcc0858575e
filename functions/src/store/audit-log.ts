/**
 * The audit log in Firestore: `audit_log/{seq}` records chained by hash, and `audit_head/chain`
 * holding the last record's seq and hash.
 *
 * Appends go through one transaction on the head document, so concurrent function instances
 * still produce one gapless total order. That makes the head a hot document by design:
 * Firestore sustains about one write per second on a single document, so the log (and every
 * request that appends to it) is bounded near that rate in production; under load, contended
 * transactions are retried (with backoff) by the SDK. A higher rate would need sharded chains
 * (one head per shard, merged by time at verification), which gives up the single total order.
 */
import { FieldPath, type Firestore } from "firebase-admin/firestore";
import {
  AUDIT_COLLECTIONS,
  AUDIT_HEAD_ID,
  EMPTY_HEAD,
  auditDocId,
  auditEntrySchema,
  auditHeadSchema,
  auditRecordSchema,
  chainRecord,
  verifyChain,
  type AuditEntry,
  type AuditRecord,
  type VerifyResult,
} from "../domain/audit.js";
import { redactText } from "../logs.js";
import { timestampsToDates } from "../domain/timestamps.js";
import { typedCollection } from "./typed-collection.js";

/** Free text longer than this is cut before it is stored. */
const MAX_TEXT = 4000;

/** Contended appends retry this many times before failing (the SDK's default is 5). */
const MAX_ATTEMPTS = 100;

/** Records read per page when walking the chain. */
const PAGE = 1000;

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

export interface AuditLog {
  /** Appends a record after the current head, in one transaction; answers the stored record. */
  append(entry: AuditEntry): Promise<AuditRecord>;
  /** The records in chain (document-id) order, each validated; `from` is the first seq wanted. */
  list(options?: { from?: number; limit?: number }): Promise<AuditRecord[]>;
  /** Walks the whole chain against the head; never throws for tampered data. */
  verify(): Promise<VerifyResult>;
}

/**
 * The tail of the appends queued in this process, per Firestore client. A function instance
 * serves many requests at once: queueing their appends here means only appends from different
 * instances contend on the head document (contended transactions cost a retry with backoff each).
 */
const queues = new WeakMap<Firestore, Promise<unknown>>();

function serialized<T>(db: Firestore, work: () => Promise<T>): Promise<T> {
  const run = (queues.get(db) ?? Promise.resolve()).then(work, work);
  queues.set(
    db,
    run.catch(() => undefined),
  );
  return run;
}

export function createAuditLog(db: Firestore, clock: { now(): Date }): AuditLog {
  const records = typedCollection(db, AUDIT_COLLECTIONS.log, auditRecordSchema);
  const heads = typedCollection(db, AUDIT_COLLECTIONS.head, auditHeadSchema);
  const headRef = heads.doc(AUDIT_HEAD_ID);

  return {
    async append(entry) {
      const stored = redactEntry(auditEntrySchema.parse(entry));
      return serialized(db, () =>
        db.runTransaction(
          async (tx) => {
            const head = (await tx.get(headRef)).data() ?? EMPTY_HEAD;
            const record = chainRecord(head, stored, clock.now());
            // create, not set: if the head was damaged, fail rather than overwrite a record.
            tx.create(records.doc(auditDocId(record.seq)), record);
            tx.set(headRef, { seq: record.seq, hash: record.hash });
            return record;
          },
          { maxAttempts: MAX_ATTEMPTS },
        ),
      );
    },

    async list(options = {}) {
      let query = records.orderBy(FieldPath.documentId());
      if (options.from !== undefined) query = query.startAt(auditDocId(options.from));
      if (options.limit !== undefined) query = query.limit(options.limit);
      return (await query.get()).docs.map((doc) => doc.data());
    },

    async verify() {
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
          const result = verifyChain(valid);
          if (!result.ok) return result;
          return {
            ok: false,
            seq: Math.max(1, result.count),
            problem: "changed",
            message: `the chain head ${AUDIT_COLLECTIONS.head}/${AUDIT_HEAD_ID} is not valid`,
          };
        }
        const result = verifyChain(valid, parsedHead.data);
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
      const before = verifyChain(valid);
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
