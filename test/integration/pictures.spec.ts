import assert from "node:assert/strict";
import { api, clearFirestore, requireEmulators, tokenFor } from "../support/emulators.js";
import { loadTestConfig, settled } from "../support/engine.js";

/** GET as a caller with the given token, the body as bytes. */
async function fetchAs(path: string, token: string) {
  const response = await fetch(`${process.env.ORCH_API_URL}/api/orchestration${path}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return { response, body: Buffer.from(await response.arrayBuffer()) };
}

describe("pictures and plans for the dashboard, through the API on the emulators", function () {
  this.timeout(120_000);
  let deploymentId = "";
  let taskIds: string[] = [];

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    await loadTestConfig();
    const response = await api("POST", "/deploy", {
      environment: "dev",
      integrations: ["auth", "firestore", "functions"],
      configuration: { driver: "simulated" },
    });
    assert.equal(response.status, 202, JSON.stringify(response.body));
    deploymentId = response.body.deployment_id as string;
    taskIds = (await settled(deploymentId)).tasks.map((task) => task.id);
  });

  it("draws a deployment's graph and Gantt server-side, as SVG with every task and as PNG", async () => {
    const viewer = await tokenFor("viewer");
    for (const kind of ["graph", "gantt"]) {
      const svg = await fetchAs(`/deployments/${deploymentId}/picture?kind=${kind}`, viewer);
      assert.equal(svg.response.status, 200);
      assert.equal(svg.response.headers.get("content-type")?.split(";")[0], "image/svg+xml");
      const text = svg.body.toString("utf8");
      assert.match(text, /^<svg /);
      const attribute = kind === "graph" ? "data-node-id" : "data-task-id";
      for (const id of taskIds) assert.ok(text.includes(`${attribute}="${id}"`), `${kind} shows ${id}`);

      const png = await fetchAs(`/deployments/${deploymentId}/picture?kind=${kind}&format=png`, viewer);
      assert.equal(png.response.status, 200);
      assert.equal(png.response.headers.get("content-type"), "image/png");
      assert.equal(png.body.subarray(1, 4).toString("latin1"), "PNG");
      assert.match(
        png.response.headers.get("content-disposition") ?? "",
        new RegExp(`${deploymentId}-${kind}\\.png`),
      );
    }
  });

  const badPictures: [string, string, RegExp][] = [
    ["no kind", "", /kind/],
    ["an unknown kind", "?kind=pie", /kind/],
    ["an unknown format", "?kind=graph&format=gif", /format/],
    ["an unknown parameter", "?kind=graph&zoom=3", /zoom/],
  ];
  for (const [name, query, field] of badPictures) {
    it(`refuses a picture with ${name}, naming the field`, async () => {
      const answer = await api(
        "GET",
        `/deployments/${deploymentId}/picture${query}`,
        undefined,
        {},
        "viewer",
      );
      assert.equal(answer.status, 400);
      assert.match(answer.body.error.message, field);
    });
  }

  it("answers 404 naming a deployment that does not exist", async () => {
    const answer = await api(
      "GET",
      "/deployments/no-such-deployment/picture?kind=graph",
      undefined,
      {},
      "viewer",
    );
    assert.equal(answer.status, 404);
    assert.match(answer.body.error.message, /no-such-deployment/);
  });

  it("keeps a viewer scoped to other environments out of a deployment and its pictures", async () => {
    const scoped = await tokenFor("viewer", ["staging"]);
    for (const path of [`/deployments/${deploymentId}`, `/deployments/${deploymentId}/picture?kind=graph`]) {
      const { response, body } = await fetchAs(path, scoped);
      assert.equal(response.status, 403, path);
      assert.match(JSON.parse(body.toString("utf8")).error.message, /may not read in environment "dev"/);
    }
  });

  it("plans a subset of one environment's integrations, and refuses a subset across environments or undeclared", async () => {
    const subset = await api(
      "POST",
      "/plan",
      { environments: ["staging"], integrations: ["auth", "functions"] },
      {},
      "viewer",
    );
    assert.equal(subset.status, 200, JSON.stringify(subset.body));
    const [timeline] = subset.body.timeline as { tasks: { integration: string; dependencies: string[] }[] }[];
    assert.deepEqual(timeline?.tasks.map((task) => task.integration).sort(), ["auth", "functions"]);
    const [drivers] = subset.body.architecture_plan as { integrations: { integration: string }[] }[];
    assert.deepEqual(drivers?.integrations.map((plan) => plan.integration).sort(), ["auth", "functions"]);

    const across = await api("POST", "/plan", { environments: ["dev", "staging"], integrations: ["auth"] });
    assert.equal(across.status, 400);
    assert.match(across.body.error.message, /exactly one environment/);
    const undeclared = await api("POST", "/plan", { environments: ["dev"], integrations: ["teleport"] });
    assert.equal(undeclared.status, 400);
    assert.match(JSON.stringify(undeclared.body.error), /integrations\[0\]/);
  });
});
