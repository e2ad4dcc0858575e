import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import {
  AUDIT_COLLECTIONS,
  auditDocId,
  canonicalJson,
  type AuditEntry,
} from "../../functions/src/domain/audit.js";
import { createAuditLog, stageAudit } from "../../functions/src/store/audit-log.js";
import { deleteApp, initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { adminDb, api, clearFirestore, projectId, requireEmulators, waitFor } from "../support/emulators.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

function entry(i: number, overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    actor: { kind: "key", id: `k_${i}`, role: "operator" },
    action: "POST /deploy",
    target: `dep-${i}`,
    source: "203.0.113.9",
    outcome: "ok",
    status: 202,
    correlation_id: `dep-${i}`,
    detail: null,
    ...overrides,
  };
}

let tick = Date.parse("2026-04-01T00:00:00.000Z");
const clock = { now: () => new Date((tick += 1000)) };

async function appendMany(n: number): Promise<void> {
  const log = createAuditLog(adminDb(), clock);
  for (let i = 1; i <= n; i++) await log.append(entry(i));
  await log.drain({ untilEmpty: true });
}

const doc = (seq: number) => adminDb().collection(AUDIT_COLLECTIONS.log).doc(auditDocId(seq));

/** Runs scripts/audit-verify.ts against the stack's Firestore emulator. */
function runVerify(
  args: string[] = [],
  env: Record<string, string | undefined> = {},
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", "scripts/audit-verify.ts", ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    // stderr also carries the SDK's warnings (it probes for GCE metadata even on the emulator).
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code) => resolve({ code, out: out.trim(), err }));
  });
}

