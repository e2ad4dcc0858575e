/**
 * A report as a document people read or mail: standalone HTML (inline CSS and SVG charts),
 * Markdown (charts as data-URI images), a tidy CSV, and, through `report-raster.ts`, PDF and PNG.
 * Pure apart from the rasterizer: every document is built from the JSON report alone, so the
 * numbers in it are the JSON's numbers.
 */
import {
  REPORT_MEDIA_TYPES,
  type ComprehensiveReport,
  type Report,
  type ReportFormat,
} from "../domain/reports.js";
import { renderPdf, renderPng } from "./report-raster.js";
import { FirebaseVisualOrchestrator } from "./visual-orchestrator.js";

/** A table cell as the JSON has it. */
export type Cell = string | number | boolean | null;

export interface ReportTable {
  id: string;
  title: string;
  columns: string[];
  rows: Cell[][];
}

export interface ReportChart {
  id: string;
  title: string;
  svg: string;
}

/** What every document format shows, in the order it shows it. */
export interface ReportModel {
  title: string;
  /** Range, environment, generation time: one line each. */
  meta: string[];
  /** The few numbers a reader looks for first. */
  headline: { label: string; value: string }[];
  charts: ReportChart[];
  tables: ReportTable[];
  recommendations: { title: string; lines: string[] }[];
  notes: string[];
  /** The JSON's `generated_at`, so a document renders the same twice. */
  generatedAt: Date;
}

/** A non-JSON answer: the bytes, their media type and the file name to save them under. */
export interface RenderedDocument {
  contentType: string;
  data: Buffer | string;
  filename: string;
}

const TYPE_TITLES: Record<ComprehensiveReport["report_type"], string> = {
  deployment: "Deployment report",
  health: "Health report",
  performance: "Performance report",
  executive: "Executive report",
  compliance: "Compliance report",
};

/** How a cell reads in a document: numbers exactly as JSON writes them, null as n/a. */
export function cellText(value: Cell): string {
  if (value === null) return "n/a";
  return typeof value === "number" ? JSON.stringify(value) : String(value);
}

const percent = (ratio: number | null) => (ratio === null ? "n/a" : `${Math.round(ratio * 1000) / 10}%`);
const seconds = (value: number | null) => (value === null ? "n/a" : `${value} s`);

/** Nested objects as `a.b.c` paths to their scalar values, in key order; arrays by index. */
export function flatten(value: unknown, path = ""): [string, Cell][] {
  if (value === null || typeof value !== "object") {
    const cell: Cell =
      typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? value : null;
    return [[path, cell]];
  }
  const entries = Array.isArray(value)
    ? value.map((item, index) => [String(index), item] as const)
    : Object.entries(value);
  return entries.flatMap(([key, item]) => flatten(item, path === "" ? key : `${path}.${key}`));
}

type Column<T> = [header: string, value: (row: T) => Cell];

function table<T>(id: string, title: string, rows: readonly T[], columns: readonly Column<T>[]): ReportTable {
  return {
    id,
    title,
    columns: columns.map(([header]) => header),
    rows: rows.map((row) => columns.map(([, value]) => value(row))),
  };
}

function metricTable(id: string, title: string, value: unknown): ReportTable {
  return { id, title, columns: ["metric", "value"], rows: flatten(value).map(([key, cell]) => [key, cell]) };
}

