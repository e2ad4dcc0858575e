/**
 * How live drivers reach Google: Application Default Credentials (a service account in the cloud,
 * Workload Identity Federation from CI, `gcloud auth application-default login` on a laptop; never
 * a key stored by this system), each API's endpoint (Google's, or a local contract server in tests)
 * and the one retry policy: 429 / RESOURCE_EXHAUSTED / 503 back off for Retry-After (or the
 * RetryInfo delay) plus jitter; a 403 names the permission and the role that grants it; other 4xx
 * are not retried. Before that, every request waits its turn under the quotas Google publishes
 * (domain/quota-pacing.ts), so a big apply spreads its calls instead of drawing 429s. The googleapis
 * per-API modules are imported on first use only, so a function that never goes live does not load
 * them.
 */
import type { firebasehosting_v1beta1 } from "googleapis/build/src/apis/firebasehosting/v1beta1.js";
import type { firebaserules_v1 } from "googleapis/build/src/apis/firebaserules/v1.js";
import type { identitytoolkit_v2 } from "googleapis/build/src/apis/identitytoolkit/v2.js";
import type { firestore_v1 } from "googleapis/build/src/apis/firestore/v1.js";
import type { cloudresourcemanager_v3 } from "googleapis/build/src/apis/cloudresourcemanager/v3.js";
import type { storage_v1 } from "googleapis/build/src/apis/storage/v1.js";
import type { monitoring_v3 } from "googleapis/build/src/apis/monitoring/v3.js";
import type { bigquery_v2 } from "googleapis/build/src/apis/bigquery/v2.js";
import type { firebaseappcheck_v1 } from "googleapis/build/src/apis/firebaseappcheck/v1.js";
import type { cloudbuild_v1 } from "googleapis/build/src/apis/cloudbuild/v1.js";
import type { iam_v1 } from "googleapis/build/src/apis/iam/v1.js";
import { NonRetriableError } from "../../domain/errors.js";
import { LIVE_SUPPORT } from "../../domain/live-permissions.js";
import { QuotaPacer, pacedCall, type PacedCall } from "../../domain/quota-pacing.js";

/** The APIs the live drivers call. */
export type GoogleApiName =
  | "firebasehosting"
  | "firebaserules"
  | "firestore"
  | "identitytoolkit"
  | "cloudresourcemanager"
  | "storage"
  | "monitoring"
  | "bigquery"
  | "firebaseappcheck"
  | "cloudbuild"
  | "iam";

/** What googleapis accepts as credentials (GoogleAuth for ADC, an OAuth2 client with a token in tests). */
export type GoogleAuthClient = Exclude<NonNullable<firebasehosting_v1beta1.Options["auth"]>, string>;

/** Everything a live driver needs to call Google; injected through DriverIO. */
export interface GoogleAccess {
  /** A local contract server's root URL per API (tests, the demo); Google's endpoint when unset. */
  rootUrls: Partial<Record<GoogleApiName, string>>;
  /** The credentials; Application Default Credentials unless a test gives its own. */
  auth(): Promise<GoogleAuthClient>;
  sleep(ms: number): Promise<void>;
  /** In [0, 1): the jitter added to each back-off. */
  random(): number;
  /** Attempts per call, the first included, before a quota or availability error is given up on. */
  maxAttempts: number;
  /** Paces every request under Google's published quotas (domain/quota-pacing.ts); requests go unpaced when absent. */
  pacing?: GooglePacing;
}

/** A pacer and the clock it reads; waits go through `GoogleAccess.sleep`, so a test's clock must move with its sleep. */
export interface GooglePacing {
  pacer: QuotaPacer;
  /** Milliseconds since the epoch. */
  now(): number;
}

/**
 * The pacer of this process. Module state on purpose: quotas are per project, not per access, so
 * every access this process creates (driverIO and createServices each make one) must draw on the
 * same windows, or each would believe it had the whole quota.
 */
const PROCESS_PACER = new QuotaPacer();

/** The scopes of Application Default Credentials: the Firebase management APIs accept cloud-platform. */
export const LIVE_SCOPES = ["https://www.googleapis.com/auth/cloud-platform"];

/** Access through Application Default Credentials, created once on first use. */
export function applicationDefaultAccess(
  options: { rootUrls?: GoogleAccess["rootUrls"]; maxAttempts?: number; pacing?: GooglePacing } = {},
): GoogleAccess {
  let client: Promise<GoogleAuthClient> | undefined;
  return {
    rootUrls: options.rootUrls ?? {},
    auth: () =>
      (client ??= import("googleapis/build/src/apis/firebasehosting/index.js").then(
        ({ auth }) => new auth.GoogleAuth({ scopes: LIVE_SCOPES }),
      )),
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    random: Math.random,
    maxAttempts: options.maxAttempts ?? 5,
    pacing: options.pacing ?? { pacer: PROCESS_PACER, now: Date.now },
  };
}

