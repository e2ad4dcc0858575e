/**
 * What an integration driver is. Each kind implements a small `DriverSpec` (what it wants, what
 * is there, how to make it so, how healthy it is); the fabricator (fabricator.ts) turns that
 * into plan / apply / verify / rollback with release records, the same way for every kind.
 */
import type { Fence } from "./driver.js";
import type { IntegrationSettings, ResolvedEnvironment } from "../domain/config-schema.js";
import type { IntegrationKind } from "../domain/integrations.js";
import type { Problem } from "../domain/problems.js";
import type { GoogleAccess } from "./live/google.js";
import type { PromotedFrom } from "./promotion.js";

/** How a driver reaches its target: see DESIGN.md "Integrations and modes". */
export type DriverMode = "emulated" | "staged" | "live";

/** The integration a driver works on: which environment, which instance, with which merged settings. */
export interface DriverTarget<K extends IntegrationKind = IntegrationKind> {
  environment: ResolvedEnvironment;
  /** `functions` or `functions:orders`. */
  integration: string;
  kind: K;
  settings: IntegrationSettings<K>;
}

/** Reads the repository files a config refers to (rules, site directories, function sources). */
export interface SourceReader {
  /** Text of a file relative to the source root; undefined when it does not exist. */
  readText(relativePath: string): Promise<string | undefined>;
  /** Every file below a directory, relative to that directory, sorted; [] when it does not exist. */
  listFiles(relativeDir: string): Promise<string[]>;
  /** Raw bytes of a file relative to the source root. */
  readBytes(relativePath: string): Promise<Buffer | undefined>;
}

/** Where the local Emulator Suite listens; drivers in emulated mode call these. */
export interface EmulatorHosts {
  firestore?: string;
  auth?: string;
  pubsub?: string;
  hub?: string;
}

/** The I/O a driver may use: injected, so tests can point it anywhere. */
export interface DriverIO {
  sources: SourceReader;
  emulators: EmulatorHosts;
  fetch: typeof fetch;
  now(): Date;
  /** How live environments reach Google (Application Default Credentials); absent where nothing goes live. */
  google?: GoogleAccess;
}

/** The desired state of an integration, as a plain JSON value, and anything wrong with it. */
export interface Desired<D> {
  state: D;
  /** Everything an apply would refuse, found before applying: a plan that passes does not fail apply for a reason it could see. */
  problems: Problem[];
  /** For staged kinds: the artifact a person can inspect (a workflow file, a release manifest). */
  artifact?: { name: string; content: string };
}

/** Health of one integration as a verify sees it. */
export interface Health {
  status: "healthy" | "degraded" | "down";
  latency_ms: number;
  details: string;
  mode: DriverMode;
}

/** One kind's driver, before the fabricator adds releases, diffing and rollback. */
export interface DriverSpec<K extends IntegrationKind = IntegrationKind, D = unknown> {
  kind: K;
  /** How this kind reaches an environment in the given mode (e.g. hosting is staged locally). */
  mode(environment: ResolvedEnvironment): DriverMode;
  /** The desired state from the config (and the files it names), validated as strictly as apply would. */
  desired(target: DriverTarget<K>, io: DriverIO): Promise<Desired<D>>;
  /**
   * What is there now. Emulated kinds ask the emulator; staged kinds have nothing live to ask and
   * return undefined, so the fabricator compares with the last recorded release instead.
   */
  observe(target: DriverTarget<K>, io: DriverIO): Promise<D | undefined>;
  /** Makes the target match `state`. Must be idempotent. Throws NonRetriableError for input problems. */
  apply(target: DriverTarget<K>, state: D, io: DriverIO): Promise<void>;
  /** Health probe of the integration in its environment. */
  verify(
    target: DriverTarget<K>,
    io: DriverIO,
    release: Release | undefined,
  ): Promise<Omit<Health, "mode" | "latency_ms">>;
}

/** A recorded release: what was applied, so a rollback has something to go back to. */
export interface Release {
  environment: string;
  integration: string;
  kind: IntegrationKind;
  /** 1, 2, 3... per integration. */
  number: number;
  mode: DriverMode;
  state: unknown;
  digest: string;
  artifact: { name: string; content: string } | null;
  deployment_id: string | null;
  action: "apply" | "rollback";
  /** For a rollback, the number of the release it undid: a second rollback of that release does nothing. */
  undoes: number | null;
  /** For a promoted release: the source release whose artifact it carries. */
  promoted_from?: PromotedFrom | null;
  created_at: Date;
}

/** Keeps releases per integration; the Firestore implementation lives in store/. */
export interface ReleaseStore {
  latest(environment: string, integration: string): Promise<Release | undefined>;
  /** The latest release of each of an environment's integrations, read together. */
  latestOf(environment: string, integrations: readonly string[]): Promise<Map<string, Release | undefined>>;
  /** The release before the latest one. */
  previous(environment: string, integration: string): Promise<Release | undefined>;
  /** The newest `count` releases, newest first. */
  newest(environment: string, integration: string, count: number): Promise<Release[]>;
  /** One release by its number; undefined when there is none. */
  get(environment: string, integration: string, number: number): Promise<Release | undefined>;
  /** Records a release; refused (StaleAttemptError) when `fence` names an attempt that no longer holds its work. */
  record(release: Omit<Release, "number">, fence?: Fence): Promise<Release>;
}

/** One line of a plan a person can read. */
export interface Change {
  path: string;
  from: unknown;
  to: unknown;
}

/** A plan: what would change, or why it cannot be applied, or that nothing needs to change. */
export interface IntegrationPlan {
  environment: string;
  integration: string;
  mode: DriverMode;
  changes: Change[];
  problems: Problem[];
  /** "no changes", "3 changes", or "refused: ...". */
  summary: string;
  artifact: { name: string; content: string } | null;
}
