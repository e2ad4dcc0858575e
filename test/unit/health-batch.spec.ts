import assert from "node:assert/strict";
import { probingFabricator } from "../support/probes.js";
import type { Bus } from "../../functions/src/bus.js";
import { validateConfig } from "../../functions/src/domain/config.js";
import { alertDocSchema, COLLECTIONS, type AlertDoc } from "../../functions/src/domain/model.js";
import { createEnvironmentResolver } from "../../functions/src/engine/environments.js";
import { createHealthMonitor, HEALTH_LATENCY } from "../../functions/src/engine/health.js";
import { createLogger } from "../../functions/src/logs.js";
import { createStore } from "../../functions/src/store/store.js";
import { typedCollection } from "../../functions/src/store/typed-collection.js";
import { scaleIntegrations } from "../../scripts/lib/scale-config.js";
import { configWith } from "../support/config-builder.js";
import { asFirestore, MemoryFirestore, type MemoryTransaction } from "../sim/memory-firestore.js";

/**
 * The health check records each environment's integrations in one transaction (two getAll reads,
 * then the writes), on the in-memory Firestore of the simulation: its transactions are all or
 * nothing and rerun when what they read changed, as Firestore's are.
 */

const NOW = new Date("2026-03-01T12:00:00.000Z");
const DAY_MS = 86_400_000;

/** The memory Firestore, counting the transactions run (not their reruns) and the reads made in them. */
class CountingFirestore extends MemoryFirestore {
  transactions = 0;
  readonly reads: string[] = [];
  constructor() {
    super(
      {
        point: (label) => {
          if (label.startsWith("tx.get")) this.reads.push(label.split(" ")[0] ?? label);
          return Promise.resolve();
        },
      },
      () => NOW,
    );
  }
  override runTransaction<R>(
    fn: (tx: MemoryTransaction) => Promise<R>,
    options?: { maxAttempts?: number; readOnly?: boolean },
  ): Promise<R> {
    this.transactions += 1;
    return super.runTransaction(fn, options);
  }
  /** Counts from here on. */
  reset(): void {
    this.transactions = 0;
    this.reads.length = 0;
  }
}

type Probe = { status: "healthy" | "degraded" | "down"; latency_ms: number };

async function setUp(environments: Record<string, unknown>[]) {
  const db = new CountingFirestore();
  const firestore = asFirestore(db);
  const store = createStore(firestore);
  const raw = configWith((c) => {
    c.environments = environments;
  });
  const result = validateConfig(raw);
  assert.ok(result.ok, JSON.stringify(!result.ok && result.problems));
  await store.loadConfig(result.config, raw, NOW);
  /** What each `environment/integration` answers: healthy in 10 ms unless set. */
  const probes = new Map<string, Probe>();
  const published: string[] = [];
  const fabricator = probingFabricator((target: { environment: { name: string }; integration: string }) => {
    const probe = probes.get(`${target.environment.name}/${target.integration}`) ?? {
      status: "healthy",
      latency_ms: 10,
    };
    return Promise.resolve({ ...probe, details: `observed ${probe.status}`, mode: "emulated" });
  });
  const bus = {
    publishEvent: (event: { event_id: string }) => {
      published.push(event.event_id);
      return Promise.resolve();
    },
  } as unknown as Bus; // the monitor publishes events only
  const monitor = createHealthMonitor({
    store,
    environments: createEnvironmentResolver(store),
    fabricator,
    bus,
    clock: { now: () => NOW },
    log: createLogger(() => undefined),
  });
  const alerts = typedCollection(firestore, COLLECTIONS.alerts, alertDocSchema);
  return { db, firestore, store, monitor, probes, published, alerts };
}

const emulated = (name: string, integrations: string[], overrides?: Record<string, unknown>) => ({
  name,
  type: "development",
  project_id: `demo-acme-${name}`,
  mode: "emulated",
  integrations,
  ...(overrides ? { overrides } : {}),
});