/** The live access of a DriverIO, or a clear refusal naming what is missing. */
export function requireAccess(access: GoogleAccess | undefined, kind: string): GoogleAccess {
  if (!access)
    throw new NonRetriableError(
      `the ${kind} driver has no Google access configured (the wiring gives Application Default Credentials to live environments)`,
    );
  return access;
}

/** Waits, through `access.sleep`, until the pacer lets `call` go; then until any hold a 429 set meanwhile ends. */
async function awaitTurn(access: GoogleAccess, pacing: GooglePacing, call: PacedCall): Promise<void> {
  let before = pacing.now();
  let wait = pacing.pacer.reserve(call, before);
  while (wait > 0) {
    await access.sleep(wait);
    const after = pacing.now();
    // A clock that does not move with the sleep (a test's) would hold us here forever: go.
    if (after <= before) return;
    before = after;
    wait = pacing.pacer.heldFor(call, after);
  }
}

/** A quota answer with a Retry-After (or RetryInfo) holds the API for every caller, not just the one retrying. */
function noteAnswer(
  pacing: GooglePacing,
  call: PacedCall,
  response: { status: number; headers: unknown; data: unknown },
) {
  if (response.status < 400) return;
  const failure = googleFailure({ response });
  if (!failure || (failure.status !== 429 && failure.code !== "RESOURCE_EXHAUSTED")) return;
  if (failure.retryAfterSeconds !== undefined)
    pacing.pacer.hold(call, pacing.now() + failure.retryAfterSeconds * 1000);
}

/**
 * One request made without googleapis (Hosting's file uploads), paced as the clients' requests
 * are: the answer comes back unchanged for the caller's own handling.
 */
export async function pacedFetch(
  access: GoogleAccess,
  api: GoogleApiName,
  method: string,
  url: string,
  send: () => Promise<Response>,
): Promise<Response> {
  const pacing = access.pacing;
  if (!pacing) return send();
  const call = pacedCall(api, method, url);
  await awaitTurn(access, pacing, call);
  const response = await send();
  if (response.status === 429) {
    // A clone, so the caller still reads the body.
    const data = await response.clone().text();
    noteAnswer(pacing, call, { status: response.status, headers: response.headers, data });
  }
  return response;
}

type Adapter = NonNullable<firebasehosting_v1beta1.Options["adapter"]>;

/**
 * The pacing of a client's requests. gaxios' adapter wraps each HTTP request the client sends, so
 * every attempt of every call (callGoogle's retries and awaitOperation's polls included) waits its
 * turn, knowing its URL and method, which callGoogle's closure does not tell.
 */
function pacingAdapter(access: GoogleAccess, api: GoogleApiName): Adapter | undefined {
  const pacing = access.pacing;
  if (!pacing) return undefined;
  return async (options, defaultAdapter) => {
    const call = pacedCall(api, options.method ?? "GET", options.url.toString());
    await awaitTurn(access, pacing, call);
    const response = await defaultAdapter(options);
    noteAnswer(pacing, call, response);
    return response;
  };
}

// Clients, built per call from the access (cheap: the module is cached after the first import).
const common = async (access: GoogleAccess, api: GoogleApiName) => {
  const adapter = pacingAdapter(access, api);
  return {
    auth: await access.auth(),
    // Our retry policy, not gaxios' default one: one place decides, and tests count the attempts.
    retry: false,
    ...(access.rootUrls[api] ? { rootUrl: access.rootUrls[api] } : {}),
    ...(adapter ? { adapter } : {}),
  };
};

export async function hostingApi(access: GoogleAccess): Promise<firebasehosting_v1beta1.Firebasehosting> {
  const { firebasehosting_v1beta1: api } =
    await import("googleapis/build/src/apis/firebasehosting/v1beta1.js");
  return new api.Firebasehosting(await common(access, "firebasehosting"));
}

export async function rulesApi(access: GoogleAccess): Promise<firebaserules_v1.Firebaserules> {
  const { firebaserules_v1: api } = await import("googleapis/build/src/apis/firebaserules/v1.js");
  return new api.Firebaserules(await common(access, "firebaserules"));
}

export async function firestoreApi(access: GoogleAccess): Promise<firestore_v1.Firestore> {
  const { firestore_v1: api } = await import("googleapis/build/src/apis/firestore/v1.js");
  return new api.Firestore(await common(access, "firestore"));
}

export async function identityToolkitApi(access: GoogleAccess): Promise<identitytoolkit_v2.Identitytoolkit> {
  const { identitytoolkit_v2: api } = await import("googleapis/build/src/apis/identitytoolkit/v2.js");
  return new api.Identitytoolkit(await common(access, "identitytoolkit"));
}

