/**
 * The orchestration config (`orchestration.json`): one zod schema is the source of truth for the
 * file, the types the engine uses and the JSON Schema editors read.
 */
import { notificationsConfigSchema, type NotificationsConfig } from "./notifications.js";
import { z } from "zod";
import {
  INTEGRATION_KINDS,
  INTEGRATION_NAME_PATTERN,
  integrationNameProblem,
  type IntegrationKind,
} from "./integrations.js";

/** Regions a control plane or an environment may run in (Cloud Functions 2nd gen regions). */
export const REGIONS = [
  "us-central1",
  "us-east1",
  "us-east4",
  "us-east5",
  "us-south1",
  "us-west1",
  "us-west2",
  "us-west3",
  "us-west4",
  "northamerica-northeast1",
  "northamerica-northeast2",
  "southamerica-east1",
  "europe-central2",
  "europe-north1",
  "europe-southwest1",
  "europe-west1",
  "europe-west2",
  "europe-west3",
  "europe-west4",
  "europe-west6",
  "europe-west8",
  "europe-west9",
  "me-central1",
  "me-west1",
  "asia-east1",
  "asia-east2",
  "asia-northeast1",
  "asia-northeast2",
  "asia-northeast3",
  "asia-south1",
  "asia-southeast1",
  "asia-southeast2",
  "australia-southeast1",
  "australia-southeast2",
] as const;

/** Multi-region locations Firestore and Storage also accept. */
const MULTI_REGIONS = ["nam5", "eur3", "us", "eu", "asia"] as const;

export const ENVIRONMENT_TYPES = ["development", "staging", "production"] as const;
export const MODES = ["emulated", "live"] as const;
export const ROLLBACK_POLICIES = ["failed-only", "all"] as const;
export const ROLES = ["viewer", "operator", "admin"] as const;
/**
 * Settings the tuning job may change (as config overrides); see `domain/learning/tuning.ts`.
 * `concurrency` is an environment's; the others are per integration of an environment (`engine`).
 */
export const TUNABLE_SETTINGS = ["concurrency", "max_retries", "retry_base_ms", "lease_seconds"] as const;
/** The engine settings of one integration's tasks: retries, their backoff, and the lease. */
export const TASK_ENGINE_SETTINGS = ["max_retries", "retry_base_ms", "lease_seconds"] as const;
export type TaskEngineSetting = (typeof TASK_ENGINE_SETTINGS)[number];
/** The engine's defaults when neither the deployment request nor the environment's `engine` sets them. */
export const TASK_ENGINE_DEFAULTS = { max_retries: 3, retry_base_ms: 2000, lease_seconds: 120 } as const;
/** Bounds of each task engine setting (a deployment request's configuration and the config alike). */
export const TASK_ENGINE_BOUNDS = {
  max_retries: { min: 0, max: 10 },
  retry_base_ms: { min: 1, max: 600_000 },
  lease_seconds: { min: 1, max: 3600 },
} as const satisfies Record<TaskEngineSetting, { min: number; max: number }>;
/** Firebase's pricing plans: Spark (no billing, hard free quotas) and Blaze (pay as you go). */
export const FIREBASE_PLANS = ["spark", "blaze"] as const;
export type TunableSetting = (typeof TUNABLE_SETTINGS)[number];

const region = z.enum(REGIONS);
const location = z.enum([...REGIONS, ...MULTI_REGIONS]);
const relativePath = z
  .string()
  .regex(/^(?!\/)(?!.*\.\.)[A-Za-z0-9_./-]+$/, { error: "a relative path inside the repository (no '..')" });
const hostname = z.string().regex(/^(localhost|([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,})$/, {
  error: "a host name such as app.example.com",
});
const cron = z
  .string()
  .regex(/^(\S+\s+){4}\S+$/, { error: "a cron schedule with five fields, e.g. '0 3 * * *'" })
  .regex(/^[0-9*/,\-\s]+$/, { error: "cron fields made of digits, '*', '/', ',' and '-'" });
const count = (min: number, max: number) => z.int().min(min).max(max);
/** Whether the runtime knows the time zone (IANA tz database). */
const isTimeZone = (zone: string): boolean => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return true;
  } catch {
    return false;
  }
};

