import assert from "node:assert/strict";
import type { IntegrationSettings } from "../../functions/src/domain/config-schema.js";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { createBackupDriver } from "../../functions/src/drivers/backup.js";
import { createLiveBackupSpec, recurrenceOf } from "../../functions/src/drivers/live/backup-live.js";
import { awaitOperation } from "../../functions/src/drivers/live/google.js";
import { byMode } from "../../functions/src/drivers/registry.js";
import type { DriverTarget } from "../../functions/src/drivers/types.js";
import {
  ContractServer,
  firestoreBackupModel,
  type BackupModel,
} from "../../scripts/contract-server/index.js";
import { contractAccess, liveEnvironment, liveIO, memoryReleases, memorySources } from "../support/live.js";

const PROJECT = "acme-prod";
const DB = `projects/${PROJECT}/databases/(default)`;
const F = "firestore.projects";
const BACKUP = `projects/${PROJECT}/locations/nam5/backups/b-0001`;

describe("recurrenceOf: cron to Firestore backup recurrence", () => {
  // Independent table: Firestore schedules are daily or weekly (BackupSchedule reference); cron weekday 0 and 7 are Sunday.
  const table: [string, unknown][] = [
    ["0 3 * * *", { recurrence: "daily", day: null }],
    ["15 23 * * 1", { recurrence: "weekly", day: "MONDAY" }],
    ["0 0 * * 0", { recurrence: "weekly", day: "SUNDAY" }],
    ["0 0 * * 7", { recurrence: "weekly", day: "SUNDAY" }],
    ["0 */6 * * *", undefined],
    ["0 3 1 * *", undefined],
    ["0 3 * * 1-5", undefined],
  ];
  for (const [cron, expected] of table)
    it(`${cron} -> ${JSON.stringify(expected)}`, () => assert.deepEqual(recurrenceOf(cron), expected));
});