export async function resourceManagerApi(
  access: GoogleAccess,
): Promise<cloudresourcemanager_v3.Cloudresourcemanager> {
  const { cloudresourcemanager_v3: api } =
    await import("googleapis/build/src/apis/cloudresourcemanager/v3.js");
  return new api.Cloudresourcemanager(await common(access, "cloudresourcemanager"));
}

export async function storageApi(access: GoogleAccess): Promise<storage_v1.Storage> {
  const { storage_v1: api } = await import("googleapis/build/src/apis/storage/v1.js");
  return new api.Storage(await common(access, "storage"));
}

export async function monitoringApi(access: GoogleAccess): Promise<monitoring_v3.Monitoring> {
  const { monitoring_v3: api } = await import("googleapis/build/src/apis/monitoring/v3.js");
  return new api.Monitoring(await common(access, "monitoring"));
}

export async function bigqueryApi(access: GoogleAccess): Promise<bigquery_v2.Bigquery> {
  const { bigquery_v2: api } = await import("googleapis/build/src/apis/bigquery/v2.js");
  return new api.Bigquery(await common(access, "bigquery"));
}

export async function appCheckApi(access: GoogleAccess): Promise<firebaseappcheck_v1.Firebaseappcheck> {
  const { firebaseappcheck_v1: api } = await import("googleapis/build/src/apis/firebaseappcheck/v1.js");
  return new api.Firebaseappcheck(await common(access, "firebaseappcheck"));
}

export async function cloudBuildApi(access: GoogleAccess): Promise<cloudbuild_v1.Cloudbuild> {
  const { cloudbuild_v1: api } = await import("googleapis/build/src/apis/cloudbuild/v1.js");
  return new api.Cloudbuild(await common(access, "cloudbuild"));
}

export async function iamApi(access: GoogleAccess): Promise<iam_v1.Iam> {
  const { iam_v1: api } = await import("googleapis/build/src/apis/iam/v1.js");
  return new api.Iam(await common(access, "iam"));
}

/** An HTTP answer that was not 2xx, shaped as googleapis (gaxios) errors are, for calls made without googleapis. */
export class HttpAnswerError extends Error {
  constructor(readonly response: { status: number; headers: Headers; data: string }) {
    super(`HTTP ${response.status}`);
  }
}

/** A failed Google call, as the driver sees it. */
export interface GoogleFailure {
  status: number;
  /** Google's canonical status name ("PERMISSION_DENIED", "RESOURCE_EXHAUSTED", ...), when given. */
  code: string | undefined;
  message: string;
  /** Seconds to wait, from Retry-After or a google.rpc.RetryInfo detail. */
  retryAfterSeconds: number | undefined;
  /** The permission a 403 names (ErrorInfo metadata), when it does. */
  permission: string | undefined;
}

type ErrorBody = {
  error?: {
    message?: string;
    status?: string;
    details?: { "@type"?: string; retryDelay?: string; metadata?: { permission?: string } }[];
  };
};

const headerOf = (headers: unknown, name: string): string | undefined => {
  if (headers instanceof Headers) return headers.get(name) ?? undefined;
  if (typeof headers === "object" && headers !== null) {
    const value = (headers as Record<string, unknown>)[name];
    return typeof value === "string" ? value : undefined;
  }
  return undefined;
};

/** Reads a googleapis (gaxios) error; undefined when it carries no HTTP answer (a network failure). */
export function googleFailure(error: unknown): GoogleFailure | undefined {
  const response = (error as { response?: { status?: number; headers?: unknown; data?: unknown } }).response;
  if (!response || typeof response.status !== "number") return undefined;
  let data = response.data;
  if (typeof data === "string") {
    try {
      data = JSON.parse(data);
    } catch {
      // Not JSON: the message below says what came.
    }
  }
  const body = (typeof data === "object" && data !== null ? data : {}) as ErrorBody;
  const details = body.error?.details ?? [];
  const retryInfo = details.find((d) => d["@type"]?.endsWith("google.rpc.RetryInfo"))?.retryDelay;
  const header = headerOf(response.headers, "retry-after");
  const fromHeader = header !== undefined && /^\d+(\.\d+)?$/.test(header) ? Number(header) : undefined;
  const fromInfo = retryInfo && /^\d+(\.\d+)?s$/.test(retryInfo) ? Number(retryInfo.slice(0, -1)) : undefined;
  return {
    status: response.status,
    code: body.error?.status,
    message: body.error?.message ?? (typeof data === "string" ? data : `HTTP ${response.status}`),
    retryAfterSeconds: fromHeader ?? fromInfo,
    permission: details.find((d) => d.metadata?.permission)?.metadata?.permission,
  };
}

