/**
 * `GET /reports`: a JSON report of deployments and health over a time range, with chart specs as
 * data and the recommendations of `optimize`. Pure: the history is loaded by `store/history.ts`.
 */
import { z } from "zod";
import {
  TERMINAL_DEPLOYMENT_STATUSES,
  isTerminalDeployment,
  type Deployment,
  type DeploymentStatus,
  type Task,
  type TaskStatus,
} from "./engine-model.js";
import { ALERT_LEVELS } from "./health.js";
import {
  OPTIMIZATION_TARGETS,
  analyze,
  distribution,
  recommend,
  round,
  type EnvironmentStats,
  type History,
  type IntegrationStats,
  type Recommendation,
  type TimeRange,
  type WindowAggregates,
  withWindowAggregates,
} from "./optimize.js";
import { zodIssueToProblem, type Problem } from "./problems.js";
import { complianceSection, type ComplianceInput, type ComplianceSection } from "./compliance.js";

export const REPORT_TYPES = ["deployment", "health", "performance", "executive", "compliance"] as const;
export type ReportType = (typeof REPORT_TYPES)[number];
/** json is the report object itself; the others are documents rendered from it (`visual/report-documents.ts`). */
export const REPORT_FORMATS = ["json", "html", "markdown", "csv", "pdf", "png"] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];
/** What each format is served as, and the file extension it is saved under. */
export const REPORT_MEDIA_TYPES: Readonly<Record<ReportFormat, { contentType: string; extension: string }>> =
  {
    json: { contentType: "application/json", extension: "json" },
    html: { contentType: "text/html; charset=utf-8", extension: "html" },
    markdown: { contentType: "text/markdown; charset=utf-8", extension: "md" },
    csv: { contentType: "text/csv; charset=utf-8; header=present", extension: "csv" },
    pdf: { contentType: "application/pdf", extension: "pdf" },
    png: { contentType: "image/png", extension: "png" },
  };
export const RELATIVE_RANGES = { "24h": 24, "7d": 7 * 24, "30d": 30 * 24 } as const;
/** The longest ISO interval a report covers. */
export const MAX_RANGE_DAYS = 366;

const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

const TIME_RANGE_ALLOWED = `"24h", "7d", "30d" or an ISO interval start/end such as 2026-11-01T00:00:00Z/2026-11-25T00:00:00Z (start before end, with a time zone, at most ${MAX_RANGE_DAYS} days)`;

/** An ISO interval `start/end`, or undefined when it is not one we accept. */
function parseInterval(text: string): TimeRange | undefined {
  const parts = text.split("/");
  if (parts.length !== 2) return undefined;
  const [start, end] = parts as [string, string];
  if (!ISO_INSTANT.test(start) || !ISO_INSTANT.test(end)) return undefined;
  const from = new Date(start);
  const to = new Date(end);
  if (Number.isNaN(from.getTime()) || Number.isNaN(to.getTime())) return undefined;
  if (from.getTime() >= to.getTime() || to.getTime() - from.getTime() > MAX_RANGE_DAYS * DAY_MS)
    return undefined;
  return { from, to };
}

function isTimeRange(text: string): boolean {
  return text in RELATIVE_RANGES || parseInterval(text) !== undefined;
}

/** `GET /reports` query: every field a string, as query strings are. */
export const reportRequestSchema = z.strictObject({
  report_type: z.enum(REPORT_TYPES).default("deployment"),
  time_range: z
    .string()
    .refine(isTimeRange, { message: TIME_RANGE_ALLOWED })
    .default("7d")
    .describe(TIME_RANGE_ALLOWED),
  format: z.enum(REPORT_FORMATS).default("json"),
  /** Only this environment, when given. */
  environment: z.string().min(1).max(64).optional(),
});
export type ReportRequest = z.infer<typeof reportRequestSchema>;

/** The window a `time_range` names: relative ranges end now. The text must have passed the schema. */
export function resolveTimeRange(timeRange: string, now: Date): TimeRange {
  if (timeRange in RELATIVE_RANGES) {
    const hours = RELATIVE_RANGES[timeRange as keyof typeof RELATIVE_RANGES];
    return { from: new Date(now.getTime() - hours * HOUR_MS), to: now };
  }
  const interval = parseInterval(timeRange);
  if (!interval) throw new Error(`time_range ${JSON.stringify(timeRange)} was not validated`);
  return interval;
}

