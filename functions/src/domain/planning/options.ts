/**
 * The options the planner chooses between, for one environment: each with its monthly cost (from
 * the price catalog and the goals), its SLA on each request path, the recovery it gives, the
 * controls it provides, where it keeps data, and the config settings that carry it out.
 */
import type { IntegrationKind } from "../integrations.js";
import { PRICE_CATALOG as C } from "./price-catalog.js";
import type { Geography, PlannedEnvironment, PlanningGoals } from "./request.js";

/** The choices made per environment; `data` joins Firestore, its backups and the export bucket, whose costs multiply. */
export const SLOTS = [
  "identity",
  "data",
  "functions",
  "hosting",
  "monitoring",
  "security",
  "cicd",
  "analytics",
] as const;
/** One slot. */
export type Slot = (typeof SLOTS)[number];

/** Request paths whose availability is the product of the SLAs of the services they cross. */
export const PATHS = {
  api: "Hosting rewrite -> Cloud Functions -> Firestore",
  sign_in: "Hosting -> Identity Platform",
} as const;
/** One request path. */
export type PathName = keyof typeof PATHS;

/** Features the risk register reads. */
export interface RiskFeatures {
  firestore_multi_region?: boolean;
  pitr?: boolean;
  backup_interval_minutes?: number;
  min_instances?: boolean;
  mfa_required?: boolean;
  app_check_enforced?: boolean;
  change_approval?: boolean;
  analytics_export?: boolean;
  alerting?: boolean;
}

/** One option of one slot of one environment. */
export interface PlanOption {
  env: PlannedEnvironment;
  slot: Slot;
  id: string;
  label: string;
  /** Monthly cost in USD, and the same split by integration. */
  cost: number;
  costBy: Partial<Record<IntegrationKind, number>>;
  /** How the cost was computed, one line per term. */
  costTerms: string[];
  paths: { path: PathName; service: string; sla: number; source: string }[];
  provides: string[];
  geo: Geography | "global";
  rpoMinutes: number | null;
  rtoMinutes: number;
  rtoTerm: string | null;
  /** Config settings that carry the option out, per integration; null drops the integration. */
  settings: Partial<Record<IntegrationKind, Record<string, unknown> | null>>;
  region?: string;
  manualSteps: string[];
  features: RiskFeatures;
  /** Added to the objective only: among equal costs, production prefers the safer option and others the lighter one. */
  tieBreak: number;
}

/** The quantities one environment must serve: the goals scaled by its load share. */
export interface EnvironmentLoad {
  env: PlannedEnvironment;
  share: number;
  mau: number;
  readsPerDay: number;
  writesPerDay: number;
  storageGib: number;
  invocationsPerDay: number;
  egressGibPerMonth: number;
}

const A = C.assumptions;
const DAYS = A.days_per_month;
const DOCS_PER_GIB = (1024 * 1024) / A.average_document_kib;
const GB_PER_GIB = 1.073741824;

/** Locations by geography: Firestore regional and multi-region (Asia has none), with the export bucket in the same place. */
export const LOCATIONS: readonly {
  geo: Geography;
  multi: boolean;
  firestore: string;
  bucket: string;
  functionsRegion: string;
  analytics: string;
}[] = [
  {
    geo: "us",
    multi: false,
    firestore: "us-central1",
    bucket: "us-central1",
    functionsRegion: "us-central1",
    analytics: "US",
  },
  {
    geo: "us",
    multi: true,
    firestore: "nam5",
    bucket: "us",
    functionsRegion: "us-central1",
    analytics: "US",
  },
  {
    geo: "eu",
    multi: false,
    firestore: "europe-west1",
    bucket: "europe-west1",
    functionsRegion: "europe-west1",
    analytics: "EU",
  },
  {
    geo: "eu",
    multi: true,
    firestore: "eur3",
    bucket: "eu",
    functionsRegion: "europe-west1",
    analytics: "EU",
  },
  {
    geo: "asia",
    multi: false,
    firestore: "asia-northeast1",
    bucket: "asia-northeast1",
    functionsRegion: "asia-northeast1",
    analytics: "asia-northeast1",
  },
];