describe("live backup: Firestore Admin v1 backup schedules, managed exports and a restore check (contract server)", () => {
  let server: ContractServer;
  let model: BackupModel;
  let access: Awaited<ReturnType<typeof contractAccess>>;
  let fabricator: ReturnType<typeof createFabricator>;
  const targetWith = (settings: Partial<IntegrationSettings<"backup">> = {}): DriverTarget<"backup"> => {
    const environment = liveEnvironment(["backup"], { backup: settings });
    return {
      environment,
      integration: "backup",
      kind: "backup",
      settings: environment.integrations[0]!.settings as DriverTarget<"backup">["settings"],
    };
  };
  const target = targetWith({ schedule: "0 3 * * *", retention_days: 14, collections: ["orders", "users"] });

  beforeEach(async () => {
    server = ContractServer.fromRepository("firestore-v1");
    model = firestoreBackupModel(server, 2);
    model.databases.set(DB, { name: DB, locationId: "nam5", type: "FIRESTORE_NATIVE" });
    const { url } = await server.start();
    access = await contractAccess({ firestore: url });
    fabricator = createFabricator(
      {
        backup: byMode(
          createBackupDriver({ backupRoot: "/nonexistent-backups" }),
          createLiveBackupSpec({ polls: 5, intervalMs: 1000 }),
        ),
      },
      memoryReleases(),
      liveIO(memorySources({}), access),
    );
  });
  afterEach(() => server.stop());

  const schedules = () =>
    [...model.schedules.values()].map((s) => [
      s.dailyRecurrence ? "daily" : `weekly ${s.weeklyRecurrence?.day}`,
      s.retention,
    ]);

  it("plans read-only: a schedule and an export to make", async () => {
    const plan = await fabricator.plan(target);
    assert.equal(plan.mode, "live");
    assert.deepEqual(plan.changes.map((c) => c.path).sort(), ["export_collections", "schedules"]);
    assert.deepEqual(server.calls(), [
      `${F}.databases.backupSchedules.list ${DB}`,
      `${F}.databases.operations.list ${DB}`,
    ]);
    assert.ok(server.requests.every((r) => r.httpMethod === "GET"));
  });

  it("first apply creates the daily schedule and waits for the export; the second changes nothing", async () => {
    const first = await fabricator.apply(target, "d1");
    assert.equal(first.changed, true);
    // 14 days in seconds, as Firestore's duration.
    assert.deepEqual(schedules(), [["daily", "1209600s"]]);
    const [exported] = model.operations.list(DB);
    assert.equal(exported?.done, true, "apply waited for the export");
    assert.deepEqual(exported?.metadata?.collectionIds, ["orders", "users"]);
    assert.match(
      String(exported?.metadata?.outputUriPrefix),
      /^gs:\/\/acme-prod\.firebasestorage\.app\/orchestration-backups\/prod\/2026-12-01T10-00-00-000Z$/,
    );
    assert.deepEqual(access.slept, [1000, 1000], "two polls one budget interval apart");
    assert.ok(
      server.requests.every((r) => r.verdict === "accepted"),
      "every request within the contract",
    );

    const before = server.calls().length;
    const second = await fabricator.apply(target, "d2");
    assert.equal(second.changed, false);
    assert.deepEqual(server.calls().slice(before), [
      `${F}.databases.backupSchedules.list ${DB}`,
      `${F}.databases.operations.list ${DB}`,
    ]);
  });

  it("a weekly schedule replaces the daily one; rollback restores it and its retention", async () => {
    await fabricator.apply(target, "d1");
    const weekly = targetWith({
      schedule: "0 3 * * 1",
      retention_days: 28,
      collections: ["orders", "users"],
    });
    await fabricator.apply(weekly, "d2");
    assert.deepEqual(schedules(), [["weekly MONDAY", "2419200s"]]);
    assert.equal(model.operations.list(DB).length, 1, "same collections: no second export");
    const undone = await fabricator.rollback(weekly, "d2");
    assert.match(undone.summary, /^live: rolled back to the state of release 1/);
    assert.deepEqual(schedules(), [["daily", "1209600s"]]);
  });

  it("refuses a schedule or retention Firestore cannot run, naming the field, and asks Google nothing", async () => {
    const plan = await fabricator.plan(targetWith({ schedule: "0 */6 * * *", retention_days: 120 }));
    assert.deepEqual(plan.problems.map((p) => p.path).sort(), ["backup.retention_days", "backup.schedule"]);
    assert.equal(server.requests.length, 0);
  });

  it("backs off on 429 when creating the schedule, then succeeds", async () => {
    server.inject(`${F}.databases.backupSchedules.create`, { kind: "rate-limited", retryAfterSeconds: 4 });
    await fabricator.apply(target, "d1");
    assert.deepEqual(access.slept, [4500, 1000, 1000]);
    assert.deepEqual(schedules(), [["daily", "1209600s"]]);
  });

  it("a 403 on the export names datastore.databases.export and its role", async () => {
    server.inject(`${F}.databases.exportDocuments`, {
      kind: "permission-denied",
      permission: "datastore.databases.export",
    });
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(
        error.message,
        /needs permission datastore\.databases\.export, granted by roles\/datastore\.importExportAdmin/,
      );
      return true;
    });
  });

  it("verify restores the newest backup into a scratch database once, then reuses that check", async () => {
    await fabricator.apply(target, "d1");
    const none = await fabricator.verify(target);
    assert.equal(none.status, "healthy");
    assert.match(none.details, /no backup taken yet/);

    model.backups.set(BACKUP, {
      name: BACKUP,
      database: DB,
      state: "READY",
      snapshotTime: "2026-12-01T03:00:00Z",
    });
    const first = await fabricator.verify(target);
    assert.equal(first.status, "healthy");
    assert.match(
      first.details,
      /the newest backup \(2026-12-01T03:00:00Z\) restores: projects\/acme-prod\/databases\/orch-restore-[0-9a-f]{12} restored now$/,
    );
    const scratch = [...model.databases.keys()].filter((n) => n.includes("orch-restore-"));
    assert.equal(scratch.length, 1);
    assert.equal(model.databases.get(scratch[0]!)?.sourceInfo?.backup?.backup, BACKUP);

    const restoresBefore = server.calls().filter((c) => c.startsWith(`${F}.databases.restore`)).length;
    const again = await fabricator.verify(target);
    assert.match(again.details, /checked earlier$/);
    assert.equal(server.calls().filter((c) => c.startsWith(`${F}.databases.restore`)).length, restoresBefore);

    const NEXT = BACKUP.replace("b-0001", "b-0002");
    model.backups.set(NEXT, {
      name: NEXT,
      database: DB,
      state: "READY",
      snapshotTime: "2026-12-02T03:00:00Z",
    });
    await fabricator.verify(target);
    const scratchNow = [...model.databases.keys()].filter((n) => n.includes("orch-restore-"));
    assert.equal(scratchNow.length, 1, "the older scratch database is deleted");
    assert.equal(model.databases.get(scratchNow[0]!)?.sourceInfo?.backup?.backup, NEXT);
  });
});

describe("awaitOperation: bounded polling of a long-running operation", () => {
  it("times out after the budget, naming the operation and the wait", async () => {
    const access = await contractAccess({});
    let polls = 0;
    await assert.rejects(
      awaitOperation(
        access,
        "exporting",
        "datastore.operations.get",
        { name: "ops/1", done: false },
        () => {
          polls += 1;
          return Promise.resolve({ data: { name: "ops/1", done: false } });
        },
        { polls: 3, intervalMs: 2000 },
      ),
      /exporting: operation ops\/1 still running after 3 polls 2 s apart/,
    );
    assert.equal(polls, 3);
    assert.deepEqual(access.slept, [2000, 2000, 2000]);
  });

  it("a failed operation is an error with Google's message", async () => {
    const access = await contractAccess({});
    await assert.rejects(
      awaitOperation(
        access,
        "restoring",
        "p",
        { name: "ops/2", done: true, error: { code: 9, message: "backup expired" } },
        () => Promise.reject(new Error("not polled")),
      ),
      (error: Error) =>
        error instanceof NonRetriableError &&
        /restoring: operation ops\/2 failed: backup expired/.test(error.message),
    );
  });
});
