/** The ten integration kinds and how they depend on each other, declared once for the whole engine. */

export const INTEGRATION_KINDS = [
  "auth",
  "firestore",
  "storage",
  "functions",
  "hosting",
  "monitoring",
  "backup",
  "security",
  "analytics",
  "cicd",
] as const;

/** One of the ten Firebase products the control plane manages in an environment. */
export type IntegrationKind = (typeof INTEGRATION_KINDS)[number];

/**
 * An instance's name after `kind:`: 2-24 lowercase letters, digits or hyphens, starting with a
 * letter (short enough for the names derived from it: job names, label values, resource ids).
 */
const INSTANCE_PATTERN = "[a-z][a-z0-9-]{0,22}[a-z0-9]";
/** An integration's name in a config: a kind (its default instance) or `kind:instance`. */
export const INTEGRATION_NAME_PATTERN = new RegExp(
  `^(${INTEGRATION_KINDS.join("|")})(:${INSTANCE_PATTERN})?$`,
);

/** Why a string is not an integration name (what is allowed there), or undefined when it is one. */
export function integrationNameProblem(name: string): string | undefined {
  if (INTEGRATION_NAME_PATTERN.test(name)) return undefined;
  const [kind = "", ...rest] = name.split(":");
  if (!(INTEGRATION_KINDS as readonly string[]).includes(kind))
    return `one of ${INTEGRATION_KINDS.map((k) => JSON.stringify(k)).join(", ")}, or an instance of one such as "functions:orders"`;
  return `"${kind}" or "${kind}:<instance>", the instance ${rest.length > 1 ? "without a second ':' and " : ""}2-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen`;
}

/** The kind of an integration name (`functions:orders` -> `functions`); the name must be valid. */
export function kindOf(name: string): IntegrationKind {
  const kind = name.split(":")[0];
  const found = INTEGRATION_KINDS.find((candidate) => candidate === kind);
  if (!found) throw new Error(`"${name}" is not an integration name`);
  return found;
}

/** The instance part of a name (`functions:orders` -> `orders`); null for a kind's default instance. */
export function instanceOf(name: string): string | null {
  const at = name.indexOf(":");
  return at < 0 ? null : name.slice(at + 1);
}

/**
 * Kinds whose live driver reaches one resource per project, so a live environment holds no
 * instance of them besides the default one (emulated environments may), and why.
 */
export const LIVE_DEFAULT_ONLY_KINDS: Partial<Record<IntegrationKind, string>> = {
  firestore: "the live firestore driver manages the (default) database only",
  storage: "the live storage driver manages the project's default bucket only",
  backup: "the live backup driver keeps one schedule and one export folder per environment",
  cicd: "the live cicd driver keeps one Workload Identity provider per environment",
};

/**
 * Kinds of which an environment holds one instance at most, and why: each is one thing per
 * Firebase project, so a second instance would overwrite the first.
 */
export const SINGLE_INSTANCE_KINDS: Partial<Record<IntegrationKind, string>> = {
  auth: "a project has one Authentication (Identity Platform) configuration",
  security: "a project has one IAM policy and one App Check configuration",
  monitoring:
    "its thresholds and channels are the environment's health and alerting policy, which health checks and notifications read once",
};

interface CatalogEntry {
  /** Human name, for plans and reports. */
  readonly title: string;
  /** Kinds that must also be declared in the environment for this one to make sense. */
  readonly requires: readonly IntegrationKind[];
  /** Kinds that, when present in the same deployment, must finish before this one starts. */
  readonly after: readonly IntegrationKind[];
  /** Planning estimate in seconds, refined later from history. */
  readonly estimatedSeconds: number;
  /** Higher runs first among tasks that are ready at the same time. */
  readonly priority: number;
}

/**
 * Why this order: security rules go in before any data is seeded (firestore); functions need
 * auth, firestore and their Pub/Sub topics; hosting rewrites point at functions; backups export
 * firestore (and storage); analytics exports what the others emit; monitoring watches everything
 * and so comes last; CI/CD is written once the environment's shape is known.
 */
export const INTEGRATION_CATALOG: Readonly<Record<IntegrationKind, CatalogEntry>> = {
  security: {
    title: "Security (rules policy, App Check, IAM)",
    requires: [],
    after: [],
    estimatedSeconds: 20,
    priority: 100,
  },
  auth: { title: "Authentication", requires: [], after: ["security"], estimatedSeconds: 20, priority: 90 },
  firestore: {
    title: "Cloud Firestore",
    requires: [],
    after: ["security"],
    estimatedSeconds: 30,
    priority: 90,
  },
  storage: { title: "Cloud Storage", requires: [], after: ["security"], estimatedSeconds: 20, priority: 80 },
  functions: {
    title: "Cloud Functions",
    requires: [],
    after: ["auth", "firestore", "storage"],
    estimatedSeconds: 90,
    priority: 70,
  },
  hosting: {
    title: "Firebase Hosting",
    requires: [],
    after: ["functions"],
    estimatedSeconds: 40,
    priority: 60,
  },
  backup: {
    title: "Backups",
    requires: ["firestore"],
    after: ["firestore", "storage"],
    estimatedSeconds: 45,
    priority: 50,
  },
  analytics: {
    title: "Analytics export",
    requires: [],
    after: ["firestore", "functions"],
    estimatedSeconds: 25,
    priority: 40,
  },
  cicd: {
    title: "CI/CD pipeline",
    requires: [],
    after: ["functions", "hosting"],
    estimatedSeconds: 15,
    priority: 30,
  },
  monitoring: {
    title: "Monitoring and alerting",
    requires: [],
    after: [
      "auth",
      "firestore",
      "storage",
      "functions",
      "hosting",
      "backup",
      "security",
      "analytics",
      "cicd",
    ],
    estimatedSeconds: 15,
    priority: 10,
  },
};