const BACKUP_INTERVALS = [
  { minutes: 1440, name: "daily", schedule: "0 3 * * *" },
  { minutes: 360, name: "6-hourly", schedule: "0 */6 * * *" },
  { minutes: 60, name: "hourly", schedule: "0 * * * *" },
] as const;

const MONITORING = [
  { id: "basic", probe: 300, channels: [] as string[], conditions: 0, detection: 15 },
  { id: "standard", probe: 60, channels: ["oncall-email"], conditions: 4, detection: 5 },
  { id: "full", probe: 10, channels: ["oncall-email", "oncall-pager"], conditions: 10, detection: 1 },
] as const;

/** Analytics retention choices in days; 0 exports nothing. */
const ANALYTICS_RETENTION = [0, 30, 400, 2190] as const;

/** The load each environment carries: production the goals, the others a share of them (catalog assumption). */
export function environmentLoad(goals: PlanningGoals, env: PlannedEnvironment): EnvironmentLoad {
  const share = A.load_share[env];
  return {
    env,
    share,
    mau: (goals.monthly_active_users ?? 0) * share,
    readsPerDay: (goals.reads_per_day ?? 0) * share,
    writesPerDay: (goals.writes_per_day ?? 0) * share,
    storageGib: (goals.storage_gib ?? 0) * share,
    invocationsPerDay: (goals.function_invocations_per_day ?? 0) * share,
    egressGibPerMonth: (goals.hosting_egress_gib_per_month ?? 0) * share,
  };
}

const ppm = (sla: number) => -Math.log(sla) * 1e6;
/** Downtime of an SLA in parts per million, the unit availability rows use (sums of logs are products of SLAs). */
export const downtimePpm = ppm;

/** Monthly Identity Platform cost of `mau` users over the tier-1 bands. */
export function identityCost(mau: number): number {
  let cost = 0;
  for (const band of C.identity_platform.mau_tiers) {
    const inBand = Math.max(0, Math.min(mau, band.to + 1) - band.from);
    cost += inBand * band.price.value;
  }
  return cost;
}

function firestorePrices(multi: boolean) {
  return multi ? C.firestore.multi_region : C.firestore.regional;
}

/** Monthly Firestore operation cost of a daily read and write volume, after the per-project free tier. */
export function firestoreOpsCost(multi: boolean, readsPerDay: number, writesPerDay: number): number {
  const p = firestorePrices(multi);
  const reads = Math.max(0, readsPerDay - C.firestore.free_tier.reads_per_day.value);
  const writes = Math.max(0, writesPerDay - C.firestore.free_tier.writes_per_day.value);
  return DAYS * ((reads / 1e5) * p.read_per_100k.value + (writes / 1e5) * p.write_per_100k.value);
}

const money = (value: number) => `USD ${value.toFixed(4)}`;

function identityOptions(load: EnvironmentLoad, prod: boolean): PlanOption[] {
  const cost = identityCost(load.mau);
  return (["optional", "required"] as const).map((mfa) => ({
    env: load.env,
    slot: "identity",
    id: `mfa-${mfa}`,
    label: `Identity Platform, MFA ${mfa}`,
    cost,
    costBy: { auth: cost },
    costTerms: [`${load.mau} MAU over the tier-1 bands (50,000 free per project): ${money(cost)}`],
    paths: [
      {
        path: "sign_in",
        service: "Identity Platform",
        sla: C.sla.identity_platform.value,
        source: C.sla.identity_platform.source,
      },
    ],
    provides: mfa === "required" ? ["mfa"] : [],
    geo: "global",
    rpoMinutes: null,
    rtoMinutes: 0,
    rtoTerm: null,
    settings: { auth: { providers: ["password"], mfa } },
    manualSteps: [],
    features: { mfa_required: mfa === "required" },
    tieBreak: (mfa === "required") === prod ? 0 : 1e-4,
  }));
}

