import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fc from "fast-check";
import {
  GENESIS_HASH,
  auditDocId,
  auditRecordSchema,
  buildChain,
  canonicalJson,
  chainRecord,
  hashRecord,
  isPseudonym,
  pseudonymize,
  pseudonymOf,
  sealOf,
  verifyChain,
  type AuditEntry,
  type AuditRecord,
} from "../../functions/src/domain/audit.js";

const T0 = Date.parse("2026-03-01T10:00:00.000Z");

/** The chain's key in these tests; a forger below does not hold it. */
const KEY = Buffer.alloc(32, 7);

function entry(i: number, overrides: Partial<AuditEntry> = {}): AuditEntry {
  return {
    actor: { kind: i % 3 === 0 ? "system" : "user", id: i % 3 === 0 ? null : `user-${i}`, role: "operator" },
    action: i % 2 === 0 ? "POST /deploy" : "deployment.running->succeeded",
    target: `dep-${i}`,
    source: i % 3 === 0 ? "trigger" : "203.0.113.7",
    outcome: "ok",
    status: i % 2 === 0 ? 202 : null,
    correlation_id: `dep-${i}`,
    detail: null,
    ...overrides,
  };
}

function chain(n: number): AuditRecord[] {
  return buildChain(
    KEY,
    Array.from({ length: n }, (_, i) => entry(i + 1)),
    (i) => new Date(T0 + i * 1000),
  );
}

const headOf = (records: AuditRecord[]) => {
  const last = records[records.length - 1];
  return last ? { seq: last.seq, hash: last.hash } : { seq: 0, hash: GENESIS_HASH };
};

/** Record k's stored content with one field edited (what someone with write access to Firestore can do). */
function changeField(record: AuditRecord, field: string): AuditRecord {
  const edited: any = structuredClone(record);
  switch (field) {
    case "seq":
      edited.seq = record.seq + 1000;
      break;
    case "at":
      edited.at = new Date(record.at.getTime() + 1);
      break;
    case "actor":
      edited.actor = { ...record.actor, id: "mallory" };
      break;
    case "status":
      edited.status = record.status === 200 ? 500 : 200;
      break;
    case "outcome":
      edited.outcome = record.outcome === "ok" ? "refused" : "ok";
      break;
    case "prev_hash":
    case "hash":
      edited[field] = (record[field].startsWith("0") ? "1" : "0") + record[field].slice(1);
      break;
    default:
      edited[field] = `${String(edited[field])}-edited`;
  }
  return edited;
}

const FIELDS = [
  "seq",
  "at",
  "actor",
  "action",
  "target",
  "source",
  "outcome",
  "status",
  "correlation_id",
  "detail",
  "prev_hash",
  "hash",
];