describe("audit log on the emulators", function () {
  before(async function () {
    requireEmulators(this);
    // Deployments of earlier suites still ending would chain their records into this suite's chain.
    await waitFor(
      "earlier suites' deployments to end and their facts to be delivered",
      async () => {
        const open = await adminDb()
          .collection("deployments")
          .where("status", "in", ["requested", "running", "cancelling", "rolling_back"])
          .limit(1)
          .get();
        return open.empty && (await adminDb().collection("outbox").limit(1).get()).empty;
      },
      180_000,
      500,
    );
  });
  beforeEach(clearFirestore);

  it("drops no record under 300 concurrent appends from 5 clients, each chained exactly once", async () => {
    // Before the inbox, appends from different instances contended on the head document and some were lost.
    adminDb(); // the default app first: adminDb() only initializes it while no app exists
    const apps = Array.from({ length: 5 }, (_, i) =>
      initializeApp({ projectId: projectId() }, `audit-instance-${i}`),
    );
    let staged: { id: string }[];
    try {
      staged = await Promise.all(
        apps.flatMap((app, k) => {
          const log = createAuditLog(getFirestore(app), clock);
          return Array.from({ length: 60 }, (_, i) => log.append(entry(k * 60 + i + 1)));
        }),
      );
      // Two chain writers from two instances at once (the functions' trigger may be a third).
      await Promise.all(
        apps.slice(0, 2).map((app) => createAuditLog(getFirestore(app), clock).drain({ untilEmpty: true })),
      );
    } finally {
      await Promise.all(apps.map((app) => deleteApp(app)));
    }
    const log = createAuditLog(adminDb(), clock);
    await log.drain({ untilEmpty: true });
    const seqs = Array.from({ length: 300 }, (_, i) => i + 1);
    const records = await log.list();
    assert.deepEqual(
      records.map((r) => r.seq),
      seqs,
    );
    assert.deepEqual(
      records.map((r) => r.target).sort(),
      seqs.map((i) => `dep-${i}`).sort(),
      "every append stored exactly once",
    );
    assert.equal(new Set(staged.map(({ id }) => id)).size, 300, "each append has its own id");
    assert.equal(await log.pending(), 0);
    assert.deepEqual(await log.verify(), { ok: true, count: 300 });
    const head = (await adminDb().collection(AUDIT_COLLECTIONS.head).doc("chain").get()).data();
    assert.deepEqual(head, { seq: 300, hash: records[299]!.hash });
  });

  it("chains in staged-time order and yields one record for an id staged twice, before or after chaining", async () => {
    const db = adminDb();
    const log = createAuditLog(db, { now: () => new Date("2030-01-01T00:00:00Z") });
    const at = (s: number) => new Date(Date.parse("2026-05-01T00:00:00Z") + s * 1000);
    const batch = db.batch();
    stageAudit(batch, db, "evt-b", entry(2), at(2));
    stageAudit(batch, db, "evt-a", entry(1), at(1));
    stageAudit(batch, db, "evt-c", entry(3), at(3));
    await batch.commit();
    await db.runTransaction((tx) => {
      stageAudit(tx, db, "evt-a", entry(1), at(1)); // a retried transition stages its record again
      return Promise.resolve();
    });
    await log.drain({ untilEmpty: true });
    await db.runTransaction((tx) => {
      stageAudit(tx, db, "evt-c", entry(3), at(3)); // a redelivery after the record was chained
      return Promise.resolve();
    });
    await log.drain({ untilEmpty: true });
    const records = await log.list();
    assert.deepEqual(
      records.map((r) => [r.seq, r.target, r.at.toISOString()]),
      [
        [1, "dep-1", at(1).toISOString()],
        [2, "dep-2", at(2).toISOString()],
        [3, "dep-3", at(3).toISOString()],
      ],
    );
    assert.deepEqual(await Promise.all(["evt-a", "evt-b", "evt-c"].map((id) => log.seqOf(id))), [1, 2, 3]);
    assert.equal(await log.pending(), 0);
  });

  it("leaves the work to a live lease holder, takes over an expired lease, and lets go after", async () => {
    const db = adminDb();
    const log = createAuditLog(db, clock);
    const lease = db.collection(AUDIT_COLLECTIONS.head).doc("writer");
    await lease.set({ owner: "another-instance", until: new Date(Date.now() + 60_000) });
    await log.append(entry(1));
    assert.deepEqual(await log.drain(), { chained: 0, duplicates: 0, busy: true });
    assert.equal((await log.drain({ untilEmpty: true, timeoutMs: 300 })).busy, true);
    assert.equal(await log.pending(), 1, "nothing is lost while the holder is silent");
    await lease.set({ owner: "a-dead-instance", until: new Date(Date.now() - 1) });
    const drained = await log.drain({ untilEmpty: true });
    assert.equal(drained.busy, false);
    assert.deepEqual(
      (await log.list()).map((r) => r.target),
      ["dep-1"],
    );
    assert.equal((await lease.get()).exists, false, "the lease is let go after the work");
  });

  it("chains a staged document that cannot be read as a record saying so, instead of losing it or stalling", async () => {
    const db = adminDb();
    const log = createAuditLog(db, clock);
    await db
      .collection(AUDIT_COLLECTIONS.inbox)
      .doc("broken")
      .set({ staged_at: new Date(0), entry: { action: 7 } });
    await log.append(entry(2));
    await log.drain({ untilEmpty: true });
    const records = await log.list();
    assert.deepEqual(
      records.map((r) => [r.action, r.target, r.outcome]),
      [
        ["audit.unreadable_staged_record", "audit_inbox/broken", "error"],
        ["POST /deploy", "dep-2", "ok"],
      ],
    );
    assert.match(records[0]!.detail ?? "", /entry/);
  });

  it("chains a staged record when the sweeper runs in the functions, with no one here calling drain", async () => {
    const log = createAuditLog(adminDb(), clock);
    const { id } = await log.append(entry(1), "sweeper-test-1");
    assert.equal(await log.seqOf(id), undefined, "staged, not yet chained");
    const swept = await api("POST", "/jobs/sweep");
    assert.equal(swept.status, 200, JSON.stringify(swept.body));
    const seq = await waitFor("the sweeper to chain the record", () => log.seqOf(id), 30_000, 200);
    assert.equal(seq, 1);
    assert.deepEqual(
      await log.verify(),
      { ok: true, count: 1 },
      "the functions and this process share the key",
    );
  });

  it("stores records as validated documents, dates as Timestamps, secrets redacted", async () => {
    const log = createAuditLog(adminDb(), clock);
    const jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.";
    const key = `orch_${"A".repeat(43)}`;
    await log.append(entry(1, { outcome: "refused", status: 401, detail: `bad key ${key}, token ${jwt}` }));
    await log.drain({ untilEmpty: true });
    const [stored] = await log.list();
    assert.equal(stored!.detail, "bad key [redacted], token [redacted]");
    const raw = (await doc(1).get()).data()!;
    assert.ok(!JSON.stringify(raw).includes(key) && !JSON.stringify(raw).includes(jwt));
    assert.equal(typeof raw.at.toDate, "function", "at is a Firestore Timestamp");
    assert.deepEqual(await log.list({ from: 1, limit: 1 }), [stored]);
    await assert.rejects(log.append({ ...entry(2), outcome: "maybe" as any }));
    assert.equal(await log.pending(), 0, "a refused entry is not staged");
    assert.deepEqual(await log.verify(), { ok: true, count: 1 });
  });

  it("detects a tail rewritten with a fresh unkeyed chain and head, at its first record", async function () {
    this.timeout(120_000); // runs the verify command once
    await appendMany(6);
    const db = adminDb();
    const stored = await createAuditLog(db, clock).list();
    let prev = stored[2]!.hash;
    for (const record of stored.slice(3)) {
      const { hash: _hash, ...unhashed } = { ...record, detail: "rewritten", prev_hash: prev };
      const hash = createHash("sha256").update(canonicalJson(unhashed)).digest("hex");
      await doc(record.seq).set({ ...unhashed, hash });
      prev = hash;
    }
    await db.collection(AUDIT_COLLECTIONS.head).doc("chain").set({ seq: 6, hash: prev });
    assert.deepEqual(pick(await createAuditLog(db, clock).verify()), [4, "changed"]);
    const command = await runVerify();
    assert.equal(command.code, 1, command.out);
    assert.match(command.out, /^audit chain: record #4 was changed: /);
  });

  it('detects a field changed by hand as "changed" at that record', async () => {
    await appendMany(8);
    await doc(4).update({ outcome: "refused" });
    assert.deepEqual(pick(await createAuditLog(adminDb(), clock).verify()), [4, "changed"]);
  });

  it('detects a record made invalid by hand as "changed" at that record', async () => {
    await appendMany(6);
    await doc(3).update({ status: "two hundred", extra: true });
    const result = await createAuditLog(adminDb(), clock).verify();
    assert.deepEqual(pick(result), [3, "changed"]);
    assert.match(
      !result.ok ? result.message : "",
      /record #3 \(audit_log\/000000000003\) is not a valid record: status/,
    );
  });

  it('detects a deleted record as "removed" at its seq, the last one included', async () => {
    await appendMany(8);
    await doc(5).delete();
    assert.deepEqual(pick(await createAuditLog(adminDb(), clock).verify()), [5, "removed"]);
    await clearFirestore();
    await appendMany(8);
    await doc(8).delete();
    assert.deepEqual(pick(await createAuditLog(adminDb(), clock).verify()), [8, "removed"]);
    await adminDb().collection(AUDIT_COLLECTIONS.head).doc("chain").delete();
    assert.deepEqual(
      pick(await createAuditLog(adminDb(), clock).verify()),
      [8, "removed"],
      "head deleted too",
    );
    const log = createAuditLog(adminDb(), clock);
    await log.append(entry(9));
    await assert.rejects(log.drain({ untilEmpty: true }), "no append over a lost head");
    assert.equal(await log.pending(), 1, "the record waits in the inbox, it is not dropped");
  });

  it('detects two documents whose contents were swapped as "reordered" at the earlier one', async () => {
    await appendMany(8);
    const [a, b] = await Promise.all([doc(3).get(), doc(6).get()]);
    await Promise.all([doc(3).set(b.data()!), doc(6).set(a.data()!)]);
    assert.deepEqual(pick(await createAuditLog(adminDb(), clock).verify()), [3, "reordered"]);
  });

  it("the verify command exits 0 on an intact chain, 1 on a tampered one, 2 on bad usage", async function () {
    this.timeout(240_000); // six runs of the command, each a fresh tsx process
    await appendMany(5);
    const intact = await runVerify();
    assert.deepEqual([intact.code, intact.out], [0, "audit chain: 5 records, intact"]);
    const explicit = await runVerify(["--project", process.env.GCLOUD_PROJECT!], {
      GCLOUD_PROJECT: undefined,
    });
    assert.deepEqual([explicit.code, explicit.out], [0, "audit chain: 5 records, intact"]);

    await doc(2).update({ detail: "nothing to see" });
    const changed = await runVerify();
    assert.equal(changed.code, 1, changed.out);
    assert.match(changed.out, /^audit chain: record #2 was changed: /);

    await doc(2).delete();
    const removed = await runVerify();
    assert.equal(removed.code, 1, removed.out);
    assert.match(removed.out, /^audit chain: record #2 was removed: /);

    const bad = await runVerify(["--frobnicate"]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown argument "--frobnicate"[\s\S]*usage:/);
    assert.equal((await runVerify(["--project"])).code, 2);
    assert.equal(
      (await runVerify([], { GCLOUD_PROJECT: undefined, GOOGLE_CLOUD_PROJECT: undefined })).code,
      2,
    );
  });
});

function pick(result: { ok: boolean; seq?: number; problem?: string }): unknown {
  return result.ok ? result : [result.seq, result.problem];
}
