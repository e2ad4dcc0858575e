/**
 * Alert rules with durations, evaluated check by check against a table written here: a breach
 * fires only after it has held for the rule's duration without a break, escalates once the
 * critical rule has held, and resolves at the first check under every threshold.
 */
import assert from "node:assert/strict";
import {
  evaluateMetric,
  measure,
  warehouseSample,
  type InstalledRule,
  type RuleState,
} from "../../functions/src/domain/alert-rules.js";

const latencyRules: InstalledRule[] = [
  {
    id: "latency-critical",
    metric: "latency_ms",
    severity: "critical",
    comparison: ">=",
    threshold: 5000,
    for_seconds: 300,
  },
  {
    id: "latency-warning",
    metric: "latency_ms",
    severity: "warning",
    comparison: ">=",
    threshold: 1000,
    for_seconds: 300,
  },
];

/** Runs checks (seconds after start, measured value) and answers each check's action (with its level). */
function run(rules: InstalledRule[], checks: [number, number][]): string[] {
  const start = Date.parse("2026-12-01T10:00:00Z");
  let state: RuleState | undefined;
  return checks.map(([at, value]) => {
    const result = evaluateMetric(rules, value, new Date(start + at * 1000), state, (n) => `incident-${n}`);
    state = result.state;
    const { decision } = result;
    return decision.action === "open" || decision.action === "escalate"
      ? `${decision.action} ${decision.level}`
      : decision.action;
  });
}