function dataOptions(load: EnvironmentLoad): PlanOption[] {
  const options: PlanOption[] = [];
  const gib = load.storageGib;
  const docs = gib * DOCS_PER_GIB;
  const retention = A.backup_retention_days;
  const restore = A.restore_minutes_fixed + A.restore_minutes_per_gib * gib;
  for (const location of LOCATIONS) {
    const prices = firestorePrices(location.multi);
    const sla = location.multi ? C.sla.firestore_multi_region : C.sla.firestore_regional;
    const ops = firestoreOpsCost(location.multi, load.readsPerDay, load.writesPerDay);
    const stored = Math.max(0, gib - C.firestore.free_tier.stored_gib.value) * prices.storage_gib_month.value;
    for (const pitr of [false, true]) {
      const pitrCost = pitr
        ? gib * C.firestore.pitr_storage_factor.value * prices.storage_gib_month.value
        : 0;
      for (const interval of BACKUP_INTERVALS) {
        const exportsPerDay = 1440 / interval.minutes;
        const exportReads = docs * exportsPerDay * C.firestore.export_reads_per_document.value;
        const exportCost =
          firestoreOpsCost(location.multi, load.readsPerDay + exportReads, load.writesPerDay) - ops;
        const copies = retention * exportsPerDay;
        for (const storageClass of ["standard", "nearline"] as const) {
          const perGib = location.multi
            ? storageClass === "standard"
              ? C.storage.multi_standard_gib_month.value
              : C.storage.multi_nearline_gib_month.value
            : storageClass === "standard"
              ? C.storage.regional_standard_gib_month.value
              : C.storage.regional_nearline_gib_month.value;
          // Nearline bills every object for at least its minimum duration, so short retention pays more.
          const durationFactor =
            storageClass === "nearline" ? Math.max(1, C.storage.nearline_minimum_days.value / retention) : 1;
          const bucket = gib * copies * perGib * durationFactor;
          const scheduler = C.scheduler.job_month.value;
          const firestore = ops + stored + pitrCost;
          const backup = exportCost + scheduler;
          const cost = firestore + backup + bucket;
          options.push({
            env: load.env,
            slot: "data",
            id: `${location.firestore}${pitr ? "+pitr" : ""}+${interval.name}+${storageClass}`,
            label: `Firestore ${location.firestore} (${location.multi ? "multi-region" : "regional"})${pitr ? " with point-in-time recovery" : ""}, ${interval.name} exports to a ${storageClass} bucket in ${location.bucket}`,
            cost,
            costBy: { firestore, backup, storage: bucket },
            costTerms: [
              `Firestore operations after the free tier: ${money(ops)}`,
              `Firestore storage beyond 1 GiB: ${money(stored)}`,
              ...(pitr ? [`point-in-time recovery data (${gib} GiB): ${money(pitrCost)}`] : []),
              `${exportsPerDay} export(s) a day of ${docs} documents, billed as reads: ${money(exportCost)}`,
              `backup schedule job: ${money(scheduler)}`,
              `${copies} retained export(s) of ${gib} GiB in ${storageClass}${durationFactor > 1 ? ` (billed ${durationFactor.toFixed(3)}x for the minimum duration)` : ""}: ${money(bucket)}`,
            ],
            paths: [
              {
                path: "api",
                service: `Firestore ${location.multi ? "multi-region" : "regional"}`,
                sla: sla.value,
                source: sla.source,
              },
            ],
            provides: [
              "recovery_capability",
              "encryption_at_rest",
              ...(pitr ? ["point_in_time_recovery"] : []),
            ],
            geo: location.geo,
            rpoMinutes: pitr ? 1 : interval.minutes,
            rtoMinutes: restore,
            rtoTerm: `restore ${gib} GiB: ${A.restore_minutes_fixed} + ${A.restore_minutes_per_gib} x ${gib} = ${restore} min`,
            settings: {
              firestore: { location: location.firestore },
              storage: { location: location.bucket },
              backup: { schedule: interval.schedule, retention_days: retention },
            },
            manualSteps: [
              ...(pitr
                ? [
                    `enable point-in-time recovery: gcloud firestore databases update --database='(default)' --enable-pitr (not in orchestration.json v1)`,
                  ]
                : []),
              ...(storageClass === "nearline"
                ? [`set the export bucket's default storage class to NEARLINE (not in orchestration.json v1)`]
                : []),
            ],
            features: {
              firestore_multi_region: location.multi,
              pitr,
              backup_interval_minutes: interval.minutes,
            },
            tieBreak: 0,
          });
        }
      }
    }
  }
  return options;
}

