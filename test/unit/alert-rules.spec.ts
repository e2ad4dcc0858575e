/**
 * Alert rules with durations, evaluated check by check against a table written here: a breach
 * fires only after it has held for the rule's duration without a break, escalates once the
 * critical rule has held, and resolves at the first check under every threshold.
 */
import assert from "node:assert/strict";
import {
  evaluateMetric,
  measure,
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
});
