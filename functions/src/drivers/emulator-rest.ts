/**
 * Small helpers the emulated drivers share: calling an emulator's REST API through DriverIO,
 * Firestore REST value encoding, problems and the live-mode seam. No process.env here: hosts
 * come from io.emulators.
 */
import type { ResolvedEnvironment } from "../domain/config-schema.js";
import { NonRetriableError } from "../domain/errors.js";
import { formatPath, type Problem } from "../domain/problems.js";
import type { DriverIO, DriverMode, EmulatorHosts } from "./types.js";

/** A plain JSON value, as states and seed documents are. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The emulators accept this token as the project owner (Admin rights, rules bypassed). */
export const OWNER_HEADERS = { Authorization: "Bearer owner" } as const;

/** The environment variable the wiring reads each host from, for messages. */
const HOST_VARIABLES: Record<keyof EmulatorHosts, string> = {
  firestore: "FIRESTORE_EMULATOR_HOST",
  auth: "FIREBASE_AUTH_EMULATOR_HOST",
  pubsub: "PUBSUB_EMULATOR_HOST",
  hub: "FIREBASE_EMULATOR_HUB",
};

/** Emulated for `emulated` environments (demo-* projects), live otherwise. */
export function emulatedOrLive(environment: ResolvedEnvironment): DriverMode {
  return environment.mode === "emulated" ? "emulated" : "live";
}

/** The clean seam for live mode: nothing live is reached yet, and retrying will not change that. */
export function liveNotImplemented(kind: string, what: string): never {
  throw new NonRetriableError(
    `live mode is not implemented yet: the ${kind} driver cannot ${what} in a real Firebase project`,
  );
}

/** A problem at a path (strings and indexes, or an already formatted path). */
export function problem(path: string | (string | number)[], found: string, allowed: string): Problem {
  const at = typeof path === "string" ? path : formatPath(path);
  return { path: at, found, allowed, message: `${at}: found ${found}; allowed: ${allowed}` };
}

/** A problem when an emulator host the driver needs is not configured. */
export function hostProblem(io: DriverIO, which: keyof EmulatorHosts): Problem | undefined {
  if (io.emulators[which]) return undefined;
  return problem(
    `emulators.${which}`,
    "no host",
    `the ${which} emulator's host:port (the wiring reads ${HOST_VARIABLES[which]})`,
  );
}

/** The host of an emulator, or a NonRetriableError naming the variable that should set it. */
export function requireHost(io: DriverIO, which: keyof EmulatorHosts): string {
  const host = io.emulators[which];
  if (!host) throw new NonRetriableError(`no ${which} emulator host (set ${HOST_VARIABLES[which]})`);
  return host;
}

/** An answer from an emulator: status and parsed JSON body (text when it is not JSON). */
export interface RestAnswer {
  status: number;
  ok: boolean;
  body: unknown;
}

