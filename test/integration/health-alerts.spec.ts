import assert from "node:assert/strict";
import { probingFabricator } from "../support/probes.js";
import type { Bus } from "../../functions/src/bus.js";
import { validateConfig } from "../../functions/src/domain/config.js";
import { createEnvironmentResolver } from "../../functions/src/engine/environments.js";
import { createHealthMonitor } from "../../functions/src/engine/health.js";
import { createLogger } from "../../functions/src/logs.js";
import { createStore } from "../../functions/src/store/store.js";
import { configWith } from "../support/config-builder.js";
import { adminDb, clearFirestore, requireEmulators } from "../support/emulators.js";

/**
 * Defect 9: two health checks running at once (the scheduler's and an operator's POST /jobs/health)
 * must open one alert per incident. The integrations' health is the input here: `verify` answers
 * what the test sets, so that the incidents happen when the test says.
 */
describe("health checks open one alert per incident, however many run at once", function () {
  this.timeout(120_000);
  let observed: "healthy" | "degraded" | "down" = "healthy";
  const published: string[] = [];

  function monitor() {
    const store = createStore(adminDb());
    const fabricator = probingFabricator(() =>
      Promise.resolve({
        status: observed,
        latency_ms: 3,
        details: `observed ${observed}`,
        mode: "emulated",
      }),
    );
    const bus = {
      publishEvent: (event: { event_id: string }) => {
        published.push(event.event_id);
        return Promise.resolve();
      },
    } as unknown as Bus; // the monitor publishes events only
    return createHealthMonitor({
      store,
      environments: createEnvironmentResolver(store),
      fabricator,
      bus,
      clock: { now: () => new Date() },
      log: createLogger(() => undefined),
    });
  }

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    const raw = configWith((c) => {
      c.environments = [
        {
          name: "solo",
          type: "development",
          project_id: "demo-acme-solo",
          mode: "emulated",
          integrations: ["security"],
        },
      ];
    });
    const result = validateConfig(raw);
    assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
    await createStore(adminDb()).loadConfig(result.config, raw, new Date());
  });

  async function healthAlerts() {
    const snap = await adminDb().collection("alerts").where("source", "==", "health").get();
    return snap.docs.map((d) => ({
      id: d.id,
      status: d.get("status") as string,
      level: d.get("level") as string,
    }));
  }

  it("five concurrent checks of an incident open one alert; escalation and recovery keep it one; the next incident gets the next id", async () => {
    observed = "degraded";
    await Promise.all(Array.from({ length: 5 }, () => monitor().check()));
    let alerts = await healthAlerts();
    assert.equal(alerts.length, 1, JSON.stringify(alerts));
    assert.deepEqual(alerts[0], { id: "solo__security__incident_1", status: "open", level: "warning" });
    const integration = (await adminDb().collection("integrations").doc("solo__security").get()).data();
    assert.equal(integration?.open_alert, "solo__security__incident_1");

    observed = "down";
    await Promise.all(Array.from({ length: 5 }, () => monitor().check()));
    alerts = await healthAlerts();
    assert.deepEqual(alerts, [{ id: "solo__security__incident_1", status: "open", level: "critical" }]);

    observed = "healthy";
    await Promise.all(Array.from({ length: 5 }, () => monitor().check()));
    assert.deepEqual(await healthAlerts(), [
      { id: "solo__security__incident_1", status: "resolved", level: "critical" },
    ]);
    const resolved = await adminDb().collection("alerts").doc("solo__security__incident_1").get();
    assert.equal(
      resolved.get("expire_at").toMillis(),
      resolved.get("resolved_at").toMillis() + 90 * 86_400_000,
      "a resolved alert expires 90 days (no retention configured) after it was resolved",
    );

    observed = "down";
    await Promise.all(Array.from({ length: 3 }, () => monitor().check()));
    assert.deepEqual(
      (await healthAlerts()).map((a) => [a.id, a.status]),
      [
        ["solo__security__incident_1", "resolved"],
        ["solo__security__incident_2", "open"],
      ],
    );
    const open = await adminDb().collection("alerts").doc("solo__security__incident_2").get();
    assert.equal(open.get("expire_at"), undefined, "an open alert never expires");
    const opened = published.filter((id) => id.endsWith(":open:warning") || id.endsWith(":open:critical"));
    assert.deepEqual(
      [...new Set(opened)].length,
      opened.length,
      `each change is published once: ${published.join(", ")}`,
    );
  });

  it("status() answers the same report and writes nothing", async () => {
    const before = (await adminDb().collection("alerts").get()).docs.map((d) => [
      d.id,
      d.updateTime.toMillis(),
    ]);
    observed = "healthy";
    const report = await monitor().status();
    assert.equal(report.integration_status.length, 1);
    assert.equal(report.integration_status[0]!.health, "healthy");
    const after = (await adminDb().collection("alerts").get()).docs.map((d) => [
      d.id,
      d.updateTime.toMillis(),
    ]);
    assert.deepEqual(after, before);
  });
});
