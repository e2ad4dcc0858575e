/**
 * How long a report takes in each format over 30 days of history: builds the history in memory
 * (30 days x 40 deployments x 10 tasks, three environments), then times `buildReport` followed
 * by each format's rendering, as `GET /reports` does, against the JSON answer measured in the
 * same run. Run with `npm run bench:reports` (`BENCH_RUNS` sets the timed runs per case).
 */
import type { Deployment, Task } from "../functions/src/domain/engine-model.js";
import { INTEGRATION_KINDS } from "../functions/src/domain/integrations.js";
import type { AlertDoc, IntegrationDoc } from "../functions/src/domain/model.js";
import type { History } from "../functions/src/domain/optimize.js";
import {
  REPORT_FORMATS,
  REPORT_TYPES,
  buildReport,
  parseReportRequest,
} from "../functions/src/domain/reports.js";
import { renderReportDocument } from "../functions/src/visual/report-documents.js";
import { T0, at, deployment, history, task } from "../test/support/history-builder.js";

const DAYS = 30;
const PER_DAY = 40;
const ENVIRONMENTS = ["dev", "staging", "prod"] as const;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** The target for 30 days of history on the local stack. */
const TARGET_MS = 3000;

/** A deterministic pseudo-random sequence, so every run measures the same history. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

function thirtyDays(): { history: History; now: Date } {
  const next = random(42);
  const first = -9 * 86_400;
  const deployments: Deployment[] = [];
  const tasks: Task[] = [];
  for (let day = 0; day < DAYS; day++) {
    for (let n = 0; n < PER_DAY; n++) {
      const env = ENVIRONMENTS[n % ENVIRONMENTS.length]!;
      const id = `${env}-${day}-${n}`;
      const created = first + day * 86_400 + n * 1800;
      let start = created;
      const runs = INTEGRATION_KINDS.map((integration) => {
        const failed = next() < 0.03;
        const duration = Math.round(5 + next() * 60);
        const run = task({
          id: `${id}-${integration}`,
          deployment: id,
          env,
          integration,
          created,
          start,
          duration,
          retries: next() < 0.1 ? 1 : 0,
          status: failed ? "failed" : "succeeded",
        });
        start += duration;
        return run;
      });
      tasks.push(...runs);
      const failed = runs.some((run) => run.status === "failed");
      deployments.push(
        deployment(id, failed ? "failed" : "succeeded", {
          env,
          created,
          duration: start - created,
          tasks: runs,
        }),
      );
    }
  }
  const integrations: IntegrationDoc[] = ENVIRONMENTS.flatMap((environment) =>
    INTEGRATION_KINDS.map((name) => ({
      name,
      type: name,
      environment,
      status: "deployed" as const,
      configuration: {},
      last_updated: T0,
      release: 1,
      health: {
        status: next() < 0.9 ? ("healthy" as const) : ("degraded" as const),
        latency_ms: Math.round(next() * 200),
        details: "",
        mode: "emulated" as const,
        checked_at: at(20 * 86_400),
      },
      open_alert: null,
    })),
  );
  const alerts: (AlertDoc & { id: string })[] = Array.from({ length: 60 }, (_, i) => ({
    id: `alert-${i}`,
    level: i % 10 === 0 ? "critical" : "warning",
    status: i % 4 === 0 ? "open" : "resolved",
    source: "health",
    environment: ENVIRONMENTS[i % 3]!,
    integration: INTEGRATION_KINDS[i % 10]!,
    deployment_id: null,
    message: `health check ${i} slow`,
    opened_at: at(first + i * 40_000),
    last_seen_at: at(first + i * 40_000),
    resolved_at: i % 4 === 0 ? null : at(first + i * 40_000 + 600),
  }));
  const now = at(first + DAYS * 86_400);
  return {
    now,
    history: {
      ...history(deployments.reverse(), tasks),
      range: { from: at(first), to: now },
      integrations,
      alerts: alerts.reverse(),
    },
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

async function main() {
  const built = performance.now();
  const { history: h, now } = thirtyDays();
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
