import assert from "node:assert/strict";
import type { Principal } from "../../functions/src/domain/access.js";
import {
  historyWithinScope,
  namesWithinScope,
  outsideScope,
  readScope,
  withinScope,
} from "../../functions/src/domain/scope.js";
import type { History } from "../../functions/src/domain/optimize.js";

const scoped = (environments: string[] | null): Principal => ({
  kind: "user",
  uid: "u1",
  email: "u1@acme.dev",
  role: "operator",
  environments,
});

describe("scope filters for list and aggregate routes", () => {
  const items = [{ environment: "dev" }, { environment: "prod" }, { environment: "staging" }];

  it("keeps only the scope's environments; null scope keeps all; no principal keeps nothing", () => {
    assert.deepEqual(withinScope(scoped(["dev"]), items), [{ environment: "dev" }]);
    assert.deepEqual(withinScope(scoped(null), items), items);
    assert.deepEqual(withinScope(undefined, items), []);
    assert.deepEqual(withinScope(scoped([]), items), []);
  });

  it("a warehouse read covers the environment asked for, else every one unscoped, else the caller's, else none", () => {
    assert.deepEqual(readScope(scoped(["dev"]), "dev"), ["dev"]);
    assert.equal(readScope(scoped(null)), null);
    assert.deepEqual(readScope(scoped(["dev", "qa"])), ["dev", "qa"]);
    assert.deepEqual(readScope(scoped([])), []);
    assert.deepEqual(readScope(undefined), []);
  });

  it("names within and outside the scope", () => {
    assert.deepEqual(namesWithinScope(scoped(["dev", "qa"]), ["dev", "prod", "qa"]), ["dev", "qa"]);
    assert.deepEqual(outsideScope(scoped(["dev"]), ["dev", "prod"]), ["prod"]);
    assert.deepEqual(outsideScope(scoped(null), ["dev", "prod"]), []);
  });

  it("a history keeps the scope's deployments, only their tasks, and the scope's integrations and alerts", () => {
    const history = {
      range: { from: new Date(0), to: new Date(1) },
      environment: null,
      deployments: [
        { id: "d-dev", environment: "dev" },
        { id: "d-prod", environment: "prod" },
      ],
      tasks: [
        { id: "t1", deployment_id: "d-dev", environment: "dev" },
        { id: "t2", deployment_id: "d-prod", environment: "prod" },
      ],
      integrations: [
        { name: "auth", environment: "dev" },
        { name: "auth", environment: "prod" },
      ],
      alerts: [
        { id: "a1", environment: "prod" },
        { id: "a2", environment: "dev" },
      ],
      truncated: false,
      limits: { deployments: 1, alerts: 1 },
    } as unknown as History; // only the fields the filter reads are filled in
    const kept = historyWithinScope(scoped(["dev"]), history);
    assert.deepEqual(
      kept.deployments.map((d) => d.id),
      ["d-dev"],
    );
    assert.deepEqual(
      kept.tasks.map((t) => t.id),
      ["t1"],
    );
    assert.deepEqual(
      kept.integrations.map((i) => i.environment),
      ["dev"],
    );
    assert.deepEqual(
      kept.alerts.map((a) => a.id),
      ["a2"],
    );
    assert.equal(historyWithinScope(scoped(null), history), history);
  });
});
