/** The application's error vocabulary: mapped to HTTP status and to retry-or-not in one place (handlers/http.ts, the engine). */
import type { Problem } from "./problems.js";

/** A request the caller must change before retrying; `problems` name every field at fault. */
export class BadInputError extends Error {
  override readonly name = "BadInputError";
  constructor(
    message: string,
    readonly problems: Problem[] = [],
  ) {
    super(message);
  }
}

/** The caller did not prove who they are (no, expired, malformed or foreign token; unknown or revoked key): 401. */
export class UnauthenticatedError extends Error {
  override readonly name = "UnauthenticatedError";
}

/** The caller is known but their role or scope does not allow this: 403. */
export class ForbiddenError extends Error {
  override readonly name = "ForbiddenError";
}

/** The thing asked for does not exist. */
export class NotFoundError extends Error {
  override readonly name = "NotFoundError";
}

/** The request conflicts with the current state (e.g. cancelling a finished deployment). */
export class ConflictError extends Error {
  override readonly name = "ConflictError";
}

/** A stored document does not match its schema: data was written by something other than this system. */
export class CorruptDocumentError extends Error {
  override readonly name = "CorruptDocumentError";
  constructor(
    readonly documentPath: string,
    readonly problems: Problem[],
  ) {
    super(`${documentPath} is not a valid document: ${problems.map((p) => p.message).join("; ")}`);
  }
}

/** Raised by a driver for a failure that retrying cannot fix (bad rules, a missing file). */
export class NonRetriableError extends Error {
  override readonly name: string = "NonRetriableError";
}

/** A side write for an attempt that no longer holds its work (its lease expired and another attempt took over): refused. */
export class StaleAttemptError extends NonRetriableError {
  override readonly name = "StaleAttemptError";
}

/** Thrown where the type system proves a case cannot happen, so a new state cannot be silently ignored. */
export class UnreachableError extends Error {
  override readonly name = "UnreachableError";
  constructor(value: never) {
    super(`unreachable case: ${JSON.stringify(value)}`);
  }
}