/** One REST call; network failures throw as retriable errors naming the URL. */
export async function rest(
  io: DriverIO,
  method: string,
  url: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<RestAnswer> {
  let response: Response;
  try {
    response = await io.fetch(url, {
      method,
      headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new Error(`${method} ${url} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === "" ? {} : JSON.parse(text);
  } catch {
    // Not JSON: keep the text for messages.
  }
  return { status: response.status, ok: response.ok, body: parsed };
}

/** The emulator's error message from an answer body (`{error: {message}}`), or the body as text. */
export function errorMessage(answer: RestAnswer): string {
  const body = answer.body as { error?: { message?: unknown } } | string;
  if (typeof body === "object" && body && typeof body.error?.message === "string") return body.error.message;
  return typeof body === "string" ? body : JSON.stringify(body);
}

/**
 * Throws for a failed answer: NonRetriableError for a 4xx the request itself caused (retrying
 * sends the same request), a plain Error for 5xx, 408 and 429 (worth retrying).
 */
export function ensureOk(answer: RestAnswer, what: string): void {
  if (answer.ok) return;
  const message = `${what}: HTTP ${answer.status}: ${errorMessage(answer)}`;
  const retriable = answer.status >= 500 || answer.status === 408 || answer.status === 429;
  throw retriable ? new Error(message) : new NonRetriableError(message);
}

// ---------------------------------------------------------------------------------------------
// Firestore REST values

export type FirestoreValue =
  | { nullValue: null }
  | { booleanValue: boolean }
  | { integerValue: string }
  | { doubleValue: number }
  | { stringValue: string }
  | { arrayValue: { values?: FirestoreValue[] } }
  | { mapValue: { fields?: Record<string, FirestoreValue> } };

/** Why a JSON value cannot be stored as a Firestore value, with the path below `at`, or undefined. */
export function firestoreValueProblem(
  value: unknown,
  at: (string | number)[],
  insideArray = false,
): Problem | undefined {
  if (value === null || typeof value === "boolean" || typeof value === "string") return undefined;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return problem(at, `number ${value}`, "a finite number");
    if (Number.isInteger(value) && !Number.isSafeInteger(value))
      return problem(at, `number ${value}`, "an integer within ±(2^53 - 1)");
    return undefined;
  }
  if (Array.isArray(value)) {
    if (insideArray)
      return problem(at, "an array inside an array", "a value Firestore stores (arrays cannot hold arrays)");
    for (const [index, item] of value.entries()) {
      const found = firestoreValueProblem(item, [...at, index], true);
      if (found) return found;
    }
    return undefined;
  }
  if (typeof value === "object") {
    for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
      if (key === "" || /^__.*__$/.test(key))
        return problem(
          [...at, key],
          `field name ${JSON.stringify(key)}`,
          "a field name that is not empty and not __reserved__",
        );
      const found = firestoreValueProblem(item, [...at, key]);
      if (found) return found;
    }
    return undefined;
  }
  return problem(at, typeof value, "a JSON value");
}

export function toFirestoreValue(value: Json): FirestoreValue {
  if (value === null) return { nullValue: null };
  if (typeof value === "boolean") return { booleanValue: value };
  if (typeof value === "number")
    return Number.isInteger(value) ? { integerValue: String(value) } : { doubleValue: value };
  if (typeof value === "string") return { stringValue: value };
  if (Array.isArray(value)) return { arrayValue: { values: value.map(toFirestoreValue) } };
  return { mapValue: { fields: toFirestoreFields(value) } };
}

export function toFirestoreFields(data: { [key: string]: Json }): Record<string, FirestoreValue> {
  return Object.fromEntries(Object.entries(data).map(([key, value]) => [key, toFirestoreValue(value)]));
}

export function fromFirestoreValue(value: FirestoreValue | Record<string, unknown>): Json {
  const v = value as Record<string, unknown>;
  if ("nullValue" in v) return null;
  if ("booleanValue" in v) return v.booleanValue as boolean;
  if ("integerValue" in v) return Number(v.integerValue);
  if ("doubleValue" in v) return Number(v.doubleValue);
  if ("stringValue" in v) return v.stringValue as string;
  if ("timestampValue" in v) return v.timestampValue as string;
  if ("referenceValue" in v) return v.referenceValue as string;
  if ("arrayValue" in v) {
    const values = (v.arrayValue as { values?: FirestoreValue[] }).values ?? [];
    return values.map(fromFirestoreValue);
  }
  if ("mapValue" in v)
    return fromFirestoreFields((v.mapValue as { fields?: Record<string, FirestoreValue> }).fields);
  return null;
}

export function fromFirestoreFields(fields: Record<string, FirestoreValue> | undefined): {
  [key: string]: Json;
} {
  return Object.fromEntries(
    Object.entries(fields ?? {}).map(([key, value]) => [key, fromFirestoreValue(value)]),
  );
}

/** The REST URL of a document (or collection) in one of a project's databases (the default one unless named) on the emulator. */
export function documentUrl(
  host: string,
  projectId: string,
  documentPath: string,
  database = DEFAULT_DATABASE,
): string {
  const encoded = documentPath
    .split("/")
    .map((segment) => encodeURIComponent(segment))
    .join("/");
  return `http://${host}/v1/projects/${projectId}/databases/${database}/documents/${encoded}`;
}

/** Reads a document as the owner (rules bypassed); undefined when it does not exist. */
export async function readDocument(
  io: DriverIO,
  projectId: string,
  documentPath: string,
  database = DEFAULT_DATABASE,
): Promise<{ [key: string]: Json } | undefined> {
  const answer = await rest(
    io,
    "GET",
    documentUrl(requireHost(io, "firestore"), projectId, documentPath, database),
    undefined,
    {
      ...OWNER_HEADERS,
    },
  );
  if (answer.status === 404) return undefined;
  ensureOk(answer, `reading ${documentPath} in ${projectId}`);
  return fromFirestoreFields((answer.body as { fields?: Record<string, FirestoreValue> }).fields);
}

/** Writes (replaces) a document as the owner; the same data written twice leaves the same document. */
export async function writeDocument(
  io: DriverIO,
  projectId: string,
  documentPath: string,
  data: { [key: string]: Json },
  database = DEFAULT_DATABASE,
): Promise<void> {
  const answer = await rest(
    io,
    "PATCH",
    documentUrl(requireHost(io, "firestore"), projectId, documentPath, database),
    { fields: toFirestoreFields(data) },
    { ...OWNER_HEADERS },
  );
  ensureOk(answer, `writing ${documentPath} in ${projectId}`);
}

/** Where the drivers keep what the emulators cannot report back themselves, in the target project. */
export const MARKER_COLLECTION = "_orchestration";

/** A Firestore project's default database. */
export const DEFAULT_DATABASE = "(default)";

/**
 * The marker document of one integration: `_orchestration/functions` for a kind's default
 * instance, `_orchestration/functions:orders` for another, so two instances never share one.
 */
export const markerPath = (integration: string): string => `${MARKER_COLLECTION}/${integration}`;