/** Parses a `GET /reports` query and resolves its window; problems name each field at fault. */
export function parseReportRequest(
  query: unknown,
  now: Date,
): { ok: true; request: ReportRequest; range: TimeRange } | { ok: false; problems: Problem[] } {
  const parsed = reportRequestSchema.safeParse(query ?? {});
  if (!parsed.success) {
    return {
      ok: false,
      problems: parsed.error.issues.map((issue) => zodIssueToProblem(issue, query, reportRequestSchema)),
    };
  }
  return { ok: true, request: parsed.data, range: resolveTimeRange(parsed.data.time_range, now) };
}

// ---------------------------------------------------------------------------------------------

/** A chart as data: the dashboard (or anyone) renders it. */
export interface Visualization {
  id: string;
  kind: "bar" | "line" | "stacked_bar";
  title: string;
  x: { label: string; unit: string | null };
  y: { label: string; unit: string | null };
  series: { name: string; points: { x: string; y: number | null }[] }[];
}

const DEPLOYMENT_STATUSES: readonly DeploymentStatus[] = [
  "requested",
  "running",
  "cancelling",
  "rolling_back",
  ...TERMINAL_DEPLOYMENT_STATUSES,
];
const TASK_STATUSES: readonly TaskStatus[] = [
  "blocked",
  "ready",
  "running",
  "succeeded",
  "failed",
  "skipped",
  "cancelled",
  "rolled_back",
];

function countBy<T extends string>(keys: readonly T[], values: readonly string[]): Record<T, number> {
  const counts = Object.fromEntries(keys.map((key) => [key, 0])) as Record<T, number>;
  for (const value of values) if (value in counts) counts[value as T] += 1;
  return counts;
}

function successRate(byStatus: Record<DeploymentStatus, number>): number | null {
  const finished = byStatus.succeeded + byStatus.failed + byStatus.rolled_back;
  return finished > 0 ? round(byStatus.succeeded / finished, 4) : null;
}

const taskRuns = (tasks: readonly Task[]) =>
  tasks.filter(
    (t) =>
      t.started_at !== null &&
      (t.status === "succeeded" || t.status === "failed" || t.status === "rolled_back"),
  );

function summary(history: History) {
  const deploymentsByStatus = countBy(
    DEPLOYMENT_STATUSES,
    history.deployments.map((d) => d.status),
  );
  const runs = taskRuns(history.tasks);
  const retries = runs.reduce((total, task) => total + task.retry_count, 0);
  return {
    deployments: { total: history.deployments.length, by_status: deploymentsByStatus },
    /** succeeded / (succeeded + failed + rolled_back); null before any finished. */
    success_rate: successRate(deploymentsByStatus),
    tasks: {
      total: history.tasks.length,
      by_status: countBy(
        TASK_STATUSES,
        history.tasks.map((t) => t.status),
      ),
      runs: runs.length,
    },
    retries: { total: retries, per_run: runs.length > 0 ? round(retries / runs.length, 4) : null },
    durations: {
      /** Seconds, over deployments that started and finished. */
      deployment_seconds: distribution(
        history.deployments.flatMap((d) =>
          d.started_at !== null && d.actual_duration !== null ? [d.actual_duration] : [],
        ),
      ),
      /** Seconds, over successful task runs. */
      task_seconds: distribution(
        runs.flatMap((t) => (t.status !== "failed" && t.actual_duration !== null ? [t.actual_duration] : [])),
      ),
    },
  };
}

