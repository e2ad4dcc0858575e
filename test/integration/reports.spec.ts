import assert from "node:assert/strict";
import { validateConfig } from "../../functions/src/domain/config.js";
import { REPORT_FORMATS, REPORT_MEDIA_TYPES } from "../../functions/src/domain/reports.js";
import { createStore } from "../../functions/src/store/store.js";
import { exampleConfig } from "../support/config-builder.js";
import { adminDb, api, clearFirestore, requireEmulators, tokenFor } from "../support/emulators.js";
import { plantHistory } from "../support/engine.js";
import { busyHistory } from "../support/history-builder.js";
import { publishToWarehouse } from "../support/warehouse.js";
import { historyEvents } from "../../functions/src/warehouse/backfill.js";

/** The target for a report over 30 days of history on the local stack: printed, not asserted (timings are noisy). */
const TARGET_MS = 3000;
/** What the specification allows: asserted. */
const SPEC_LIMIT_MS = 60_000;

/** GET /reports as a viewer, the body as bytes (PDF and PNG are not text). */
async function report(query: string) {
  const started = performance.now();
  const response = await fetch(`${process.env.ORCH_API_URL}/api/orchestration/reports?${query}`, {
    headers: { authorization: `Bearer ${await tokenFor("viewer")}` },
  });
  const body = Buffer.from(await response.arrayBuffer());
  return { response, body, ms: performance.now() - started };
}

/** Every document in every top-level collection, by path: what a refused request must leave as it was. */
async function everything(): Promise<string[]> {
  const collections = await adminDb().listCollections();
  const paths = await Promise.all(
    collections.map(async (c) => (await c.select().get()).docs.map((d) => d.ref.path)),
  );
  return paths.flat().sort();
}

describe("GET /reports on the emulators", function () {
  this.timeout(240_000);
  // 30 days at 10 deployments a day: every seeded deployment (and its deletion by the next suite's
  // clear) wakes the deployment trigger, so the 1,200 of bench:reports would load every suite after
  // this one. Switching the emulator's triggers off instead is unsafe: it kills in-flight function
  // workers, and their open transactions then hold Firestore emulator locks for good.
  const { history } = busyHistory(30, 10);
  const interval = `${history.range.from.toISOString()}/${history.range.to.toISOString()}`;
  const range = `time_range=${encodeURIComponent(interval)}`;
  const deploymentsTotal = async () =>
    (await api("GET", `/reports?report_type=deployment&${range}`, undefined, {}, "viewer")).body
      .comprehensive_report.summary.deployments.total as number;
  /**
   * Deployments that suites before this one left in the stack's warehouse within this window (it is
   * not cleared between suites; the capacity suite publishes four weeks of its own environment).
   */
  let leftover = 0;

  before(async function () {
    requireEmulators(this);
    // Each phase's time is printed: this hook once ran past its limit in CI with nothing to say where.
    const timed = async <T>(name: string, step: () => Promise<T>): Promise<T> => {
      const started = performance.now();
      const result = await step();
      console.log(`      seeding: ${name} took ${((performance.now() - started) / 1000).toFixed(1)} s`);
      return result;
    };
    await timed("clear", clearFirestore);
    const config = validateConfig(exampleConfig());
    assert.ok(config.ok);
    await timed("config", () =>
      createStore(adminDb()).loadConfig(config.config, exampleConfig(), history.range.from),
    );
    await timed("plant", () => plantHistory(history));
    // Reports take their aggregates from the warehouse: the same history reaches it as events.
    if (process.env.ORCH_WAREHOUSE_URL) {
      leftover = await timed("leftover count", deploymentsTotal);
      await timed("warehouse", () => publishToWarehouse(historyEvents(history)));
    }
  });

  it(`answers every format over 30 days of history (${history.deployments.length} deployments, ${history.tasks.length} tasks) within the specification's minute`, async () => {
    await report(`report_type=executive&time_range=24h`); // the function instance warms up
    const timings: string[] = [];
    const total = await deploymentsTotal();
    assert.equal(total, leftover + history.deployments.length);
    for (const format of REPORT_FORMATS) {
      const { response, body, ms } = await report(`report_type=deployment&format=${format}&${range}`);
      timings.push(`${format} ${Math.round(ms)} ms`);
      assert.equal(response.status, 200, body.toString("utf8").slice(0, 300));
      assert.equal(
        response.headers.get("content-type")?.split(";")[0],
        REPORT_MEDIA_TYPES[format].contentType.split(";")[0],
      );
      if (format === "json") continue;
      assert.equal(
        response.headers.get("content-disposition"),
        `inline; filename="report-deployment-${interval.replace(/\.\d+/g, "").replace(/[-:]/g, "").replace("/", "-")}.${REPORT_MEDIA_TYPES[format].extension}"`,
      );
      assert.equal(response.headers.get("x-content-type-options"), "nosniff");
      if (format === "pdf") assert.equal(body.subarray(0, 5).toString("latin1"), "%PDF-");
      if (format === "png") assert.equal(body.subarray(1, 4).toString("latin1"), "PNG");
      if (format === "csv")
        assert.ok(body.toString("utf8").includes(`\r\nsummary,,deployments.total,${total}\r\n`), "CSV total");
      if (format === "html")
        assert.ok(body.includes(`<td>deployments.total</td><td class="num">${total}</td>`), "HTML total");
      if (format === "markdown")
        assert.ok(body.includes(`| deployments.total | ${total} |`), "Markdown total");
      assert.ok(ms < SPEC_LIMIT_MS, `${format} took ${Math.round(ms)} ms`);
    }
    console.log(`      ${timings.join(", ")} (target ${TARGET_MS} ms each)`);
  });

  const refused: [string, string, string][] = [
    ["an unknown format", "format=docx", "format"],
    ["an unknown report type", "report_type=weekly&format=pdf", "report_type"],
    ["an unknown time range", "time_range=1w&format=csv", "time_range"],
  ];
  for (const [name, query, field] of refused) {
    it(`refuses ${name} with a JSON 400 naming ${field}, and writes nothing`, async () => {
      const before = await everything();
      const { response, body } = await report(query);
      assert.equal(response.status, 400);
      assert.match(response.headers.get("content-type") ?? "", /^application\/json/);
      const error = JSON.parse(body.toString("utf8")) as { error: { problems: { path: string }[] } };
      assert.deepEqual(
        error.error.problems.map((p) => p.path),
        [field],
      );
      assert.deepEqual(await everything(), before);
    });
  }
});
