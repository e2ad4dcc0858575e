/**
 * Pacing Google calls under the per-minute (per-10-seconds, per-second) quotas Google publishes,
 * so a big apply (Hosting uploading thousands of files, Monitoring creating many policies, IAM
 * writes) spreads its calls instead of spending the quota and then sleeping on 429s. Pure: the
 * caller gives the time and does the waiting (the live drivers sleep through `GoogleAccess.sleep`,
 * which contract tests record).
 *
 * Written here rather than taken from npm: `limiter` and `p-throttle` (both already in
 * node_modules, as transitive dependencies) read the wall clock and wait on their own timers, so a
 * test could not give the time nor record the waits, and neither can be told "hold this API until
 * Retry-After" nor answer a wait without taking it. A sliding window over granted times is a few
 * lines.
 */

/** Which calls a quota counts. Google's quota pages split most APIs into read and write requests. */
export type MethodClass = "read" | "write";

/** One published quota: at most `limit` calls in any `windowMs`, counted per project or per the resource `path` names. */
export interface KnownQuota {
  api: string;
  /** The calls it counts; both classes when unset. */
  methods?: MethodClass;
  /**
   * Only calls whose path matches count (a quota on one kind of resource). A first capture group
   * names the resource the quota is counted per (a bucket, a table) instead of the project.
   */
  path?: RegExp;
  limit: number;
  windowMs: number;
  /** Where Google publishes the figure. */
  source: string;
}

const MINUTE = 60_000;

/**
 * The quotas Google publishes for the APIs the live drivers call (default values: a project can
 * have raised them, never lowered, so pacing to these stays under the real ones). APIs without a
 * row are not paced: no per-minute figure for the calls the drivers make is published for
 *  - firebasehosting (the Hosting pages publish storage and transfer quotas only),
 *  - firebaserules (the Security Rules pages publish ruleset sizes and counts, no request rate),
 *  - firestore (the admin calls: indexes, exports, restores, backups; only document rates are published),
 *  - identitytoolkit (Identity Platform publishes account and sign-in rates, not project-config updates),
 *  - monitoring (the quotas page sends readers to the console's Quotas page for API request rates),
 *  - firebaseappcheck (no quotas page for its management calls),
 *  - cloudbuild (the quotas page publishes concurrency; its API rate limits live on the console only).
 * Their 429s are still handled: the retry waits, and a Retry-After holds the API (see `hold`).
 */
export const KNOWN_QUOTAS: readonly KnownQuota[] = [
  // https://cloud.google.com/iam/quotas: IAM v1 API, 6,000 read and 600 write requests per project per minute.
  { api: "iam", methods: "read", limit: 6000, windowMs: MINUTE, source: "cloud.google.com/iam/quotas" },
  { api: "iam", methods: "write", limit: 600, windowMs: MINUTE, source: "cloud.google.com/iam/quotas" },
  // Same page: Workload Identity Federation, 600 read and 60 write requests per project per minute
  // (pools and providers; counted on top of the IAM v1 rows, which only makes the pacing stricter).
  {
    api: "iam",
    methods: "read",
    path: /\/workloadIdentityPools(?:\/|$)/,
    limit: 600,
    windowMs: MINUTE,
    source: "cloud.google.com/iam/quotas (Workload Identity Federation)",
  },
  {
    api: "iam",
    methods: "write",
    path: /\/workloadIdentityPools(?:\/|$)/,
    limit: 60,
    windowMs: MINUTE,
    source: "cloud.google.com/iam/quotas (Workload Identity Federation)",
  },
  // https://cloud.google.com/resource-manager/docs/limits: read operations (projects and "all other")
  // up to 600 per minute, write operations up to 600 per minute, per API consumer project.
  {
    api: "cloudresourcemanager",
    methods: "read",
    limit: 600,
    windowMs: MINUTE,
    source: "cloud.google.com/resource-manager/docs/limits",
  },
  {
    api: "cloudresourcemanager",
    methods: "write",
    limit: 600,
    windowMs: MINUTE,
    source: "cloud.google.com/resource-manager/docs/limits",
  },
  // https://cloud.google.com/storage/quotas: bucket metadata updates, one per second per bucket
  // (object paths excluded: the drivers write bucket settings only).
  {
    api: "storage",
    methods: "write",
    path: /\/b\/([^/?]+)$/,
    limit: 1,
    windowMs: 1000,
    source: "cloud.google.com/storage/quotas (bucket metadata updates)",
  },
  // https://cloud.google.com/bigquery/quotas: API requests per second per user per method, 100
  // (counted here over all methods, which is stricter).
  {
    api: "bigquery",
    limit: 100,
    windowMs: 1000,
    source: "cloud.google.com/bigquery/quotas (API requests per second per user per method)",
  },
  // Same page: dataset update operations, 5 per dataset per 10 seconds.
  {
    api: "bigquery",
    methods: "write",
    path: /\/projects\/[^/]+\/datasets\/([^/]+)$/,
    limit: 5,
    windowMs: 10_000,
    source: "cloud.google.com/bigquery/quotas (dataset update operations per dataset per 10 seconds)",
  },
  // Same page: table metadata update operations, 5 per table per 10 seconds.
  {
    api: "bigquery",
    methods: "write",
    path: /\/projects\/[^/]+\/datasets\/([^/]+\/tables\/[^/]+)$/,
    limit: 5,
    windowMs: 10_000,
    source: "cloud.google.com/bigquery/quotas (table metadata update operations per table per 10 seconds)",
  },
];

