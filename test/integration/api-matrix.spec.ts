import assert from "node:assert/strict";
import fc from "fast-check";
import { ROLE_ACTIONS } from "../../functions/src/domain/access.js";
import { ROUTES, type RouteSpec } from "../../functions/src/handlers/routes.js";
import { configWith } from "../support/config-builder.js";
import {
  adminDb,
  api,
  clearFirestore,
  projectId,
  requireEmulators,
  tokenFor,
  waitFor,
  type Caller,
} from "../support/emulators.js";
import { settled } from "../support/engine.js";

type Who =
  | "anonymous"
  | "viewer"
  | "operator"
  | "admin"
  | "expired token"
  | "token for another project"
  | "revoked key";
const EVERYONE: Who[] = [
  "anonymous",
  "viewer",
  "operator",
  "admin",
  "expired token",
  "token for another project",
  "revoked key",
];

/** The matrix config: the example, plus `mini`, an environment with one cheap integration. */
const matrixConfig = () =>
  configWith((c) => {
    c.environments.push({
      name: "mini",
      type: "development",
      project_id: "demo-acme-mini",
      mode: "emulated",
      integrations: ["security"],
    });
  });

function craftToken(payload: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${part({ alg: "none", typ: "JWT" })}.${part(payload)}.`;
}

async function authRest(path: string, body: unknown): Promise<Record<string, any>> {
  const response = await fetch(
    `http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}/identitytoolkit.googleapis.com/v1/${path}`,
    {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer owner" },
      body: JSON.stringify(body),
    },
  );
  return (await response.json()) as Record<string, any>;
}

/** One valid request per route, and the answer an allowed caller gets. */
interface Probe {
  path: string;
  body?: unknown;
  success: number;
}

describe("the API: every endpoint x every caller, and 1,000 malformed requests", function () {
  this.timeout(300_000);
  const callers = new Map<Who, Caller>();
  let deploymentId = "";

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    assert.equal((await api("POST", "/config", matrixConfig())).status, 200);
    const first = await api("POST", "/deploy", {
      environment: "dev",
      integrations: ["auth"],
      configuration: { driver: "simulated" },
    });
    deploymentId = first.body.deployment_id as string;
    await settled(deploymentId);

    const seconds = Math.floor(Date.now() / 1000);
    const expired = craftToken({
      iss: `https://securetoken.google.com/${projectId()}`,
      aud: projectId(),
      sub: "someone",
      user_id: "someone",
      role: "admin",
      auth_time: seconds - 7200,
      iat: seconds - 7200,
      exp: seconds - 3600,
      firebase: { sign_in_provider: "password", identities: {} },
    });
    const elsewhere = "demo-orchestration-elsewhere";
    const email = `matrix-${Date.now()}@acme.dev`;
    await authRest(`projects/${elsewhere}/accounts`, { email, password: "matrix-password" });
    const foreign = await authRest("accounts:signInWithPassword", {
      email,
      password: "matrix-password",
      returnSecureToken: true,
      targetProjectId: elsewhere,
    });
    const key = await api("POST", "/keys", { role: "admin", label: "to be revoked" });
    assert.equal(key.status, 201, JSON.stringify(key.body));
    assert.equal((await api("DELETE", `/keys/${key.body.id}`)).status, 200);

    for (const who of ["anonymous", "viewer", "operator", "admin"] as const) callers.set(who, who);
    callers.set("expired token", { headers: { authorization: `Bearer ${expired}` } });
    callers.set("token for another project", {
      headers: { authorization: `Bearer ${String(foreign.idToken)}` },
    });
    callers.set("revoked key", { headers: { "x-api-key": String(key.body.key) } });
    await Promise.all((["viewer", "operator", "admin"] as const).map((role) => tokenFor(role)));
  });

  async function probe(spec: RouteSpec): Promise<Probe> {
    switch (`${spec.method} ${spec.path}`) {
      case "POST /config":
        return { path: "/config", body: matrixConfig(), success: 200 };
      case "POST /plan":
        return { path: "/plan", body: { environments: ["mini"] }, success: 200 };
      case "POST /deploy":
        return {
          path: "/deploy",
          body: { environment: "dev", integrations: ["auth"], configuration: { driver: "simulated" } },
          success: 202,
        };
      case "GET /deployments/{id}":
        return { path: `/deployments/${deploymentId}`, success: 200 };
      case "GET /deployments/{id}/picture":
        return { path: `/deployments/${deploymentId}/picture?kind=gantt&format=svg`, success: 200 };
      case "POST /deployments/{id}/cancel":
        return { path: `/deployments/${deploymentId}/cancel`, success: 200 };
      case "POST /deployments/{id}/approve":
        // Past access control the decision is refused: the deployment ended, it awaits no approval.
        return { path: `/deployments/${deploymentId}/approve`, success: 409 };
      case "POST /deployments/{id}/reject":
        return { path: `/deployments/${deploymentId}/reject`, body: { reason: "matrix" }, success: 409 };
      case "POST /environments/{name}/provision":
        return { path: "/environments/mini/provision", success: 202 };
      case "POST /promote":
        // Past access control the request itself is refused (an environment cannot promote to itself).
        return { path: "/promote", body: { from: "mini", to: "mini" }, success: 400 };
      case "POST /promote/plan":
        // The same: past access control, planning a promotion of mini to itself is refused.
        return { path: "/promote/plan", body: { from: "mini", to: "mini" }, success: 400 };
      case "GET /status":
        return { path: "/status?environment=mini", success: 200 };
      case "GET /doctor":
        // An emulated environment: the doctor answers without asking Google.
        return { path: "/doctor?environment=mini", success: 200 };
      case "POST /optimize":
        return { path: "/optimize", body: { optimization_targets: ["duration"] }, success: 200 };
      case "POST /optimize/{id}/apply":
        // Past access control: nothing is recommended for mini, so there is nothing to apply.
        return { path: "/optimize/cost:lower-limit:mini/apply", body: { reason: "matrix" }, success: 404 };
      case "GET /reports":
        return { path: "/reports?report_type=deployment&time_range=24h", success: 200 };
      case "POST /keys":
        return { path: "/keys", body: { role: "viewer", label: "matrix" }, success: 201 };
      case "DELETE /keys/{id}": {
        const created = await api("POST", "/keys", { role: "viewer", label: "to delete" });
        return { path: `/keys/${created.body.id}`, success: 200 };
      }
      case "POST /privacy/export":
      case "POST /privacy/erase":
        // A person the control plane holds nothing about: the answer says so.
        return { path: spec.path, body: { email: "nobody@matrix.test" }, success: 200 };
      case "GET /jobs/{name}/runs":
        return { path: "/jobs/lease-sweeper/runs", success: 200 };
      case "POST /jobs/{name}/run":
      case "POST /jobs/{name}/pause":
      case "POST /jobs/{name}/resume":
        return { path: spec.path.replace("{name}", "warehouse-maintenance"), success: 200 };
      default:
        if (spec.path.includes("{")) throw new Error(`no probe for ${spec.method} ${spec.path}: add one`);
        return { path: spec.path, success: 200 };
    }
  }

  for (const spec of ROUTES) {
    it(`${spec.method} ${spec.path} (${spec.action})`, async () => {
      const rows: string[] = [];
      for (const who of EVERYONE) {
        const request = await probe(spec);
        const expected =
          spec.action === "public"
            ? request.success
            : !["viewer", "operator", "admin"].includes(who)
              ? 401
              : ROLE_ACTIONS[who as "viewer" | "operator" | "admin"].includes(spec.action)
                ? request.success
                : 403;
        const response = await api(spec.method, request.path, request.body, {}, callers.get(who));
        if (response.status !== expected)
          rows.push(
            `${who}: expected ${expected}, got ${response.status} ${JSON.stringify(response.body).slice(0, 200)}`,
          );
        if (expected === 401 || expected === 403)
          assert.ok(response.body.error.message, `${who} gets a reason`);
      }
      assert.deepEqual(rows, [], rows.join("\n"));
    });
  }

  it("lets production require admin: an operator may deploy to dev but not to prod, an admin may", async () => {
    const strict = configWith((c) => (c.base.access = { production_requires_admin: true }));
    assert.equal((await api("POST", "/config", strict)).status, 200);
    const body = (environment: string) => ({
      environment,
      integrations: ["auth"],
      configuration: { driver: "simulated" },
    });
    assert.equal((await api("POST", "/deploy", body("dev"), {}, "operator")).status, 202);
    const refused = await api("POST", "/deploy", body("prod"), {}, "operator");
    assert.equal(refused.status, 403);
    assert.match(refused.body.error.message, /production requires admin/);
    assert.equal((await api("POST", "/deploy", body("prod"), {}, "admin")).status, 202);
    assert.equal((await api("POST", "/config", matrixConfig())).status, 200);
  });

  it("serves its OpenAPI 3.1 document, generated from the same schemas, listing every route", async () => {
    const response = await api("GET", "/openapi.json", undefined, {}, "anonymous");
    assert.equal(response.status, 200);
    assert.equal(response.body.openapi, "3.1.0");
    for (const spec of ROUTES) {
      assert.ok(
        response.body.paths[`/api/orchestration${spec.path}`]?.[spec.method.toLowerCase()],
        `${spec.method} ${spec.path}`,
      );
    }
    const deploy =
      response.body.paths["/api/orchestration/deploy"].post.requestBody.content["application/json"].schema;
    assert.deepEqual(deploy.required.sort(), ["environment", "integrations"]);
    assert.equal(deploy.additionalProperties, false, "unknown fields are refused, and the document says so");
  });

  it("answers 1,000 generated malformed requests without a single 5xx, and writes nothing", async () => {
    const collections = [
      "deployments",
      "orchestration_tasks",
      "environments",
      "integrations",
      "orchestration_config",
      "api_keys",
      "releases",
      "alerts",
    ];
    const snapshot = async () =>
      Object.fromEntries(
        await Promise.all(
          collections.map(
            async (name) =>
              [
                name,
                (await adminDb().collection(name).get()).docs
                  .map((doc) => doc.updateTime.toMillis())
                  .sort()
                  .join(","),
              ] as const,
          ),
        ),
      );
    await waitFor(
      "the deployments of the matrix to end",
      async () => {
        const open = await adminDb()
          .collection("deployments")
          .where("status", "in", ["requested", "running", "cancelling", "rolling_back"])
          .limit(1)
          .get();
        // Ended, and their facts delivered: a finish alert comes through the outbox just after the end.
        const undelivered = await adminDb().collection("outbox").limit(1).get();
        return open.empty && undelivered.empty;
      },
      120_000,
      250,
    );
    const before = await snapshot();

    const paramValue = fc.oneof(
      fc.constantFrom("dev", "prod", "nope", deploymentId),
      fc.stringMatching(/^[A-Za-z0-9_-]{1,20}$/),
    );
    const path = fc.oneof(
      fc
        .tuple(fc.constantFrom(...ROUTES.map((spec) => spec.path)), paramValue)
        .map(([pattern, value]) => pattern.replace(/\{[^}]+\}/g, value)),
      fc
        .array(fc.stringMatching(/^[A-Za-z0-9._~-]{1,12}$/), { minLength: 1, maxLength: 4 })
        .map((parts) => `/${parts.join("/")}`),
    );
    const junk = fc.jsonValue({ maxDepth: 3 });
    // Every request carries something no endpoint accepts, so each one is malformed for sure.
    const request = fc.record({
      method: fc.constantFrom("GET", "POST", "DELETE", "PUT", "PATCH"),
      path,
      where: fc.constantFrom("query", "body", "raw"),
      junk,
      raw: fc.oneof(
        fc.string({ minLength: 1, maxLength: 200 }),
        fc.constant('{"environment": "dev",'),
        fc.constant("[]"),
      ),
    });
    const requests = fc.sample(request, { numRuns: 1000, seed: 20261125 });
    const statuses = new Map<number, number>();
    const failures: string[] = [];
    let next = 0;
    let transportRetries = 0;
    const worker = async () => {
      for (;;) {
        const index = next++;
        const generated = requests[index];
        if (!generated) return;
        // A GET carries no body, so its malformation goes into the query.
        const r = generated.method === "GET" ? { ...generated, where: "query" as const } : generated;
        const query =
          r.where === "query" ? `?__fuzz=${encodeURIComponent(JSON.stringify(r.junk)).slice(0, 200)}` : "";
        const body =
          r.where === "body"
            ? JSON.stringify({
                __fuzz: r.junk,
                ...(typeof r.junk === "object" && r.junk !== null && !Array.isArray(r.junk) ? r.junk : {}),
              })
            : r.where === "raw"
              ? r.raw
              : undefined;
        const headers: Record<string, string> = r.where === "raw" ? { "content-type": "text/plain" } : {};
        const send = () => api(r.method, `${r.path}${query}`, r.method === "GET" ? undefined : body, headers);
        let response = await send();
        // The Functions emulator's own proxy answers 500 {"code":"ECONNRESET"} when a worker drops
        // the connection; that is not an answer of the API (whose errors all have `error`): send again.
        if (response.status >= 500 && !response.body?.error) {
          transportRetries += 1;
          response = await send();
        }
        statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
        if (response.status >= 500 || response.status < 400)
          failures.push(
            `${r.method} ${r.path}${query} ${String(body).slice(0, 80)} -> ${response.status} ${JSON.stringify(response.body).slice(0, 160)}`,
          );
      }
    };
    // Three at a time: every refused mutating request appends to the one audit chain, whose head
    // document the emulator's transactions serialize slowly across function instances.
    await Promise.all(Array.from({ length: 3 }, worker));
    assert.deepEqual(
      failures,
      [],
      `${failures.length} requests were not refused cleanly:\n${failures.slice(0, 10).join("\n")}`,
    );
    assert.equal(
      [...statuses.values()].reduce((a, b) => a + b, 0),
      1000,
    );
    if (transportRetries > 0)
      console.log(
        `      (${transportRetries} request(s) resent after the emulator's proxy reset the connection)`,
      );
    assert.deepEqual(await snapshot(), before, "a refused request wrote something");
  });
});