/** Settings for each integration kind. Every field is optional here: `base` supplies defaults, environments override. */
export const integrationSettingsShapes = {
  auth: z.strictObject({
    providers: z
      .array(z.enum(["password", "email_link", "google", "github", "anonymous", "phone"]))
      .min(1)
      .optional(),
    authorized_domains: z.array(hostname).optional(),
    mfa: z.enum(["off", "optional", "required"]).optional(),
    password_policy: z
      .strictObject({
        min_length: count(6, 30).optional(),
        require_uppercase: z.boolean().optional(),
        require_lowercase: z.boolean().optional(),
        require_numeric: z.boolean().optional(),
        require_symbol: z.boolean().optional(),
      })
      .optional(),
    role_accounts: z.array(z.strictObject({ email: z.email(), role: z.enum(ROLES) })).optional(),
  }),
  firestore: z.strictObject({
    location: location.optional(),
    rules_file: relativePath.optional(),
    indexes_file: relativePath.optional(),
    seed: z
      .record(
        z.string().regex(/^[A-Za-z0-9_-]+$/, { error: "a collection id" }),
        z.array(z.record(z.string(), z.unknown())),
      )
      .optional(),
  }),
  storage: z.strictObject({
    location: location.optional(),
    rules_file: relativePath.optional(),
    cors: z
      .array(
        z.strictObject({
          origin: z.array(z.string().min(1)).min(1),
          method: z.array(z.enum(["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"])).min(1),
          max_age_seconds: count(0, 86400),
        }),
      )
      .optional(),
    lifecycle_delete_after_days: count(1, 3650).nullable().optional(),
  }),
  functions: z.strictObject({
    runtime: z.enum(["nodejs22"]).optional(),
    source: relativePath.optional(),
    memory: z
      .enum(["128MiB", "256MiB", "512MiB", "1GiB", "2GiB", "4GiB", "8GiB", "16GiB", "32GiB"])
      .optional(),
    min_instances: count(0, 1000).optional(),
    max_instances: count(1, 1000).optional(),
    concurrency: count(1, 1000).optional(),
    timeout_seconds: count(1, 3600).optional(),
    topics: z
      .array(z.string().regex(/^[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}$/, { error: "a Pub/Sub topic id" }))
      .optional(),
  }),
  hosting: z.strictObject({
    site: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{2,62}$/, { error: "a Hosting site id" })
      .optional(),
    public_dir: relativePath.optional(),
    clean_urls: z.boolean().optional(),
    rewrites: z.array(z.strictObject({ source: z.string().min(1), function: z.string().min(1) })).optional(),
    redirects: z
      .array(
        z.strictObject({
          source: z.string().min(1),
          destination: z.string().min(1),
          type: z.literal([301, 302]),
        }),
      )
      .optional(),
  }),
  monitoring: z.strictObject({
    probe_interval_seconds: count(10, 3600).optional(),
    error_rate_warning: z.number().min(0).max(1).optional(),
    error_rate_critical: z.number().min(0).max(1).optional(),
    latency_ms_warning: count(1, 600000).optional(),
    latency_ms_critical: count(1, 600000).optional(),
    notification_channels: z.array(z.string().min(1)).optional(),
    /** Consecutive unhealthy checks before an incident opens: one bad probe is not an incident unless this is 1. */
    alert_after_checks: count(1, 100).optional(),
    /** How long an alert rule's threshold must hold before it fires (seconds). */
    alert_for_seconds: count(0, 86400).optional(),
    /** Share of the environment's deployments in the warehouse window that failed or rolled back. */
    deployment_failure_rate_warning: z.number().min(0).max(1).optional(),
    deployment_failure_rate_critical: z.number().min(0).max(1).optional(),
    /** p95 duration (seconds) of the environment's deployments in the warehouse window. */
    deployment_p95_seconds_warning: count(1, 86400).optional(),
    deployment_p95_seconds_critical: count(1, 86400).optional(),
    /** The trailing window the warehouse rules look at (minutes). */
    warehouse_window_minutes: count(5, 10080).optional(),
    /** Fewer finished deployments in the window than this is no evidence: the warehouse rules hold back. */
    warehouse_min_deployments: count(1, 1000).optional(),
  }),
  backup: z.strictObject({
    schedule: cron.optional(),
    retention_days: count(1, 3650).optional(),
    collections: z.array(z.string().min(1)).optional(),
  }),
  security: z.strictObject({
    forbid_open_rules: z.boolean().optional(),
    app_check: z.enum(["off", "monitor", "enforce"]).optional(),
    iam_bindings: z
      .array(
        z.strictObject({
          role: z
            .string()
            .regex(/^roles\/[A-Za-z0-9_.]+$/, { error: "an IAM role such as roles/firebase.viewer" }),
          members: z
            .array(
              z.string().regex(/^(user|serviceAccount|group|domain):\S+$/, {
                error: "user:, serviceAccount:, group: or domain: followed by an id",
              }),
            )
            .min(1),
        }),
      )
      .optional(),
  }),
  analytics: z.strictObject({
    dataset: z
      .string()
      .regex(/^[A-Za-z0-9_]{1,1024}$/, { error: "a BigQuery dataset id (letters, digits, underscores)" })
      .optional(),
    location: z.enum(["US", "EU", ...REGIONS]).optional(),
    retention_days: count(1, 3650).optional(),
  }),
  cicd: z.strictObject({
    provider: z.enum(["github-actions"]).optional(),
    branch: z
      .string()
      .regex(/^[A-Za-z0-9._/-]+$/, { error: "a git branch name" })
      .optional(),
    require_approval: z.boolean().optional(),
    promote_to: z.string().optional(),
    // Live only (Workload Identity Federation); "" leaves them unset, and live refuses naming the field.
    github_repository: z
      .string()
      .regex(/^$|^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})\/[A-Za-z0-9._-]{1,100}$/, {
        error: "a GitHub repository as owner/name",
      })
      .optional(),
    workload_identity_pool: z
      .string()
      .regex(/^(?!gcp-)[a-z0-9-]{4,32}$/, {
        error: "a Workload Identity pool id: 4-32 of a-z, 0-9 and '-', not starting with gcp-",
      })
      .optional(),
    deployer_service_account: z
      .string()
      .regex(/^$|^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$/, {
        error: "a service account email of the project, NAME@PROJECT.iam.gserviceaccount.com",
      })
      .optional(),
    project_number: z
      .string()
      .regex(/^$|^[1-9][0-9]{5,19}$/, { error: "the project's number (digits), not its id" })
      .optional(),
  }),
} satisfies Record<IntegrationKind, z.ZodType>;

