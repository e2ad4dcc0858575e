/**
 * The one way the store runs a Firestore transaction. Firestore aborts a contended transaction
 * (ABORTED) and the client runs its body again; the emulator instead drops it as "Transaction is
 * invalid or closed" (INVALID_ARGUMENT) at its next read or commit. Such a transaction committed
 * nothing, and every body here is already one the client may run more than once, so that answer is
 * treated as the abort it stands for: the whole transaction runs again, a bounded number of times.
 */
import type {
  Firestore,
  ReadOnlyTransactionOptions,
  ReadWriteTransactionOptions,
  Transaction,
} from "firebase-admin/firestore";

/** Runs of one transaction after the emulator dropped it, the first included. */
const CLOSED_TRANSACTION_ATTEMPTS = 5;

/** Whether an error is the emulator's "invalid or closed" answer to a transaction it dropped. */
function isClosedTransaction(error: unknown): boolean {
  const { code, details } = (error ?? {}) as { code?: unknown; details?: unknown };
  return code === 3 && typeof details === "string" && details.includes("Transaction is invalid or closed");
}

export async function runTransaction<T>(
  db: Firestore,
  body: (tx: Transaction) => Promise<T>,
  options?: ReadWriteTransactionOptions | ReadOnlyTransactionOptions,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.runTransaction(body, options);
    } catch (error) {
      if (!isClosedTransaction(error) || attempt >= CLOSED_TRANSACTION_ATTEMPTS) throw error;
    }
  }
}
