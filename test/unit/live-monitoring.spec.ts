import assert from "node:assert/strict";
import type { IntegrationSettings } from "../../functions/src/domain/config-schema.js";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { liveMonitoringSpec, uptimePeriod } from "../../functions/src/drivers/live/monitoring-live.js";
import type { DriverTarget } from "../../functions/src/drivers/types.js";
import {
  ContractServer,
  monitoringModel,
  type MonitoringModel,
} from "../../scripts/contract-server/index.js";
import { contractAccess, liveEnvironment, liveIO, memoryReleases, memorySources } from "../support/live.js";

const PROJECT = "projects/acme-prod";
const M = "monitoring.projects";
const CHANNEL = "projects/acme-prod/notificationChannels/42";

describe("uptimePeriod: probe interval to the periods Cloud Monitoring runs uptime checks at", () => {
  // UptimeCheckConfig.period reference: 60s, 300s, 600s and 900s only.
  const table: [number, string][] = [
    [10, "60s"],
    [60, "60s"],
    [61, "300s"],
    [300, "300s"],
    [601, "900s"],
    [3600, "900s"],
  ];
  for (const [seconds, period] of table)
    it(`${seconds} s -> ${period}`, () => assert.equal(uptimePeriod(seconds), period));
});

describe("live monitoring: an uptime check and alert policies through Cloud Monitoring v3 (contract server)", () => {
  let server: ContractServer;
  let model: MonitoringModel;
  let access: Awaited<ReturnType<typeof contractAccess>>;
  let fabricator: ReturnType<typeof createFabricator>;
  const targetWith = (
    settings: Partial<IntegrationSettings<"monitoring">> = {},
    withHosting = true,
  ): DriverTarget<"monitoring"> => {
    const environment = liveEnvironment(withHosting ? ["hosting", "monitoring"] : ["monitoring"], {
      hosting: { site: "acme-web" },
      monitoring: {
        probe_interval_seconds: 60,
        error_rate_warning: 0.05,
        error_rate_critical: 0.2,
        latency_ms_warning: 800,
        latency_ms_critical: 2000,
        notification_channels: [CHANNEL],
        ...settings,
      },
    });
    const integration = environment.integrations.find((i) => i.kind === "monitoring")!;
    return {
      environment,
      integration: "monitoring",
      kind: "monitoring",
      settings: integration.settings,
    };
  };
  const target = targetWith();

  beforeEach(async () => {
    server = ContractServer.fromRepository("monitoring-v3");
    model = monitoringModel(server);
    const { url } = await server.start();
    access = await contractAccess({ monitoring: url });
    fabricator = createFabricator(
      { monitoring: liveMonitoringSpec },
      memoryReleases(),
      liveIO(memorySources({}), access),
    );
  });
  afterEach(() => server.stop());

  const policies = () =>
    [...model.alertPolicies.values()]
      .filter((p) => p.userLabels?.orchestration_environment === "prod")
      .map((p) => {
        const condition = (
          p.conditions as {
            conditionThreshold: {
              comparison: string;
              thresholdValue: number;
              aggregations: { perSeriesAligner: string }[];
              filter: string;
            };
          }[]
        )[0]!.conditionThreshold;
        return [
          p.userLabels?.orchestration_rule,
          condition.comparison,
          condition.thresholdValue,
          condition.aggregations[0]!.perSeriesAligner,
          condition.filter.match(/uptime_check\/(\w+)/)?.[1],
        ];
      })
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));

  it("plans read-only against a project with none of ours", async () => {
    const plan = await fabricator.plan(target);
    assert.equal(plan.mode, "live");
    assert.deepEqual(server.calls(), [
      `${M}.alertPolicies.list ${PROJECT}`,
      `${M}.uptimeCheckConfigs.list ${PROJECT}`,
    ]);
    assert.ok(server.requests.every((r) => r.httpMethod === "GET"));
    assert.ok(plan.changes.length > 0);
  });

  it("first apply creates the uptime check and four policies; the second changes nothing", async () => {
    const first = await fabricator.apply(target, "d1");
    assert.equal(first.changed, true);
    const [check] = [...model.uptimeChecks.values()];
    assert.deepEqual(check?.monitoredResource, { type: "uptime_url", labels: { host: "acme-web.web.app" } });
    assert.equal(check?.period, "60s");
    // Error rate r alerts when the fraction of passing checks drops below 1 - r; latency above the ms threshold.
    assert.deepEqual(policies(), [
      ["error-rate-critical", "COMPARISON_LT", 0.8, "ALIGN_FRACTION_TRUE", "check_passed"],
      ["error-rate-warning", "COMPARISON_LT", 0.95, "ALIGN_FRACTION_TRUE", "check_passed"],
      ["latency-critical", "COMPARISON_GT", 2000, "ALIGN_MEAN", "request_latency"],
      ["latency-warning", "COMPARISON_GT", 800, "ALIGN_MEAN", "request_latency"],
    ]);
    assert.ok(
      [...model.alertPolicies.values()].every(
        (p) => JSON.stringify(p.notificationChannels) === JSON.stringify([CHANNEL]),
      ),
    );
    assert.ok(
      server.requests.every((r) => r.verdict === "accepted"),
      "every request within the contract",
    );

    const before = server.calls().length;
    const second = await fabricator.apply(target, "d2");
    assert.equal(second.changed, false);
    assert.deepEqual(server.calls().slice(before), [
      `${M}.alertPolicies.list ${PROJECT}`,
      `${M}.uptimeCheckConfigs.list ${PROJECT}`,
    ]);
  });

  it("changed thresholds patch only those policies; rollback restores them; others' policies are untouched", async () => {
    model.alertPolicies.set(`${PROJECT}/alertPolicies/7`, {
      name: `${PROJECT}/alertPolicies/7`,
      displayName: "someone else's",
      userLabels: { team: "data" },
    });
    await fabricator.apply(target, "d1");
    const stricter = targetWith({ latency_ms_critical: 1500, probe_interval_seconds: 300 });
    await fabricator.apply(stricter, "d2");
    assert.equal(policies().find((p) => p[0] === "latency-critical")?.[2], 1500);
    assert.equal([...model.uptimeChecks.values()][0]?.period, "300s");
    const patched = server.calls().filter((c) => c.includes(".patch"));
    assert.equal(patched.length, 2, "one policy and the uptime check");

    const undone = await fabricator.rollback(stricter, "d2");
    assert.match(undone.summary, /^live: rolled back to the state of release 1/);
    assert.equal(policies().find((p) => p[0] === "latency-critical")?.[2], 2000);
    assert.equal([...model.uptimeChecks.values()][0]?.period, "60s");
    assert.equal(model.alertPolicies.get(`${PROJECT}/alertPolicies/7`)?.displayName, "someone else's");
    assert.equal(model.alertPolicies.size, 5);
  });

  it("refuses channels that are not Cloud Monitoring channel names, and an environment without hosting", async () => {
    const plan = await fabricator.plan(targetWith({ notification_channels: ["#ops-slack"] }, false));
    assert.deepEqual(plan.problems.map((p) => p.path).sort(), [
      "monitoring",
      "monitoring.notification_channels[0]",
    ]);
    assert.equal(server.requests.length, 0, "a refused plan asks Google nothing");
  });

  it("backs off on 429 from Cloud Monitoring, then succeeds", async () => {
    server.inject(`${M}.alertPolicies.create`, { kind: "rate-limited", retryAfterSeconds: 1 });
    await fabricator.apply(target, "d1");
    assert.deepEqual(access.slept, [1125]);
    assert.equal(model.alertPolicies.size, 4);
  });

  it("a 403 on the uptime check names its permission and role", async () => {
    server.inject(`${M}.uptimeCheckConfigs.create`, {
      kind: "permission-denied",
      permission: "monitoring.uptimeCheckConfigs.create",
    });
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /needs permission monitoring\.uptimeCheckConfigs\.create, granted by roles\/monitoring\.uptimeCheckConfigEditor/,
      );
      return true;
    });
  });

  it("verify: down before apply, healthy after, degraded when changed outside", async () => {
    assert.equal((await fabricator.verify(target)).status, "down");
    await fabricator.apply(target, "d1");
    const healthy = await fabricator.verify(target);
    assert.equal(healthy.status, "healthy");
    assert.match(
      healthy.details,
      /^Google reports an uptime check of acme-web\.web\.app every 60s and 4 alert policies for prod$/,
    );
    const [name] = [...model.uptimeChecks.keys()];
    model.uptimeChecks.set(name!, { ...model.uptimeChecks.get(name!)!, period: "900s" });
    assert.equal((await fabricator.verify(target)).status, "degraded");
  });
});
