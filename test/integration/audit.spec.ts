import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { AUDIT_COLLECTIONS, auditDocId, type AuditEntry } from "../../functions/src/domain/audit.js";
import { createAuditLog } from "../../functions/src/store/audit-log.js";
import { deleteApp, initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { adminDb, clearFirestore, projectId, requireEmulators } from "../support/emulators.js";

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
  before(function () {
    requireEmulators(this);
  });
  beforeEach(clearFirestore);

  it("keeps one gapless chain under 50 concurrent appends from 5 clients (5 function instances)", async () => {
    // Appends from one client queue in-process; separate clients contend on the head document's transaction.
    adminDb(); // the default app first: adminDb() only initializes it while no app exists
    const apps = Array.from({ length: 5 }, (_, i) =>
      initializeApp({ projectId: projectId() }, `audit-instance-${i}`),
    );
    let appended;
    try {
      appended = await Promise.all(
        apps.flatMap((app, k) => {
          const log = createAuditLog(getFirestore(app), clock);
          return Array.from({ length: 10 }, (_, i) => log.append(entry(k * 10 + i + 1)));
        }),
      );
    } finally {
      await Promise.all(apps.map((app) => deleteApp(app)));
    }
    const seqs = Array.from({ length: 50 }, (_, i) => i + 1);
    assert.deepEqual(
      appended.map((r) => r.seq).sort((a, b) => a - b),
      seqs,
    );
    const log = createAuditLog(adminDb(), clock);
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
    assert.deepEqual(await log.verify(), { ok: true, count: 50 });
    const head = (await adminDb().collection(AUDIT_COLLECTIONS.head).doc("chain").get()).data();
    assert.deepEqual(head, { seq: 50, hash: records[49]!.hash });
  });

  it("keeps one gapless chain under 50 concurrent appends from one client", async () => {
    const log = createAuditLog(adminDb(), clock);
    await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(entry(i + 1))));
    assert.deepEqual(
      (await log.list()).map((r) => r.seq),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.deepEqual(await log.verify(), { ok: true, count: 50 });
  });

  it("stores records as validated documents, dates as Timestamps, secrets redacted", async () => {
    const log = createAuditLog(adminDb(), clock);
    const jwt = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.";
    const key = `orch_${"A".repeat(43)}`;
    const stored = await log.append(
      entry(1, { outcome: "refused", status: 401, detail: `bad key ${key}, token ${jwt}` }),
    );
    assert.equal(stored.detail, "bad key [redacted], token [redacted]");
    const raw = (await doc(1).get()).data()!;
    assert.ok(!JSON.stringify(raw).includes(key) && !JSON.stringify(raw).includes(jwt));
    assert.equal(typeof raw.at.toDate, "function", "at is a Firestore Timestamp");
    assert.deepEqual(await log.list(), [stored]);
    assert.deepEqual(await log.list({ from: 1, limit: 1 }), [stored]);
    await assert.rejects(log.append({ ...entry(2), outcome: "maybe" as any }));
    assert.deepEqual(await log.verify(), { ok: true, count: 1 });
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
    await assert.rejects(createAuditLog(adminDb(), clock).append(entry(9)), "no append over a lost head");
  });

  it('detects two documents whose contents were swapped as "reordered" at the earlier one', async () => {
    await appendMany(8);
    const [a, b] = await Promise.all([doc(3).get(), doc(6).get()]);
    await Promise.all([doc(3).set(b.data()!), doc(6).set(a.data()!)]);
    assert.deepEqual(pick(await createAuditLog(adminDb(), clock).verify()), [3, "reordered"]);
  });

  it("the verify command exits 0 on an intact chain, 1 on a tampered one, 2 on bad usage", async () => {
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