describe("alert rules: thresholds with durations", () => {
  it("fires after the breach has held 300 s, escalates after critical held 300 s, resolves when back", () => {
    const table: [number, number, string][] = [
      [0, 1200, "none"], // breached, not for long
      [60, 800, "none"], // the breach is broken: its clock restarts
      [120, 1500, "none"],
      [300, 1500, "none"], // 180 s
      [420, 1600, "open warning"], // 300 s without a break
      [480, 6000, "none"], // critical breached, not for long; still the warning incident
      [720, 6000, "none"], // 240 s
      [780, 6000, "escalate critical"], // 300 s
      [840, 7000, "none"],
      [900, 500, "resolve"],
      [960, 500, "none"],
    ];
    assert.deepEqual(
      run(
        latencyRules,
        table.map(([at, value]) => [at, value]),
      ),
      table.map(([, , expected]) => expected),
    );
  });

  it("one bad probe, however bad, is not an incident", () => {
    assert.deepEqual(
      run(latencyRules, [
        [0, 60000],
        [60, 100],
        [120, 40000],
        [180, 90],
        [600, 100],
      ]),
      ["none", "none", "none", "none", "none"],
    );
  });

  it("a rule without a duration fires on its first breach; the next incident gets the next id", () => {
    const rules = latencyRules.map((rule) => ({ ...rule, for_seconds: 0 }));
    const start = new Date("2026-12-01T10:00:00Z");
    const at = (s: number) => new Date(start.getTime() + s * 1000);
    const first = evaluateMetric(rules, 1000, at(0), undefined, (n) => `incident-${n}`);
    assert.deepEqual(first.decision.action, "open");
    assert.equal(first.state.open_alert, "incident-1");
    const over = evaluateMetric(rules, 10, at(60), first.state, (n) => `incident-${n}`);
    assert.equal(over.decision.action, "resolve");
    assert.equal(over.state.open_alert, null);
    const second = evaluateMetric(rules, 5000, at(120), over.state, (n) => `incident-${n}`);
    assert.deepEqual(second.decision, { action: "open", level: "critical", rule: rules[0] });
    assert.equal(second.state.open_alert, "incident-2");
  });

  it("measures the error rate as the share of failing probes and latency as the slowest probe", () => {
    const sample = {
      probes: [
        { integration: "auth", status: "healthy" as const, latency_ms: 40 },
        { integration: "firestore", status: "degraded" as const, latency_ms: 1900 },
        { integration: "hosting", status: "down" as const, latency_ms: 12 },
        { integration: "functions", status: "healthy" as const, latency_ms: 300 },
      ],
    };
    assert.deepEqual(measure("error_rate", sample), { value: 0.5, culprit: "firestore, hosting" });
    assert.deepEqual(measure("latency_ms", sample), { value: 1900, culprit: "firestore" });
    assert.deepEqual(measure("latency_ms", { probes: [] }), { value: 0, culprit: null });
  });

  it("measures deployments' failure rate and p95 from the warehouse's rows of the window", () => {
    // deployment_outcomes rows (environment, day, status, deployments) and deployment_durations rows.
    const outcomes = [
      { environment: "prod", day: "2026-12-01", status: "succeeded", deployments: 2 },
      { environment: "prod", day: "2026-12-02", status: "succeeded", deployments: 1 },
      { environment: "prod", day: "2026-12-02", status: "failed", deployments: 2 },
      { environment: "prod", day: "2026-12-02", status: "rolled_back", deployments: 1 },
      { environment: "prod", day: "2026-12-02", status: "cancelled", deployments: 4 },
      { environment: "prod", day: "2026-12-02", status: "running", deployments: 3 },
      { environment: "dev", day: "2026-12-02", status: "failed", deployments: 9 },
    ];
    const durations = [
      { environment: null, count: 20, p50: 30, p95: 700 },
      { environment: "prod", count: 6, p50: 40, p95: 1250 },
    ];
    const sample = warehouseSample("prod", outcomes, durations, { window_minutes: 60, min_deployments: 3 });
    assert.deepEqual(sample, {
      window_minutes: 60,
      min_deployments: 3,
      finished: 6,
      failed: 3,
      p95_seconds: 1250,
    });
    const probes = { probes: [], warehouse: sample };
    assert.deepEqual(measure("deployment_failure_rate", probes), {
      value: 0.5,
      culprit: "3 of 6 deployments in the last 60 min failed",
    });
    assert.deepEqual(measure("deployment_p95_seconds", probes)?.value, 1250);
    // Below the evidence floor nothing is breached; without a warehouse nothing is measured.
    const thin = warehouseSample("prod", outcomes.slice(0, 2), durations, {
      window_minutes: 60,
      min_deployments: 4,
    });
    assert.equal(measure("deployment_failure_rate", { probes: [], warehouse: thin })?.value, 0);
    assert.equal(measure("deployment_failure_rate", { probes: [], warehouse: null }), null);
    assert.equal(measure("deployment_p95_seconds", { probes: [] }), null);
  });

  it("opens a warehouse rule once the failure rate has held for its duration", () => {
    const rules: InstalledRule[] = [
      {
        id: "deployment-failure-rate-critical",
        metric: "deployment_failure_rate",
        severity: "critical",
        comparison: ">=",
        threshold: 0.5,
        for_seconds: 120,
      },
      {
        id: "deployment-failure-rate-warning",
        metric: "deployment_failure_rate",
        severity: "warning",
        comparison: ">=",
        threshold: 0.25,
        for_seconds: 120,
      },
    ];
    const at = (s: number) => new Date(Date.UTC(2026, 11, 2, 3, 0, s));
    // [second, failure rate, expected action]: an independent table.
    const table: [number, number, string][] = [
      [0, 0.3, "none"],
      [60, 0.3, "none"],
      [120, 0.3, "open warning"],
      [180, 0.6, "none"],
      [300, 0.6, "escalate critical"],
      [360, 0.1, "resolve"],
    ];
    let state: RuleState | undefined;
    for (const [second, value, expected] of table) {
      const next = evaluateMetric(rules, value, at(second), state, (n) => `incident-${n}`);
      const d = next.decision;
      assert.equal(
        d.action === "open" || d.action === "escalate" ? `${d.action} ${d.level}` : d.action,
        expected,
        `at ${second} s`,
      );
      state = next.state;
    }
  });
});
