import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Timestamp } from "firebase-admin/firestore";
import {
  checkExportFiles,
  compareAuditChain,
  compareCounts,
  decodeExportLine,
  encodeExportLine,
  exportTimeOf,
  formatDuration,
  parseManifest,
  pickLatestExport,
  recoveryObjectives,
  type ControlPlaneManifest,
} from "../../functions/src/domain/disaster-recovery.js";

const sha = (text: string) => createHash("sha256").update(text).digest("hex");

describe("control-plane export lines", () => {
  const at = new Date("2026-12-01T04:00:00.123Z");
  const later = new Date("2026-12-01T04:05:00.000Z");

  it("writes Timestamps and Dates as ISO strings and lists their paths, nothing else", () => {
    const line = encodeExportLine("audit_inbox", "r1", {
      staged_at: Timestamp.fromDate(at),
      entry: { action: "POST /deploy", when: later },
      history: [{ at: Timestamp.fromDate(later) }, "2026-12-01T04:00:00.123Z"],
      cutoff: "2026-12-01T04:00:00.123Z",
      n: 3,
      none: null,
      ok: true,
    });
    assert.deepEqual(JSON.parse(line), {
      id: "r1",
      data: {
        staged_at: "2026-12-01T04:00:00.123Z",
        entry: { action: "POST /deploy", when: "2026-12-01T04:05:00.000Z" },
        history: [{ at: "2026-12-01T04:05:00.000Z" }, "2026-12-01T04:00:00.123Z"],
        cutoff: "2026-12-01T04:00:00.123Z",
        n: 3,
        none: null,
        ok: true,
      },
      timestamps: [["staged_at"], ["entry", "when"], ["history", 0, "at"]],
    });
    assert.equal(encodeExportLine("c", "plain", { a: "x" }), '{"id":"plain","data":{"a":"x"}}');
  });

  it("brings back Dates exactly where there were Timestamps, and leaves time-like strings strings", () => {
    const original = {
      at: Timestamp.fromDate(at),
      nested: { list: [Timestamp.fromDate(later), { deeper: Timestamp.fromDate(at) }] },
      // The outbox and job results keep ISO strings of their own: they must stay strings.
      event_at: "2026-12-01T04:00:00.123Z",
      list_of_strings: ["2026-12-01T04:05:00.000Z"],
    };
    const restored = decodeExportLine("x.jsonl", 1, encodeExportLine("x", "doc", original));
    assert.deepEqual(restored, {
      id: "doc",
      data: {
        at,
        nested: { list: [later, { deeper: at }] },
        event_at: "2026-12-01T04:00:00.123Z",
        list_of_strings: ["2026-12-01T04:05:00.000Z"],
      },
    });
    assert.ok(restored.data.at instanceof Date);
    assert.equal(typeof restored.data.event_at, "string");
  });

  it("refuses values JSON cannot carry, naming the document and the field", () => {
    assert.throws(
      () => encodeExportLine("keys", "k1", { secret: { raw: Buffer.from("x") } }),
      /keys\/k1: field secret\.raw holds a Buffer/,
    );
    assert.throws(
      () => encodeExportLine("c", "d", { list: [1, Number.NaN] }),
      /c\/d: field list\[1\] holds number NaN/,
    );
  });

  it("refuses a line that does not read back, naming the file, the line and the field", () => {
    const cases: [string, RegExp][] = [
      ["{not json", /a\.jsonl line 4: not JSON/],
      ['{"id":"d","data":{},"extra":1}', /a\.jsonl line 4: .*extra/],
      [
        '{"id":"d","data":{"at":"yesterday"},"timestamps":[["at"]]}',
        /a\.jsonl line 4: timestamps lists at, which holds "yesterday"/,
      ],
      [
        '{"id":"d","data":{},"timestamps":[["gone"]]}',
        /a\.jsonl line 4: timestamps lists gone, which holds nothing/,
      ],
    ];
    for (const [text, expected] of cases)
      assert.throws(() => decodeExportLine("a.jsonl", 4, text), expected, text);
  });
});

