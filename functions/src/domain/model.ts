/**
 * The control plane's documents, one zod schema each: the types of the store, the API and the
 * engine all come from here. Timestamps are Dates here; the store converts Firestore Timestamps.
 */
import { z } from "zod";
import { ENVIRONMENT_TYPES, MODES, REGIONS, ROLLBACK_POLICIES } from "./config-schema.js";
import { INTEGRATION_KINDS } from "./integrations.js";

export const COLLECTIONS = {
  config: "orchestration_config",
  environments: "environments",
  integrations: "integrations",
  tasks: "orchestration_tasks",
  deployments: "deployments",
  alerts: "alerts",
} as const;

/** `orchestration_config/{id}`: a stored copy of a config file, as loaded. */
export const configDocSchema = z.strictObject({
  config_type: z.enum(["orchestration"]),
  config_data: z.record(z.string(), z.unknown()),
  content_hash: z.string().regex(/^[0-9a-f]{64}$/),
  created_at: z.date(),
  updated_at: z.date(),
});
export type ConfigDoc = z.infer<typeof configDocSchema>;

export const ENVIRONMENT_STATUSES = ["declared", "provisioning", "ready", "degraded", "failed"] as const;

/** `environments/{name}` */
export const environmentDocSchema = z.strictObject({
  name: z.string().min(1),
  type: z.enum(ENVIRONMENT_TYPES),
  project_id: z.string().min(1),
  region: z.enum(REGIONS),
  mode: z.enum(MODES),
  concurrency: z.int().min(1),
  rollback_policy: z.enum(ROLLBACK_POLICIES),
  status: z.enum(ENVIRONMENT_STATUSES),
  created_at: z.date(),
  last_updated: z.date(),
});
export type EnvironmentDoc = z.infer<typeof environmentDocSchema>;

/** One health check of an integration. */
export const healthSchema = z.strictObject({
  status: z.enum(["healthy", "degraded", "down"]),
  latency_ms: z.number().min(0),
  details: z.string(),
  mode: z.enum(["emulated", "staged", "live"]),
  checked_at: z.date(),
});
export type HealthRecord = z.infer<typeof healthSchema>;

export const INTEGRATION_STATUSES = [
  "declared",
  "deploying",
  "deployed",
  "staged",
  "failed",
  "rolled_back",
  "removed",
] as const;

/** `integrations/{environment}__{name}` */
export const integrationDocSchema = z.strictObject({
  name: z.string().min(1),
  type: z.enum(INTEGRATION_KINDS),
  environment: z.string().min(1),
  status: z.enum(INTEGRATION_STATUSES),
  configuration: z.record(z.string(), z.unknown()),
  last_updated: z.date(),
  /** The release the last successful deployment recorded. */
  release: z.int().nullable().default(null),
  /** The last health check, if any. */
  health: healthSchema.nullable().default(null),
  /** The alert of the incident in progress, if the integration is unhealthy. */
  open_alert: z.string().nullable().default(null),
  /** Health incidents so far: the next one's alert is numbered `incidents + 1`, found without a query. */
  incidents: z.int().nonnegative().default(0),
});
export type IntegrationDoc = z.infer<typeof integrationDocSchema>;

/** The id of an integration document, as the contract fixes it. */
export function integrationDocId(environment: string, name: string): string {
  return `${environment}__${name}`;
}

/** The numbers behind an anomaly alert: what was observed, what the runs before it make normal. */
export const anomalyEvidenceSchema = z.strictObject({
  metric: z.enum(["duration", "failure_rate", "health_latency"]),
  /** Seconds (duration), failures among the last runs (failure_rate) or milliseconds (health_latency). */
  unit: z.string(),
  observed: z.number(),
  expected_low: z.number(),
  expected_high: z.number(),
  typical: z.number(),
  /** Earlier runs (or health checks) the expectation rests on. */
  runs: z.int().min(0),
  /** The run that showed it; null for a health check's latency. */
  task_id: z.string().nullable(),
  /** Scaled MADs from the median (duration) or the binomial tail probability (failure_rate). */
  score: z.number(),
});
export type AnomalyEvidence = z.infer<typeof anomalyEvidenceSchema>;

/** `alerts/{id}`: one per incident (health), per notable deployment outcome, or per anomaly in task runs. */
export const alertDocSchema = z.strictObject({
  level: z.enum(["critical", "warning", "info"]),
  status: z.enum(["open", "resolved"]),
  /** `rule`: an environment's alert rule (threshold held for its duration), see domain/alert-rules.ts. */
  source: z.enum(["health", "deployment", "job", "anomaly", "tuning", "rule"]),
  environment: z.string(),
  integration: z.string().nullable(),
  deployment_id: z.string().nullable(),
  message: z.string(),
  opened_at: z.date(),
  last_seen_at: z.date(),
  resolved_at: z.date().nullable(),
  /** Anomaly alerts only: the evidence. */
  evidence: anomalyEvidenceSchema.optional(),
  /**
   * When Firestore's TTL may delete the alert: `retention_days` after it was resolved. Absent or null
   * while it is open (and on alerts resolved before it was kept): an open alert never expires.
   */
  expire_at: z.date().nullable().optional(),
});
export type AlertDoc = z.infer<typeof alertDocSchema>;