describe("audit chain (domain)", () => {
  it("chains each record to the previous one, starting from the genesis hash", () => {
    const records = chain(3);
    assert.deepEqual(
      records.map((r) => r.seq),
      [1, 2, 3],
    );
    assert.equal(records[0]!.prev_hash, GENESIS_HASH);
    assert.equal(records[1]!.prev_hash, records[0]!.hash);
    assert.equal(records[2]!.prev_hash, records[1]!.hash);
    for (const record of records) {
      assert.match(record.hash, /^[0-9a-f]{64}$/);
      assert.equal(hashRecord(KEY, record), record.hash);
      auditRecordSchema.parse(record);
    }
  });

  it("hashes a canonical form: key order does not matter, dates are ISO, hash is left out", () => {
    assert.equal(
      canonicalJson({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: new Date(T0) } }),
      '{"a":{"c":"2026-03-01T10:00:00.000Z","d":[2,{"e":0,"f":1}]},"b":1}',
    );
    const [record] = chain(1);
    const reversed = Object.fromEntries(Object.entries(record!).reverse()) as AuditRecord;
    assert.equal(hashRecord(KEY, reversed), record!.hash);
    const { hash: _hash, ...unhashed } = record!;
    assert.equal(hashRecord(KEY, unhashed), record!.hash);
  });

  it("refuses an entry outside the schema", () => {
    assert.throws(() =>
      chainRecord(
        KEY,
        { seq: 0, hash: GENESIS_HASH },
        { ...entry(1), outcome: "maybe" as any },
        new Date(T0),
      ),
    );
  });

  it("pads document ids so that their order is the chain's order", () => {
    assert.equal(auditDocId(7), "000000000007");
    assert.ok(auditDocId(99) < auditDocId(100));
  });

  it("reports an intact chain with its length, with or without the head", () => {
    const records = chain(10);
    assert.deepEqual(verifyChain(KEY, records), { ok: true, count: 10 });
    assert.deepEqual(verifyChain(KEY, records, headOf(records)), { ok: true, count: 10 });
    assert.deepEqual(verifyChain(KEY, [], { seq: 0, hash: GENESIS_HASH }), { ok: true, count: 0 });
  });

  it("accepts records appended after the head was read", () => {
    const records = chain(6);
    assert.deepEqual(verifyChain(KEY, records, headOf(records.slice(0, 4))), { ok: true, count: 6 });
  });

  for (const field of FIELDS) {
    it(`detects a change of ${field} in record 4 as "changed" at #4`, () => {
      const records = chain(8);
      records[3] = changeField(records[3]!, field);
      const result = verifyChain(KEY, records, headOf(chain(8)));
      assert.equal(result.ok, false);
      assert.deepEqual(!result.ok && [result.seq, result.problem], [4, "changed"]);
    });
  }

  it("detects a record rewritten with a fresh hash: the next record no longer links to it", () => {
    const records = chain(8);
    const { hash: _hash, ...forged } = { ...records[3]!, detail: "nothing happened" };
    records[3] = { ...forged, hash: hashRecord(KEY, forged) };
    const result = verifyChain(KEY, records, headOf(chain(8)));
    assert.deepEqual(!result.ok && [result.seq, result.problem], [4, "changed"]);
    assert.match(!result.ok ? result.message : "", /#4 is not the record #5 was chained to/);
  });

  it("detects a tail rewritten, head included, by someone without the key, at its first record", () => {
    // What a plain sha256 chain cannot catch: records 4..8 and the head rewritten consistently.
    const original = chain(8);
    for (const forgerKey of ["sha256", Buffer.alloc(32, 8)] as const) {
      const records = original.slice(0, 3);
      let head = headOf(records);
      for (const record of original.slice(3)) {
        const { hash: _hash, ...unhashed } = { ...record, detail: "rewritten", prev_hash: head.hash };
        const hash =
          forgerKey === "sha256"
            ? createHash("sha256").update(canonicalJson(unhashed)).digest("hex")
            : hashRecord(forgerKey, unhashed);
        records.push({ ...unhashed, hash });
        head = { seq: record.seq, hash };
      }
      const result = verifyChain(KEY, records, head);
      assert.deepEqual(!result.ok && [result.seq, result.problem], [4, "changed"], String(forgerKey));
    }
  });

  it("verifies a chain only under the key it was made with", () => {
    const records = chain(3);
    assert.deepEqual(verifyChain(KEY, records, headOf(records)), { ok: true, count: 3 });
    const other = verifyChain(Buffer.alloc(32, 9), records, headOf(records));
    assert.deepEqual(!other.ok && [other.seq, other.problem], [1, "changed"]);
  });

  it("detects the last record rewritten with a fresh hash through the head", () => {
    const original = chain(5);
    const records = [...original];
    const { hash: _hash, ...forged } = { ...records[4]!, outcome: "refused" as const };
    records[4] = { ...forged, hash: hashRecord(KEY, forged) };
    assert.deepEqual(verifyChain(KEY, records), { ok: true, count: 5 }, "without the head it cannot be seen");
    const result = verifyChain(KEY, records, headOf(original));
    assert.deepEqual(!result.ok && [result.seq, result.problem], [5, "changed"]);
  });

  it('detects a deleted record as "removed" at its own seq', () => {
    const records = chain(8);
    records.splice(4, 1);
    const result = verifyChain(KEY, records, headOf(chain(8)));
    assert.deepEqual(result, {
      ok: false,
      seq: 5,
      problem: "removed",
      message: "record #5 missing: #6 follows #4",
    });
  });

  it("detects several deleted records, naming the range", () => {
    const records = chain(8);
    records.splice(2, 3);
    const result = verifyChain(KEY, records);
    assert.deepEqual(!result.ok && [result.seq, result.problem, result.message], [
      3,
      "removed",
      "record #3 to #5 missing: #6 follows #2",
    ]);
  });

  it("detects the last records deleted through the head (not without it)", () => {
    const original = chain(6);
    assert.deepEqual(verifyChain(KEY, original.slice(0, 4)), { ok: true, count: 4 });
    const result = verifyChain(KEY, original.slice(0, 4), headOf(original));
    assert.deepEqual(!result.ok && [result.seq, result.problem], [5, "removed"]);
    const emptied = verifyChain(KEY, [], headOf(original));
    assert.deepEqual(!emptied.ok && [emptied.seq, emptied.problem], [1, "removed"]);
  });

  it('detects two swapped records as "reordered" at the earlier one', () => {
    const records = chain(8);
    [records[2], records[5]] = [records[5]!, records[2]!];
    const result = verifyChain(KEY, records, headOf(chain(8)));
    assert.deepEqual(!result.ok && [result.seq, result.problem], [3, "reordered"]);
    assert.match(!result.ok ? result.message : "", /#6 is stored where #3 belongs/);
  });

  it('detects a record moved later or earlier as "reordered" where the order first breaks', () => {
    const later = chain(8);
    later.splice(6, 0, later.splice(1, 1)[0]!); // #2 moved after #7
    assert.deepEqual(((r) => !r.ok && [r.seq, r.problem])(verifyChain(KEY, later)), [2, "reordered"]);
    const earlier = chain(8);
    earlier.splice(1, 0, earlier.splice(6, 1)[0]!); // #7 moved before #2
    assert.deepEqual(((r) => !r.ok && [r.seq, r.problem])(verifyChain(KEY, earlier)), [2, "reordered"]);
  });

  it('detects a record stored twice as "reordered"', () => {
    const records = chain(5);
    records.push(records[1]!);
    assert.deepEqual(((r) => !r.ok && [r.seq, r.problem])(verifyChain(KEY, records)), [2, "reordered"]);
  });

  it("detects a first record that does not start at the genesis hash", () => {
    const [first] = chain(1);
    const { hash: _hash, ...forged } = { ...first!, prev_hash: "f".repeat(64) };
    const result = verifyChain(KEY, [{ ...forged, hash: hashRecord(KEY, forged) }]);
    assert.deepEqual(!result.ok && [result.seq, result.problem], [1, "changed"]);
  });

  describe("property: any single tamper is reported at exactly its position", () => {
    type Tamper =
      | { kind: "change"; at: number; field: string }
      | { kind: "forge"; at: number }
      | { kind: "delete"; at: number }
      | { kind: "swap"; at: number; with: number }
      | { kind: "move"; from: number; to: number };

    const chainAndTamper = fc.integer({ min: 1, max: 30 }).chain((n) =>
      fc.tuple(
        fc.constant(n),
        fc.array(
          fc.record({
            detail: fc.option(fc.string(), { nil: null }),
            outcome: fc.constantFrom("ok" as const, "refused" as const, "error" as const),
            status: fc.option(fc.integer({ min: 100, max: 599 }), { nil: null }),
          }),
          { minLength: n, maxLength: n },
        ),
        fc.oneof(
          fc.record({
            kind: fc.constant("change" as const),
            at: fc.nat(n - 1),
            field: fc.constantFrom(...FIELDS),
          }),
          fc.record({ kind: fc.constant("forge" as const), at: fc.nat(n - 1) }),
          fc.record({ kind: fc.constant("delete" as const), at: fc.nat(n - 1) }),
          ...(n >= 2
            ? [
                fc
                  .tuple(fc.nat(n - 1), fc.nat(n - 1))
                  .filter(([a, b]) => a !== b)
                  .map(([a, b]): Tamper => ({ kind: "swap", at: Math.min(a, b), with: Math.max(a, b) })),
                fc
                  .tuple(fc.nat(n - 1), fc.nat(n - 1))
                  .filter(([a, b]) => a !== b)
                  .map(([from, to]): Tamper => ({ kind: "move", from, to })),
              ]
            : []),
        ),
      ),
    );

    function tamper(records: AuditRecord[], t: Tamper): { seq: number; problem: string } {
      switch (t.kind) {
        case "change":
          records[t.at] = changeField(records[t.at]!, t.field);
          return { seq: t.at + 1, problem: "changed" };
        case "forge": {
          const { hash: _hash, ...forged } = {
            ...records[t.at]!,
            detail: `forged ${records[t.at]!.detail ?? ""}`,
          };
          records[t.at] = { ...forged, hash: hashRecord(KEY, forged) };
          return { seq: t.at + 1, problem: "changed" };
        }
        case "delete":
          records.splice(t.at, 1);
          return { seq: t.at + 1, problem: "removed" };
        case "swap":
          [records[t.at], records[t.with]] = [records[t.with]!, records[t.at]!];
          return { seq: t.at + 1, problem: "reordered" };
        case "move":
          records.splice(t.to, 0, records.splice(t.from, 1)[0]!);
          return { seq: Math.min(t.from, t.to) + 1, problem: "reordered" };
      }
    }

    it("holds for random chains and tampers", () => {
      fc.assert(
        fc.property(chainAndTamper, ([n, variations, t]) => {
          const original = buildChain(
            KEY,
            variations.map((v, i) => entry(i + 1, v)),
            (i) => new Date(T0 + i * 997),
          );
          assert.deepEqual(verifyChain(KEY, original, headOf(original)), { ok: true, count: n });
          const records = [...original];
          const expected = tamper(records, t);
          const result = verifyChain(KEY, records, headOf(original));
          assert.equal(result.ok, false, `tamper ${JSON.stringify(t)} not detected`);
          assert.deepEqual(
            !result.ok && { seq: result.seq, problem: result.problem },
            expected,
            JSON.stringify(t),
          );
        }),
        { numRuns: 500 },
      );
    });
  });

  describe("erasing a person (pseudonyms)", () => {
    const ANN = "ann@acme.dev";
    const records = () =>
      buildChain(
        KEY,
        [
          entry(1, { actor: { kind: "user", id: ANN, role: "operator" } }),
          entry(2, { actor: { kind: "user", id: "bob@acme.dev", role: "admin" }, target: ANN }),
          entry(3, { detail: `requested_by "user:${ANN}" may not deploy to prod` }),
          entry(4),
        ],
        (i) => new Date(T0 + i * 1000),
      );

    it("keeps the chain verifying when a person's fields become pseudonyms", () => {
      const original = records();
      const erased = [
        pseudonymize(KEY, original[0]!, ["actor.id"]),
        pseudonymize(KEY, original[1]!, ["target"]),
        pseudonymize(KEY, original[2]!, ["detail"]),
        original[3]!,
      ];
      assert.equal(erased[0]!.actor.id, erased[1]!.target, "the same value, the same pseudonym");
      assert.ok(erased.slice(0, 3).every((r) => !JSON.stringify(r).includes(ANN)));
      assert.ok(isPseudonym(erased[2]!.detail ?? ""));
      assert.deepEqual(verifyChain(KEY, erased, headOf(original)), { ok: true, count: 4 });
    });

    it("makes pseudonyms nobody can compute without the key", () => {
      const other = Buffer.alloc(32, 9);
      assert.match(pseudonymOf(KEY, ANN), /^pseudonym:[0-9a-f]{64}$/);
      assert.notEqual(pseudonymOf(KEY, ANN), pseudonymOf(other, ANN));
      assert.notEqual(pseudonymOf(KEY, ANN), pseudonymOf(KEY, "bob@acme.dev"));
      assert.notEqual(sealOf(KEY, ANN), createHash("sha256").update(ANN).digest("hex"));
      assert.equal(
        sealOf(KEY, pseudonymOf(KEY, ANN)),
        sealOf(KEY, ANN),
        "a pseudonym's seal is the one it carries",
      );
    });

    it("still catches a personal field swapped for another value or another pseudonym", () => {
      const swaps: [string, (r: AuditRecord) => AuditRecord][] = [
        ["another person", (r) => ({ ...r, actor: { ...r.actor, id: "mallory@acme.dev" } })],
        [
          "another person's pseudonym",
          (r) => ({ ...r, actor: { ...r.actor, id: pseudonymOf(KEY, "bob@acme.dev") } }),
        ],
        [
          "a pseudonym under another key",
          (r) => ({ ...r, actor: { ...r.actor, id: pseudonymOf(Buffer.alloc(32, 9), ANN) } }),
        ],
        ["a made-up pseudonym", (r) => ({ ...r, actor: { ...r.actor, id: `pseudonym:${"ab".repeat(32)}` } })],
        ["an erased detail made up", (r) => ({ ...r, detail: `pseudonym:${"cd".repeat(32)}` })],
      ];
      for (const [what, swap] of swaps) {
        const tampered = records();
        tampered[0] = swap(tampered[0]!);
        const result = verifyChain(KEY, tampered, headOf(records()));
        assert.deepEqual(
          !result.ok && { seq: result.seq, problem: result.problem },
          { seq: 1, problem: "changed" },
          what,
        );
      }
    });
  });
});
