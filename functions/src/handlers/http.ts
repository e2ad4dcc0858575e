/** HTTP plumbing for the API: a framework-free request/response shape and the one error-to-status map. */
import {
  BadInputError,
  ConflictError,
  CorruptDocumentError,
  ForbiddenError,
  NotFoundError,
  UnauthenticatedError,
} from "../domain/errors.js";
import type { Problem } from "../domain/problems.js";
import { redactText } from "../domain/redaction.js";

/** What a route sees of a request. */
export interface ApiRequest {
  method: string;
  /** Path below `/api/orchestration`, e.g. `/status`. */
  path: string;
  query: Record<string, string | undefined>;
  /** Parsed JSON body, or undefined when there was none. */
  body: unknown;
  headers: Record<string, string | undefined>;
  /** The caller's address, for the audit trail. */
  ip?: string;
}

/** What a route answers. */
export interface ApiResponse {
  status: number;
  /** The JSON answer; with `raw`, a short description of the document (what an audit record would quote). */
  body: unknown;
  /** A document answered instead of JSON (a PDF report), shown inline and saved under `filename`. */
  raw?: { contentType: string; data: Buffer | string; filename: string };
}

/** The JSON body every error answer has. */
export interface ErrorBody {
  error: { status: number; code: string; message: string; problems?: Problem[] };
}

export class MethodNotAllowedError extends Error {
  override readonly name = "MethodNotAllowedError";
}

export class PayloadTooLargeError extends Error {
  override readonly name = "PayloadTooLargeError";
}

/** Maps any error to the answer the caller gets; the only place that decides HTTP status codes. */
export function errorResponse(error: unknown): ApiResponse {
  // An error may quote what was sent (a wrong value in a config): a secret in it is never answered back.
  const answer = (status: number, code: string, message: string, problems?: Problem[]): ApiResponse => ({
    status,
    body: {
      error: {
        status,
        code,
        message: redactText(message),
        ...(problems && problems.length > 0
          ? {
              problems: problems.map((problem) => ({
                ...problem,
                found: redactText(problem.found),
                message: redactText(problem.message),
              })),
            }
          : {}),
      },
    } satisfies ErrorBody,
  });
  if (error instanceof BadInputError) return answer(400, "bad_input", error.message, error.problems);
  if (error instanceof UnauthenticatedError) return answer(401, "unauthenticated", error.message);
  if (error instanceof ForbiddenError) return answer(403, "forbidden", error.message);
  if (error instanceof NotFoundError) return answer(404, "not_found", error.message);
  if (error instanceof MethodNotAllowedError) return answer(405, "method_not_allowed", error.message);
  if (error instanceof ConflictError) return answer(409, "conflict", error.message);
  if (error instanceof PayloadTooLargeError) return answer(413, "payload_too_large", error.message);
  if (error instanceof CorruptDocumentError) return answer(500, "corrupt_document", error.message);
  return answer(500, "internal", "internal error; see the function logs for the correlation id");
}

/** Largest JSON body the API accepts. */
export const MAX_BODY_BYTES = 256 * 1024;

/** Parses a raw body as JSON, refusing oversized or malformed input with a message that says which. */
export function parseJsonBody(raw: Buffer | undefined, contentType: string | undefined): unknown {
  if (!raw || raw.length === 0) return undefined;
  if (raw.length > MAX_BODY_BYTES)
    throw new PayloadTooLargeError(`body is ${raw.length} bytes; the limit is ${MAX_BODY_BYTES}`);
  // text/plain is accepted too: some CI tools send JSON under it, and it is the only way a malformed
  // body reaches this parser on the Functions emulator, whose own JSON parser drops the connection.
  const type = contentType?.toLowerCase() ?? "application/json";
  if (!type.startsWith("application/json") && !type.startsWith("text/plain")) {
    throw new BadInputError(`Content-Type is "${contentType}"; send application/json`);
  }
  try {
    return JSON.parse(raw.toString("utf8")) as unknown;
  } catch (error) {
    throw new BadInputError(`body is not JSON: ${error instanceof Error ? error.message : String(error)}`, [
      {
        path: "$",
        found: "text that is not JSON",
        allowed: "a JSON document",
        message: "$: found text that is not JSON; allowed: a JSON document",
      },
    ]);
  }
}
