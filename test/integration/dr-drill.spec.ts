import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { deleteApp, initializeApp } from "firebase-admin/app";
import { Timestamp, getFirestore } from "firebase-admin/firestore";
import { COLLECTIONS } from "../../functions/src/domain/model.js";
import { createAuditLog } from "../../functions/src/store/audit-log.js";
import { createEngineStore } from "../../functions/src/store/engine-store.js";
import { openDuckDbWarehouse } from "../../functions/src/warehouse/duckdb.js";
import { DrillRefusedError, ExportUnusableError, runDrill } from "../../scripts/lib/dr-drill.js";
import { exampleConfig } from "../support/config-builder.js";
import { adminDb, api, clearFirestore, projectId, requireEmulators } from "../support/emulators.js";
import { plantHistory } from "../support/engine.js";
import { busyHistory } from "../support/history-builder.js";

const DRILL = fileURLToPath(new URL("../../scripts/dr-drill.ts", import.meta.url));

/** Runs `npm run dr-drill -- ...args` as a process: its exit code and output. */
function drill(args: string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", DRILL, ...args], (error, stdout, stderr) =>
      resolve({ code: error ? Number(error.code ?? 1) : 0, output: `${stdout}${stderr}` }),
    );
  });
}

/** Documents per collection of the live project: what a drill must leave as it was. */
async function liveCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const collection of await adminDb().listCollections())
    counts[collection.id] = (await collection.count().get()).data().count;
  return counts;
}