/** The tables of a report: its common parts, then the type's own section. */
function tablesOf(r: ComprehensiveReport): ReportTable[] {
  const tables: ReportTable[] = [
    metricTable("summary", "Summary", r.summary),
    table("by_environment", "By environment", r.by_environment, [
      ["environment", (e) => e.environment],
      ["deployments", (e) => e.deployments],
      ["succeeded", (e) => e.deployments_by_status.succeeded ?? 0],
      ["failed", (e) => e.deployments_by_status.failed ?? 0],
      ["rolled back", (e) => e.deployments_by_status.rolled_back ?? 0],
      ["success rate", (e) => e.success_rate],
      ["tasks", (e) => e.tasks],
      ["runs", (e) => e.runs],
      ["retries", (e) => e.retries],
      ["p50 s", (e) => e.deployment_seconds.p50],
      ["p95 s", (e) => e.deployment_seconds.p95],
      ["limit", (e) => e.concurrency.limit],
      ["peak", (e) => e.concurrency.peak],
    ]),
    table("by_integration", "By integration", r.by_integration, [
      ["environment", (i) => i.environment],
      ["integration", (i) => i.integration],
      ["runs", (i) => i.runs],
      ["succeeded", (i) => i.succeeded],
      ["failed", (i) => i.failed],
      ["retries", (i) => i.retries],
      ["failure rate", (i) => i.failure_rate],
      ["flaky rate", (i) => i.flaky_rate],
      ["p50 s", (i) => i.duration_seconds.p50],
      ["p95 s", (i) => i.duration_seconds.p95],
      ["estimate s", (i) => i.estimated_seconds],
      ["health", (i) => i.health],
    ]),
    metricTable("health", "Health and alerts", {
      integrations: r.health.integrations,
      alerts: r.health.alerts,
    }),
    table("health.current", "Integration health now", r.health.current, [
      ["environment", (c) => c.environment],
      ["integration", (c) => c.integration],
      ["status", (c) => c.status],
      ["health", (c) => c.health],
      ["latency ms", (c) => c.latency_ms],
      ["mode", (c) => c.mode],
      ["checked at", (c) => c.checked_at],
    ]),
    table("health.open_alerts", "Open alerts", r.health.open_alerts, [
      ["level", (a) => a.level],
      ["source", (a) => a.source],
      ["environment", (a) => a.environment],
      ["integration", (a) => a.integration],
      ["message", (a) => a.message],
      ["opened at", (a) => a.opened_at],
    ]),
  ];
  if (r.deployments)
    tables.push(
      table(
        "deployments",
        `Deployments (${r.deployments_listed ?? r.deployments.length} of ${r.summary.deployments.total}, newest first)`,
        r.deployments,
        [
          ["id", (d) => d.id],
          ["environment", (d) => d.environment],
          ["status", (d) => d.status],
          ["created at", (d) => d.created_at],
          ["duration s", (d) => d.actual_duration],
          ["requested by", (d) => d.requested_by],
          ["error", (d) => d.error_message],
        ],
      ),
    );
  if (r.alerts)
    tables.push(
      table("alerts", "Alerts opened in the range", r.alerts, [
        ["level", (a) => a.level],
        ["status", (a) => a.status],
        ["environment", (a) => a.environment],
        ["integration", (a) => a.integration],
        ["message", (a) => a.message],
        ["opened at", (a) => a.opened_at],
        ["resolved at", (a) => a.resolved_at],
      ]),
    );
  if (r.compliance)
    tables.push(
      table("compliance.people", "Who holds which role, and their last action", r.compliance.people, [
        ["principal", (p) => p.principal],
        ["kind", (p) => p.kind],
        ["role", (p) => p.role],
        ["environments", (p) => (p.environments === null ? "all" : p.environments.join(" "))],
        ["active", (p) => String(p.active)],
        ["last action", (p) => p.last_action],
        ["last action at", (p) => p.last_action_at],
      ]),
      table(
        "compliance.production_changes",
        "Production changes: requester and approver",
        r.compliance.production_changes,
        [
          ["deployment", (c) => c.deployment_id],
          ["environment", (c) => c.environment],
          ["status", (c) => c.status],
          ["requested by", (c) => c.requested_by],
          ["requested at", (c) => c.requested_at],
          ["approval", (c) => c.approval],
          ["approved by", (c) => c.approved_by],
          ["four eyes", (c) => String(c.four_eyes)],
        ],
      ),
      metricTable("compliance.audit_chain", "Audit chain verification", r.compliance.audit_chain),
    );
  if (r.slowest_tasks)
    tables.push(
      table("slowest_tasks", "Slowest task runs", r.slowest_tasks, [
        ["task", (t) => t.id],
        ["deployment", (t) => t.deployment_id],
        ["environment", (t) => t.environment],
        ["integration", (t) => t.integration],
        ["duration s", (t) => t.actual_duration],
        ["estimate s", (t) => t.estimated_duration],
        ["retries", (t) => t.retry_count],
      ]),
    );
  if (r.concurrency)
    tables.push(
      table("concurrency", "Concurrency and queue wait", r.concurrency, [
        ["environment", (c) => c.environment],
        ["limit", (c) => c.limit],
        ["peak", (c) => c.peak],
        ["headroom", (c) => c.headroom],
        ["queue wait p50 s", (c) => c.queue_wait_seconds.p50],
        ["queue wait p95 s", (c) => c.queue_wait_seconds.p95],
      ]),
    );
  return tables;
}