/** Peak concurrent requests and the instance cap planned for them. */
export function functionInstances(invocationsPerDay: number): {
  peakConcurrent: number;
  maxInstances: number;
} {
  const peakConcurrent = (invocationsPerDay / 86_400) * A.peak_to_average * A.function_seconds_per_invocation;
  const needed = Math.ceil(peakConcurrent / A.function_concurrency);
  return { peakConcurrent, maxInstances: Math.min(1000, Math.max(2, 2 * needed)) };
}

function functionsOptions(load: EnvironmentLoad, prod: boolean): PlanOption[] {
  const p = C.functions;
  const invocations = load.invocationsPerDay * DAYS;
  const invocationCost = (invocations / 1e6) * p.invocation_per_million.value;
  const seconds = invocations * A.function_seconds_per_invocation;
  const computeCost =
    seconds * (A.function_vcpu * p.vcpu_second.value + A.function_memory_gib * p.gib_second.value);
  const idlePerInstance =
    A.hours_per_month *
    3600 *
    (A.function_vcpu * p.idle_vcpu_second.value + A.function_memory_gib * p.idle_gib_second.value);
  const { maxInstances } = functionInstances(load.invocationsPerDay);
  const regions = [
    ...new Map(LOCATIONS.map((location) => [location.functionsRegion, location.geo])).entries(),
  ];
  return regions.flatMap(([region, geo]) =>
    [0, 1].map((min) => {
      const cost = invocationCost + computeCost + min * idlePerInstance;
      return {
        env: load.env,
        slot: "functions" as const,
        id: `${region}+min${min}`,
        label: `Cloud Functions (2nd gen) in ${region}, 256MiB, ${min} minimum instance(s), at most ${maxInstances}`,
        cost,
        costBy: { functions: cost },
        costTerms: [
          `${invocations} invocations: ${money(invocationCost)}`,
          `${seconds} s of ${A.function_vcpu} vCPU and ${A.function_memory_gib} GiB: ${money(computeCost)}`,
          `${min} idle minimum instance(s) for ${A.hours_per_month} h: ${money(min * idlePerInstance)}`,
        ],
        paths: [
          {
            path: "api" as const,
            service: "Cloud Functions",
            sla: C.sla.functions.value,
            source: C.sla.functions.source,
          },
        ],
        provides: [],
        geo,
        rpoMinutes: null,
        rtoMinutes: 0,
        rtoTerm: null,
        settings: {
          functions: { memory: "256MiB", min_instances: min, max_instances: Math.max(maxInstances, min) },
        },
        region,
        manualSteps: [],
        features: { min_instances: min > 0 },
        tieBreak: min > 0 === prod ? 0 : 1e-4,
      };
    }),
  );
}

