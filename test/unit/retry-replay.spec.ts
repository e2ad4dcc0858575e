/**
 * The retry and lease replays: the backoff windows, where a run's recovery time lies, what a drawn
 * run does under a policy, and the replayed figures against values worked out by hand here (the
 * engine's backoff waits 0.75 x min(retry_max_ms, base x 2^(n-1)) on average before retry n).
 */
import assert from "node:assert/strict";
import { learn } from "../../functions/src/domain/learning/estimates.js";
import {
  recoveryModel,
  replayLease,
  replayRetryPolicy,
  underPolicy,
  windowSeconds,
} from "../../functions/src/domain/learning/retry-replay.js";
import { runsFromTasks } from "../../functions/src/domain/learning/runs.js";
import { task } from "../support/history-builder.js";

const near = (actual: number, expected: number, tolerance: number, what: string) =>
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what}: ${actual}, expected ${expected} +/- ${tolerance}`,
  );

describe("retry replay: backoff windows", () => {
  it("waits 1.5, 3 and 6 s before retries 1-3 at a 2000 ms base: windows 1.5, 4.5, 10.5", () => {
    assert.equal(windowSeconds(0, 2000), 0);
    assert.equal(windowSeconds(1, 2000), 1.5);
    assert.equal(windowSeconds(2, 2000), 4.5);
    assert.equal(windowSeconds(3, 2000), 10.5);
  });

  it("caps one wait at retry_max_ms (300 s): 150, 225, 225 s at a 200 s base", () => {
    assert.equal(windowSeconds(3, 200_000), 600);
  });
});

describe("retry replay: one run under a policy", () => {
  const policy = (max_retries: number, retry_base_ms: number) => ({ max_retries, retry_base_ms });

  it("a cause that clears after 4 s of backoff: retry 2 at a 2000 ms base, retry 1 at 8000 ms", () => {
    const drawn = { kind: "recovers_after" as const, seconds: 4 };
    assert.deepEqual(underPolicy(drawn, policy(3, 2000)), { retries: 2, waited_seconds: 4.5, failed: false });
    assert.deepEqual(underPolicy(drawn, policy(3, 8000)), { retries: 1, waited_seconds: 6, failed: false });
  });

  it("runs out of retries before the cause clears: fails after waiting the whole window", () => {
    const drawn = { kind: "recovers_after" as const, seconds: 4 };
    assert.deepEqual(underPolicy(drawn, policy(1, 2000)), { retries: 1, waited_seconds: 1.5, failed: true });
    assert.deepEqual(underPolicy(drawn, policy(0, 2000)), { retries: 0, waited_seconds: 0, failed: true });
  });

  it("a non-retriable failure fails under any policy, after no more retries than it took", () => {
    const drawn = { kind: "non_retriable" as const, retries: 2 };
    assert.deepEqual(underPolicy(drawn, policy(1, 2000)), { retries: 1, waited_seconds: 1.5, failed: true });
    assert.deepEqual(underPolicy(drawn, policy(5, 2000)), { retries: 2, waited_seconds: 4.5, failed: true });
    assert.deepEqual(underPolicy({ kind: "first_try" }, policy(0, 1)), {
      retries: 0,
      waited_seconds: 0,
      failed: false,
    });
  });
});

/** Five hosting runs of one deployment: 2 at once, 1 recovered at retry 2, 2 failed after 3 retries. */
function flakyHosting() {
  return [
    task({ integration: "hosting", duration: 10 }),
    task({ integration: "hosting", duration: 10 }),
    task({ integration: "hosting", duration: 30, retries: 2 }),
    task({ integration: "hosting", status: "failed", retries: 3 }),
    task({ integration: "hosting", status: "failed", retries: 3 }),
  ];
}

describe("retry replay: the recovery model", () => {
  it("reads each run's class and fits the tail: 1 recovery over 3 + 10.5 + 10.5 s waited", () => {
    const model = recoveryModel(flakyHosting());
    assert.deepEqual(model.counts, { first_try: 2, recovered: 1, exhausted: 2, non_retriable: 0 });
    // The recovered run's cause cleared within (1.5, 4.5] s: its midpoint, 3 s, is its exposure.
    assert.deepEqual(
      model.runs.find((run) => run.kind === "recovered"),
      { kind: "recovered", from_seconds: 1.5, to_seconds: 4.5 },
    );
    near(model.rate_per_second, 1 / 24, 1e-9, "recoveries per second waited");
    assert.deepEqual(model.attempt_seconds, [10, 10]);
  });

  it("a failure with retries left is non-retriable; nothing recovered means no tail at all", () => {
    const model = recoveryModel([
      task({ integration: "hosting", status: "failed", retries: 1, max_retries: 3 }),
      task({ integration: "hosting", status: "failed", retries: 3 }),
      task({ integration: "hosting", status: "skipped" }),
    ]);
    assert.deepEqual(model.counts, { first_try: 0, recovered: 0, exhausted: 1, non_retriable: 1 });
    assert.equal(model.rate_per_second, 0);
  });
});

describe("retry replay: policies replayed on deployments", () => {
  it("one or two more retries recover failures in the fitted tail: 40 % -> 40 % x e^-0.5 and x e^-1.5", () => {
    const tasks = flakyHosting();
    const replay = replayRetryPolicy(
      tasks,
      "hosting",
      recoveryModel(tasks),
      learn(runsFromTasks(tasks)),
      { max_retries: 3, retry_base_ms: 2000 },
      [
        { max_retries: 4, retry_base_ms: 2000 },
        { max_retries: 5, retry_base_ms: 2000 },
        { max_retries: 1, retry_base_ms: 2000 },
      ],
      { samples: 400 },
    );
    assert.ok(replay);
    // 2 of 5 runs failed after every retry; the recovered one recovers under 3 retries always.
    near(replay.old.run_failure_share, 0.4, 0.06, "old failure share");
    // Retry 4 waits 12 s more: a failed run recovers with 1 - e^(-12/24); retry 5 24 s more again.
    near(replay.candidates[0]!.run_failure_share, 0.4 * Math.exp(-0.5), 0.06, "max_retries 4");
    near(replay.candidates[1]!.run_failure_share, 0.4 * Math.exp(-1.5), 0.05, "max_retries 5");
    // One retry: the run that needed its second retry (cause cleared within 1.5-4.5 s) fails too.
    near(replay.candidates[2]!.run_failure_share, 0.6, 0.06, "max_retries 1");
    assert.equal(replay.old.change_mean_seconds, 0);
    assert.ok(replay.candidates[2]!.change_p95_seconds < 0, "fewer retries take less time");
  });

  it("is null without a deployment of the integration or without runs", () => {
    const tasks = flakyHosting();
    const args = [
      recoveryModel(tasks),
      learn(runsFromTasks(tasks)),
      { max_retries: 3, retry_base_ms: 2000 },
      [],
    ] as const;
    assert.equal(replayRetryPolicy(tasks, "storage", ...args), null);
    assert.equal(replayRetryPolicy(tasks, "hosting", recoveryModel([]), args[1], args[2], args[3]), null);
  });
});

describe("lease replay", () => {
  it("attempts of 1001 s under a 120 s lease: 25 renewals each; a lost executor waits 5/6 of the lease", () => {
    const replay = replayLease({ p50: 1001, p90: 1001 }, 120, 1500, { samples: 4000 });
    assert.equal(replay.p99_attempt_seconds, 1001);
    // One renewal per 40 s: 25 in 1001 s.
    assert.equal(replay.old_renewals_per_attempt, 25);
    // One renewal per 500 s: two per attempt of 1001 s.
    assert.equal(replay.new_renewals_per_attempt, 2);
    // Plus the sweep that retries it: half of its minute on average.
    near(replay.old_recovery_seconds, (5 / 6) * 120 + 30, 2, "recovery under 120 s");
    assert.ok(replay.recovery_change_p05_seconds > 0, "a longer lease recovers later");
  });

  it("attempts of 5 s under a 30 s lease: no renewal; a lost executor waits 30 s less its 0-5 s of work", () => {
    const replay = replayLease({ p50: 5, p90: 5 }, 120, 30, { samples: 4000, sweep_seconds: 0 });
    assert.equal(replay.new_renewals_per_attempt, 0);
    near(replay.new_recovery_seconds, 27.5, 0.3, "recovery under 30 s");
    near(replay.old_recovery_seconds, 117.5, 0.3, "recovery under 120 s");
    near(replay.recovery_change_p95_seconds, -90, 1e-6, "every draw 90 s sooner");
  });
});