describe("checking an export against its manifest", () => {
  const lineA = '{"id":"1","data":{"at":"2026-12-01T04:00:00.000Z"},"timestamps":[["at"]]}\n';
  const envs = `${lineA}${lineA.replace('"1"', '"2"')}`;
  const empty = "";
  const manifest: ControlPlaneManifest = {
    kind: "control-plane-backup",
    encoding: "jsonl+timestamp-paths",
    project_id: "demo-live",
    export_id: "2026-12-01T04-00-00-000Z",
    created_at: "2026-12-01T04:00:00.000Z",
    collections: [
      { name: "environments", documents: 2, file: "environments.jsonl", sha256: sha(envs) },
      { name: "job_runs", documents: 0, file: "job_runs.jsonl", sha256: sha(empty) },
    ],
    documents: 2,
    audit_chain: { ok: true, count: 0 },
    note: "",
  };

  it("passes untouched files and reads their documents back", () => {
    const { checks, documents } = checkExportFiles(
      manifest,
      new Map([
        ["environments.jsonl", envs],
        ["job_runs.jsonl", empty],
      ]),
    );
    assert.deepEqual(
      checks.map((c) => [c.check, c.ok]),
      [
        ["file environments.jsonl", true],
        ["file job_runs.jsonl", true],
      ],
    );
    assert.deepEqual(
      documents?.get("environments")?.map((d) => d.id),
      ["1", "2"],
    );
    assert.deepEqual(documents?.get("environments")?.[0]?.data, { at: new Date("2026-12-01T04:00:00.000Z") });
  });

  it("fails a changed, a cut and a missing file by name, and gives no documents to restore", () => {
    const tampered = envs.replace("04:00:00", "05:00:00");
    const cut = envs.slice(0, lineA.length);
    for (const [text, expected] of [
      [tampered, /sha256 [0-9a-f]{64} does not match the manifest's/],
      [cut, /does not match the manifest's/],
      [null, /missing from the export folder/],
    ] as const) {
      const { checks, documents } = checkExportFiles(
        manifest,
        new Map([
          ["environments.jsonl", text],
          ["job_runs.jsonl", empty],
        ]),
      );
      const failed = checks.filter((c) => !c.ok);
      assert.deepEqual(
        failed.map((c) => c.check),
        ["file environments.jsonl"],
      );
      assert.match(failed[0]!.detail, expected);
      assert.equal(documents, null);
    }
  });

  it("fails a file with fewer lines than the manifest counts, and totals that do not add up", () => {
    const counted = {
      ...manifest,
      documents: 5,
      collections: [{ ...manifest.collections[0]!, documents: 3 }, manifest.collections[1]!],
    };
    const { checks } = checkExportFiles(
      counted,
      new Map([
        ["environments.jsonl", envs],
        ["job_runs.jsonl", empty],
      ]),
    );
    assert.deepEqual(
      checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.detail}`),
      [
        "file environments.jsonl: 2 line(s), the manifest counts 3 document(s)",
        "manifest totals: documents 5, the collections add up to 3",
      ],
    );
  });

  it("reads a manifest, refusing an old one without an encoding and a bad field by name", () => {
    const text = JSON.stringify(manifest);
    assert.deepEqual(parseManifest("m.json", text), { ok: true, manifest });
    const { encoding: _encoding, ...old } = manifest;
    const refused = parseManifest("/b/x/manifest.json", JSON.stringify(old));
    assert.equal(refused.ok, false);
    assert.match(!refused.ok ? refused.message : "", /\/b\/x\/manifest\.json: no "encoding"/);
    const bad = parseManifest("m.json", JSON.stringify({ ...manifest, created_at: "today" }));
    assert.match(!bad.ok ? bad.message : "", /m\.json: .*created_at/);
    assert.match((parseManifest("m.json", "{") as { message: string }).message, /m\.json: not JSON/);
  });
});

describe("which export a drill takes", () => {
  it("reads an export folder's time from its name", () => {
    assert.deepEqual(exportTimeOf("2026-12-01T04-00-00-123Z"), new Date("2026-12-01T04:00:00.123Z"));
    assert.equal(exportTimeOf("notes"), null);
    assert.equal(exportTimeOf("2026-13-45T04-00-00-123Z"), null);
  });

  it("takes the latest complete export and names the unfinished ones after it", () => {
    const table: {
      folders: { name: string; complete: boolean }[];
      chosen: string | null;
      unfinishedNewer: string[];
    }[] = [
      { folders: [], chosen: null, unfinishedNewer: [] },
      {
        folders: [
          { name: "2026-11-30T04-00-00-000Z", complete: true },
          { name: "2026-12-01T04-00-00-000Z", complete: true },
          { name: "stray", complete: true },
        ],
        chosen: "2026-12-01T04-00-00-000Z",
        unfinishedNewer: [],
      },
      {
        folders: [
          { name: "2026-12-01T04-00-00-000Z", complete: false },
          { name: "2026-11-29T04-00-00-000Z", complete: true },
          { name: "2026-11-30T04-00-00-000Z", complete: true },
        ],
        chosen: "2026-11-30T04-00-00-000Z",
        unfinishedNewer: ["2026-12-01T04-00-00-000Z"],
      },
      {
        folders: [{ name: "2026-12-01T04-00-00-000Z", complete: false }],
        chosen: null,
        unfinishedNewer: ["2026-12-01T04-00-00-000Z"],
      },
    ];
    for (const row of table)
      assert.deepEqual(
        pickLatestExport(row.folders),
        { chosen: row.chosen, unfinishedNewer: row.unfinishedNewer },
        JSON.stringify(row.folders),
      );
  });
});

describe("what a drill checks after the restore, and what it measures", () => {
  const manifest = {
    collections: [
      { name: "audit_log", documents: 3, file: "audit_log.jsonl", sha256: "0".repeat(64) },
      { name: "environments", documents: 2, file: "environments.jsonl", sha256: "0".repeat(64) },
    ],
  } as ControlPlaneManifest;

  it("compares document counts per collection, both ways", () => {
    assert.deepEqual(
      compareCounts(
        manifest,
        new Map([
          ["audit_log", 3],
          ["environments", 1],
          ["strays", 4],
        ]),
      ).map((c) => [c.check, c.ok, c.detail]),
      [
        ["count audit_log", true, "3 restored, manifest 3"],
        ["count environments", false, "1 restored, manifest 2"],
        ["count strays", false, "4 restored, not in the manifest"],
      ],
    );
  });

  it("passes the audit chain only when it verifies with the records it had at export time", () => {
    const table: [
      Parameters<typeof compareAuditChain>[0],
      Parameters<typeof compareAuditChain>[1],
      boolean,
    ][] = [
      [{ ok: true, count: 7 }, { ok: true, count: 7 }, true],
      [{ ok: true, count: 7 }, { ok: true, count: 6 }, false],
      [{ ok: true, count: 7 }, { ok: false, seq: 3, problem: "changed", message: "hash" }, false],
      [{ ok: false, seq: 2, problem: "removed", message: "gone" }, { ok: true, count: 7 }, false],
    ];
    for (const [atExport, restored, ok] of table)
      assert.equal(compareAuditChain(atExport, restored).ok, ok, JSON.stringify([atExport, restored]));
    assert.match(
      compareAuditChain({ ok: true, count: 7 }, { ok: false, seq: 3, problem: "changed", message: "hash" })
        .detail,
      /record #3 was changed/,
    );
  });

  it("measures RPO from the export to the drill's start and RTO from the start to verification", () => {
    assert.deepEqual(
      recoveryObjectives({
        exportedAt: new Date("2026-12-01T04:00:00.000Z"),
        startedAt: new Date("2026-12-01T20:15:30.000Z"),
        verifiedAt: new Date("2026-12-01T20:15:34.250Z"),
      }),
      { rpo_ms: 58_530_000, rto_ms: 4_250 },
    );
  });

  it("writes durations for people", () => {
    const table: [number, string][] = [
      [850, "850 ms"],
      [4_250, "4.3 s"],
      [425_000, "7 min 05 s"],
      [58_530_000, "16 h 15 min"],
      [-2_000, "-2.0 s"],
    ];
    for (const [ms, text] of table) assert.equal(formatDuration(ms), text, String(ms));
  });
});