function hostingOption(load: EnvironmentLoad): PlanOption {
  const h = C.hosting;
  const egressGb = load.egressGibPerMonth * GB_PER_GIB;
  const freeGb = (h.free_egress_mb_per_day.value * DAYS) / 1000;
  const egress = Math.max(0, egressGb - freeGb) * h.egress_gb.value;
  const storage = Math.max(0, A.hosting_site_gb - h.free_storage_gb.value) * h.storage_gb_month.value;
  const cost = egress + storage;
  return {
    env: load.env,
    slot: "hosting",
    id: "hosting",
    label: "Firebase Hosting (global CDN)",
    cost,
    costBy: { hosting: cost },
    costTerms: [
      `${egressGb.toFixed(3)} GB egress, ${freeGb} GB free: ${money(egress)}`,
      `${A.hosting_site_gb} GB site, ${h.free_storage_gb.value} GB free: ${money(storage)}`,
    ],
    paths: [
      { path: "api", service: "Firebase Hosting", sla: C.sla.hosting.value, source: C.sla.hosting.source },
      {
        path: "sign_in",
        service: "Firebase Hosting",
        sla: C.sla.hosting.value,
        source: C.sla.hosting.source,
      },
    ],
    provides: [],
    geo: "global",
    rpoMinutes: null,
    rtoMinutes: 0,
    rtoTerm: null,
    settings: { hosting: {} },
    manualSteps: [],
    features: {},
    tieBreak: 0,
  };
}

function monitoringOptions(load: EnvironmentLoad, prod: boolean): PlanOption[] {
  return MONITORING.map((level, index) => {
    const cost = level.conditions * C.monitoring.alert_condition_month.value;
    return {
      env: load.env,
      slot: "monitoring" as const,
      id: level.id,
      label: `Monitoring ${level.id}: probes every ${level.probe} s, ${level.conditions} alert condition(s), ${level.channels.length} notification channel(s)`,
      cost,
      costBy: { monitoring: cost },
      costTerms: [`${level.conditions} alerting condition(s): ${money(cost)}`],
      paths: [],
      provides: level.channels.length > 0 ? ["breach_detection"] : [],
      geo: "global" as const,
      rpoMinutes: null,
      rtoMinutes: level.detection,
      rtoTerm: `detection with ${level.id} monitoring: ${level.detection} min`,
      settings: {
        monitoring: { probe_interval_seconds: level.probe, notification_channels: [...level.channels] },
      },
      manualSteps: [],
      features: { alerting: level.channels.length > 0 },
      tieBreak: prod ? (2 - index) * 1e-4 : index * 1e-4,
    };
  });
}

function securityOptions(load: EnvironmentLoad, prod: boolean): PlanOption[] {
  return (["monitor", "enforce"] as const).map((appCheck) => ({
    env: load.env,
    slot: "security" as const,
    id: `app-check-${appCheck}`,
    label: `Rules forbid open writes; App Check ${appCheck}`,
    cost: 0,
    costBy: { security: 0 },
    costTerms: [
      "App Check with the platform attestation providers: no charge in the catalog (reCAPTCHA Enterprise beyond its free quota is not priced)",
    ],
    paths: [],
    provides: ["least_privilege_rules", ...(appCheck === "enforce" ? ["app_attestation"] : [])],
    geo: "global" as const,
    rpoMinutes: null,
    rtoMinutes: 0,
    rtoTerm: null,
    settings: { security: { forbid_open_rules: true, app_check: appCheck } },
    manualSteps: [],
    features: { app_check_enforced: appCheck === "enforce" },
    tieBreak: (appCheck === "enforce") === prod ? 0 : 1e-4,
  }));
}

function cicdOptions(load: EnvironmentLoad, prod: boolean, promoteTo: string): PlanOption[] {
  return [false, true].map((approval) => ({
    env: load.env,
    slot: "cicd" as const,
    id: approval ? "approval" : "no-approval",
    label: `GitHub Actions${approval ? " with a required approval" : ""}`,
    cost: 0,
    costBy: { cicd: 0 },
    costTerms: ["workflow minutes are outside the catalog"],
    paths: [],
    provides: approval ? ["change_approval"] : [],
    geo: "global" as const,
    rpoMinutes: null,
    rtoMinutes: 0,
    rtoTerm: null,
    settings: {
      cicd: { provider: "github-actions", branch: "main", require_approval: approval, promote_to: promoteTo },
    },
    manualSteps: [],
    features: { change_approval: approval },
    tieBreak: approval === prod ? 0 : 1e-4,
  }));
}