/** The document model of a report: charts drawn, tables chosen, numbers taken from the JSON as they are. */
export function reportModel(
  report: Report,
  visual: FirebaseVisualOrchestrator = new FirebaseVisualOrchestrator(),
): ReportModel {
  const r = report.comprehensive_report;
  const charts: ReportChart[] = report.visualizations.map((v) => ({
    id: v.id,
    title: v.title,
    svg: visual.visualization(v),
  }));
  if (r.report_type === "health" || r.report_type === "executive")
    charts.push({
      id: "health-matrix",
      title: "Integration health now",
      svg: visual.reportHealthMatrix(r.health),
    });
  const h = r.health.integrations;
  return {
    title: TYPE_TITLES[r.report_type],
    meta: [
      `Range: ${r.time_range.from} to ${r.time_range.to} (${r.time_range.text})`,
      `Environment: ${r.environment ?? "all"}${r.truncated ? " (history truncated by read limits)" : ""}`,
      `Generated: ${r.generated_at}`,
    ],
    headline: [
      { label: "Deployments", value: String(r.summary.deployments.total) },
      { label: "Success rate", value: percent(r.summary.success_rate) },
      { label: "Task runs", value: String(r.summary.tasks.runs) },
      { label: "Retries", value: String(r.summary.retries.total) },
      { label: "Deployment p95", value: seconds(r.summary.durations.deployment_seconds.p95) },
      { label: "Healthy / degraded / down", value: `${h.healthy} / ${h.degraded} / ${h.down}` },
      { label: "Alerts still open", value: String(r.health.alerts.still_open) },
      { label: "Recommendations", value: String(report.recommendations.length) },
    ],
    charts,
    tables: tablesOf(r),
    recommendations: report.recommendations.map((rec) => ({
      title: `${rec.target}: ${rec.environment}${rec.integration ? `/${rec.integration}` : ""}`,
      lines: [
        rec.action,
        `How: ${rec.how}`,
        `Evidence: ${rec.evidence.metric} = ${rec.evidence.value} ${rec.evidence.unit} over ${rec.evidence.sample_size} sample(s); ${rec.evidence.rule}`,
        `Expected: ${rec.expected_improvement.metric} ${rec.expected_improvement.value} ${rec.expected_improvement.unit} (${rec.expected_improvement.method})`,
      ],
    })),
    notes: [...(r.headline ?? []), ...r.notes],
    generatedAt: new Date(r.generated_at),
  };
}

// ---------------------------------------------------------------------------------------------
// HTML

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

const CSS = `
body{font-family:"DejaVu Sans",Verdana,Arial,sans-serif;color:#0f172a;margin:24px auto;max-width:1100px;padding:0 16px;line-height:1.4}
h1{margin:0 0 4px;font-size:26px}h2{margin:28px 0 8px;font-size:18px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}
.meta{color:#475569;font-size:13px;margin:0}
.headline{display:flex;flex-wrap:wrap;gap:10px;margin-top:16px}
.card{border:1px solid #cbd5e1;border-radius:8px;padding:8px 12px;min-width:130px}
.card .value{font-size:20px;font-weight:bold}.card .label{font-size:12px;color:#475569}
figure{margin:12px 0;overflow-x:auto}figure svg{max-width:100%;height:auto}
figcaption{font-size:12px;color:#475569}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-size:12px;margin:6px 0}
th,td{border:1px solid #e2e8f0;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f1f5f9}td.num{text-align:right;font-variant-numeric:tabular-nums}
ol li{margin-bottom:8px}.rec-line{margin:0;font-size:13px}
@media print{figure,table{page-break-inside:avoid}}
`;