/** One call as the pacer counts it. */
export interface PacedCall {
  api: string;
  /** The project the quota is charged to as the path names it; "" when it names none (one shared count, the cautious choice). */
  project: string;
  method: MethodClass;
  /** The URL path, for the quotas on one kind of resource. */
  path: string;
}

/** Custom methods Google's quota pages count as reads although they are POSTs (getIamPolicy, testIamPermissions, ...). */
const READ_VERB = /:(get|list|search|test|batchGet|query)[A-Za-z]*$/;

/** The call a request makes: its project from `projects/{id}` (or `?project=`), GETs and read verbs as reads. */
export function pacedCall(api: string, httpMethod: string, url: string): PacedCall {
  const { pathname, searchParams } = new URL(url, "http://localhost");
  const path = decodeURIComponent(pathname);
  const project = /\/projects\/([^/:]+)/.exec(path)?.[1] ?? searchParams.get("project") ?? "";
  const verb = httpMethod.toUpperCase();
  const method: MethodClass = verb === "GET" || verb === "HEAD" || READ_VERB.test(path) ? "read" : "write";
  return { api, project, method, path };
}

/**
 * Sliding windows over the times calls were let through, one per quota and project (or resource),
 * plus the holds a 429 with Retry-After puts on an API. `reserve` grants each call the earliest
 * time every quota it counts against allows and records it there, so concurrent callers queue
 * behind one another instead of all going at once. Keeps state, so share one per process.
 */
export class QuotaPacer {
  /** Granted times, ascending, at most `limit` of them (older ones no longer decide anything). */
  readonly #granted = new Map<string, number[]>();
  readonly #holds = new Map<string, number>();

  constructor(readonly quotas: readonly KnownQuota[] = KNOWN_QUOTAS) {}

  /** Takes a slot for `call` asked for at `now`: the milliseconds to wait before sending it (0: go now). */
  reserve(call: PacedCall, now: number): number {
    const windows = this.#windowsOf(call);
    let at = Math.max(now, this.#holds.get(holdKey(call)) ?? now);
    for (const { quota, granted } of windows) {
      const last = granted.at(-1);
      // Keep the order calls were granted in: a call never overtakes one already queued.
      if (last !== undefined) at = Math.max(at, last);
      const oldest = granted.length >= quota.limit ? granted[granted.length - quota.limit] : undefined;
      if (oldest !== undefined) at = Math.max(at, oldest + quota.windowMs);
    }
    for (const { quota, granted } of windows) {
      granted.push(at);
      if (granted.length > quota.limit) granted.splice(0, granted.length - quota.limit);
    }
    return at - now;
  }

  /** Holds every call of `call`'s API and project until `until` (a 429's Retry-After): other callers stop too. */
  hold(call: Pick<PacedCall, "api" | "project">, until: number): void {
    const key = holdKey(call);
    this.#holds.set(key, Math.max(this.#holds.get(key) ?? until, until));
  }

  /** How long a hold still keeps `call` back at `now`: a caller that slept on a reservation checks it again before sending. */
  heldFor(call: Pick<PacedCall, "api" | "project">, now: number): number {
    return Math.max(0, (this.#holds.get(holdKey(call)) ?? now) - now);
  }

  #windowsOf(call: PacedCall): { quota: KnownQuota; granted: number[] }[] {
    const windows: { quota: KnownQuota; granted: number[] }[] = [];
    this.quotas.forEach((quota, index) => {
      if (quota.api !== call.api || (quota.methods && quota.methods !== call.method)) return;
      const match = quota.path ? quota.path.exec(call.path) : undefined;
      if (match === null) return;
      const scope = match?.[1] ?? call.project;
      const key = `${index}|${call.project}|${scope}`;
      let granted = this.#granted.get(key);
      if (!granted) this.#granted.set(key, (granted = []));
      windows.push({ quota, granted });
    });
    return windows;
  }
}

const holdKey = (call: Pick<PacedCall, "api" | "project">) => `${call.api}|${call.project}`;
