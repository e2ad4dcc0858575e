/**
 * Health-check latency anomalies on the emulators: a check whose latency is far above the
 * integration's recent checks opens an anomaly alert with the evidence, once per incident, and the
 * next normal latency resolves it.
 */
import assert from "node:assert/strict";
import { HEALTH_LATENCY } from "../../functions/src/engine/health.js";
import { exampleConfig } from "../support/config-builder.js";
import { adminDb, api, clearFirestore, requireEmulators, waitFor } from "../support/emulators.js";

interface AlertView {
  id: string;
  source: string;
  status: string;
  integration: string;
  evidence?: { metric: string; unit: string; observed: number; expected_high: number; runs: number };
}

const window = (ms: number) => ({
  latencies_ms: Array.from({ length: 30 }, () => ms),
  incidents: 0,
  open_alert: null,
});

async function alert(id: string): Promise<AlertView | undefined> {
  const listed = await api("GET", "/alerts");
  return (listed.body.alerts as AlertView[]).find((candidate) => candidate.id === id);
}

describe("health-check latency anomalies (emulators)", function () {
  this.timeout(120_000);

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    assert.equal((await api("POST", "/config", exampleConfig())).status, 200);
    // Auth deployed, so that its checks are healthy: latencies are judged on healthy checks only.
    const deployed = await api("POST", "/deploy", { environment: "dev", integrations: ["auth"] });
    assert.equal(deployed.status, 202, JSON.stringify(deployed.body));
    await waitFor(
      "auth deployed to dev",
      async () =>
        (await api("GET", `/deployments/${deployed.body.deployment_id}`)).body.deployment?.status ===
        "succeeded",
      90_000,
      500,
    );
  });

  it("a check far slower than the last 30 opens one alert with the evidence; a normal one resolves it", async () => {
    // Thirty checks at a tenth of a millisecond (measured as 1 ms, the spread at its floor 0.05):
    // normal is up to e^(4.5 x 0.05) = 1.25 ms (shown 1.3), and a
    // check of auth through the emulator takes longer.
    await adminDb().collection(HEALTH_LATENCY).doc("dev__auth").set(window(0.1));
    const checked = await api("POST", "/jobs/health?environment=dev");
    assert.equal(checked.status, 200, JSON.stringify(checked.body));
    const auth = (
      checked.body.integration_status as { name: string; latency_ms: number; health: string }[]
    ).find((line) => line.name === "auth")!;
    assert.equal(auth.health, "healthy");
    const opened = await alert("dev__auth__latency_1");
    assert.ok(opened, `auth took ${auth.latency_ms} ms`);
    assert.equal(opened.source, "anomaly");
    assert.equal(opened.status, "open");
    assert.equal(opened.evidence?.metric, "health_latency");
    assert.equal(opened.evidence.unit, "milliseconds");
    assert.equal(opened.evidence.observed, Math.round(auth.latency_ms * 10) / 10);
    assert.equal(opened.evidence.runs, 30);
    assert.equal(opened.evidence.expected_high, 1.3);
    const kept = (await adminDb().collection(HEALTH_LATENCY).doc("dev__auth").get()).data()!;
    assert.equal(kept.latencies_ms.length, 31);
    assert.equal(kept.open_alert, "dev__auth__latency_1");

    // Now its recent checks took a minute each: the next check is normal, and the alert resolves.
    await adminDb()
      .collection(HEALTH_LATENCY)
      .doc("dev__auth")
      .set({ ...window(60_000), incidents: 1, open_alert: "dev__auth__latency_1" });
    assert.equal((await api("POST", "/jobs/health?environment=dev")).status, 200);
    assert.equal((await alert("dev__auth__latency_1"))?.status, "resolved");
    assert.equal(await alert("dev__auth__latency_2"), undefined);
  });
});