function openAlert(level: AlertDoc["level"], source: AlertDoc["source"], integration: string): AlertDoc {
  const opened = new Date(NOW.getTime() - DAY_MS);
  return {
    level,
    status: "open",
    source,
    environment: "solo",
    integration,
    deployment_id: null,
    message: `seeded ${level}`,
    opened_at: opened,
    last_seen_at: opened,
    resolved_at: null,
  };
}

describe("the health check records in batches", () => {
  it("records 190 integrations in 4 environments in 5 transactions, one getAll each when all is quiet", async () => {
    const big = scaleIntegrations(130);
    const small = scaleIntegrations(20);
    const { db, store, monitor } = await setUp([
      emulated("aa", small.integrations, small.overrides),
      emulated("bb", small.integrations, small.overrides),
      emulated("cc", small.integrations, small.overrides),
      emulated("big", big.integrations, big.overrides),
    ]);
    db.reset();
    const report = await monitor.check();
    // One per environment of 20, two for the environment of 130 (100 integrations a transaction).
    assert.equal(db.transactions, 5);
    assert.deepEqual(db.reads, ["tx.getAll", "tx.getAll", "tx.getAll", "tx.getAll", "tx.getAll"]);
    assert.equal(report.system_health.integrations, 190);
    assert.equal(report.system_health.status, "healthy");
    // The report keeps the config's order: environment by environment, integrations as declared.
    assert.deepEqual(
      report.integration_status.map((line) => `${line.environment}/${line.name}`),
      [
        ...["aa", "bb", "cc"].flatMap((env) => small.integrations.map((name) => `${env}/${name}`)),
        ...big.integrations.map((name) => `big/${name}`),
      ],
    );
    const recorded = await store.listIntegrations();
    assert.equal(recorded.length, 190);
    assert.ok(recorded.every((doc) => doc.health?.status === "healthy" && doc.health.latency_ms === 10));
    assert.equal(db.list(HEALTH_LATENCY).length, 190);
    assert.equal(db.list("health_streaks").length, 0);
    assert.equal(db.list(COLLECTIONS.alerts).length, 0);

    // A second check of one environment: one transaction again.
    db.reset();
    await monitor.check("big");
    assert.equal(db.transactions, 2);
  });

  it("opens, escalates, resolves and raises latency alerts of one environment in one transaction", async () => {
    const { db, firestore, store, monitor, probes, published, alerts } = await setUp([
      emulated("solo", ["auth", "firestore", "storage", "functions", "hosting", "security", "cicd"]),
    ]);
    const integrationDoc = (name: string) =>
      firestore.collection(COLLECTIONS.integrations).doc(`solo__${name}`);
    const latencyDoc = (name: string) => firestore.collection(HEALTH_LATENCY).doc(`solo__${name}`);
    const normal = Array.from({ length: 20 }, () => 10);
    // auth: healthy so far, now degraded: opens its first incident.
    probes.set("solo/auth", { status: "degraded", latency_ms: 10 });
    // firestore: a warning open as its third incident, now down: escalates it.
    await alerts.doc("solo__firestore__incident_3").set(openAlert("warning", "health", "firestore"));
    await integrationDoc("firestore").update({ open_alert: "solo__firestore__incident_3", incidents: 3 });
    probes.set("solo/firestore", { status: "down", latency_ms: 10 });
    // storage: a critical open, now healthy: resolves it.
    await alerts.doc("solo__storage__incident_1").set(openAlert("critical", "health", "storage"));
    await integrationDoc("storage").update({ open_alert: "solo__storage__incident_1", incidents: 1 });
    // functions: 20 checks of 10 ms, now 1000 ms: a latency anomaly.
    await latencyDoc("functions").set({ latencies_ms: normal, incidents: 0, open_alert: null });
    probes.set("solo/functions", { status: "healthy", latency_ms: 1000 });
    // hosting: counts no incident, but alerts 1 and 2 exist (left from before): opens the third.
    await alerts
      .doc("solo__hosting__incident_1")
      .set({ ...openAlert("warning", "health", "hosting"), status: "resolved" });
    await alerts
      .doc("solo__hosting__incident_2")
      .set({ ...openAlert("warning", "health", "hosting"), status: "resolved" });
    probes.set("solo/hosting", { status: "down", latency_ms: 10 });
    // security: its second latency anomaly open, now a normal 10 ms: resolves it.
    await latencyDoc("security").set({
      latencies_ms: normal,
      incidents: 2,
      open_alert: "solo__security__latency_2",
    });
    await alerts.doc("solo__security__latency_2").set(openAlert("warning", "anomaly", "security"));
    // cicd: its document is gone, and it is degraded: its alert opens, no document is written.
    await integrationDoc("cicd").delete();
    probes.set("solo/cicd", { status: "degraded", latency_ms: 10 });

    db.reset();
    const report = await monitor.check();

    assert.equal(db.transactions, 1);
    // Documents, streaks and latencies; the open alerts; the next incident ids (hosting's 1 is
    // taken); then, point by point, hosting's 2 (taken) and 3.
    assert.deepEqual(db.reads, ["tx.getAll", "tx.getAll", "tx.getAll", "tx.get", "tx.get"]);
    assert.deepEqual(
      report.integration_status.map((line) => [line.name, line.status, line.health, line.open_alert]),
      [
        ["auth", "declared", "degraded", "solo__auth__incident_1"],
        ["firestore", "declared", "down", "solo__firestore__incident_3"],
        ["storage", "declared", "healthy", null],
        ["functions", "declared", "healthy", null],
        ["hosting", "declared", "down", "solo__hosting__incident_3"],
        ["security", "declared", "healthy", null],
        ["cicd", "undeclared", "degraded", "solo__cicd__incident_1"],
      ],
    );
    assert.deepEqual([...published].sort(), [
      "alert:solo__auth__incident_1:open:warning",
      "alert:solo__cicd__incident_1:open:warning",
      "alert:solo__firestore__incident_3:open:critical",
      "alert:solo__functions__latency_1:open:critical",
      "alert:solo__hosting__incident_3:open:critical",
      "alert:solo__security__latency_2:resolved:info",
      "alert:solo__storage__incident_1:resolved:info",
    ]);
    const byId = new Map((await store.listAlerts()).map((alert) => [alert.id, alert]));
    assert.deepEqual(
      [...byId.values()]
        .map((alert) => [alert.id, alert.source, alert.status, alert.level])
        .sort(([a], [b]) => String(a).localeCompare(String(b))),
      [
        ["solo__auth__incident_1", "health", "open", "warning"],
        ["solo__cicd__incident_1", "health", "open", "warning"],
        ["solo__firestore__incident_3", "health", "open", "critical"],
        ["solo__functions__latency_1", "anomaly", "open", "critical"],
        ["solo__hosting__incident_1", "health", "resolved", "warning"],
        ["solo__hosting__incident_2", "health", "resolved", "warning"],
        ["solo__hosting__incident_3", "health", "open", "critical"],
        ["solo__security__latency_2", "anomaly", "resolved", "warning"],
        ["solo__storage__incident_1", "health", "resolved", "critical"],
      ],
    );
    assert.equal(
      byId.get("solo__auth__incident_1")?.message,
      "auth in solo is degraded (emulated): observed degraded",
    );
    assert.equal(
      byId.get("solo__firestore__incident_3")?.message,
      "firestore in solo is down (emulated): observed down",
    );
    assert.deepEqual(byId.get("solo__firestore__incident_3")?.opened_at, new Date(NOW.getTime() - DAY_MS));
    assert.deepEqual(byId.get("solo__firestore__incident_3")?.last_seen_at, NOW);
    const resolved = byId.get("solo__storage__incident_1");
    assert.deepEqual(
      [resolved?.resolved_at, resolved?.expire_at],
      [NOW, new Date(NOW.getTime() + 90 * DAY_MS)],
    );
    assert.deepEqual(byId.get("solo__security__latency_2")?.resolved_at, NOW);
    assert.equal(byId.get("solo__functions__latency_1")?.evidence?.observed, 1000);

    const docs = new Map((await store.listIntegrations("solo")).map((doc) => [doc.name, doc]));
    assert.deepEqual(
      [...docs.values()].map((doc) => [doc.name, doc.open_alert, doc.incidents, doc.health?.status]),
      [
        ["auth", "solo__auth__incident_1", 1, "degraded"],
        ["firestore", "solo__firestore__incident_3", 3, "down"],
        ["functions", null, 0, "healthy"],
        ["hosting", "solo__hosting__incident_3", 3, "down"],
        ["security", null, 0, "healthy"],
        ["storage", null, 1, "healthy"],
      ],
    );
    assert.equal(docs.has("cicd"), false, "a check never creates an integration's document");
    assert.deepEqual(db.peek(`${HEALTH_LATENCY}/solo__functions`)?.open_alert, "solo__functions__latency_1");
    assert.deepEqual(db.peek(`${HEALTH_LATENCY}/solo__functions`)?.incidents, 1);
    assert.deepEqual(db.peek(`${HEALTH_LATENCY}/solo__security`), {
      latencies_ms: [...normal, 10],
      incidents: 2,
      open_alert: null,
    });
    // Unhealthy checks are no normal latency: the down and degraded ones kept none.
    assert.equal(db.peek(`${HEALTH_LATENCY}/solo__auth`), undefined);
    assert.equal(db.peek(`${HEALTH_LATENCY}/solo__hosting`), undefined);
    assert.equal(db.list("health_streaks").length, 0, "one check opens an incident here: no streak kept");
  });

  it("keeps a streak where incidents open after two unhealthy checks, and resets it once healthy", async () => {
    const { db, store, monitor, probes, published } = await setUp([
      emulated("solo", ["security", "monitoring"], { monitoring: { alert_after_checks: 2 } }),
    ]);
    const streak = () => db.peek("health_streaks/solo__security")?.unhealthy_checks;
    probes.set("solo/security", { status: "down", latency_ms: 10 });
    await monitor.check();
    assert.equal(streak(), 1);
    assert.deepEqual(await store.listAlerts(), []);
    await monitor.check();
    assert.equal(streak(), 2);
    assert.deepEqual(
      (await store.listAlerts()).map((alert) => [alert.id, alert.status]),
      [["solo__security__incident_1", "open"]],
    );
    probes.delete("solo/security");
    await monitor.check();
    assert.equal(streak(), 0);
    assert.deepEqual(
      (await store.listAlerts()).map((alert) => [alert.id, alert.status]),
      [["solo__security__incident_1", "resolved"]],
    );
    assert.equal(db.peek("health_streaks/solo__monitoring"), undefined, "always healthy: never a streak");
    assert.deepEqual(published, [
      "alert:solo__security__incident_1:open:critical",
      "alert:solo__security__incident_1:resolved:info",
    ]);
  });

  it("two checks at once open one alert per incident: the later transaction reruns and sees it", async () => {
    const { db, store, monitor, probes, published } = await setUp([
      emulated("solo", ["security", "storage"]),
    ]);
    probes.set("solo/security", { status: "degraded", latency_ms: 10 });
    probes.set("solo/storage", { status: "down", latency_ms: 10 });
    db.reset();
    await Promise.all([monitor.check(), monitor.check()]);
    assert.equal(db.transactions, 2);
    assert.ok(db.stats.conflicts >= 1, "the two transactions met");
    assert.deepEqual(
      (await store.listAlerts()).map((alert) => [alert.id, alert.status, alert.level]).sort(),
      [
        ["solo__security__incident_1", "open", "warning"],
        ["solo__storage__incident_1", "open", "critical"],
      ],
    );
    assert.deepEqual([...published].sort(), [
      "alert:solo__security__incident_1:open:warning",
      "alert:solo__storage__incident_1:open:critical",
    ]);
  });
});
