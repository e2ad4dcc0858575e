import assert from "node:assert/strict";
import {
  wantedCloudJobs,
  type JobDefinition,
  type WantedCloudJob,
} from "../../functions/src/domain/schedules.js";
import {
  createCloudSchedulerSync,
  schedulerClient,
  type CloudSchedulerSync,
} from "../../functions/src/drivers/cloud-scheduler.js";
import {
  ApiError,
  ContractServer,
  cloudSchedulerModel,
  type ResourceCollection,
} from "../../scripts/contract-server/index.js";

const PARENT = "projects/demo-acme-ops/locations/europe-west1";
const TARGET = {
  project: "demo-acme-ops",
  location: "europe-west1",
  uri: "https://europe-west1-demo-acme-ops.cloudfunctions.net/scheduledJob",
  serviceAccountEmail: "scheduler@demo-acme-ops.iam.gserviceaccount.com",
};
const M = "cloudscheduler.projects.locations.jobs";

function envJob(name: string, cron: string, environment: string): JobDefinition {
  return {
    name,
    kind: name.startsWith("backup") ? "environment-backup" : "health-check",
    description: `${name} job`,
    cron,
    time_zone: "Europe/Berlin",
    environment,
    host: "environment",
    catch_up: "run-once",
    timeout_seconds: 540,
  };
}

describe("Cloud Scheduler sync through @google-cloud/scheduler against the v1 contract", () => {
  let server: ContractServer;
  let sync: CloudSchedulerSync;
  let close: () => Promise<void>;
  let jobs: ResourceCollection<Record<string, unknown> & { name: string }>;
  const catalog = [
    envJob("backup-prod", "0 3 * * *", "prod"),
    envJob("health-prod", "*/5 * * * *", "prod"),
    envJob("backup-dev", "0 2 * * *", "dev"),
  ];
  const wanted = (jobs = catalog, paused: string[] = []): WantedCloudJob[] =>
    wantedCloudJobs(jobs, TARGET, new Set(paused));

  beforeEach(async () => {
    server = ContractServer.fromRepository("cloudscheduler-v1");
    jobs = cloudSchedulerModel(server);
    const { url } = await server.start();
    const client = schedulerClient({ url });
    sync = createCloudSchedulerSync(client, TARGET);
    close = async () => {
      await client.close();
      await server.stop();
    };
  });
  afterEach(() => close());

  it("creates the wanted jobs, then finds nothing to do (every request within the contract)", async () => {
    const done = await sync.apply(wanted());
    assert.deepEqual(server.calls(), [
      `${M}.list ${PARENT}`,
      `${M}.create ${PARENT}`,
      `${M}.create ${PARENT}`,
      `${M}.create ${PARENT}`,
    ]);
    assert.deepEqual(done, [
      `created ${PARENT}/jobs/orch-backup-prod`,
      `created ${PARENT}/jobs/orch-health-prod`,
      `created ${PARENT}/jobs/orch-backup-dev`,
    ]);
    const created = server.requests[1]?.body as Record<string, any>;
    assert.equal(created.schedule, "0 3 * * *");
    assert.equal(created.timeZone, "Europe/Berlin");
    assert.equal(created.attemptDeadline, "540s");
    assert.equal(created.httpTarget.uri, TARGET.uri);
    assert.equal(created.httpTarget.oidcToken.serviceAccountEmail, TARGET.serviceAccountEmail);
    assert.deepEqual(JSON.parse(Buffer.from(created.httpTarget.body, "base64").toString("utf8")), {
      job: "backup-prod",
    });
    assert.ok(
      server.requests.every((r) => r.verdict === "accepted"),
      JSON.stringify(server.requests.filter((r) => r.verdict !== "accepted")),
    );

    const before = server.requests.length;
    assert.deepEqual(await sync.apply(wanted()), []);
    assert.deepEqual(server.calls().slice(before), [`${M}.list ${PARENT}`]);
    const plan = await sync.plan(wanted());
    assert.deepEqual(plan.steps, []);
    assert.equal(plan.existing.length, 3);
  });

  it("updates only the changed field, pauses, resumes and deletes, leaving other people's jobs alone", async () => {
    await sync.apply(wanted());
    server.requests.length = 0;
    const changed = [
      envJob("backup-prod", "0 4 * * *", "prod"),
      envJob("health-prod", "*/5 * * * *", "prod"),
    ];
    const done = await sync.apply(wanted(changed, ["health-prod"]));
    assert.deepEqual(server.calls(), [
      `${M}.list ${PARENT}`,
      `${M}.patch ${PARENT}/jobs/orch-backup-prod`,
      `${M}.pause ${PARENT}/jobs/orch-health-prod`,
      `${M}.delete ${PARENT}/jobs/orch-backup-dev`,
    ]);
    assert.equal(server.requests[1]?.query.updateMask, "schedule");
    assert.deepEqual(done, [
      `updated ${PARENT}/jobs/orch-backup-prod (schedule)`,
      `paused ${PARENT}/jobs/orch-health-prod`,
      `deleted ${PARENT}/jobs/orch-backup-dev`,
    ]);
    server.requests.length = 0;
    await sync.apply(wanted(changed));
    assert.deepEqual(server.calls(), [`${M}.list ${PARENT}`, `${M}.resume ${PARENT}/jobs/orch-health-prod`]);
  });

  it("finishes a sync that died halfway, and takes ALREADY_EXISTS as 'make it match'", async () => {
    server.inject(`${M}.create`, { kind: "unavailable" }, 1);
    await assert.rejects(sync.apply(wanted()), (e: { code: number }) => e.code === 14);
    await sync.apply(wanted());
    assert.equal((await sync.existing()).length, 3);

    server.requests.length = 0;
    // Another sync creates the job between our list and our create.
    server.on(`${M}.create`, ({ body }) => {
      const job = body as { name: string };
      jobs.create(job.name, { ...job, state: "ENABLED" });
      throw new ApiError("ALREADY_EXISTS", `Job ${job.name} already exists.`);
    });
    const extra = [...catalog, envJob("backup-staging", "0 1 * * *", "staging")];
    const done = await sync.apply(wanted(extra));
    assert.deepEqual(done, [`updated ${PARENT}/jobs/orch-backup-staging (it existed already)`]);
    assert.deepEqual(server.calls(), [
      `${M}.list ${PARENT}`,
      `${M}.create ${PARENT}`,
      `${M}.patch ${PARENT}/jobs/orch-backup-staging`,
    ]);
  });

  it("reports a missing permission by name", async () => {
    server.inject(`${M}.list`, { kind: "permission-denied", permission: "cloudscheduler.jobs.list" });
    await assert.rejects(
      sync.apply(wanted()),
      (e: Error & { code: number }) => e.code === 7 && /cloudscheduler\.jobs\.list/.test(e.message),
    );
  });
});
