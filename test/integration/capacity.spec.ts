/**
 * The capacity forecast on the emulators: four weeks of events published to orchestration-events
 * (an environment of its own, so nothing else on the stack counts), read back from the local
 * warehouse by `POST /optimize`, and forecast from the generating pattern; the same forecast by
 * `GET /capacity` to a viewer, drawn on the dashboard's Capacity page; the demo's step too.
 */
/// <reference lib="dom" />
import assert from "node:assert/strict";
import type { OrchestrationEvent } from "../../functions/src/bus.js";
import { demoForecast } from "../../scripts/lib/demo-forecast.js";
import { closeDashboard, launchChromium, requireChromium, screenshot, signIn } from "../support/browser.js";
import { api, clearFirestore, requireEmulators, signInDetails } from "../support/emulators.js";
import { loadTestConfig } from "../support/engine.js";
import { publishToWarehouse, requireWarehouse } from "../support/warehouse.js";

const DAY = 86_400_000;

describe("capacity forecast from the warehouse on the emulators", function () {
  this.timeout(240_000);
  const environment = `cap-${Date.now().toString(36)}`;
  const today = Math.floor(Date.now() / DAY) * DAY;
  /** The pattern: 3 deployments of one task run on weekdays, 1 on weekends (getUTCDay 0 and 6). */
  const deploymentsOn = (day: number) => ([0, 6].includes(new Date(day).getUTCDay()) ? 1 : 3);

  before(async function () {
    requireEmulators(this);
    requireWarehouse(this, "capacity");
    await clearFirestore();
    await loadTestConfig();
    const events: OrchestrationEvent[] = [];
    for (let back = 28; back >= 1; back--) {
      const day = today - back * DAY;
      for (let i = 0; i < deploymentsOn(day); i++) {
        const id = `${environment}-${back}-${i}`;
        const at = (second: number) =>
          new Date(day + 10 * 3600_000 + i * 60_000 + second * 1000).toISOString();
        const base = {
          environment,
          deployment_id: id,
          correlation_id: id,
          attempt: null,
          detail: null,
          duration: null,
          payload: null,
        };
        const task = {
          ...base,
          kind: "task" as const,
          task_id: `${id}-auth`,
          integration: "auth",
          attempt: 1,
        };
        const deployment = { ...base, kind: "deployment" as const, task_id: null, integration: null };
        events.push(
          { ...deployment, event_id: `${id}:running`, from: "requested", to: "running", at: at(0) },
          { ...task, event_id: `${id}:t:running`, from: "ready", to: "running", at: at(1) },
          {
            ...task,
            event_id: `${id}:t:succeeded`,
            from: "running",
            to: "succeeded",
            at: at(2),
            duration: 1,
          },
          {
            ...deployment,
            event_id: `${id}:succeeded`,
            from: "running",
            to: "succeeded",
            at: at(3),
            duration: 3,
          },
        );
      }
    }
    await publishToWarehouse(events);
  });

  it("answers /optimize with the forecast of the full days before today, from the generating pattern", async () => {
    const answer = await api("POST", "/optimize", { constraints: { environments: [environment] } });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const capacity = answer.body.capacity_forecast;
    assert.equal(capacity.status, "ok", JSON.stringify(capacity));
    assert.equal(capacity.aggregates_from, "duckdb");
    assert.deepEqual(Object.keys(capacity.by_environment), [environment]);
    const deployments = capacity.metrics.deployments.forecast;
    assert.equal(deployments.status, "ok");
    assert.equal(deployments.history_days, 28);
    assert.equal(deployments.to, new Date(today - DAY).toISOString().slice(0, 10));
    for (let h = 0; h < 7; h++) {
      const point = deployments.points[h];
      assert.equal(point.date, new Date(today + h * DAY).toISOString().slice(0, 10));
      assert.ok(Math.abs(point.expected - deploymentsOn(today + h * DAY)) < 1e-3, JSON.stringify(point));
    }
    // Four events a deployment; a task run 7 reads, a deployment 4 (README "Scale").
    const first = deploymentsOn(today);
    assert.ok(Math.abs(capacity.metrics.events.forecast.points[0].expected - 4 * first) < 1e-3);
    assert.ok(
      Math.abs(capacity.metrics.firestore_reads.forecast.points[0].expected - first * (7 + 4)) < 1e-2,
    );
    assert.equal(capacity.metrics.firestore_reads.limit.limit, 50_000);
    assert.equal(capacity.metrics.firestore_reads.limit.exceeds_on, null);
    // No documents of this environment exist: the counts are the warehouse's, over the whole window.
    let published = 0;
    for (let back = 28; back >= 1; back--) published += deploymentsOn(today - back * DAY);
    assert.equal(answer.body.analyzed.aggregates_from, "duckdb");
    assert.equal(answer.body.analyzed.deployments, published);
    assert.deepEqual(answer.body.expected_improvements.baseline, {
      deployments: published,
      deployment_success_rate: 1,
      task_runs: published,
      task_failure_rate: 0,
      retries_per_run: 0,
      task_duration: { count: published, mean: 1, p50: 1, p95: 1, max: 1 },
    });
  });

  it("answers GET /capacity to a viewer with the last 28 days as published and the forecast", async () => {
    const answer = await api("GET", `/capacity?environment=${environment}`, undefined, {}, "viewer");
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    const deployments = answer.body.capacity_forecast.metrics.deployments;
    const expected = Array.from({ length: 28 }, (_, i) => {
      const day = today - (28 - i) * DAY;
      return { date: new Date(day).toISOString().slice(0, 10), value: deploymentsOn(day) };
    });
    assert.deepEqual(deployments.history, expected);
    assert.equal(deployments.forecast.status, "ok");
    const outside = await api("GET", "/capacity?environment=nowhere-else", undefined, {}, "viewer");
    assert.equal(outside.status, 200, "an unscoped viewer reads any environment: nothing there");
    assert.equal(outside.body.capacity_forecast.metrics.deployments.forecast.status, "insufficient_history");
  });

  it("draws each metric on the dashboard's Capacity page, history and forecast, with a sentence", async function () {
    const executable = requireChromium(this);
    const browser = await launchChromium(executable);
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(error.message));
    try {
      await signIn(page, process.env.ORCH_HOSTING_URL ?? "", await signInDetails("viewer"));
      await page.waitForSelector("[data-testid=who][data-role=viewer]");
      await page.evaluate(() => (location.hash = "#/capacity"));
      for (const metric of ["events", "deployments", "firestore_reads", "firestore_writes"])
        await page.waitForSelector(`[data-testid=capacity-${metric}] svg g[data-series=expected] path`, {
          state: "attached",
          timeout: 60_000,
        });
      const legend = (await page.textContent("[data-testid=capacity-deployments]")) ?? "";
      for (const series of ["actual", "expected", "90 % high", "90 % low"])
        assert.ok(legend.includes(series), `the deployments chart names ${series}: ${legend}`);
      assert.match(
        (await page.textContent("[data-testid=capacity-summary-firestore_reads]")) ?? "",
        /^Firestore reads a day: [\d,]+ over the next 7 days; .* within the limit of 50,000/,
      );
      assert.match(
        (await page.textContent("[data-testid=capacity-status]")) ?? "",
        /from the warehouse \(duckdb\)/,
      );
      await screenshot(page, "capacity");
    } finally {
      await closeDashboard(page);
      await browser.close();
    }
    assert.deepEqual(pageErrors, [], "the page threw");
  });

  it("runs the demo's step against the stack", async () => {
    const printed: string[] = [];
    const log = console.log;
    console.log = (...parts: unknown[]) => printed.push(parts.join(" "));
    try {
      assert.equal(
        await demoForecast(
          (method, path, body) => api(method, path, body),
          () => undefined,
          (line) => printed.push(line),
        ),
        true,
      );
    } finally {
      console.log = log;
    }
    assert.match(printed.join("\n"), /POST \/optimize -> 200; capacity_forecast ok \(from duckdb\)/);
    assert.match(printed.join("\n"), /recommendations' counts and durations from duckdb: [\d,]+ deployments/);
    assert.match(printed.join("\n"), /seeded 150-day history x20: .* deployments/);
    assert.match(printed.join("\n"), /seeded history x20: the free tier's 50,000 reads a day is passed/);
  });
});
