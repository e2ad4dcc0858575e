import assert from "node:assert/strict";
import { configWith } from "../support/config-builder.js";
import {
  adminDb,
  api,
  clearFirestore,
  requireEmulators,
  tokenFor,
  waitFor,
  type Caller,
} from "../support/emulators.js";

/**
 * Defect 13: a person scoped to one environment must learn nothing about the others from any list
 * or aggregate route, and a config that cannot be read must not widen anyone's scope. Defect 9:
 * `GET /status` is a read and writes nothing.
 */

/** The example config plus two cheap environments: `mini` (the caller's scope) and `other`. */
const scopeConfig = () =>
  configWith((c) => {
    for (const name of ["mini", "other"])
      c.environments.push({
        name,
        type: "development",
        project_id: `demo-acme-${name}`,
        mode: "emulated",
        integrations: ["security"],
      });
  });

const ALL = ["dev", "staging", "prod", "mini", "other"];

/** Alerts seeded in every environment: the scoped caller must see only mini's. */
function alert(environment: string) {
  const at = new Date();
  return {
    level: "warning",
    status: "open",
    source: "deployment",
    environment,
    integration: null,
    deployment_id: null,
    message: `marker alert in ${environment}`,
    opened_at: at,
    last_seen_at: at,
    resolved_at: null,
  };
}

/**
 * What the caller scoped to `mini` must get from each route, written from the specification
 * (scope filters every environment-bearing answer; naming another environment is refused), not
 * from the code: status, and the environments the answer may mention (read by `seen`).
 */
const EXPECTED: {
  method: string;
  path: string;
  body?: unknown;
  status: number;
  environments?: string[];
  seen?: (body: any) => string[]; // any: each route's answer has its own shape
}[] = [
  {
    method: "GET",
    path: "/environments",
    status: 200,
    environments: ["mini"],
    seen: (b) => b.environments.map((e: any) => e.name),
  },
  {
    method: "GET",
    path: "/config",
    status: 200,
    environments: ["mini"],
    seen: (b) => b.config_data.environments.map((e: any) => e.name),
  },
  {
    method: "GET",
    path: "/alerts",
    status: 200,
    environments: ["mini"],
    seen: (b) => b.alerts.map((a: any) => a.environment),
  },
  {
    method: "GET",
    path: "/status",
    status: 200,
    environments: ["mini"],
    seen: (b) => [
      ...b.environment_status.map((e: any) => e.name),
      ...b.integration_status.map((i: any) => i.environment),
    ],
  },
  { method: "GET", path: "/status?environment=other", status: 403 },
  {
    method: "POST",
    path: "/plan",
    body: {},
    status: 200,
    environments: ["mini"],
    seen: (b) => b.architecture_plan.map((p: any) => p.environment),
  },
  { method: "POST", path: "/plan", body: { environments: ["mini", "other"] }, status: 403 },
  {
    method: "GET",
    path: "/reports?report_type=deployment&time_range=24h",
    status: 200,
    environments: ["mini"],
    seen: (b) => mentioned(b),
  },
  { method: "GET", path: "/reports?report_type=deployment&time_range=24h&environment=other", status: 403 },
  {
    method: "POST",
    path: "/optimize",
    body: { optimization_targets: ["duration"] },
    status: 200,
    environments: ["mini"],
    seen: (b) => mentioned(b),
  },
];

/** Every environment name that appears as a whole JSON string value anywhere in the answer. */
function mentioned(body: unknown): string[] {
  const text = JSON.stringify(body);
  return ALL.filter((name) => text.includes(`"${name}"`));
}