/** The partial settings of one integration kind, as written in the file. */
export type IntegrationSettingsInput<K extends IntegrationKind> = z.infer<
  (typeof integrationSettingsShapes)[K]
>;

/** Defaults that apply when neither `base` nor an environment sets a field. */
export const INTEGRATION_DEFAULTS: { [K in IntegrationKind]: Required<IntegrationSettingsInput<K>> } = {
  auth: {
    providers: ["password"],
    authorized_domains: ["localhost"],
    mfa: "off",
    password_policy: {
      min_length: 8,
      require_uppercase: false,
      require_lowercase: false,
      require_numeric: false,
      require_symbol: false,
    },
    role_accounts: [],
  },
  firestore: {
    location: "nam5",
    rules_file: "environments/firestore.rules",
    indexes_file: "environments/firestore.indexes.json",
    seed: {},
  },
  storage: {
    location: "us-central1",
    rules_file: "environments/storage.rules",
    cors: [],
    lifecycle_delete_after_days: null,
  },
  functions: {
    runtime: "nodejs22",
    source: "environments/functions",
    memory: "256MiB",
    min_instances: 0,
    max_instances: 10,
    concurrency: 80,
    timeout_seconds: 60,
    topics: [],
  },
  hosting: { site: "app", public_dir: "environments/hosting", clean_urls: true, rewrites: [], redirects: [] },
  monitoring: {
    probe_interval_seconds: 60,
    error_rate_warning: 0.02,
    error_rate_critical: 0.1,
    latency_ms_warning: 1000,
    latency_ms_critical: 5000,
    notification_channels: [],
    alert_after_checks: 1,
    alert_for_seconds: 300,
    deployment_failure_rate_warning: 0.25,
    deployment_failure_rate_critical: 0.5,
    deployment_p95_seconds_warning: 900,
    deployment_p95_seconds_critical: 1800,
    warehouse_window_minutes: 60,
    warehouse_min_deployments: 3,
  },
  backup: { schedule: "0 3 * * *", retention_days: 14, collections: [] },
  security: { forbid_open_rules: true, app_check: "monitor", iam_bindings: [] },
  analytics: { dataset: "orchestration_events", location: "US", retention_days: 90 },
  cicd: {
    provider: "github-actions",
    branch: "main",
    require_approval: false,
    promote_to: "",
    github_repository: "",
    workload_identity_pool: "github-actions",
    deployer_service_account: "",
    project_number: "",
  },
};

