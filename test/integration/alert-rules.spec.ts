/**
 * Alert rules that fire, on the Firestore emulator: the monitoring driver installs prod-like
 * latency rules (warning 1000 ms, critical 5000 ms, each for 300 s) in `alert_rules/solo`; health
 * checks under a clock this test moves report probe latencies it chooses; a slow probe alone opens
 * nothing, a breach held for 300 s opens one alert that reaches a local webhook receiver once,
 * critical held for 300 s escalates it (one more notice) and recovery resolves it (one more).
 * The warehouse rules read an embedded DuckDB warehouse holding deployments this test writes: a
 * failure rate held for 300 s opens a critical alert, notified once.
 */
import assert from "node:assert/strict";
import { probingFabricator } from "../support/probes.js";
import { createServer, type Server } from "node:http";
import type { Bus } from "../../functions/src/bus.js";
import { validateConfig } from "../../functions/src/domain/config.js";
import { targetFor } from "../../functions/src/drivers/integration-driver.js";
import { createMonitoringDriver } from "../../functions/src/drivers/monitoring.js";
import type { DriverIO, DriverTarget } from "../../functions/src/drivers/types.js";
import { createEnvironmentResolver } from "../../functions/src/engine/environments.js";
import { createHealthMonitor } from "../../functions/src/engine/health.js";
import { createNotifier, NOTIFICATIONS } from "../../functions/src/engine/notifier.js";
import { createLogger } from "../../functions/src/logs.js";
import { createFileSecretStore } from "../../functions/src/store/secret-store.js";
import { createStore } from "../../functions/src/store/store.js";
import { orchestrationEventSchema, type OrchestrationEvent } from "../../functions/src/bus.js";
import { openDuckDbWarehouse } from "../../functions/src/warehouse/duckdb.js";
import { eventToRow } from "../../functions/src/warehouse/schema.js";
import type { Warehouse } from "../../functions/src/warehouse/warehouse.js";
import { configWith } from "../support/config-builder.js";
import { adminDb, clearFirestore, requireEmulators } from "../support/emulators.js";