describe("environment scope on every list and aggregate route", function () {
  this.timeout(300_000);
  let scoped: Caller;
  let otherDeployment = "";
  let deployments: string[] = [];

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    assert.equal((await api("POST", "/config", scopeConfig())).status, 200);
    const ids: string[] = [];
    for (const environment of ["mini", "other"]) {
      const response = await api("POST", "/deploy", {
        environment,
        integrations: ["security"],
        configuration: { driver: "simulated" },
      });
      assert.equal(response.status, 202, JSON.stringify(response.body));
      ids.push(response.body.deployment_id as string);
    }
    // The deployments need only exist (reports and optimize read them from the start); they run on meanwhile.
    otherDeployment = ids[1]!;
    deployments = ids;
    const db = adminDb();
    await Promise.all(ALL.map((name) => db.collection("alerts").doc(`marker-${name}`).set(alert(name))));
    scoped = { headers: { authorization: `Bearer ${await tokenFor("operator", ["mini"])}` } };
  });

  for (const row of EXPECTED) {
    it(`${row.method} ${row.path}${row.body ? ` ${JSON.stringify(row.body)}` : ""} -> ${row.status}${row.environments ? `, only ${row.environments.join(", ")}` : ""}`, async () => {
      const response = await api(row.method, row.path, row.body, {}, scoped);
      assert.equal(response.status, row.status, JSON.stringify(response.body).slice(0, 400));
      if (row.status === 403) assert.match(response.body.error.message, /environments are mini/);
      if (row.seen && row.environments) {
        const seen = [...new Set(row.seen(response.body))].sort();
        assert.deepEqual(seen, row.environments, JSON.stringify(response.body).slice(0, 400));
      }
    });
  }

  it("an unscoped admin still sees every environment (the filter narrows only scoped callers)", async () => {
    const response = await api("GET", "/alerts");
    assert.deepEqual(
      [...new Set(response.body.alerts.map((a: any) => a.environment))].sort(),
      [...ALL].sort(),
    );
  });

  it("GET /status writes nothing: no alert, no health record", async () => {
    const db = adminDb();
    // The deployments' own finish alerts arrive through the outbox: wait for them, so that only
    // what GET /status might write can change the snapshot.
    for (const id of deployments)
      await waitFor(
        `the finish alert of ${id}`,
        async () => (await db.collection("alerts").doc(`deployment__${id}`).get()).exists,
        120_000,
        250,
      );
    const before = await snapshotOf(db);
    const response = await api("GET", "/status", undefined, {}, "viewer");
    assert.equal(response.status, 200);
    assert.deepEqual(await snapshotOf(db), before);
  });

  it("when the config cannot be read, scope is still checked: refused, never widened", async () => {
    const db = adminDb();
    const current = await db.collection("orchestration_config").doc("current").get();
    await db.collection("orchestration_config").doc("current").update({ "config_data.version": "broken" });
    try {
      const other = await api("GET", `/deployments/${otherDeployment}`, undefined, {}, scoped);
      assert.equal(other.status, 403, JSON.stringify(other.body));
      assert.match(other.body.error.message, /environments are mini/);
      const deploy = await api(
        "POST",
        "/deploy",
        { environment: "mini", integrations: ["security"], configuration: { driver: "simulated" } },
        {},
        scoped,
      );
      assert.equal(
        deploy.status,
        403,
        "an operator's deploy is refused while the environment's type is unknown",
      );
      assert.match(deploy.body.error.message, /type is unknown/);
    } finally {
      await db.collection("orchestration_config").doc("current").set(current.data()!);
    }
  });
});

/**
 * The alerts as stored, and each integration's health record and open alert (what a write by
 * /status would change; the deployments still running may change the integrations' other fields).
 */
async function snapshotOf(db: ReturnType<typeof adminDb>): Promise<unknown> {
  const [alerts, integrations] = await Promise.all([
    db.collection("alerts").get(),
    db.collection("integrations").get(),
  ]);
  return {
    alerts: alerts.docs.map((d) => [d.id, d.updateTime.toMillis()]),
    integrations: integrations.docs.map((d) => [
      d.id,
      JSON.stringify(d.get("health") ?? null),
      d.get("open_alert") ?? null,
    ]),
  };
}