function analyticsOptions(load: EnvironmentLoad): PlanOption[] {
  const gibPerDay = (load.writesPerDay * A.analytics_event_kib) / (1024 * 1024);
  const options: PlanOption[] = [];
  const geos = [...new Map(LOCATIONS.map((location) => [location.geo, location.analytics])).entries()];
  for (const retention of ANALYTICS_RETENTION) {
    for (const [geo, location] of retention === 0 ? [["global", ""] as const] : geos) {
      const streaming = retention === 0 ? 0 : gibPerDay * DAYS * C.bigquery.streaming_per_gib.value;
      const storage = gibPerDay * retention * C.bigquery.active_storage_gib_month.value;
      const cost = streaming + storage;
      options.push({
        env: load.env,
        slot: "analytics",
        id: retention === 0 ? "none" : `${location}+${retention}d`,
        label:
          retention === 0
            ? "No analytics export"
            : `Events to BigQuery in ${location}, kept ${retention} days`,
        cost,
        costBy: retention === 0 ? {} : { analytics: cost },
        costTerms:
          retention === 0
            ? []
            : [
                `streaming ${(gibPerDay * DAYS).toFixed(6)} GiB: ${money(streaming)}`,
                `${(gibPerDay * retention).toFixed(6)} GiB kept: ${money(storage)}`,
              ],
        paths: [],
        provides: [
          ...(retention >= 400 ? ["audit_trail_1y"] : []),
          ...(retention >= 2190 ? ["audit_trail_6y"] : []),
        ],
        geo: geo,
        rpoMinutes: null,
        rtoMinutes: 0,
        rtoTerm: null,
        settings: {
          analytics: retention === 0 ? null : { dataset: "app_events", location, retention_days: retention },
        },
        manualSteps: [],
        features: { analytics_export: retention > 0 },
        tieBreak: 0,
      });
    }
  }
  return options;
}

/** Every option of every slot of one environment. */
export function environmentOptions(load: EnvironmentLoad, promoteTo: string): Record<Slot, PlanOption[]> {
  const prod = load.env === "prod";
  return {
    identity: identityOptions(load, prod),
    data: dataOptions(load),
    functions: functionsOptions(load, prod),
    hosting: [hostingOption(load)],
    monitoring: monitoringOptions(load, prod),
    security: securityOptions(load, prod),
    cicd: cicdOptions(load, prod, promoteTo),
    analytics: analyticsOptions(load),
  };
}

/** The controls each compliance framework and the high security level require, with what each means. */
export const CONTROLS: Record<string, string> = {
  breach_detection: "incidents are detected and notified (alerts reach a notification channel)",
  recovery_capability: "data can be restored after loss (scheduled exports, restore verified)",
  encryption_at_rest: "data is encrypted at rest (Google-managed keys)",
  least_privilege_rules: "security rules forbid open writes",
  change_approval: "production changes need an approval",
  audit_trail_1y: "an event trail kept at least a year",
  audit_trail_6y: "an event trail kept at least six years",
  mfa: "users sign in with a second factor",
  app_attestation: "only the genuine app reaches the backend (App Check enforced)",
};

/** Which controls each framework requires, in this planner. */
export const FRAMEWORK_CONTROLS: Record<"gdpr" | "soc2" | "hipaa" | "security_high", readonly string[]> = {
  gdpr: ["breach_detection", "recovery_capability", "encryption_at_rest", "least_privilege_rules"],
  soc2: ["change_approval", "breach_detection", "recovery_capability", "audit_trail_1y"],
  hipaa: ["audit_trail_6y", "breach_detection", "recovery_capability", "encryption_at_rest", "mfa"],
  security_high: ["mfa", "app_attestation", "change_approval", "least_privilege_rules"],
};