const integrationsShape = Object.fromEntries(
  INTEGRATION_KINDS.map((kind) => [kind, integrationSettingsShapes[kind].optional()]),
) as {
  [K in IntegrationKind]: z.ZodOptional<(typeof integrationSettingsShapes)[K]>;
};
const integrationsBlock = z.strictObject(integrationsShape);
/**
 * An environment's overrides: a bare kind applies to every instance of the kind, a `kind:instance`
 * key to that instance only. Instance keys pass here as any value: their kind decides their shape,
 * which config.ts checks (zod cannot pick a value schema by a key's prefix).
 */
const overridesBlock = z.object(integrationsShape).catchall(z.unknown());

/** One integration's task engine settings as written; each falls back to `TASK_ENGINE_DEFAULTS`. */
const taskEngineShape = z.strictObject(
  Object.fromEntries(
    TASK_ENGINE_SETTINGS.map((setting) => [
      setting,
      count(TASK_ENGINE_BOUNDS[setting].min, TASK_ENGINE_BOUNDS[setting].max).optional(),
    ]),
  ) as Record<TaskEngineSetting, z.ZodOptional<z.ZodInt>>,
);

/** Each integration's (kind or `kind:instance`) task engine settings; every key names a declared one (config.ts). */
const engineBlock = z.record(z.string(), taskEngineShape);

/** `functions` (the kind's default instance) or `functions:orders`. */
const integrationName = z.string().regex(INTEGRATION_NAME_PATTERN, {
  error: (issue) => integrationNameProblem(String(issue.input)) ?? "an integration name",
});

const environmentSchema = z.strictObject({
  name: z.string().regex(/^[a-z][a-z0-9-]{1,29}$/, {
    error: "2-30 lowercase letters, digits or hyphens, starting with a letter",
  }),
  type: z.enum(ENVIRONMENT_TYPES),
  project_id: z.string().regex(/^[a-z][a-z0-9-]{4,28}[a-z0-9]$/, {
    error: "a Firebase project id: 6-30 lowercase letters, digits or hyphens, starting with a letter",
  }),
  region: region.optional(),
  mode: z.enum(MODES),
  concurrency: count(1, 100).optional(),
  rollback_policy: z.enum(ROLLBACK_POLICIES).optional(),
  /**
   * The integrations deployed here: a kind (`functions`, its default instance) or an instance of a
   * kind (`functions:orders`); any number of instances of a kind, each with its own settings.
   */
  integrations: z.array(integrationName).min(1),
  /** Settings over `base.integrations`: by kind (every instance of it), then by instance (`"functions:orders"`). */
  overrides: overridesBlock.optional(),
  /**
   * How the engine runs each integration's tasks here: `max_retries`, the retry backoff's base
   * (`retry_base_ms`) and the lease (`lease_seconds`). A deployment request's configuration wins.
   */
  engine: engineBlock.optional(),
});