describe("alert rules evaluated on every health check, with durations, notified once", function () {
  this.timeout(120_000);
  const received: Record<string, unknown>[] = [];
  let server: Server;
  let latency = 40;
  const start = Date.parse("2026-12-01T10:00:00Z");
  let now = start;
  const clock = { now: () => new Date(now) };

  function monitor(warehouse?: Warehouse) {
    const store = createStore(adminDb());
    const environments = createEnvironmentResolver(store);
    const log = createLogger(() => undefined);
    // Every probe is healthy; its latency is what the test says.
    const fabricator = probingFabricator(() =>
      Promise.resolve({ status: "healthy", latency_ms: latency, details: "ok", mode: "emulated" }),
    );
    const bus = { publishEvent: () => Promise.resolve() } as unknown as Bus; // the monitor publishes events only
    const notifier = createNotifier({
      db: adminDb(),
      environments,
      secrets: createFileSecretStore("/nonexistent/secrets.json"),
      clock,
      log,
    });
    return createHealthMonitor({
      store,
      environments,
      fabricator,
      bus,
      clock,
      log,
      notifier,
      warehouse: () => Promise.resolve(warehouse ?? null),
    });
  }
  const check = async (at: number, ms: number) => {
    now = start + at * 1000;
    latency = ms;
    await monitor().check("solo");
  };
  const openRuleAlerts = async () =>
    (await adminDb().collection("alerts").where("source", "==", "rule").get()).docs.map((doc) => ({
      id: doc.id,
      ...(doc.data() as { level: string; status: string; message: string }),
    }));

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    server = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString("utf8")));
      request.on("end", () => {
        received.push(JSON.parse(body) as Record<string, unknown>);
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const raw = configWith((c) => {
      c.base.notifications = {
        channels: { "ops-hook": { type: "webhook", url: `http://127.0.0.1:${port}/ops` } },
        max_per_hour: 30,
      };
      c.environments = [
        {
          name: "solo",
          type: "production",
          project_id: "demo-acme-solo",
          mode: "emulated",
          integrations: ["security", "monitoring"],
          overrides: {
            monitoring: {
              latency_ms_warning: 1000,
              latency_ms_critical: 5000,
              alert_for_seconds: 300,
              notification_channels: ["ops-hook"],
            },
          },
        },
      ];
    });
    const result = validateConfig(raw);
    assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
    await createStore(adminDb()).loadConfig(result.config, raw, new Date());
    // The real monitoring driver installs the rules the checks read.
    const env = result.config.environments[0]!;
    const driver = createMonitoringDriver(adminDb());
    const target = targetFor(env, "monitoring") as DriverTarget<"monitoring">;
    const io = { now: () => new Date() } as DriverIO; // the monitoring driver's apply reads only the time
    await driver.apply(target, (await driver.desired(target, io)).state, io);
  });
  after(() => server?.close());

  it("a slow probe alone opens nothing; a breach held 300 s opens one alert, notified once", async () => {
    await check(0, 1800);
    await check(60, 90);
    await check(120, 2500);
    await check(300, 2500);
    assert.deepEqual(await openRuleAlerts(), [], "breached for 180 s: no incident yet");
    assert.equal(received.length, 0);
    await check(420, 2600);
    const alerts = await openRuleAlerts();
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]?.id, "rule__solo__latency_ms__incident_1");
    assert.equal(alerts[0]?.level, "warning");
    assert.match(alerts[0]?.message ?? "", /rule latency-warning in solo: latency_ms 2600 >= 1000 for 300 s/);
    await check(450, 2600);
    await check(480, 2700);
    assert.equal(received.length, 1, JSON.stringify(received));
    assert.equal(received[0]?.change, "opened");
    assert.equal(received[0]?.level, "warning");
    assert.match(String(received[0]?.text), /^\[warning\] opened: rule latency-warning in solo/);
  });

  it("critical held 300 s escalates the same alert; recovery resolves it; one notice each", async () => {
    await check(540, 6000);
    await check(780, 6500);
    assert.equal((await openRuleAlerts())[0]?.level, "warning", "critical for 240 s: not yet");
    await check(840, 6200);
    await check(870, 6100);
    const escalated = await openRuleAlerts();
    assert.equal(escalated.length, 1);
    assert.equal(escalated[0]?.level, "critical");
    await check(900, 80);
    await check(960, 70);
    const resolved = await openRuleAlerts();
    assert.equal(resolved[0]?.status, "resolved");
    assert.deepEqual(
      received.map((notice) => `${String(notice.change)} ${String(notice.level)}`),
      ["opened warning", "escalated critical", "resolved info"],
    );
    const deliveries = await adminDb().collection(NOTIFICATIONS).get();
    assert.equal(deliveries.size, 3);
    for (const delivery of deliveries.docs) assert.equal(delivery.get("status"), "sent");
  });

  it("evaluates the warehouse's deployments: a failure rate held 300 s opens a critical alert, notified once", async () => {
    const warehouse = await openDuckDbWarehouse(":memory:");
    try {
      // Five deployments of solo finished in the hour before the checks: three failed or rolled back.
      const outcomes = ["succeeded", "failed", "rolled_back", "failed", "succeeded"];
      const events: OrchestrationEvent[] = outcomes.flatMap((status, i) => {
        const begun = start + 1000_000 + i * 60_000;
        const common = {
          kind: "deployment" as const,
          deployment_id: `solo-${i}`,
          task_id: null,
          environment: "solo",
          integration: null,
          attempt: null,
          detail: null,
          correlation_id: `solo-${i}`,
        };
        return [
          {
            ...common,
            event_id: `solo-${i}-run`,
            from: "planned",
            to: "running",
            at: new Date(begun).toISOString(),
          },
          {
            ...common,
            event_id: `solo-${i}-end`,
            from: "running",
            to: status,
            at: new Date(begun + 30_000).toISOString(),
            duration: 30,
          },
        ];
      });
      await warehouse.insert(events.map((e) => eventToRow(orchestrationEventSchema.parse(e), new Date())));
      const before = received.length;
      const checkAt = async (at: number) => {
        now = start + at * 1000;
        latency = 40;
        await monitor(warehouse).check("solo");
      };
      await checkAt(1400);
      assert.deepEqual(
        (await openRuleAlerts()).filter((a) => a.id.includes("deployment_failure_rate")),
        [],
        "breached, not yet for 300 s",
      );
      await checkAt(1700);
      const alerts = (await openRuleAlerts()).filter((a) => a.id.includes("deployment_failure_rate"));
      assert.deepEqual(
        alerts.map((a) => [a.id, a.level, a.status]),
        [["rule__solo__deployment_failure_rate__incident_1", "critical", "open"]],
      );
      assert.match(
        alerts[0]!.message,
        /deployment_failure_rate 0\.600 >= 0\.5 for 300 s \(3 of 5 deployments in the last 60 min failed\)/,
      );
      assert.equal((await openRuleAlerts()).filter((a) => a.id.includes("deployment_p95")).length, 0);
      await checkAt(1760);
      const notices = received.slice(before);
      assert.deepEqual(
        notices.map((n) => `${String(n.change)} ${String(n.level)}`),
        ["opened critical"],
      );
    } finally {
      warehouse.close();
    }
  });
});