function htmlTable(t: ReportTable): string {
  const head = `<tr>${t.columns.map((c) => `<th scope="col">${escapeHtml(c)}</th>`).join("")}</tr>`;
  const body =
    t.rows.length === 0
      ? `<tr><td colspan="${t.columns.length}">none</td></tr>`
      : t.rows
          .map(
            (row) =>
              `<tr>${row
                .map((cell) =>
                  typeof cell === "number"
                    ? `<td class="num">${escapeHtml(cellText(cell))}</td>`
                    : `<td>${escapeHtml(cellText(cell))}</td>`,
                )
                .join("")}</tr>`,
          )
          .join("\n");
  return `<section id="${escapeHtml(t.id)}"><h2>${escapeHtml(t.title)}</h2><div class="scroll"><table data-table="${escapeHtml(t.id)}"><thead>${head}</thead><tbody>\n${body}\n</tbody></table></div></section>`;
}

/** One standalone HTML file: inline CSS, inline SVG charts, no external requests; every text escaped. */
export function renderHtml(model: ReportModel): string {
  const cards = model.headline
    .map(
      (h) =>
        `<div class="card"><div class="value">${escapeHtml(h.value)}</div><div class="label">${escapeHtml(h.label)}</div></div>`,
    )
    .join("");
  // The SVG builder escapes its own text, so chart markup goes in as it is.
  const charts = model.charts
    .map(
      (c) =>
        `<figure data-chart="${escapeHtml(c.id)}">${c.svg}<figcaption>${escapeHtml(c.title)}</figcaption></figure>`,
    )
    .join("\n");
  const recommendations =
    model.recommendations.length === 0
      ? "<p>No recommendations: nothing in the history crossed a rule's threshold.</p>"
      : `<ol>${model.recommendations
          .map(
            (rec) =>
              `<li><strong>${escapeHtml(rec.title)}</strong>${rec.lines.map((line) => `<p class="rec-line">${escapeHtml(line)}</p>`).join("")}</li>`,
          )
          .join("\n")}</ol>`;
  const notes =
    model.notes.length === 0
      ? ""
      : `<h2>Notes</h2><ul>${model.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join("")}</ul>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(model.title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${escapeHtml(model.title)}</h1>${model.meta.map((m) => `<p class="meta">${escapeHtml(m)}</p>`).join("")}</header>
<section class="headline">${cards}</section>
<h2>Charts</h2>
${charts}
${model.tables.map(htmlTable).join("\n")}
<h2>Recommendations</h2>
${recommendations}
${notes}
</body>
</html>
`;
}

// ---------------------------------------------------------------------------------------------
// Markdown

/**
 * Escapes text for Markdown: HTML-significant characters as entities (renderers pass raw HTML
 * through), Markdown punctuation with a backslash, and line breaks as spaces so tables hold.
 */
export function escapeMarkdown(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/[\\`*_[\]{}()#+!|~]/g, (c) => `\\${c}`)
    .replace(/\r?\n|\r/g, " ");
}

function markdownTable(t: ReportTable): string {
  const lines = [
    `## ${escapeMarkdown(t.title)}`,
    "",
    `| ${t.columns.map(escapeMarkdown).join(" | ")} |`,
    `| ${t.columns.map((_, i) => (t.rows.some((row) => typeof row[i] === "number") ? "---:" : "---")).join(" | ")} |`,
    ...t.rows.map((row) => `| ${row.map((cell) => escapeMarkdown(cellText(cell))).join(" | ")} |`),
  ];
  if (t.rows.length === 0) lines.push(`| ${t.columns.map((_, i) => (i === 0 ? "none" : "")).join(" | ")} |`);
  return lines.join("\n");
}

/** Markdown with tables, and the charts as SVG data-URI images so the file stands alone. */
export function renderMarkdown(model: ReportModel): string {
  const parts = [
    `# ${escapeMarkdown(model.title)}`,
    model.meta.map((m) => `${escapeMarkdown(m)}  `).join("\n"),
    `| ${model.headline.map((h) => escapeMarkdown(h.label)).join(" | ")} |\n| ${model.headline.map(() => "---:").join(" | ")} |\n| ${model.headline.map((h) => escapeMarkdown(h.value)).join(" | ")} |`,
    "## Charts",
    ...model.charts.map(
      (c) =>
        `![${escapeMarkdown(c.title)}](data:image/svg+xml;base64,${Buffer.from(c.svg, "utf8").toString("base64")})`,
    ),
    ...model.tables.map(markdownTable),
    "## Recommendations",
    model.recommendations.length === 0
      ? "No recommendations: nothing in the history crossed a rule's threshold."
      : model.recommendations
          .map(
            (rec, i) =>
              `${i + 1}. **${escapeMarkdown(rec.title)}**: ${rec.lines.map(escapeMarkdown).join("  \n   ")}`,
          )
          .join("\n"),
    ...(model.notes.length === 0
      ? []
      : ["## Notes", model.notes.map((n) => `- ${escapeMarkdown(n)}`).join("\n")]),
  ];
  return `${parts.join("\n\n")}\n`;
}

