import { camel } from "./validate.js";

/** Google's canonical error codes, with the HTTP status each maps to (google/rpc/code.proto). */
export const RPC_STATUS = {
  INVALID_ARGUMENT: { code: 3, http: 400 },
  FAILED_PRECONDITION: { code: 9, http: 400 },
  PERMISSION_DENIED: { code: 7, http: 403 },
  NOT_FOUND: { code: 5, http: 404 },
  ALREADY_EXISTS: { code: 6, http: 409 },
  ABORTED: { code: 10, http: 409 },
  RESOURCE_EXHAUSTED: { code: 8, http: 429 },
  INTERNAL: { code: 13, http: 500 },
  UNAVAILABLE: { code: 14, http: 503 },
} as const;

/** One canonical status name. */
export type RpcStatus = keyof typeof RPC_STATUS;

/** An error a handler throws to answer with Google's error body (`{ error: { code, message, status, details } }`). */
export class ApiError extends Error {
  /** Creates an error answered with the status's HTTP code. */
  constructor(
    readonly status: RpcStatus,
    message: string,
    readonly details: Record<string, unknown>[] = [],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  /** The HTTP status. */
  get http(): number {
    return RPC_STATUS[this.status].http;
  }

  /** Google's JSON error body. */
  body(): { error: { code: number; message: string; status: string; details: Record<string, unknown>[] } } {
    return { error: { code: this.http, message: this.message, status: this.status, details: this.details } };
  }
}

/** A fault to inject into the next matching calls, as the real API answers it. */
export type Fault =
  | { kind: "permission-denied"; permission: string; resource?: string }
  | { kind: "not-found"; message?: string }
  | { kind: "already-exists"; message?: string }
  | { kind: "rate-limited"; retryAfterSeconds: number }
  | { kind: "unavailable" };

/** The ApiError a fault stands for. */
export function faultError(fault: Fault, resource: string): ApiError {
  switch (fault.kind) {
    case "permission-denied":
      return new ApiError(
        "PERMISSION_DENIED",
        `Permission '${fault.permission}' denied on resource '${fault.resource ?? resource}' (or it may not exist).`,
        [
          {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            reason: "IAM_PERMISSION_DENIED",
            domain: "iam.googleapis.com",
            metadata: { permission: fault.permission, resource: fault.resource ?? resource },
          },
        ],
      );
    case "not-found":
      return new ApiError("NOT_FOUND", fault.message ?? `Resource '${resource}' was not found.`);
    case "already-exists":
      return new ApiError("ALREADY_EXISTS", fault.message ?? `Resource '${resource}' already exists.`);
    case "rate-limited":
      return new ApiError(
        "RESOURCE_EXHAUSTED",
        "Quota exceeded; retry later.",
        [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: `${fault.retryAfterSeconds}s` }],
        { "retry-after": String(fault.retryAfterSeconds) },
      );
    case "unavailable":
      return new ApiError("UNAVAILABLE", "The service is currently unavailable.");
  }
}

type Json = Record<string, unknown>;

/**
 * An in-memory model of one collection of named resources (`parent/collection/id`), with the
 * standard methods' semantics (AIP-133..135, 132 with page tokens, 134 with an update mask).
 */
export class ResourceCollection<T extends Json = Json> {
  private readonly items = new Map<string, T>();

  /** `collection` is the last parent segment, e.g. "jobs". */
  constructor(readonly collection: string) {}

  /** Creates `name`; 409 ALREADY_EXISTS when it is taken. */
  create(name: string, resource: T): T {
    if (this.items.has(name)) throw new ApiError("ALREADY_EXISTS", `Resource '${name}' already exists.`);
    const stored = structuredClone({ ...resource, name });
    this.items.set(name, stored);
    return structuredClone(stored);
  }

  /** Reads `name`; 404 NOT_FOUND when absent. */
  get(name: string): T {
    const found = this.items.get(name);
    if (found === undefined) throw new ApiError("NOT_FOUND", `Resource '${name}' was not found.`);
    return structuredClone(found);
  }

  /** Whether `name` exists. */
  has(name: string): boolean {
    return this.items.has(name);
  }

