/**
 * Group commit: writes staged in the same turn of the event loop by one client share one batch
 * commit (each is still durable when its promise resolves). A commit costs the emulator, and
 * Firestore, far more than a document in it, so this is what lets one instance serve hundreds of
 * concurrent requests a second. No document is shared between the writes, so batches never contend.
 *
 * A batch is all or nothing, so a write that fails (a create that finds its document) would fail
 * the others with it: when a shared batch fails, each of its writes is committed again on its own,
 * and only the write that fails alone is refused.
 */
import type { Firestore, WriteBatch } from "firebase-admin/firestore";

/** Writes in one batch: Firestore allows 500, and callers may stage a few writes each. */
const GROUP_MAX = 400;

interface Deferred {
  resolve(): void;
  reject(error: unknown): void;
}

/** Staged writes waiting for the next commit, per Firestore client. */
const groups = new WeakMap<Firestore, { stage: ((batch: WriteBatch) => void)[]; done: Deferred[] }>();

async function commitAlone(db: Firestore, stage: (batch: WriteBatch) => void, done: Deferred): Promise<void> {
  const batch = db.batch();
  stage(batch);
  await batch.commit().then(
    () => done.resolve(),
    (error: unknown) => done.reject(error),
  );
}

export function groupCommit(db: Firestore, stage: (batch: WriteBatch) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let group = groups.get(db);
    if (!group) {
      const created: { stage: ((batch: WriteBatch) => void)[]; done: Deferred[] } = { stage: [], done: [] };
      group = created;
      groups.set(db, created);
      setImmediate(() => {
        groups.delete(db);
        for (let start = 0; start < created.stage.length; start += GROUP_MAX) {
          const stages = created.stage.slice(start, start + GROUP_MAX);
          const done = created.done.slice(start, start + GROUP_MAX);
          const batch = db.batch();
          for (const write of stages) write(batch);
          batch.commit().then(
            () => done.forEach((d) => d.resolve()),
            (error: unknown) => {
              if (stages.length === 1) done[0]!.reject(error);
              else void Promise.all(stages.map((write, index) => commitAlone(db, write, done[index]!)));
            },
          );
        }
      });
    }
    group.stage.push(stage);
    group.done.push({ resolve, reject });
  });
}