/** The file as written: a shared base and environments that override it only where they must. */
export const orchestrationConfigSchema = z.strictObject({
  $schema: z.string().optional(),
  version: z.literal(1),
  base: z.strictObject({
    region: region,
    concurrency: count(1, 100),
    /** Who may do what beyond the roles themselves. */
    access: z
      .strictObject({
        production_requires_admin: z.boolean().optional(),
        /** A production deployment waits until a second person approves it (four eyes). */
        production_requires_approval: z.boolean().optional(),
        /** How long an approval request stays open before the deployment is cancelled (default 24). */
        approval_ttl_hours: count(1, 720).optional(),
      })
      .optional(),
    /** The control plane's scheduled jobs: the time zone their daily crons read in, and how long Firestore keeps history. */
    schedules: z
      .strictObject({
        time_zone: z
          .string()
          .refine(isTimeZone, { error: "an IANA time zone such as UTC or Europe/Berlin" })
          .optional(),
        retention_days: count(1, 3650).optional(),
      })
      .optional(),
    /** Where alerts are sent: named channels that environments' monitoring lists. */
    notifications: notificationsConfigSchema.optional(),
    /**
     * What the nightly optimization may apply by itself and within which bounds; anything else
     * stays a recommendation a person applies with `POST /optimize/{id}/apply`.
     */
    tuning: z
      .strictObject({
        /** Settings applied without a person (default none). */
        auto_apply: z.array(z.enum(TUNABLE_SETTINGS)).optional(),
        /** Largest automatic change, as a share of the current value (0.5: at most +/-50 %; default 0.5). */
        max_change: z.number().min(0).max(10).optional(),
        /** Finished deployments an applied change is watched over before it is kept (default 5). */
        canary_deployments: count(1, 100).optional(),
        /** How much worse than its baseline the watched metric may get before the change is reverted (0.2: 20 %; default 0.2). */
        canary_margin: z.number().min(0).max(10).optional(),
      })
      .optional(),
    /**
     * What the capacity forecast (`POST /optimize`'s `capacity_forecast`) compares with: the control
     * plane project's Firebase plan (Spark: the free daily quotas are hard limits; Blaze: beyond
     * them is billed), a monthly budget for its Firestore operations, and the events a day the
     * warehouse is sized for.
     */
    capacity: z
      .strictObject({
        /** The control plane project's Firebase plan (default blaze: Cloud Functions need it). */
        plan: z.enum(FIREBASE_PLANS).optional(),
        /** Monthly budget in USD for the control plane's Firestore operations beyond the free tier (default none). */
        monthly_budget_usd: z.number().positive().max(1e9).optional(),
        /** Events a day the warehouse is sized for (default 1,000,000, the specification's figure). */
        events_per_day_limit: count(1, 1e12).optional(),
      })
      .optional(),
    integrations: integrationsBlock,
  }),
  environments: z.array(environmentSchema).min(1).max(50),
});

/** The config file as parsed, before base and overrides are merged. */
export type OrchestrationConfigInput = z.infer<typeof orchestrationConfigSchema>;
/** One environment entry as written in the file. */
export type EnvironmentInput = z.infer<typeof environmentSchema>;

/** Settings of one integration after base, overrides and defaults are merged. */
export type IntegrationSettings<K extends IntegrationKind> = (typeof INTEGRATION_DEFAULTS)[K];

/**
 * One integration of an environment, with its fully merged settings. `name` is what the file
 * declares (`functions` or `functions:orders`): tasks, releases, health and drivers key by it.
 */
export type ResolvedIntegration = {
  [K in IntegrationKind]: { kind: K; name: string; settings: IntegrationSettings<K> };
}[IntegrationKind];

/** An environment with every default filled in and every override applied. */
export interface ResolvedEnvironment {
  name: string;
  type: (typeof ENVIRONMENT_TYPES)[number];
  project_id: string;
  region: (typeof REGIONS)[number];
  mode: (typeof MODES)[number];
  concurrency: number;
  rollback_policy: (typeof ROLLBACK_POLICIES)[number];
  integrations: ResolvedIntegration[];
  /** Each declared integration's task engine settings (by name), defaults filled in. */
  engine: Partial<Record<string, TaskEngineSettings>>;
}

/** One integration's task engine settings with every default filled in. */
export type TaskEngineSettings = Record<TaskEngineSetting, number>;

/** The whole config, resolved: what the engine works from. */
export interface ResolvedConfig {
  version: 1;
  /** Deploying to or cancelling in production needs the admin role (default false). */
  access: {
    production_requires_admin: boolean;
    /** Production deployments wait for a second person's approval (default false). */
    production_requires_approval: boolean;
    /** Hours an approval request stays open (default 24). */
    approval_ttl_hours: number;
  };
  /** Scheduled jobs' time zone and Firestore retention (defaults UTC and 90 days). */
  schedules: { time_zone: string; retention_days: number };
  /** Named notification channels and their hourly limit (none and 30 by default). */
  notifications: NotificationsConfig;
  /** Automatic tuning's guardrails (defaults: nothing automatic, 50 %, 5 deployments, 20 %). */
  tuning: TuningConfig;
  /** The capacity forecast's plan and budget (defaults: blaze, no budget, 1,000,000 events a day). */
  capacity: CapacityConfig;
  environments: ResolvedEnvironment[];
}

/** The capacity settings with every default filled in. */
export interface CapacityConfig {
  plan: (typeof FIREBASE_PLANS)[number];
  monthly_budget_usd: number | null;
  events_per_day_limit: number;
}

/** The tuning guardrails with every default filled in. */
export interface TuningConfig {
  auto_apply: TunableSetting[];
  max_change: number;
  canary_deployments: number;
  canary_margin: number;
}
