import assert from "node:assert/strict";
import fc from "fast-check";
import { decideAlert, levelFor, rollUp } from "../../functions/src/domain/health.js";
import { diffStates } from "../../functions/src/drivers/fabricator.js";
import { contentHash } from "../../functions/src/domain/digest.js";

describe("health rules", () => {
  it("rolls up to the worst status", () => {
    assert.equal(rollUp([]), "unknown");
    assert.equal(rollUp(["healthy", "healthy"]), "healthy");
    assert.equal(rollUp(["healthy", "degraded"]), "degraded");
    assert.equal(rollUp(["degraded", "down", "healthy"]), "down");
  });

  it("opens one alert per incident, escalates when worse, resolves when health returns", () => {
    assert.deepEqual(decideAlert(undefined, { status: "healthy" }), { action: "none" });
    assert.deepEqual(decideAlert(undefined, { status: "degraded" }), { action: "open", level: "warning" });
    assert.deepEqual(decideAlert(undefined, { status: "down" }), { action: "open", level: "critical" });
    assert.deepEqual(decideAlert({ level: "warning" }, { status: "degraded" }), { action: "none" });
    assert.deepEqual(decideAlert({ level: "warning" }, { status: "down" }), {
      action: "escalate",
      level: "critical",
    });
    assert.deepEqual(decideAlert({ level: "critical" }, { status: "degraded" }), { action: "none" });
    assert.deepEqual(decideAlert({ level: "critical" }, { status: "healthy" }), { action: "resolve" });
  });

  it("never holds more than one open alert across any sequence of checks", () => {
    const status = fc.constantFrom("healthy" as const, "degraded" as const, "down" as const);
    fc.assert(
      fc.property(fc.array(status, { maxLength: 40 }), (checks) => {
        let open: { level: "critical" | "warning" | "info" } | undefined;
        let opened = 0;
        let previousHealthy = true;
        for (const check of checks) {
          const decision = decideAlert(open, { status: check });
          if (decision.action === "open") {
            assert.equal(open, undefined);
            open = { level: decision.level };
            opened += 1;
          } else if (decision.action === "escalate") open = { level: decision.level };
          else if (decision.action === "resolve") open = undefined;
          assert.equal(open === undefined, check === "healthy");
          if (open) assert.equal(open.level === "critical", check === "down" || open.level === "critical");
          previousHealthy = check === "healthy";
        }
        const incidents = checks.filter(
          (c, i) => c !== "healthy" && (i === 0 || checks[i - 1] === "healthy"),
        ).length;
        assert.equal(opened, incidents);
        return previousHealthy || open !== undefined;
      }),
    );
    assert.equal(levelFor("healthy"), undefined);
  });
});

describe("fabricator plans", () => {
  it("lists field-level changes between observed and desired state", () => {
    assert.deepEqual(diffStates(undefined, { a: 1 }), [{ path: "a", from: undefined, to: 1 }]);
    assert.deepEqual(diffStates({ a: 1, b: { c: [1, 2] } }, { a: 1, b: { c: [1, 3] } }), [
      { path: "b.c", from: [1, 2], to: [1, 3] },
    ]);
    assert.deepEqual(diffStates({ a: 1 }, { a: 1 }), []);
  });

  it("digests states independently of key order", () => {
    assert.equal(contentHash({ a: 1, b: [{ x: 1, y: 2 }] }), contentHash({ b: [{ y: 2, x: 1 }], a: 1 }));
    assert.notEqual(contentHash({ a: 1 }), contentHash({ a: 2 }));
  });
});