describe("the control plane's disaster-recovery drill on the emulators", function () {
  this.timeout(240_000);
  const { history } = busyHistory(2, 3);
  let exportDir = "";
  let backupRoot = "";
  const scratchApps: ReturnType<typeof initializeApp>[] = [];
  const scratchDb = (project: string) => {
    const app = initializeApp({ projectId: project }, `spec-${project}`);
    scratchApps.push(app);
    return getFirestore(app);
  };

  before(async function () {
    requireEmulators(this);
    await clearFirestore();
    // Audited requests put records in the chain; the history is planted as the engine leaves it.
    const loaded = await api("POST", "/config", exampleConfig());
    assert.equal(loaded.status, 200, JSON.stringify(loaded.body));
    await plantHistory(history);
    // A time kept as a string (as the outbox and job results keep them) beside a real one.
    await adminDb()
      .collection("dr_probe")
      .doc("types")
      .set({
        when: new Date("2026-12-01T04:00:00.000Z"),
        text: "2026-12-01T04:00:00.000Z",
        nested: [{ when: new Date("2026-12-01T04:05:00.000Z") }],
      });
    const run = await api("POST", "/jobs/control-plane-backup/run");
    assert.equal(run.status, 200, JSON.stringify(run.body));
    assert.equal(run.body.run.outcome, "succeeded", run.body.run.summary);
    exportDir = run.body.run.result.dir;
    backupRoot = path.dirname(path.dirname(exportDir));
  });

  after(async () => {
    await Promise.all(scratchApps.map((app) => deleteApp(app)));
  });

  it("restores the latest export into a scratch project, verifies counts, chain and warehouse, and measures RPO and RTO", async () => {
    const manifest = JSON.parse(await readFile(path.join(exportDir, "manifest.json"), "utf8"));
    assert.equal(manifest.audit_chain.ok, true);
    assert.ok(manifest.audit_chain.count >= 1, "POST /config is in the chain");
    const before = await liveCounts();
    const scratch = `${projectId()}-dr-drill-spec`;
    const report = await runDrill({
      liveProject: projectId(),
      backupRoot,
      scratchProject: scratch,
      keep: true,
    });
    assert.equal(report.export_dir, exportDir);
    assert.deepEqual(
      report.checks.filter((c) => !c.ok),
      [],
    );
    const names = report.checks.map((c) => c.check);
    for (const expected of [
      "file audit_log.jsonl",
      "count audit_log",
      `count ${COLLECTIONS.deployments}`,
      "count dr_probe",
      "audit chain",
      "engine reads restored history",
      "warehouse events",
      "warehouse deployments",
      "warehouse alerts",
    ])
      assert.ok(names.includes(expected), `${expected} in ${names.join(", ")}`);
    assert.equal(report.ok, true);
    assert.ok(
      report.rpo_ms >= 0 && report.rpo_ms < 120_000,
      `RPO ${report.rpo_ms} ms: the export was just taken`,
    );
    assert.ok(report.rto_ms > 0 && report.rto_ms < 120_000, `RTO ${report.rto_ms} ms`);

    const restored = scratchDb(scratch);
    // Counts against what was planted, not against the drill's own numbers.
    assert.equal(
      (await restored.collection(COLLECTIONS.deployments).count().get()).data().count,
      history.deployments.length,
    );
    assert.equal(
      (await restored.collection(COLLECTIONS.tasks).count().get()).data().count,
      history.tasks.length,
    );
    assert.equal(
      (await restored.collection("audit_log").count().get()).data().count,
      manifest.audit_chain.count,
    );
    // Times come back as Timestamps, strings as strings.
    const probe = (await restored.collection("dr_probe").doc("types").get()).data()!;
    assert.ok(probe.when instanceof Timestamp, "a Date written live is a Timestamp after the restore");
    assert.equal(probe.when.toDate().toISOString(), "2026-12-01T04:00:00.000Z");
    assert.ok(probe.nested[0].when instanceof Timestamp);
    assert.equal(probe.text, "2026-12-01T04:00:00.000Z");
    const firstRecord = (await restored.collection("audit_log").orderBy("seq").limit(1).get()).docs[0]!;
    assert.ok(firstRecord.get("at") instanceof Timestamp);
    // The engine reads a restored deployment exactly as it reads the live one.
    const id = history.deployments[0]!.id;
    const live = await createEngineStore(adminDb()).deployments.doc(id).get();
    const back = await createEngineStore(restored).deployments.doc(id).get();
    assert.deepEqual(back.data(), live.data());

    // The scratch warehouse holds the events the planted history implies (one per deployment start
    // and end, per task run and end, per alert opening and resolution).
    const terminal = new Set(["succeeded", "failed", "rolled_back", "cancelled"]);
    const expectedEvents =
      history.deployments.reduce((n, d) => n + (terminal.has(d.status) ? 2 : 1), 0) +
      history.tasks.reduce((n, t) => n + (t.started_at ? 1 : 0) + (terminal.has(t.status) ? 1 : 0), 0) +
      history.alerts.reduce((n, a) => n + (a.status === "resolved" ? 2 : 1), 0);
    const warehouse = await openDuckDbWarehouse(report.warehouse_file!);
    try {
      assert.equal(await warehouse.count(), expectedEvents);
    } finally {
      warehouse.close();
    }
    await rm(path.dirname(report.warehouse_file!), { recursive: true, force: true });
    assert.deepEqual(await liveCounts(), before, "the live project is as it was");
  });

  it("fails a tampered file by name, restores nothing and leaves the live project as it was", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "dr-spec-"));
    const copy = path.join(root, "_control-plane", path.basename(exportDir));
    await cp(exportDir, copy, { recursive: true });
    const file = path.join(copy, "audit_log.jsonl");
    const text = await readFile(file, "utf8");
    await writeFile(file, text.replace('"outcome":"ok"', '"outcome":"error"'));
    assert.notEqual(await readFile(file, "utf8"), text, "the file was changed");
    const before = await liveCounts();
    const scratch = `${projectId()}-dr-drill-tampered`;
    const { code, output } = await drill(["--backups", root, "--scratch-project", scratch]);
    assert.equal(code, 1, output);
    assert.match(output, /FAIL\s+file audit_log\.jsonl\s+sha256 [0-9a-f]{64} does not match the manifest's/);
    assert.match(output, /nothing was restored/);
    assert.match(output, /drill FAILED: file audit_log\.jsonl/);
    assert.deepEqual(
      await scratchDb(scratch).listCollections(),
      [],
      "nothing written to the scratch project",
    );
    assert.deepEqual(await liveCounts(), before, "the live project is as it was");
    await rm(root, { recursive: true, force: true });
  });

  it("refuses an unfinished export and a missing backup, naming the folder", async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), "dr-spec-"));
    const unfinished = path.join(root, "_control-plane", "2026-12-01T04-00-00-000Z");
    await mkdir(unfinished, { recursive: true });
    await writeFile(path.join(unfinished, "audit_log.jsonl"), "");
    const { code, output } = await drill(["--backups", root]);
    assert.equal(code, 2, output);
    assert.ok(output.includes(`${unfinished} has no manifest.json`), output);
    const alone = await drill(["--export", unfinished]);
    assert.equal(alone.code, 2, alone.output);
    assert.ok(alone.output.includes(`unfinished export: ${unfinished} has no manifest.json`), alone.output);
    const missing = path.join(root, "nothing-here");
    await assert.rejects(
      runDrill({ liveProject: projectId(), backupRoot: missing }),
      (error: Error) => error instanceof ExportUnusableError && error.message.includes(missing),
    );
    await rm(root, { recursive: true, force: true });
  });

  it("restores for real into the emptied live project, which then serves and extends its audit chain", async () => {
    const manifest = JSON.parse(await readFile(path.join(exportDir, "manifest.json"), "utf8"));
    await clearFirestore(); // the disaster: the control plane's data is gone
    const report = await runDrill({
      liveProject: projectId(),
      backupRoot,
      exportDir,
      restoreInto: projectId(),
    });
    assert.deepEqual(
      report.checks.filter((c) => !c.ok),
      [],
    );
    assert.equal(report.mode, "restore");
    assert.equal(report.target_project, projectId());
    // The export was taken by a run of control-plane-backup, whose lease it holds: freed, or the
    // job would be refused until the lease ran out.
    assert.ok(
      report.notices.some((notice) => /released the lease\(s\) of control-plane-backup/.test(notice)),
      report.notices.join("; "),
    );
    await rm(path.dirname(report.warehouse_file!), { recursive: true, force: true });
    const planted = history.deployments[0]!;
    const answer = await api("GET", `/deployments/${planted.id}`, undefined, {}, "viewer");
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal(answer.body.deployment.status, planted.status);
    // New records chain onto the restored chain with the same key (the request above staged one).
    const again = await api("POST", "/jobs/control-plane-backup/run");
    assert.equal(again.body.run.outcome, "succeeded", again.body.run.summary);
    const audit = createAuditLog(adminDb(), { now: () => new Date() });
    await audit.drain({ untilEmpty: true });
    const verified = await audit.verify();
    assert.ok(verified.ok, JSON.stringify(verified));
    assert.ok(
      verified.count > manifest.audit_chain.count,
      `${verified.count} records now, ${manifest.audit_chain.count} restored`,
    );
    // A second restore would write over data: refused before writing.
    await assert.rejects(
      runDrill({ liveProject: projectId(), backupRoot, exportDir, restoreInto: projectId() }),
      (error: Error) => error instanceof DrillRefusedError && /is not empty/.test(error.message),
    );
  });
});
