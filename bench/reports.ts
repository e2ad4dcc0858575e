/**
 * How long a report takes in each format over 30 days of history: builds the history in memory
 * (30 days x 40 deployments x 10 tasks, three environments), then times `buildReport` followed
 * by each format's rendering, as `GET /reports` does, against the JSON answer measured in the
 * same run. Run with `npm run bench:reports` (`BENCH_RUNS` sets the timed runs per case).
 */
import {
  REPORT_FORMATS,
  REPORT_TYPES,
  buildReport,
  parseReportRequest,
} from "../functions/src/domain/reports.js";
import { renderReportDocument } from "../functions/src/visual/report-documents.js";
import { busyHistory } from "../test/support/history-builder.js";

const DAYS = 30;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** The target for 30 days of history on the local stack. */
const TARGET_MS = 3000;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

async function main() {
  const built = performance.now();
  const { history: h, now } = busyHistory(DAYS);
  console.log(
    `history: ${h.deployments.length} deployments, ${h.tasks.length} tasks, ${h.integrations.length} integrations, ${h.alerts.length} alerts over ${DAYS} days (built in ${Math.round(performance.now() - built)} ms)`,
  );
  console.log(`median of ${RUNS} runs after one warm-up; each includes buildReport, as the route does\n`);
  console.log("type         format     median ms   x json   bytes");
  let worst = 0;
  for (const type of REPORT_TYPES) {
    let baseline = NaN;
    for (const format of REPORT_FORMATS) {
      const parsed = parseReportRequest({ report_type: type, time_range: "30d", format }, now);
      if (!parsed.ok) throw new Error(parsed.problems.map((p) => p.message).join("; "));
      let bytes = 0;
      const once = async () => {
        const start = performance.now();
        const report = buildReport(h, parsed.request, now);
        bytes =
          format === "json"
            ? Buffer.byteLength(JSON.stringify(report))
            : (await renderReportDocument(report, format)).data.length;
        return performance.now() - start;
      };
      await once();
      const times: number[] = [];
      for (let i = 0; i < RUNS; i++) times.push(await once());
      const ms = median(times);
      if (format === "json") baseline = ms;
      worst = Math.max(worst, ms);
      console.log(
        `${type.padEnd(12)} ${format.padEnd(10)} ${ms.toFixed(1).padStart(9)}   ${(ms / baseline).toFixed(2).padStart(6)}   ${bytes}`,
      );
    }
  }
  console.log(
    `\nslowest: ${worst.toFixed(0)} ms; target ${TARGET_MS} ms for 30 days: ${worst <= TARGET_MS ? "met" : "NOT met"}`,
  );
  if (worst > TARGET_MS) process.exitCode = 1;
}

await main();
