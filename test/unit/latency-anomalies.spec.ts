/**
 * Health-check latency anomalies: seeded latency series with known slow checks planted, judged as
 * the health monitor judges them (each check against the checks before it, every healthy latency
 * kept). The series come from a generator written here: log-normal latencies per integration.
 */
import assert from "node:assert/strict";
import { latencyAlert, latencyAnomaly } from "../../functions/src/domain/learning/anomalies.js";

/** mulberry32: a seeded uniform generator, independent of the code under test. */
function uniform(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One integration's checks: log-normal around `medianMs` with log spread `sigma`; every 150-250th check at least `factor` x the median and 6 spreads above it. */
function series(seed: number, count: number, medianMs: number, sigma: number, factor: number) {
  const random = uniform(seed);
  const normal = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  const latencies: number[] = [];
  const planted = new Set<number>();
  let next = 150 + Math.floor(random() * 100);
  for (let index = 0; index < count; index++) {
    let latency = medianMs * Math.exp(sigma * normal());
    if (index === next) {
      // At least `factor` x the median and 6 log-spreads above it, as a planted anomaly is defined.
      latency = medianMs * Math.max(factor, Math.exp(6 * sigma)) * Math.exp(Math.abs(sigma * normal()));
      planted.add(index);
      next += 150 + Math.floor(random() * 100);
    }
    latencies.push(latency);
  }
  return { latencies, planted };
}

describe("health-check latency anomalies", () => {
  it("finds every planted slow check (8x the median and 6 spreads out at least) in 20 seeded series, with at most one false alarm per 1,000 normal checks", () => {
    let normal = 0;
    let falseAlarms = 0;
    let planted = 0;
    let caught = 0;
    for (let seed = 1; seed <= 20; seed++) {
      // Medians from 3 to 250 ms, log spreads from 0.1 to 0.4.
      const { latencies, planted: slow } = series(seed, 2000, 3 + seed * 12, 0.1 + (seed % 4) * 0.1, 8);
      latencies.forEach((latency, index) => {
        const found = latencyAnomaly("dev", "auth", latencies.slice(0, index), latency);
        if (slow.has(index)) {
          planted += 1;
          if (found) caught += 1;
        } else if (index >= 20) {
          normal += 1;
          if (found) falseAlarms += 1;
        }
      });
    }
    assert.ok(planted >= 150, `planted ${planted}`);
    assert.equal(caught, planted);
    assert.ok(falseAlarms / normal <= 1 / 1000, `${falseAlarms} false alarms in ${normal} normal checks`);
  });

  it("needs 20 checks, never calls a faster answer an anomaly, and says what was expected", () => {
    const steady = Array.from({ length: 30 }, (_, index) => 10 + (index % 3));
    assert.equal(latencyAnomaly("dev", "auth", steady.slice(0, 19), 500), null);
    assert.equal(latencyAnomaly("dev", "auth", steady, 1), null);
    // Logs of 10, 11, 12 ms (ten each): median log 11; deviations 0 (ten), log(12/11) = 0.0870
    // (ten), log(11/10) = 0.0953 (ten): MAD 0.0870 x 1.4826 = 0.1290; 4.5 x 0.1290 = 0.5805:
    // normal from 11 / e^0.5805 = 6.2 to 11 x e^0.5805 = 19.7 ms.
    const found = latencyAnomaly("dev", "auth", steady, 500);
    assert.ok(found);
    assert.equal(found.level, "critical");
    assert.deepEqual(found.expected, { low: 6.2, high: 19.7, typical: 11 });
    assert.equal(found.checks, 30);
    assert.equal(latencyAnomaly("dev", "auth", steady, 19.5), null);
    assert.ok(latencyAnomaly("dev", "auth", steady, 20));
    const alert = latencyAlert(found, "dev", "auth", new Date(0));
    assert.equal(alert.source, "anomaly");
    assert.deepEqual(alert.evidence, {
      metric: "health_latency",
      unit: "milliseconds",
      observed: 500,
      expected_low: 6.2,
      expected_high: 19.7,
      typical: 11,
      runs: 30,
      task_id: null,
      score: found.score,
    });
    assert.match(
      alert.message,
      /auth in dev answered its health check in 500 ms, slower than the 6\.2-19\.7 ms its last 30 checks make normal/,
    );
  });
});