function health(history: History) {
  const statuses = history.integrations.map((i) => i.health?.status ?? "unchecked");
  const open = history.alerts.filter((a) => a.status === "open");
  return {
    /** Current health of every integration (their last check), and how many of each. */
    integrations: countBy(["healthy", "degraded", "down", "unchecked"] as const, statuses),
    current: history.integrations.map((i) => ({
      environment: i.environment,
      integration: i.name,
      status: i.status,
      health: i.health?.status ?? "unchecked",
      latency_ms: i.health?.latency_ms ?? null,
      mode: i.health?.mode ?? null,
      checked_at: i.health?.checked_at.toISOString() ?? null,
    })),
    /** Alerts opened in the range. */
    alerts: {
      opened: history.alerts.length,
      by_level: countBy(
        ALERT_LEVELS,
        history.alerts.map((a) => a.level),
      ),
      by_source: countBy(
        ["health", "deployment"] as const,
        history.alerts.map((a) => a.source),
      ),
      still_open: open.length,
    },
    open_alerts: open.map((a) => ({
      id: a.id,
      level: a.level,
      source: a.source,
      environment: a.environment,
      integration: a.integration,
      deployment_id: a.deployment_id,
      message: a.message,
      opened_at: a.opened_at.toISOString(),
    })),
  };
}

const environmentRow = (e: EnvironmentStats) => ({
  environment: e.environment,
  deployments: e.deployments,
  deployments_by_status: e.deployments_by_status,
  success_rate: e.success_rate,
  deployment_seconds: e.deployment_duration,
  tasks: e.tasks,
  runs: e.runs,
  retries: e.retries,
  attempts: e.attempts,
  concurrency: { limit: e.concurrency_limit, peak: e.peak_concurrency, headroom: e.headroom },
  queue_wait_seconds: e.queue_wait,
});

const integrationRow = (s: IntegrationStats, history: History) => {
  const doc = history.integrations.find((i) => i.environment === s.environment && i.name === s.integration);
  return {
    environment: s.environment,
    integration: s.integration,
    tasks: s.tasks,
    runs: s.runs,
    succeeded: s.succeeded,
    failed: s.failed,
    retries: s.retries,
    flaky_rate: s.flaky_rate,
    retry_rate: s.retry_rate,
    failure_rate: s.failure_rate,
    duration_seconds: s.duration,
    estimated_seconds: s.estimated_duration,
    estimate_error: s.estimate_error,
    health: doc?.health?.status ?? "unchecked",
  };
};

const deploymentRow = (d: Deployment) => ({
  id: d.id,
  environment: d.environment,
  status: d.status,
  integrations: d.integrations,
  requested_by: d.requested_by,
  created_at: d.created_at.toISOString(),
  completed_at: d.completed_at?.toISOString() ?? null,
  actual_duration: d.actual_duration,
  error_message: d.error_message,
});

/** Deployments listed in a deployment report, newest first. */
export const REPORT_LIST_LIMIT = 200;
/** Tasks listed as the slowest in a performance report. */
export const SLOWEST_TASKS = 10;

function days(range: TimeRange): string[] {
  const out: string[] = [];
  const start = Date.UTC(range.from.getUTCFullYear(), range.from.getUTCMonth(), range.from.getUTCDate());
  for (let t = start; t < range.to.getTime(); t += DAY_MS) out.push(new Date(t).toISOString().slice(0, 10));
  return out;
}

