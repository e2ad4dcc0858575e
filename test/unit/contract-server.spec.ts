import assert from "node:assert/strict";
import { CloudSchedulerClient } from "@google-cloud/scheduler";
import type { ApiError } from "../../scripts/contract-server/index.js";
import {
  ContractServer,
  Operations,
  ResourceCollection,
  cloudSchedulerModel,
} from "../../scripts/contract-server/index.js";

const PARENT = "projects/demo-acme/locations/us-central1";
const JOB = `${PARENT}/jobs/backup-prod`;
const validJob = {
  name: JOB,
  schedule: "0 3 * * *",
  timeZone: "Europe/Berlin",
  attemptDeadline: "180s",
  httpTarget: {
    uri: "https://example.test/run",
    httpMethod: "POST",
    oidcToken: { serviceAccountEmail: "a@b.test" },
  },
};

type ErrorBody = {
  error: {
    code: number;
    status: string;
    message: string;
    details: { fieldViolations?: { field: string }[] }[];
  };
};

describe("contract server (Cloud Scheduler v1 discovery document)", () => {
  let server: ContractServer;
  let base: string;
  let port: number;

  beforeEach(async () => {
    server = ContractServer.fromRepository("cloudscheduler-v1");
    cloudSchedulerModel(server, () => new Date("2026-12-01T08:00:00Z"));
    ({ url: base, port } = await server.start());
  });
  afterEach(() => server.stop());

  const call = async (
    method: string,
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }> => {
    const init: RequestInit = { method, headers: { "content-type": "application/json" } };
    if (body !== undefined) init.body = JSON.stringify(body);
    const res = await fetch(`${base}${path}`, init);
    return { status: res.status, json: await res.json() };
  };
  const refusedFields = (json: unknown): string[] =>
    (json as ErrorBody).error.details.flatMap((d) => (d.fieldViolations ?? []).map((v) => v.field));

  it("accepts a valid create and answers the model's job", async () => {
    const { status, json } = await call("POST", `/v1/${PARENT}/jobs`, validJob);
    assert.equal(status, 200);
    assert.equal((json as { state: string }).state, "ENABLED");
    assert.deepEqual(server.calls(), [`cloudscheduler.projects.locations.jobs.create ${PARENT}`]);
    assert.equal(server.requests[0]?.verdict, "accepted");
  });

  // Each row: a bent request, and the field the 400 must name (an independent table, not derived from the server).
  const bad: { name: string; method: string; path: string; body?: unknown; field: string }[] = [
    {
      name: "unknown body field",
      method: "POST",
      path: `/v1/${PARENT}/jobs`,
      body: { ...validJob, colour: "red" },
      field: "colour",
    },
    {
      name: "nested unknown field",
      method: "POST",
      path: `/v1/${PARENT}/jobs`,
      body: { ...validJob, httpTarget: { ...validJob.httpTarget, url: "x" } },
      field: "httpTarget.url",
    },
    {
      name: "wrong type",
      method: "POST",
      path: `/v1/${PARENT}/jobs`,
      body: { ...validJob, schedule: 5 },
      field: "schedule",
    },
    {
      name: "enum value",
      method: "POST",
      path: `/v1/${PARENT}/jobs`,
      body: { ...validJob, httpTarget: { ...validJob.httpTarget, httpMethod: "FETCH" } },
      field: "httpTarget.httpMethod",
    },
    {
      name: "duration format",
      method: "POST",
      path: `/v1/${PARENT}/jobs`,
      body: { ...validJob, attemptDeadline: "3 minutes" },
      field: "attemptDeadline",
    },
    {
      name: "int32 type",
      method: "POST",
      path: `/v1/${PARENT}/jobs`,
      body: { ...validJob, retryConfig: { retryCount: "three" } },
      field: "retryConfig.retryCount",
    },
    {
      name: "missing documented-required field",
      method: "POST",
      path: `/v1/${PARENT}/jobs`,
      body: { ...validJob, httpTarget: { httpMethod: "POST" } },
      field: "httpTarget.uri",
    },
    {
      name: "missing schedule on create (rules file)",
      method: "POST",
      path: `/v1/${PARENT}/jobs`,
      body: { name: JOB, httpTarget: validJob.httpTarget },
      field: "schedule",
    },
    {
      name: "no target (oneof)",
      method: "POST",
      path: `/v1/${PARENT}/jobs`,
      body: { name: JOB, schedule: "* * * * *" },
      field: "pubsubTarget|appEngineHttpTarget|httpTarget",
    },
    {
      name: "two targets (oneof)",
      method: "POST",
      path: `/v1/${PARENT}/jobs`,
      body: { ...validJob, pubsubTarget: { topicName: "projects/p/topics/t" } },
      field: "pubsubTarget|httpTarget",
    },
    { name: "path pattern", method: "GET", path: `/v1/projects/demo/jobs/x`, field: "name" },
    { name: "query type", method: "GET", path: `/v1/${PARENT}/jobs?pageSize=ten`, field: "pageSize" },
    { name: "unknown query parameter", method: "GET", path: `/v1/${PARENT}/jobs?filter=x`, field: "filter" },
    {
      name: "update mask names no field",
      method: "PATCH",
      path: `/v1/${JOB}?updateMask=colour`,
      body: { schedule: "1 * * * *" },
      field: "updateMask",
    },
    {
      name: "body where none is taken",
      method: "DELETE",
      path: `/v1/${JOB}`,
      body: { force: true },
      field: "body",
    },
    { name: "system parameter enum", method: "GET", path: `/v1/${JOB}?alt=xml`, field: "alt" },
  ];
  for (const row of bad) {
    it(`refuses ${row.name}, naming ${row.field}`, async () => {
      const { status, json } = await call(row.method, row.path, row.body);
      assert.equal(status, 400, JSON.stringify(json));
      assert.equal((json as ErrorBody).error.status, "INVALID_ARGUMENT");
      assert.ok(refusedFields(json).includes(row.field), `expected ${row.field} in ${JSON.stringify(json)}`);
      assert.equal(server.requests.at(-1)?.verdict, "refused");
    });
  }

  it("matches reserved expansion and verbs, and answers 404 for a path of no method", async () => {
    await call("POST", `/v1/${PARENT}/jobs`, validJob);
    assert.equal((await call("POST", `/v1/${JOB}:pause`, {})).status, 200);
    assert.equal(
      (await call("POST", `/v1/${JOB}:pause`, {})).status,
      400,
      "pausing a paused job is FAILED_PRECONDITION",
    );
    assert.equal((await call("POST", `/v1/${JOB}:resume`, {})).status, 200);
    assert.equal((await call("GET", `/v2/${JOB}`)).status, 404);
    assert.equal(server.requests.at(-1)?.verdict, "unmatched");
    assert.deepEqual(
      server.requests.map((r) => r.methodId),
      [
        "cloudscheduler.projects.locations.jobs.create",
        "cloudscheduler.projects.locations.jobs.pause",
        "cloudscheduler.projects.locations.jobs.pause",
        "cloudscheduler.projects.locations.jobs.resume",
        null,
      ],
    );
  });

  it("patches only the masked fields (either JSON or proto names)", async () => {
    await call("POST", `/v1/${PARENT}/jobs`, validJob);
    const { json } = await call("PATCH", `/v1/${JOB}?updateMask=schedule,time_zone`, {
      schedule: "0 4 * * *",
      description: "ignored",
    });
    const job = json as Record<string, unknown>;
    assert.equal(job.schedule, "0 4 * * *");
    assert.equal(job.timeZone, undefined, "time_zone was masked and absent, so cleared");
    assert.equal(job.description, undefined, "description was not masked");
  });

  it("injects faults as the API answers them: 403 naming the permission, 429 with Retry-After, 503", async () => {
    server.inject("cloudscheduler.projects.locations.jobs.create", {
      kind: "permission-denied",
      permission: "cloudscheduler.jobs.create",
    });
    const denied = await call("POST", `/v1/${PARENT}/jobs`, validJob);
    assert.equal(denied.status, 403);
    assert.match((denied.json as ErrorBody).error.message, /cloudscheduler\.jobs\.create/);
    server.inject("*", { kind: "rate-limited", retryAfterSeconds: 7 });
    const limited = await fetch(`${base}/v1/${PARENT}/jobs`);
    assert.equal(limited.status, 429);
    assert.equal(limited.headers.get("retry-after"), "7");
    server.inject("*", { kind: "unavailable" });
    assert.equal((await call("GET", `/v1/${PARENT}/jobs`)).status, 503);
    assert.equal((await call("GET", `/v1/${PARENT}/jobs`)).status, 200, "faults are used up");
    assert.equal((await call("GET", `/v1/${JOB}`)).status, 404);
    assert.equal((await call("POST", `/v1/${PARENT}/jobs`, validJob)).status, 200);
    assert.equal((await call("POST", `/v1/${PARENT}/jobs`, validJob)).status, 409);
  });

  it("is what Google's own client talks to through its REST fallback, numeric enums included", async () => {
    const client = new CloudSchedulerClient({
      fallback: true,
      apiEndpoint: "127.0.0.1",
      port,
      protocol: "http",
      apiKey: "local",
    });
    try {
      await client.createJob({
        parent: PARENT,
        job: {
          ...validJob,
          attemptDeadline: { seconds: 180 },
          httpTarget: { uri: "https://x.test", httpMethod: "POST" },
        },
      });
      await client.updateJob({
        job: { name: JOB, schedule: "0 5 * * *" },
        updateMask: { paths: ["schedule"] },
      });
      const [jobs] = await client.listJobs({ parent: PARENT });
      assert.deepEqual(
        jobs.map((j) => [j.name, j.schedule]),
        [[JOB, "0 5 * * *"]],
      );
      await assert.rejects(
        client.getJob({ name: `${PARENT}/jobs/absent` }),
        (e: { code: number }) => e.code === 5,
      );
      await assert.rejects(
        client.createJob({ parent: PARENT, job: { name: `${PARENT}/jobs/other`, schedule: "* * * * *" } }),
        (e: { code: number; message: string }) => e.code === 3 && /exactly one of/.test(e.message),
      );
      assert.equal(server.requests.at(0)?.query.$alt, "json;enum-encoding=int");
      assert.equal(
        (server.requests.at(0)?.body as { httpTarget: { httpMethod: unknown } }).httpTarget.httpMethod,
        1,
      );
    } finally {
      await client.close();
    }
  });
});

describe("contract server building blocks", () => {
  it("lists a collection a page at a time", () => {
    const c = new ResourceCollection("jobs");
    for (const id of ["c", "a", "b"]) c.create(`p/jobs/${id}`, {});
    const first = c.list("p", 2, undefined);
    assert.deepEqual(
      first.items.map((i) => i.name),
      ["p/jobs/a", "p/jobs/b"],
    );
    assert.deepEqual(
      c.list("p", 2, first.nextPageToken).items.map((i) => i.name),
      ["p/jobs/c"],
    );
    assert.throws(
      () => c.create("p/jobs/a", {}),
      (e: ApiError) => e.http === 409,
    );
  });

  it("finishes a long-running operation after its polls", () => {
    const ops = new Operations();
    const op = ops.start("projects/p", { response: { ok: true } }, 2);
    assert.equal(ops.get(op.name).done, false);
    assert.deepEqual(ops.get(op.name), { name: op.name, done: true, response: { ok: true } });
  });
});
