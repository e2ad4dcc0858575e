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