function visualizationsFor(
  type: ReportType,
  history: History,
  s: ReturnType<typeof summary>,
  environments: EnvironmentStats[],
  integrations: IntegrationStats[],
  h: ReturnType<typeof health>,
): Visualization[] {
  const byStatus: Visualization = {
    id: "deployments-by-status",
    kind: "bar",
    title: "Deployments by status",
    x: { label: "status", unit: null },
    y: { label: "deployments", unit: null },
    series: [
      {
        name: "deployments",
        points: Object.entries(s.deployments.by_status).map(([x, y]) => ({ x, y })),
      },
    ],
  };
  const dayKeys = days(history.range);
  const perDay: Visualization = {
    id: "deployments-per-day",
    kind: "stacked_bar",
    title: "Deployments per day (UTC), by outcome",
    x: { label: "day", unit: "UTC date" },
    y: { label: "deployments", unit: null },
    series: (["succeeded", "failed", "rolled_back", "cancelled", "in_progress"] as const).map((name) => ({
      name,
      points: dayKeys.map((day) => ({
        x: day,
        y: history.deployments.filter(
          (d) =>
            d.created_at.toISOString().slice(0, 10) === day &&
            (name === "in_progress" ? !isTerminalDeployment(d.status) : d.status === name),
        ).length,
      })),
    })),
  };
  const successByEnv: Visualization = {
    id: "success-rate-by-environment",
    kind: "bar",
    title: "Deployment success rate by environment",
    x: { label: "environment", unit: null },
    y: { label: "success rate", unit: "ratio" },
    series: [
      { name: "success_rate", points: environments.map((e) => ({ x: e.environment, y: e.success_rate })) },
    ],
  };
  const durations: Visualization = {
    id: "task-duration-by-integration",
    kind: "bar",
    title: "Task duration by integration (p50 and p95)",
    x: { label: "environment/integration", unit: null },
    y: { label: "duration", unit: "seconds" },
    series: (["p50", "p95"] as const).map((name) => ({
      name,
      points: integrations.map((i) => ({ x: `${i.environment}/${i.integration}`, y: i.duration[name] })),
    })),
  };
  const concurrency: Visualization = {
    id: "concurrency-by-environment",
    kind: "bar",
    title: "Peak concurrent tasks and the limit, by environment",
    x: { label: "environment", unit: null },
    y: { label: "tasks", unit: null },
    series: [
      { name: "peak", points: environments.map((e) => ({ x: e.environment, y: e.peak_concurrency })) },
      { name: "limit", points: environments.map((e) => ({ x: e.environment, y: e.concurrency_limit })) },
    ],
  };
  const alerts: Visualization = {
    id: "alerts-by-level",
    kind: "bar",
    title: "Alerts opened, by level",
    x: { label: "level", unit: null },
    y: { label: "alerts", unit: null },
    series: [{ name: "alerts", points: Object.entries(h.alerts.by_level).map(([x, y]) => ({ x, y })) }],
  };
  const integrationHealth: Visualization = {
    id: "integration-health",
    kind: "bar",
    title: "Integrations by current health",
    x: { label: "health", unit: null },
    y: { label: "integrations", unit: null },
    series: [{ name: "integrations", points: Object.entries(h.integrations).map(([x, y]) => ({ x, y })) }],
  };
  switch (type) {
    case "deployment":
      return [byStatus, perDay, successByEnv];
    case "health":
      return [integrationHealth, alerts];
    case "performance":
      return [durations, concurrency];
    case "executive":
      return [perDay, successByEnv, integrationHealth];
    case "compliance":
      return [perDay, byStatus];
  }
}

function slowestTasks(tasks: readonly Task[]) {
  return taskRuns(tasks)
    .filter((t) => t.status !== "failed" && t.actual_duration !== null)
    .sort((a, b) => b.actual_duration! - a.actual_duration! || a.id.localeCompare(b.id))
    .slice(0, SLOWEST_TASKS)
    .map((t) => ({
      id: t.id,
      deployment_id: t.deployment_id,
      environment: t.environment,
      integration: t.integration,
      actual_duration: t.actual_duration,
      estimated_duration: t.estimated_duration,
      retry_count: t.retry_count,
    }));
}

const alertRow = (a: History["alerts"][number]) => ({
  id: a.id,
  level: a.level,
  status: a.status,
  source: a.source,
  environment: a.environment,
  integration: a.integration,
  message: a.message,
  opened_at: a.opened_at.toISOString(),
  resolved_at: a.resolved_at?.toISOString() ?? null,
});

/** What only one report type has, beside the common parts. */
export interface ReportSections {
  /** deployment: newest first, at most REPORT_LIST_LIMIT. */
  deployments?: ReturnType<typeof deploymentRow>[];
  deployments_listed?: number;
  /** health: alerts opened in the range, newest first. */
  alerts?: ReturnType<typeof alertRow>[];
  /** performance. */
  slowest_tasks?: ReturnType<typeof slowestTasks>;
  concurrency?: {
    environment: string;
    limit: EnvironmentStats["concurrency_limit"];
    peak: EnvironmentStats["peak_concurrency"];
    headroom: EnvironmentStats["headroom"];
    queue_wait_seconds: EnvironmentStats["queue_wait"];
  }[];
  /** executive: the numbers in a few sentences. */
  headline?: string[];
  /** compliance: roles and last actions, production changes with requester and approver, the audit chain. */
  compliance?: ComplianceSection;
}

export type ReportSummary = ReturnType<typeof summary>;
export type ReportHealth = ReturnType<typeof health>;
export type ReportEnvironmentRow = ReturnType<typeof environmentRow>;
export type ReportIntegrationRow = ReturnType<typeof integrationRow>;

