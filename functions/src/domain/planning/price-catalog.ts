/**
 * The price catalog the architecture planner costs options with: data, dated, each figure with the
 * public page it was read from. `status` says how sure we are: `confirmed` (read on the provider's
 * own page or an archived copy of it), `secondary` (read on a third-party page quoting the
 * provider) or `unconfirmed` (no page found while compiling the catalog; a best estimate, kept
 * so the plan can be costed, and shown as such in every plan). A unit test fails once `date` is
 * more than a year old, so the catalog is kept current.
 */

/** How sure the catalog is of one figure. */
export type PriceStatus = "confirmed" | "secondary" | "unconfirmed";

/** One figure of the catalog. */
export interface CatalogFigure {
  readonly value: number;
  readonly unit: string;
  readonly source: string;
  readonly status: PriceStatus;
  readonly note?: string;
}

const FIRESTORE = "https://cloud.google.com/firestore/pricing";
const FIRESTORE_DOCS_ARCHIVE =
  "https://www.twblogs.net/a/5e4f845fbd9eee101e8581aa (copy of firebase.google.com/docs/firestore/pricing)";
const FIRESTORE_GUIDE = "https://airbyte.com/data-engineering-resources/google-firestore-pricing";
const FUNCTIONS = "http://web.archive.org/web/20210110062715/https://cloud.google.com/functions/pricing";
const CLOUD_RUN = "https://cloud.google.com/run/pricing";
const HOSTING_GUIDE = "https://errorhandle.ai/firebase-hosting-function-rewrite-pricing";
const HOSTING_FREE = "https://aitoolsguidebook.com/en/articles/firebase-hosting-free-tier/";
const STORAGE =
  "https://webcf.waybackmachine.org/web/20221230183146/https://cloud.google.com/storage/pricing";
const STORAGE_MULTI =
  "https://docs.cloud.google.com/storage/pricing (multi-region SKUs per GiB-hour, x 730 h)";
const IDENTITY =
  "https://web.archive.org/web/20210119211510/https://cloud.google.com/identity-platform/pricing";
const BIGQUERY = "https://cloud.google.com/bigquery/pricing";
const SCHEDULER = "https://cloud.google.com/scheduler/pricing";
const MONITORING = "https://cloud.google.com/stackdriver/pricing";

const f = (value: number, unit: string, source: string, status: PriceStatus, note?: string): CatalogFigure =>
  note === undefined ? { value, unit, source, status } : { value, unit, source, status, note };

