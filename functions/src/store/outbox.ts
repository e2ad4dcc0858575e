/**
 * The transactional outbox: what a committed state change implies (its event, its audit record, and
 * for a deployment that ended, the notifications) is written in the same transaction as the change,
 * as `outbox/{event_id}`, and delivered afterwards by a relay that may run any number of times.
 * A crash between the commit and the delivery loses nothing: the sweeper relays what is left.
 */
import type { Firestore, Transaction, WriteBatch } from "firebase-admin/firestore";
import { z } from "zod";
import { orchestrationEventSchema } from "../bus.js";
import { auditEntrySchema } from "../domain/audit.js";
import { typedCollection } from "./typed-collection.js";

export const OUTBOX = "outbox";

/** One committed fact waiting for delivery; its id is the event's dedupe key. */
export const outboxEntrySchema = z.strictObject({
  event: orchestrationEventSchema,
  audit: auditEntrySchema,
  /** A deployment that ended: its finish notifications (alerts) are delivered with the event. */
  finished_deployment: z.string().nullable(),
  created_at: z.date(),
});
export type OutboxEntry = z.infer<typeof outboxEntrySchema>;

export function createOutbox(db: Firestore) {
  const entries = typedCollection(db, OUTBOX, outboxEntrySchema);
  return {
    /** Writes entries inside the transaction that commits the change they describe (writes only, no reads). */
    stage(tx: Transaction, staged: readonly OutboxEntry[]): void {
      for (const entry of staged) tx.set(entries.doc(entry.event.event_id), entry);
    },

    async get(id: string): Promise<OutboxEntry | undefined> {
      return (await entries.doc(id).get()).data();
    },

    /**
     * Marks entries delivered, in one batch with the writes their delivery stages (the audit
     * records). Deleting a missing entry is not an error, so relays may race.
     */
    async delivered(ids: readonly string[], stage: (batch: WriteBatch) => void): Promise<void> {
      const batch = db.batch();
      stage(batch);
      for (const id of ids) batch.delete(entries.doc(id));
      await batch.commit();
    },

    /** Entries no relay has delivered since `olderThan`: their first relay was lost. */
    async pending(olderThan: Date, limit: number): Promise<string[]> {
      const snap = await entries
        .where("created_at", "<=", olderThan)
        .orderBy("created_at")
        .limit(limit)
        .get();
      return snap.docs.map((doc) => doc.id);
    },
  };
}

export type Outbox = ReturnType<typeof createOutbox>;