export interface ComprehensiveReport extends ReportSections {
  report_type: ReportType;
  format: ReportFormat;
  time_range: { from: string; to: string; text: string };
  environment: string | null;
  generated_at: string;
  truncated: boolean;
  summary: ReportSummary;
  by_environment: ReportEnvironmentRow[];
  by_integration: ReportIntegrationRow[];
  health: ReportHealth;
  /** Why numbers are missing or partial (empty window, truncated reads, too few samples). */
  notes: string[];
  /** Which warehouse computed the aggregates, when one did ("duckdb" stands in for BigQuery locally). */
  aggregates_from?: "duckdb" | "bigquery";
}

export interface Report {
  comprehensive_report: ComprehensiveReport;
  visualizations: Visualization[];
  recommendations: Recommendation[];
}

/** The report of a history: summary, per environment and integration, health, and the type's own section. */
export function buildReport(
  history: History,
  request: ReportRequest,
  now: Date,
  compliance?: ComplianceInput,
  aggregates: WindowAggregates | null = null,
): Report {
  const fromDocuments = analyze(history, now);
  const analysis = aggregates ? withWindowAggregates(fromDocuments, aggregates, now).analysis : fromDocuments;
  const s = summary(history);
  const h = health(history);
  const optimization = recommend(
    history,
    { optimization_targets: [...OPTIMIZATION_TARGETS], constraints: {} },
    now,
    aggregates,
  );

  const type = request.report_type;
  const section: ReportSections = {};
  if (type === "deployment") {
    section.deployments = history.deployments.slice(0, REPORT_LIST_LIMIT).map(deploymentRow);
    section.deployments_listed = Math.min(history.deployments.length, REPORT_LIST_LIMIT);
  } else if (type === "health") {
    section.alerts = history.alerts.slice(0, REPORT_LIST_LIMIT).map(alertRow);
  } else if (type === "performance") {
    section.slowest_tasks = slowestTasks(history.tasks);
    section.concurrency = analysis.environments.map((e) => ({
      environment: e.environment,
      limit: e.concurrency_limit,
      peak: e.peak_concurrency,
      headroom: e.headroom,
      queue_wait_seconds: e.queue_wait,
    }));
  } else if (type === "compliance") {
    if (!compliance)
      throw new Error("a compliance report needs its people, audit records and chain verification");
    section.compliance = complianceSection(compliance);
    section.headline = [
      `${section.compliance.people.length} role holder(s); ${section.compliance.production_changes.length} production change(s), ${section.compliance.production_changes.filter((c) => c.four_eyes).length} approved by a second person`,
      section.compliance.audit_chain.verified
        ? `audit chain verified: ${section.compliance.audit_chain.records} record(s)`
        : `audit chain NOT verified: ${section.compliance.audit_chain.first_problem?.message ?? ""}`,
      ...section.compliance.findings,
    ];
  } else {
    const down = h.integrations.down;
    const degraded = h.integrations.degraded;
    section.headline = [
      `${s.deployments.total} deployment(s); success rate ${s.success_rate === null ? "n/a" : `${round(s.success_rate * 100, 1)}%`}`,
      `${s.tasks.runs} task run(s), ${s.retries.total} retr${s.retries.total === 1 ? "y" : "ies"}`,
      `integrations now: ${h.integrations.healthy} healthy, ${degraded} degraded, ${down} down, ${h.integrations.unchecked} unchecked`,
      `${h.alerts.opened} alert(s) opened, ${h.alerts.still_open} still open`,
      `${optimization.optimization_plan.length} recommendation(s)`,
    ];
  }

  return {
    comprehensive_report: {
      report_type: type,
      format: request.format,
      time_range: {
        from: history.range.from.toISOString(),
        to: history.range.to.toISOString(),
        text: request.time_range,
      },
      environment: history.environment,
      generated_at: now.toISOString(),
      truncated: history.truncated,
      summary: s,
      by_environment: analysis.environments.map(environmentRow),
      by_integration: analysis.integrations.map((i) => integrationRow(i, history)),
      health: h,
      ...section,
      notes: optimization.notes,
    },
    visualizations: visualizationsFor(type, history, s, analysis.environments, analysis.integrations, h),
    recommendations: optimization.optimization_plan,
  };
}