/** The catalog: prices, free tiers, published SLAs and the planning assumptions, with their sources. */
export const PRICE_CATALOG = {
  version: "2026-12-01.1",
  date: "2026-12-01",
  currency: "USD",
  /** Free tiers shared by a whole billing account are not subtracted: a plan's cost is an upper bound. */
  free_tier_policy:
    "per-project free tiers are subtracted per environment; billing-account free tiers are not",
  firestore: {
    regional: {
      read_per_100k: f(
        0.03,
        "USD per 100,000 document reads",
        FIRESTORE_GUIDE,
        "secondary",
        "US regions; the catalog uses it for every regional location",
      ),
      write_per_100k: f(
        0.09,
        "USD per 100,000 document writes",
        FIRESTORE_GUIDE,
        "secondary",
        "US regions; the catalog uses it for every regional location",
      ),
      delete_per_100k: f(0.01, "USD per 100,000 document deletes", FIRESTORE_GUIDE, "unconfirmed"),
      storage_gib_month: f(
        0.15,
        "USD per GiB-month",
        FIRESTORE,
        "unconfirmed",
        "the location table did not render in the copy read",
      ),
    },
    multi_region: {
      read_per_100k: f(0.06, "USD per 100,000 document reads", FIRESTORE_DOCS_ARCHIVE, "secondary"),
      write_per_100k: f(0.18, "USD per 100,000 document writes", FIRESTORE_DOCS_ARCHIVE, "secondary"),
      delete_per_100k: f(0.02, "USD per 100,000 document deletes", FIRESTORE_DOCS_ARCHIVE, "secondary"),
      storage_gib_month: f(
        0.18,
        "USD per GiB-month",
        FIRESTORE,
        "unconfirmed",
        "the location table did not render in the copy read",
      ),
    },
    free_tier: {
      stored_gib: f(1, "GiB per project", FIRESTORE, "confirmed"),
      reads_per_day: f(50_000, "document reads per day per project", FIRESTORE, "confirmed"),
      writes_per_day: f(20_000, "document writes per day per project", FIRESTORE, "confirmed"),
      deletes_per_day: f(20_000, "document deletes per day per project", FIRESTORE, "confirmed"),
    },
    export_reads_per_document: f(
      1,
      "document reads per exported document",
      FIRESTORE,
      "unconfirmed",
      "a managed export is billed as reads",
    ),
    pitr_storage_factor: f(
      1,
      "PITR GiB per stored GiB, billed at the storage price",
      FIRESTORE,
      "unconfirmed",
      "PITR data has no free tier (confirmed); its size is taken as the database size",
    ),
  },
  functions: {
    invocation_per_million: f(
      0.4,
      "USD per million invocations",
      FUNCTIONS,
      "confirmed",
      "2nd gen follows Cloud Run request pricing",
    ),
    vcpu_second: f(0.000024, "USD per vCPU-second (tier 1, request-based)", CLOUD_RUN, "unconfirmed"),
    gib_second: f(0.0000025, "USD per GiB-second (tier 1, request-based)", CLOUD_RUN, "unconfirmed"),
    idle_vcpu_second: f(
      0.0000025,
      "USD per idle vCPU-second of a minimum instance",
      CLOUD_RUN,
      "unconfirmed",
    ),
    idle_gib_second: f(0.0000025, "USD per idle GiB-second of a minimum instance", CLOUD_RUN, "unconfirmed"),
  },
  hosting: {
    storage_gb_month: f(0.026, "USD per GB-month", HOSTING_GUIDE, "secondary"),
    egress_gb: f(0.15, "USD per GB transferred", HOSTING_GUIDE, "secondary"),
    free_storage_gb: f(10, "GB per project", HOSTING_FREE, "secondary"),
    free_egress_mb_per_day: f(360, "MB per day per project", HOSTING_FREE, "secondary"),
  },
  storage: {
    regional_standard_gib_month: f(
      0.02,
      "USD per GiB-month (us-central1, europe-west1)",
      STORAGE,
      "confirmed",
    ),
    regional_nearline_gib_month: f(
      0.01,
      "USD per GiB-month (us-central1, europe-west1)",
      STORAGE,
      "confirmed",
    ),
    multi_standard_gib_month: f(
      0.026,
      "USD per GiB-month (0.000035616 per GiB-hour)",
      STORAGE_MULTI,
      "confirmed",
    ),
    multi_nearline_gib_month: f(
      0.015,
      "USD per GiB-month (0.000020548 per GiB-hour)",
      STORAGE_MULTI,
      "confirmed",
    ),
    nearline_minimum_days: f(
      30,
      "days of minimum storage duration (early deletion is billed up to it)",
      STORAGE,
      "unconfirmed",
    ),
  },
  identity_platform: {
    /** Tier 1 providers (email, phone, anonymous, social): price per MAU within each band. */
    mau_tiers: [
      { from: 0, to: 49_999, price: f(0, "USD per MAU", IDENTITY, "confirmed") },
      { from: 50_000, to: 99_999, price: f(0.0055, "USD per MAU", IDENTITY, "confirmed") },
      { from: 100_000, to: 999_999, price: f(0.0046, "USD per MAU", IDENTITY, "confirmed") },
      { from: 1_000_000, to: 9_999_999, price: f(0.0032, "USD per MAU", IDENTITY, "confirmed") },
      {
        from: 10_000_000,
        to: Number.MAX_SAFE_INTEGER,
        price: f(0.0025, "USD per MAU", IDENTITY, "confirmed"),
      },
    ],
  },
  bigquery: {
    active_storage_gib_month: f(0.02, "USD per GiB-month (active logical storage)", BIGQUERY, "unconfirmed"),
    streaming_per_gib: f(0.05, "USD per GiB streamed (0.01 per 200 MB)", BIGQUERY, "unconfirmed"),
  },
  scheduler: {
    job_month: f(
      0.1,
      "USD per job per month (3 free per billing account, not subtracted)",
      SCHEDULER,
      "unconfirmed",
    ),
  },
  monitoring: {
    alert_condition_month: f(1.5, "USD per alerting condition per month", MONITORING, "unconfirmed"),
  },
  sla: {
    firestore_multi_region: f(
      0.99999,
      "monthly uptime",
      "https://cloud.google.com/firestore/sla",
      "confirmed",
    ),
    firestore_regional: f(0.9999, "monthly uptime", "https://cloud.google.com/firestore/sla", "confirmed"),
    hosting: f(
      0.9995,
      "monthly uptime",
      "https://firebase.google.com/terms/service-level-agreement",
      "confirmed",
    ),
    functions: f(
      0.9995,
      "monthly uptime (Cloud Run functions)",
      "https://cloud.google.com/functions/sla",
      "unconfirmed",
    ),
    identity_platform: f(
      0.9995,
      "monthly uptime",
      "https://cloud.google.com/identity-platform/sla",
      "unconfirmed",
    ),
    storage_multi_region: f(
      0.9995,
      "monthly uptime",
      "https://firebase.google.com/terms/service-level-agreement/cloud-storage",
      "confirmed",
    ),
    storage_regional: f(
      0.999,
      "monthly uptime",
      "https://firebase.google.com/terms/service-level-agreement/cloud-storage",
      "confirmed",
    ),
  },
  /** How goals become quantities. These are modelling choices, not prices. */
  assumptions: {
    days_per_month: 30,
    hours_per_month: 720,
    average_document_kib: 1,
    function_seconds_per_invocation: 0.2,
    function_memory_gib: 0.25,
    function_vcpu: 0.167,
    function_concurrency: 80,
    peak_to_average: 3,
    hosting_site_gb: 1,
    backup_retention_days: 14,
    restore_minutes_fixed: 30,
    restore_minutes_per_gib: 2,
    analytics_event_kib: 1,
    load_share: { dev: 0.01, staging: 0.1, prod: 1 },
  },
} as const;

/** The catalog's shape. */
export type PriceCatalog = typeof PRICE_CATALOG;