// ---------------------------------------------------------------------------------------------
// CSV

/**
 * One CSV field (RFC 4180): quoted when it holds a comma, quote or line break. Text that a
 * spreadsheet would run as a formula (= + - @ first) gets a leading apostrophe; numbers never do.
 */
export function csvField(value: Cell): string {
  if (value === null) return "";
  let text = typeof value === "number" ? JSON.stringify(value) : String(value);
  if (typeof value === "string" && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/** A row's name in the CSV's item column: its id, or environment/integration, or its index. */
function itemOf(row: { id?: unknown; environment?: unknown; integration?: unknown }, index: number): string {
  if (typeof row.id === "string") return row.id;
  const names = [row.environment, row.integration].filter((v): v is string => typeof v === "string");
  return names.length > 0 ? names.join("/") : String(index);
}

/** Rows of `section,item,metric,value`; an array of objects becomes its own section, one item per element. */
function tidyRows(section: string, item: string, path: string, value: unknown, out: Cell[][]): void {
  if (Array.isArray(value) && value.length > 0 && value.every(isRecord)) {
    const name = path === "" ? section : `${section}.${path}`;
    value.forEach((row, index) => tidyRows(name, itemOf(row, index), "", row, out));
    return;
  }
  if (isRecord(value) || Array.isArray(value)) {
    const entries = Array.isArray(value)
      ? value.map((v, i) => [String(i), v] as const)
      : Object.entries(value);
    for (const [key, child] of entries)
      tidyRows(section, item, path === "" ? key : `${path}.${key}`, child, out);
    return;
  }
  for (const [, cell] of flatten(value)) out.push([section, item, path, cell]);
}

/**
 * The whole report as one tidy table: `section,item,metric,value`, a row per number or text, the
 * values exactly as in the JSON (null empty); the charts' points as `visualization:<id>` sections.
 */
export function renderCsv(report: Report): string {
  const rows: Cell[][] = [["section", "item", "metric", "value"]];
  for (const [key, value] of Object.entries(report.comprehensive_report)) tidyRows(key, "", "", value, rows);
  report.recommendations.forEach((rec, index) =>
    tidyRows("recommendations", itemOf(rec, index), "", rec, rows),
  );
  for (const v of report.visualizations)
    for (const series of v.series)
      for (const point of series.points) rows.push([`visualization:${v.id}`, series.name, point.x, point.y]);
  return `${rows.map((row) => row.map(csvField).join(",")).join("\r\n")}\r\n`;
}

// ---------------------------------------------------------------------------------------------

/** `report-deployment-7d.pdf`; an ISO interval becomes its compact instants, an environment is appended. */
export function reportFilename(r: ComprehensiveReport, extension: string): string {
  const compact = (iso: string) => iso.replace(/\.\d+/, "").replace(/[-:]/g, "");
  const range = r.time_range.text.includes("/")
    ? `${compact(r.time_range.from)}-${compact(r.time_range.to)}`
    : r.time_range.text;
  const environment = r.environment ? `-${r.environment.replace(/[^A-Za-z0-9_-]/g, "")}` : "";
  return `report-${r.report_type}-${range}${environment}.${extension}`;
}

/** Renders a report in a document format. */
export async function renderReportDocument(
  report: Report,
  format: Exclude<ReportFormat, "json">,
): Promise<RenderedDocument> {
  const { extension, contentType } = REPORT_MEDIA_TYPES[format];
  const filename = reportFilename(report.comprehensive_report, extension);
  if (format === "csv") return { contentType, filename, data: renderCsv(report) };
  const model = reportModel(report);
  switch (format) {
    case "html":
      return { contentType, filename, data: renderHtml(model) };
    case "markdown":
      return { contentType, filename, data: renderMarkdown(model) };
    case "pdf":
      return { contentType, filename, data: await renderPdf(model) };
    case "png":
      return { contentType, filename, data: renderPng(model) };
  }
}