/** The predefined role that grants a permission, from the live permission table. */
export function roleFor(permission: string): string | undefined {
  for (const support of Object.values(LIVE_SUPPORT)) {
    if (!support.built) continue;
    const found = support.permissions.find((p) => p.permission === permission);
    if (found) return found.role;
  }
  return undefined;
}

const retriable = (failure: GoogleFailure): boolean =>
  failure.status === 429 || failure.code === "RESOURCE_EXHAUSTED" || failure.status === 503;

/** The back-off before attempt `attempt + 1`: Retry-After when given, else exponential; plus up to 25% jitter. */
export function backoffMs(failure: GoogleFailure, attempt: number, random: () => number): number {
  const base =
    failure.retryAfterSeconds !== undefined ? failure.retryAfterSeconds * 1000 : 1000 * 2 ** attempt;
  return Math.round(base * (1 + 0.25 * random()));
}

/**
 * One Google call under the retry policy. `permission` is what the call needs: a 403 names it
 * (or the one Google named) with its role. `allow` lists statuses the caller handles itself (404
 * for "not there yet"): they come back as the failure instead of an error.
 */
export async function callGoogle<T>(
  access: GoogleAccess,
  what: string,
  permission: string,
  call: () => Promise<{ data: T }>,
  allow: number[] = [],
): Promise<{ ok: true; data: T } | { ok: false; failure: GoogleFailure }> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return { ok: true, data: (await call()).data };
    } catch (error) {
      const failure = googleFailure(error);
      if (!failure) {
        throw new Error(`${what}: ${error instanceof Error ? error.message : String(error)}`);
      }
      if (allow.includes(failure.status)) return { ok: false, failure };
      if (retriable(failure) && attempt < access.maxAttempts) {
        await access.sleep(backoffMs(failure, attempt, () => access.random()));
        continue;
      }
      const message = `${what}: HTTP ${failure.status}${failure.code ? ` ${failure.code}` : ""}: ${failure.message}`;
      if (failure.status === 403) {
        const needed = failure.permission ?? permission;
        const role = roleFor(needed);
        throw new NonRetriableError(
          `${message} (needs permission ${needed}${role ? `, granted by ${role}` : ""}; run doctor for the full list)`,
        );
      }
      if (retriable(failure)) throw new Error(`${message} (gave up after ${attempt} attempts)`);
      if (failure.status >= 500 || failure.status === 408) throw new Error(message);
      throw new NonRetriableError(message);
    }
  }
}

/** callGoogle when every failure is an error: answers the data. */
export async function callGoogleData<T>(
  access: GoogleAccess,
  what: string,
  permission: string,
  call: () => Promise<{ data: T }>,
): Promise<T> {
  const answer = await callGoogle(access, what, permission, call);
  if (!answer.ok) throw new Error(`${what}: HTTP ${answer.failure.status}: ${answer.failure.message}`);
  return answer.data;
}

/** A google.longrunning.Operation as the googleapis renderings type it. */
export interface LongRunningOperation {
  name?: string | null;
  done?: boolean | null;
  error?: { code?: number | null; message?: string | null } | null;
  response?: Record<string, unknown> | null;
  metadata?: Record<string, unknown> | null;
}

/** How long a driver waits for a long-running operation: polls, and the pause before each. */
export interface OperationBudget {
  polls: number;
  intervalMs: number;
}

/** The default budget: 60 polls 10 s apart, ten minutes (a restore or export of a small database). */
export const OPERATION_BUDGET: OperationBudget = { polls: 60, intervalMs: 10_000 };

/**
 * Waits for a long-running operation, polling it (each poll under the retry policy) at most
 * `budget.polls` times; answers its `response`. A failed operation is an error naming its message;
 * one still running when the budget is spent is a timeout error naming the operation, so the
 * caller can look it up (it keeps running at Google: nothing here cancels it).
 */
export async function awaitOperation(
  access: GoogleAccess,
  what: string,
  permission: string,
  started: LongRunningOperation,
  poll: (name: string) => Promise<{ data: LongRunningOperation }>,
  budget: OperationBudget = OPERATION_BUDGET,
): Promise<Record<string, unknown>> {
  let operation = started;
  const name = operation.name ?? "";
  for (let polls = 0; !operation.done; polls += 1) {
    if (!name) throw new Error(`${what}: Google answered an operation without a name`);
    if (polls >= budget.polls)
      throw new Error(
        `${what}: operation ${name} still running after ${budget.polls} polls ${budget.intervalMs / 1000} s apart (it continues at Google; look it up before retrying)`,
      );
    await access.sleep(budget.intervalMs);
    operation = await callGoogleData(access, `${what} (polling ${name})`, permission, () => poll(name));
  }
  if (operation.error)
    throw new NonRetriableError(
      `${what}: operation ${name || "?"} failed: ${operation.error.message ?? `code ${operation.error.code ?? "?"}`}`,
    );
  return operation.response ?? {};
}