  /** Applies `patch` to `name`: only the masked fields when a mask is given, otherwise every field sent. */
  patch(name: string, patch: Json, updateMask: string | undefined): T {
    const current: Json = this.get(name);
    const paths = updateMask ? updateMask.split(",").filter((p) => p !== "") : Object.keys(patch);
    for (const path of paths) {
      const keys = path.split(".").map(camel);
      let source: unknown = patch;
      let target: Json = current;
      for (const [index, key] of keys.entries()) {
        const last = index === keys.length - 1;
        source = typeof source === "object" && source !== null ? (source as Json)[key] : undefined;
        if (last) {
          if (source === undefined) delete target[key];
          else target[key] = structuredClone(source);
        } else {
          const child = target[key];
          target = typeof child === "object" && child !== null ? (child as Json) : (target[key] = {});
        }
      }
    }
    this.items.set(name, current as T);
    return structuredClone(current as T);
  }

  /** Replaces `name` wholesale (for server-side state changes such as pause). */
  put(name: string, resource: T): T {
    this.get(name);
    this.items.set(name, structuredClone(resource));
    return structuredClone(resource);
  }

  /** Deletes `name`; 404 NOT_FOUND when absent. */
  delete(name: string): void {
    if (!this.items.delete(name)) throw new ApiError("NOT_FOUND", `Resource '${name}' was not found.`);
  }

  /** Lists the children of `parent` in name order, `pageSize` at a time, with an opaque page token. */
  list(
    parent: string,
    pageSize: number | undefined,
    pageToken: string | undefined,
  ): { items: T[]; nextPageToken?: string } {
    const prefix = `${parent}/${this.collection}/`;
    const names = [...this.items.keys()].filter((n) => n.startsWith(prefix)).sort();
    const start = pageToken ? Number(Buffer.from(pageToken, "base64url").toString("utf8")) : 0;
    if (!Number.isInteger(start) || start < 0) throw new ApiError("INVALID_ARGUMENT", "Invalid page token.");
    const size = pageSize && pageSize > 0 ? pageSize : names.length;
    const page = names.slice(start, start + size).map((n) => structuredClone(this.items.get(n) as T));
    const next =
      start + size < names.length ? Buffer.from(String(start + size)).toString("base64url") : undefined;
    return next === undefined ? { items: page } : { items: page, nextPageToken: next };
  }

  /** Every stored resource, by name. */
  all(): T[] {
    return [...this.items.values()].map((v) => structuredClone(v));
  }
}

/** A long-running operation (google.longrunning.Operation) that finishes after a number of polls. */
export type Operation = { name: string; done: boolean; metadata?: Json; response?: Json; error?: Json };

/** Long-running operations that finish later: each `get` counts a poll; the result appears once enough polls happened. */
export class Operations {
  private readonly ops = new Map<
    string,
    { op: Operation; pollsLeft: number; result: { response: Json } | { error: Json } }
  >();
  private counter = 0;

  /** Starts an operation under `parent` that is done after `polls` reads. */
  start(parent: string, result: { response: Json } | { error: Json }, polls = 1, metadata?: Json): Operation {
    this.counter += 1;
    const name = `${parent}/operations/op-${this.counter}`;
    const op: Operation = metadata ? { name, done: false, metadata } : { name, done: false };
    this.ops.set(name, { op, pollsLeft: polls, result });
    return structuredClone(op);
  }

  /** The operations under `parent` as they stand, newest first; listing polls nothing. */
  list(parent: string): Operation[] {
    return [...this.ops.entries()]
      .filter(([name]) => name.startsWith(`${parent}/operations/`))
      .map(([, entry]) => structuredClone(entry.op))
      .reverse();
  }

  /** Reads an operation (one poll); 404 when unknown. */
  get(name: string): Operation {
    const entry = this.ops.get(name);
    if (entry === undefined) throw new ApiError("NOT_FOUND", `Operation '${name}' was not found.`);
    if (!entry.op.done) {
      entry.pollsLeft -= 1;
      if (entry.pollsLeft <= 0) entry.op = { ...entry.op, done: true, ...entry.result };
    }
    return structuredClone(entry.op);
  }
}
