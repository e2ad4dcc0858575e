import assert from "node:assert/strict";
import { OPS, getDocument } from "pdfjs-dist/legacy/build/pdf.mjs";
import type { AlertDoc, IntegrationDoc } from "../../functions/src/domain/model.js";
import type { History } from "../../functions/src/domain/optimize.js";
import {
  REPORT_FORMATS,
  REPORT_MEDIA_TYPES,
  REPORT_TYPES,
  buildReport,
  parseReportRequest,
  type Report,
  type Visualization,
} from "../../functions/src/domain/reports.js";
import { renderSeriesBarChart } from "../../functions/src/visual/charts.js";
import {
  csvField,
  flatten,
  renderCsv,
  renderReportDocument,
  reportFilename,
} from "../../functions/src/visual/report-documents.js";
import { svgSize } from "../../functions/src/visual/report-raster.js";
import { FirebaseVisualOrchestrator } from "../../functions/src/visual/visual-orchestrator.js";
import { NOW, RANGE, T0, at, deployment, history, task } from "../support/history-builder.js";

const HOSTILE = `<script>alert("x")</script>, | *bold* & "quoted"\nnext line`;
const HOSTILE_ENV = "<script>env</script>";
const INTERVAL = "2026-11-01T00:00:00Z/2026-11-25T00:00:00Z";

function integration(
  environment: string,
  name: string,
  health: "healthy" | "degraded" | "down",
): IntegrationDoc {
  return {
    name,
    type: name as IntegrationDoc["type"],
    environment,
    status: "deployed",
    configuration: {},
    last_updated: T0,
    release: 1,
    health: { status: health, latency_ms: 12, details: "", mode: "emulated", checked_at: at(50) },
    open_alert: null,
    incidents: 0,
  };
}

function alert(id: string, level: AlertDoc["level"], message: string): AlertDoc & { id: string } {
  return {
    id,
    level,
    status: "open",
    source: "health",
    environment: HOSTILE_ENV,
    integration: "hosting",
    deployment_id: null,
    message,
    opened_at: at(600),
    last_seen_at: at(600),
    resolved_at: null,
  };
}

/** Two ordinary environments over three days, plus one whose name and alert are hostile markup. */
function sample(): History {
  const deployments = [];
  const tasks = [];
  for (let d = 0; d < 3; d++) {
    for (const env of ["dev", "prod", HOSTILE_ENV]) {
      const id = `${env === HOSTILE_ENV ? "x" : env}-${d}`;
      const runs = ["auth", "hosting"].map((integration, j) => ({
        ...task({
          id: `${id}-${integration}`,
          deployment: id,
          integration,
          created: d * 86400,
          start: d * 86400 + j * 10,
          duration: 10 + d * 5 + j,
          retries: d === 1 ? 1 : 0,
          status: d === 2 && j === 1 && env === "dev" ? "failed" : "succeeded",
        }),
        // The task schema would accept it anyway; set after parsing so the fixture reads plainly.
        environment: env,
      }));
      tasks.push(...runs);
      deployments.push(
        deployment(id, runs.some((t) => t.status === "failed") ? "failed" : "succeeded", {
          env,
          created: d * 86400,
          duration: 30 + d,
          tasks: runs,
        }),
      );
    }
  }
  return {
    ...history(deployments.reverse(), tasks),
    integrations: [
      integration("dev", "auth", "healthy"),
      integration("dev", "hosting", "down"),
      integration(HOSTILE_ENV, "auth", "degraded"),
    ],
    alerts: [alert("al1", "critical", HOSTILE)],
  };
}

function report(type: string, format = "json"): Report {
  const parsed = parseReportRequest({ report_type: type, format, time_range: INTERVAL }, NOW);
  assert.ok(parsed.ok, parsed.ok ? "" : parsed.problems.map((p) => p.message).join("; "));
  // The compliance report's own input: a role holder with a hostile name, and a verified chain.
  const compliance =
    type === "compliance"
      ? {
          people: [
            {
              principal: `user:${HOSTILE}`,
              kind: "user" as const,
              role: "admin",
              environments: null,
              active: true,
              label: null,
            },
          ],
          audit: [],
          production: ["prod"],
          deployments: [],
          verification: { ok: true as const, count: 0 },
        }
      : undefined;
  return buildReport(sample(), parsed.request, NOW, compliance);
}

const text = (data: Buffer | string) => (typeof data === "string" ? data : data.toString("utf8"));

