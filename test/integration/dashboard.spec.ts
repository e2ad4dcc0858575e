/// <reference lib="dom" />
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { percentile } from "../../functions/src/domain/optimize.js";
import { closeDashboard, launchChromium, requireChromium, screenshot, signIn } from "../support/browser.js";
import { api, clearFirestore, requireEmulators, signInDetails, waitFor } from "../support/emulators.js";
import { ALL_TEN, loadTestConfig, settled } from "../support/engine.js";
import { requireWarehouse } from "../support/warehouse.js";

const hostingUrl = () => process.env.ORCH_HOSTING_URL ?? "";

describe("the live dashboard in headless Chromium (Hosting, Auth and Firestore emulators)", function () {
  this.timeout(240_000);
  let browser: Browser;
  const pages: Page[] = [];
  /** Uncaught errors in the page: each test ends with none. */
  const pageErrors: string[] = [];

  async function signedInPage(role: "viewer" | "operator", environments?: string[]): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    pages.push(page);
    page.on("pageerror", (error) => pageErrors.push(`${role}: ${error.message}`));
    await signIn(page, hostingUrl(), await signInDetails(role, environments));
    await page.waitForSelector(`[data-testid=who][data-role=${role}]`);
    await page.waitForFunction(() => window.orchestrator.ready);
    return page;
  }

  before(async function () {
    requireEmulators(this);
    const executable = requireChromium(this);
    await clearFirestore();
    await loadTestConfig();
    browser = await launchChromium(executable);
  });

  afterEach(() => {
    assert.deepEqual(pageErrors.splice(0), [], "the page threw");
  });

  after(async () => {
    for (const page of pages) await closeDashboard(page);
    await browser?.close();
  });

  it("refuses a wrong password with a message and signs a person in with their role", async () => {
    const page = await browser.newPage();
    pages.push(page);
    await page.goto(hostingUrl());
    await page.fill("input[name=email]", "nobody@example.test");
    await page.fill("input[name=password]", "wrong-password");
    await page.click("form.sign-in button[type=submit]");
    const error = await page.waitForSelector("[data-testid=sign-in-error]:not(:empty)");
    assert.match((await error.textContent()) ?? "", /Sign-in failed/);

    const operator = await signedInPage("operator");
    const environments = await operator.$$eval("ul.environments [data-environment]", (items) =>
      items.map((item) => item.getAttribute("data-environment")),
    );
    assert.ok(environments.includes("lab") && environments.includes("prod"), environments.join(","));
    // The health matrix has one cell per declared integration of every environment.
    const cells = await operator.$$eval(
      "[data-testid=health-matrix] g[data-integration][data-status]",
      (items) => items.length,
    );
    const declared = await api("GET", "/environments");
    const expected = (declared.body.environments as { integrations: unknown[] }[]).reduce(
      (total, env) => total + env.integrations.length,
      0,
    );
    assert.equal(cells, expected);
  });

  it("shows a deployment's tasks moving live, with its graph and Gantt, and measures event-to-screen latency", async () => {
    const page = await signedInPage("operator");
    const response = await api("POST", "/deploy", {
      environment: "lab",
      integrations: ALL_TEN,
      configuration: { driver: "simulated", simulate: { "*": { latency_ms: 400 } } },
    });
    assert.equal(response.status, 202, JSON.stringify(response.body));
    const id = response.body.deployment_id as string;
    await page.evaluate((deployment) => (location.hash = `#/deployments/${deployment}`), id);

    // Seen running on screen before the end: the page follows the engine, it is not redrawn at the end.
    await page.waitForSelector(`#detail[data-deployment="${id}"] tr[data-task][data-status=running]`, {
      timeout: 60_000,
    });
    await screenshot(page, "deployment-running");
    await page.waitForSelector(`#detail[data-deployment="${id}"][data-status=succeeded]`, {
      timeout: 120_000,
    });
    const { tasks } = await settled(id);

    const shown = await page.$$eval("#detail tr[data-task]", (rows) =>
      rows.map((row) => [row.getAttribute("data-task"), row.getAttribute("data-status")]),
    );
    assert.deepEqual(
      shown.sort(),
      tasks.map((task) => [task.id, task.status]).sort(),
      "the table shows every task with its stored status",
    );
    // The graph has exactly the deployment's tasks and the Gantt a bar per task.
    const nodes = await page.$$eval("[data-testid=deployment-graph] [data-node-id]", (items) =>
      items.map((item) => item.getAttribute("data-node-id")),
    );
    assert.deepEqual([...new Set(nodes)].sort(), tasks.map((task) => task.id).sort());
    const bars = await page.$$eval(
      "[data-testid=deployment-gantt] [data-task-id]",
      (items) => [...new Set(items.map((item) => item.getAttribute("data-task-id")))].length,
    );
    assert.equal(bars, tasks.length);
    // Predicted against actual: each task's planned estimate beside its duration, and the deployment's
    // prediction from when it was requested against what it took.
    const predicted = await page.$$eval("#detail tr[data-task]", (rows) =>
      rows.map((row) => [
        row.getAttribute("data-task"),
        row.querySelector("[data-testid=task-predicted]")?.textContent,
      ]),
    );
    assert.deepEqual(
      predicted.sort(),
      // The dashboard's duration format: tenths of a second below a minute, whole minutes and seconds above.
      tasks
        .map((task) => {
          const s = task.estimated_duration;
          return [
            task.id,
            s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`,
          ];
        })
        .sort(),
    );
    const summary = await page.textContent(
      `#detail[data-deployment="${id}"] [data-testid=predicted-vs-actual]`,
    );
    // A duration in the format above; a slow machine can take past a minute.
    const duration = String.raw`(?:[\d.]+ s|\d+ min \d+ s)`;
    assert.match(
      summary ?? "",
      new RegExp(
        String.raw`^Predicted ${duration} when requested; took ${duration} \(\d+ % (slower|faster) than predicted\)\.$`,
      ),
    );

    const latencies = await page.evaluate(() => window.orchestrator.latencies.map((sample) => sample.ms));
    assert.ok(latencies.length >= tasks.length, `only ${latencies.length} changes were seen live`);
    const p50 = percentile(latencies, 50) ?? NaN;
    const p95 = percentile(latencies, 95) ?? NaN;
    console.log(
      `      event to screen over ${latencies.length} task changes: p50 ${p50} ms, p95 ${p95} ms, max ${Math.max(...latencies)} ms (target < 1000 ms; the specification allows 10 s)`,
    );
    assert.ok(p95 < 10_000, `p95 event-to-screen latency ${p95} ms is over the specification's 10 s`);
    await screenshot(page, "deployment-succeeded");
  });

  it("plans a subset of integrations on the planning page and deploys it with one click (operator)", async () => {
    const page = await signedInPage("operator");
    await page.evaluate(() => (location.hash = "#/plan"));
    await page.waitForSelector("[data-testid=plan-environment] option[value=lab]", { state: "attached" });
    await page.selectOption("[data-testid=plan-environment]", "lab");
    const chosen = ["firestore", "monitoring", "security"];
    for (const box of await page.$$("[data-testid=plan-integrations] input[name=integration]")) {
      const value = await box.getAttribute("value");
      if (!chosen.includes(value ?? "")) await box.uncheck();
    }
    await page.click("[data-testid=plan]");
    await page.waitForSelector("[data-testid=plan-graph] svg");
    const nodes = await page.$$eval(
      "[data-testid=plan-graph] [data-node-id]",
      (items) => [...new Set(items.map((item) => item.getAttribute("data-node-id")))].length,
    );
    assert.equal(nodes, chosen.length);
    assert.match(
      (await page.textContent("[data-testid=plan-estimate]")) ?? "",
      /Estimated .* Critical path: /,
    );
    const changed = await page.$$eval("[data-testid=plan-changes] tr[data-integration]", (rows) =>
      rows.map((row) => row.getAttribute("data-integration")).sort(),
    );
    assert.deepEqual(changed, chosen);
    await screenshot(page, "planning-operator");

    const deploy = await page.waitForSelector("[data-testid=deploy]:not([disabled])");
    await deploy.click();
    await page.waitForURL(/#\/deployments\//);
    const id = decodeURIComponent(new URL(page.url()).hash.replace("#/deployments/", ""));
    const { deployment, tasks } = await settled(id, 120_000);
    assert.equal(deployment.status, "succeeded", deployment.error_message ?? "");
    assert.deepEqual(tasks.map((task) => task.integration).sort(), chosen);
    assert.equal(deployment.requested_by.includes("operator"), true, deployment.requested_by);
    await page.waitForSelector(`#detail[data-deployment="${id}"][data-status=succeeded]`);
  });

  it("shows a viewer the plan but the deploy button disabled, with the reason", async () => {
    const page = await signedInPage("viewer");
    await page.evaluate(() => (location.hash = "#/plan"));
    await page.waitForSelector("[data-testid=plan-environment] option[value=dev]", { state: "attached" });
    await page.selectOption("[data-testid=plan-environment]", "dev");
    await page.click("[data-testid=plan]");
    const deploy = await page.waitForSelector("[data-testid=deploy]");
    assert.equal(await deploy.isDisabled(), true);
    assert.match(
      (await page.textContent("[data-testid=deploy-reason]")) ?? "",
      /Deploying needs the operator or admin role; you are signed in as viewer/,
    );
    await screenshot(page, "planning-viewer");
  });

  it("shows a person scoped to one environment only that environment, listening with the rules' own filter", async () => {
    const staging = await api("POST", "/deploy", {
      environment: "staging",
      integrations: ["auth"],
      configuration: { driver: "simulated" },
    });
    assert.equal(staging.status, 202, JSON.stringify(staging.body));
    await settled(staging.body.deployment_id as string);
    const page = await signedInPage("viewer", ["staging"]);
    assert.match((await page.textContent("[data-testid=who]")) ?? "", /\(viewer in staging\)/);
    await page.waitForSelector(`tr[data-deployment="${staging.body.deployment_id as string}"]`);
    const environments = await page.$$eval("ul.environments [data-environment]", (items) =>
      items.map((item) => item.getAttribute("data-environment")),
    );
    assert.deepEqual(environments, ["staging"]);
    const rows = await page.$$eval(
      "[data-testid=health-matrix] g[data-integration][data-status]",
      (items) => [...new Set(items.map((item) => item.getAttribute("data-environment")))],
    );
    assert.deepEqual(rows, ["staging"]);
    const deployments = await page.$$eval("#deployments tr[data-deployment] td:nth-child(2)", (cells) => [
      ...new Set(cells.map((cell) => cell.textContent)),
    ]);
    assert.deepEqual(deployments, ["staging"]);
    assert.equal(await page.$("[data-testid=listen-errors]"), null, "no listener was refused by the rules");
    await screenshot(page, "overview-scoped-viewer");
  });

  it("draws the trends from the warehouse and says so, in the person's scope", async function () {
    requireWarehouse(this, "dashboard trends");
    // The staging deployment above reaches the warehouse through orchestration-events.
    const expected = await waitFor(
      "the staging deployment in the warehouse's trends",
      async () => {
        const answer = await api("GET", "/trends?days=30&environment=staging");
        return answer.body.status === "ok" && answer.body.window.deployments >= 1 ? answer.body : undefined;
      },
      60_000,
      500,
    );
    const page = await signedInPage("viewer", ["staging"]);
    const section = await page.waitForSelector("#trends[data-source=warehouse]");
    assert.match(
      (await page.textContent("[data-testid=trends-source]")) ?? "",
      /^From the warehouse \(DuckDB, standing in for BigQuery\), last 30 days: \d+ deployment\(s\), per UTC day\.$/,
    );
    assert.equal(
      await section.getAttribute("data-deployments"),
      String(expected.window.deployments),
      "the scoped person's trends count staging's deployments, as the API answers for staging",
    );
    // Today's bar holds the staging deployment: the chart is the warehouse's per-day series.
    const today = new Date().toISOString().slice(0, 10);
    const bars = await page.$$eval(`[data-testid=throughput] rect[data-label="${today}"]`, (rects) =>
      rects.reduce((total, rect) => total + Number(rect.getAttribute("data-value")), 0),
    );
    const last = expected.series.at(-1) as { day: string; deployments: number };
    assert.equal(last.day, today);
    assert.equal(bars, last.deployments);
    for (const chart of ["success-rate", "durations", "throughput"])
      assert.ok(await page.$(`#trends [data-testid=${chart}] svg`), chart);
    await screenshot(page, "overview-trends-from-warehouse");
  });

  it("follows the newest deployment in progress on the overview when none is chosen", async () => {
    const page = await signedInPage("viewer");
    const response = await api("POST", "/deploy", {
      environment: "dev",
      integrations: ["auth", "firestore"],
      configuration: { driver: "simulated", simulate: { "*": { latency_ms: 300 } } },
    });
    assert.equal(response.status, 202, JSON.stringify(response.body));
    const id = response.body.deployment_id as string;
    await page.waitForSelector(`#detail[data-deployment="${id}"] tr[data-task]`);
    await page.waitForSelector(`#detail[data-deployment="${id}"][data-status=succeeded]`, {
      timeout: 60_000,
    });
    await settled(id);
  });

  it("shows the alert of a failed deployment live, without a reload", async () => {
    const page = await signedInPage("viewer");
    const failing = await api("POST", "/deploy", {
      environment: "lab",
      integrations: ["auth"],
      configuration: { driver: "simulated", max_retries: 0, simulate: { auth: { fail_always: true } } },
    });
    assert.equal(failing.status, 202, JSON.stringify(failing.body));
    await settled(failing.body.deployment_id as string);
    const alert = await waitFor("the failed deployment's alert on screen", async () =>
      (
        await page.$$eval("#alerts [data-alert]", (items) => items.map((item) => item.textContent ?? ""))
      ).find((text) => text.includes(failing.body.deployment_id as string)),
    );
    assert.match(alert, /critical/);
    await screenshot(page, "overview-with-alert");
  });
});