/** An RFC 4180 reader: quoted fields with doubled quotes, commas and line breaks inside them. */
function parseCsv(input: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (quoted) {
      if (c === '"' && input[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\r" && input[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else field += c;
  }
  assert.equal(field, "", "the CSV ends with CRLF");
  return rows;
}

/** The `metric | value` rows of a summary table, as [metric, value] text pairs. */
function expectedSummary(r: Report): [string, string][] {
  return flatten(r.comprehensive_report.summary).map(([metric, value]) => [
    metric,
    value === null ? "n/a" : JSON.stringify(value),
  ]);
}

async function pdfContents(data: Buffer) {
  const pdf = await getDocument({ data: new Uint8Array(data), verbosity: 0 }).promise;
  let images = 0;
  const strings: string[] = [];
  for (let n = 1; n <= pdf.numPages; n++) {
    const page = await pdf.getPage(n);
    const ops = await page.getOperatorList();
    images += ops.fnArray.filter((op) => op === OPS.paintImageXObject).length;
    const content = await page.getTextContent();
    for (const item of content.items) if ("str" in item && item.str !== "") strings.push(item.str);
  }
  return { pages: pdf.numPages, images, strings };
}

function pngHeader(data: Buffer) {
  assert.deepEqual(
    [...data.subarray(0, 8)],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    "PNG signature",
  );
  assert.equal(data.subarray(12, 16).toString("ascii"), "IHDR");
  return { width: data.readUInt32BE(16), height: data.readUInt32BE(20) };
}

describe("report documents: every type in every format", () => {
  for (const type of REPORT_TYPES) {
    for (const format of REPORT_FORMATS.filter((f) => f !== "json")) {
      it(`${type} as ${format}`, async () => {
        const r = report(type, format);
        assert.equal(r.comprehensive_report.format, format);
        const document = await renderReportDocument(r, format);
        assert.equal(document.contentType, REPORT_MEDIA_TYPES[format].contentType);
        assert.equal(
          document.filename,
          `report-${type}-20261101T000000Z-20261125T000000Z.${REPORT_MEDIA_TYPES[format].extension}`,
        );
        assert.ok(document.data.length > 500, `${format} has content`);
        const charts = r.visualizations.length + (type === "health" || type === "executive" ? 1 : 0);
        if (format === "html") assert.equal(text(document.data).match(/<svg /g)?.length, charts);
        if (format === "markdown")
          assert.equal(text(document.data).match(/\]\(data:image\/svg\+xml;base64,/g)?.length, charts);
        if (format === "pdf") assert.equal((await pdfContents(document.data as Buffer)).images, charts);
        if (format === "png") assert.equal(pngHeader(document.data as Buffer).width, 1200);
      });
    }
  }

  it("names files after the type and the range, relative or ISO, and the environment", () => {
    const r = report("health").comprehensive_report;
    assert.equal(
      reportFilename({ ...r, time_range: { ...r.time_range, text: "7d" } }, "pdf"),
      "report-health-7d.pdf",
    );
    assert.equal(
      reportFilename({ ...r, environment: "dev" }, "csv"),
      "report-health-20261101T000000Z-20261125T000000Z-dev.csv",
    );
    assert.equal(reportFilename({ ...r, environment: HOSTILE_ENV }, "md").includes("<"), false);
  });
});

describe("report documents: the numbers are the JSON's", () => {
  it("HTML: the summary table holds every summary number as the JSON writes it", async () => {
    const r = report("deployment", "html");
    const html = text((await renderReportDocument(r, "html")).data);
    const table = /<table data-table="summary">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? "";
    const rows = [...table.matchAll(/<tr><td>([^<]*)<\/td><td[^>]*>([^<]*)<\/td><\/tr>/g)].map((m) => [
      m[1],
      m[2],
    ]);
    assert.deepEqual(rows, expectedSummary(r));
    assert.equal(r.comprehensive_report.summary.deployments.total, 9);
    assert.match(html, /<div class="value">9<\/div><div class="label">Deployments<\/div>/);
    // 8 of the 9 finished deployments succeeded.
    assert.equal(r.comprehensive_report.summary.success_rate, 0.8889);
    assert.match(html, /<div class="value">88.9%<\/div>/);
  });

  it("Markdown: the summary table holds every summary number", async () => {
    const r = report("executive", "markdown");
    const md = text((await renderReportDocument(r, "markdown")).data);
    const section = md.split("## Summary\n\n")[1]?.split("\n\n")[0] ?? "";
    const rows = section
      .split("\n")
      .slice(2)
      .map((line) => line.split(" | ").map((cell) => cell.replace(/^\| | \|$/g, "").replace(/\\_/g, "_")));
    assert.deepEqual(rows, expectedSummary(r));
  });

  it("CSV: one tidy row per value, identical to the JSON, every row four fields", () => {
    const r = report("performance", "csv");
    const rows = parseCsv(renderCsv(r));
    assert.deepEqual(rows[0], ["section", "item", "metric", "value"]);
    for (const row of rows) assert.equal(row.length, 4, row.join("|"));
    const value = (section: string, item: string, metric: string) =>
      rows.filter((row) => row[0] === section && row[1] === item && row[2] === metric).map((row) => row[3]);
    for (const [metric, cell] of flatten(r.comprehensive_report.summary))
      assert.deepEqual(value("summary", "", metric), [cell === null ? "" : JSON.stringify(cell)], metric);
    const dev = r.comprehensive_report.by_environment.find((e) => e.environment === "dev");
    assert.ok(dev);
    assert.deepEqual(value("by_environment", "dev", "success_rate"), [JSON.stringify(dev.success_rate)]);
    assert.deepEqual(value("by_environment", "dev", "deployments_by_status.failed"), ["1"]);
    assert.deepEqual(value("by_integration", "dev/hosting", "failed"), ["1"]);
    const slowest = r.comprehensive_report.slowest_tasks?.[0];
    assert.ok(slowest);
    assert.deepEqual(value("slowest_tasks", slowest.id, "actual_duration"), [
      String(slowest.actual_duration),
    ]);
    const perStatus = r.visualizations[0]!;
    const point = perStatus.series[0]!.points[0]!;
    assert.deepEqual(value(`visualization:${perStatus.id}`, perStatus.series[0]!.name, point.x), [
      point.y === null ? "" : JSON.stringify(point.y),
    ]);
  });

  it("PDF: opens, has its charts as images and the key numbers as text", async () => {
    const r = report("deployment", "pdf");
    const { pages, images, strings } = await pdfContents(
      (await renderReportDocument(r, "pdf")).data as Buffer,
    );
    assert.ok(pages >= 2, `${pages} pages`);
    assert.equal(images, r.visualizations.length);
    assert.ok(strings.includes("Deployment report"));
    const summary = r.comprehensive_report.summary;
    for (const expected of ["deployments.total", "9", "success_rate", "0.8889", "88.9%", "Recommendations"])
      assert.ok(strings.includes(expected), `"${expected}" in the PDF text`);
    assert.ok(strings.includes(String(summary.retries.total)));
    // Every deployment of the section is listed, over as many pages as it takes.
    for (const d of r.comprehensive_report.deployments ?? []) assert.ok(strings.includes(d.id), d.id);
  });

  it("PNG: a report card wide enough for its charts, tall enough for all of them", async () => {
    const r = report("executive", "png");
    const { width, height } = pngHeader((await renderReportDocument(r, "png")).data as Buffer);
    assert.equal(width, 1200);
    assert.ok(height > 4 * 300, `height ${height}`);
  });
});

describe("report documents: hostile text stays text", () => {
  it("HTML: no markup from the data, no external resources", async () => {
    const html = text((await renderReportDocument(report("health", "html"), "html")).data);
    assert.doesNotMatch(html, /<script/i);
    assert.match(html, /&lt;script&gt;env&lt;\/script&gt;/);
    assert.match(html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//);
  });

  it("Markdown: no raw HTML, no table-breaking pipes or line breaks", async () => {
    const md = text((await renderReportDocument(report("health", "markdown"), "markdown")).data);
    assert.doesNotMatch(md, /<script/i);
    const line = md.split("\n").find((l) => l.includes("bold")) ?? "";
    assert.match(
      line,
      /&lt;script&gt;alert\\\("x"\\\)&lt;\/script&gt;, \\\| \\\*bold\\\* &amp; "quoted" next line/,
    );
    const header = md.split("\n").find((l) => l.startsWith("| level"))!;
    assert.equal(line.split(/(?<!\\)\|/).length, header.split("|").length);
  });

  it("CSV: quotes, commas and line breaks round-trip; formulas are defused, numbers are not", () => {
    const rows = parseCsv(renderCsv(report("health", "csv")));
    const message = rows.find((row) => row[0] === "alerts" && row[1] === "al1" && row[2] === "message");
    assert.deepEqual(message?.[3], HOSTILE);
    assert.equal(csvField("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    assert.equal(csvField("-1+2"), "'-1+2");
    assert.equal(csvField(-1.5), "-1.5");
    assert.equal(csvField(null), "");
    assert.equal(csvField('a "b", c'), '"a ""b"", c"');
  });

  it("PDF: text outside the built-in fonts' encoding becomes ? rather than garbage", async () => {
    const r = report("health", "pdf");
    r.comprehensive_report.health.open_alerts[0]!.message = "naïve → ✓";
    const { strings } = await pdfContents((await renderReportDocument(r, "pdf")).data as Buffer);
    assert.ok(
      strings.some((s) => s.includes("naïve ? ?")),
      strings.join(" / "),
    );
  });
});

describe("report charts", () => {
  const visual = new FirebaseVisualOrchestrator();

  it("a stacked bar's segments stack to the total, in series order", () => {
    const { svg, scale } = renderSeriesBarChart({
      title: "t",
      unit: "n",
      stacked: true,
      categories: ["2026-11-01", "2026-11-02"],
      series: [
        { name: "a", values: [2, 0] },
        { name: "b", values: [3, 1] },
      ],
    });
    const rects = [
      ...svg.matchAll(
        /<rect x="([\d.]+)" y="([\d.]+)" width="[\d.]+" height="([\d.]+)"[^>]*data-series="(\w)" data-value="(\d+)"/g,
      ),
    ];
    const day1 = rects.filter((m) => m[1] === rects[0]![1]);
    assert.deepEqual(
      day1.map((m) => [m[4], Number(m[5])]),
      [
        ["a", 2],
        ["b", 3],
      ],
    );
    const perUnit = (scale.y.bottom - scale.y.top) / scale.y.max;
    // b sits on top of a: its bottom edge is a's top edge, and the stack is 5 units tall.
    assert.ok(Math.abs(Number(day1[1]![2]) + Number(day1[1]![3]) - Number(day1[0]![2])) < 0.02);
    assert.ok(Math.abs(scale.y.bottom - Number(day1[1]![2]) - 5 * perUnit) < 0.02);
    assert.match(svg, />11-01</, "days are labelled month-day");
  });

  it("grouped bars show a missing value as n/a, and a line chart is drawn only over dates", () => {
    const spec: Visualization = {
      id: "v",
      kind: "bar",
      title: "Success",
      x: { label: "environment", unit: null },
      y: { label: "rate", unit: "ratio" },
      series: [
        {
          name: "rate",
          points: [
            { x: "dev", y: 0.5 },
            { x: "prod", y: null },
          ],
        },
      ],
    };
    const bars = visual.visualization(spec);
    assert.match(bars, /data-kind="grouped-bar-chart"/);
    assert.match(bars, /data-label="prod\/rate" data-missing="true"/);
    assert.match(visual.visualization({ ...spec, kind: "line" }), /data-kind="grouped-bar-chart"/);
    const overTime = visual.visualization({
      ...spec,
      kind: "line",
      series: [
        {
          name: "rate",
          points: [
            { x: "2026-11-01", y: 0.5 },
            { x: "2026-11-02", y: 0.75 },
          ],
        },
      ],
    });
    assert.match(overTime, /data-kind="line-chart"/);
    assert.deepEqual(svgSize(overTime).width > 0, true);
  });

  it("the health matrix of a report has a cell per environment and integration checked", () => {
    const svg = visual.reportHealthMatrix(report("health").comprehensive_report.health);
    assert.equal(svg.match(/data-status="/g)?.length, 3);
    assert.match(svg, /data-environment="dev" data-integration="hosting" data-status="down"/);
  });
});

describe("report documents: an empty range", () => {
  it("renders every format with zeros and n/a, never invented numbers", async () => {
    const parsed = parseReportRequest({ report_type: "executive", time_range: "24h" }, NOW);
    assert.ok(parsed.ok);
    const empty = buildReport(history([], []), parsed.request, NOW);
    for (const format of REPORT_FORMATS.filter((f) => f !== "json"))
      assert.ok((await renderReportDocument(empty, format)).data.length > 0, format);
    const html = text((await renderReportDocument(empty, "html")).data);
    assert.match(html, /<div class="value">n\/a<\/div><div class="label">Success rate<\/div>/);
    assert.equal(RANGE.to.getTime(), NOW.getTime());
  });
});
