import assert from "node:assert/strict";
import {
  mentions,
  names,
  personalFieldsOf,
  privacySubjectSchema,
  type Person,
} from "../../functions/src/domain/privacy.js";
import type { AuditRecord } from "../../functions/src/domain/audit.js";

const ANN: Person = { email: "ann@acme.dev", uid: "Uid4nn" };

describe("personal data (domain)", () => {
  it("knows the forms the control plane names a person in, and nothing else", () => {
    // Written from the places that store people: requested_by, audit actors, API key creators.
    const naming = [
      "ann@acme.dev",
      "ANN@acme.dev",
      "user:ann@acme.dev",
      "user:Ann@Acme.dev",
      "Uid4nn",
      "uid:Uid4nn",
      "user:Uid4nn",
    ];
    const notNaming = [
      "annie@acme.dev",
      "key:ann@acme.dev",
      "uid4nn",
      "user:",
      "",
      "ann@acme.dev.evil",
      null,
    ];
    for (const value of naming) assert.equal(names(ANN, value), true, String(value));
    for (const value of notNaming) assert.equal(names(ANN, value), false, String(value));
  });

  it("finds a person mentioned anywhere in free text", () => {
    assert.equal(mentions(ANN, 'requested_by "user:ANN@ACME.DEV" may not deploy'), true);
    assert.equal(mentions(ANN, "token of Uid4nn expired"), true);
    assert.equal(mentions(ANN, "bob@acme.dev"), false);
    assert.equal(mentions({ email: null, uid: "Uid4nn" }, "ann@acme.dev"), false);
  });

  it("names the audit fields to erase", () => {
    const record = (actor: string | null, target: string | null, detail: string | null) =>
      ({ actor: { kind: "user", id: actor, role: null }, target, detail }) as AuditRecord;
    assert.deepEqual(personalFieldsOf(ANN, record("ann@acme.dev", "dep-1", null)), ["actor.id"]);
    assert.deepEqual(personalFieldsOf(ANN, record("bob@acme.dev", "user:Uid4nn", "for ann@acme.dev")), [
      "target",
      "detail",
    ]);
    assert.deepEqual(personalFieldsOf(ANN, record(null, null, null)), []);
  });

  it("refuses a request that does not name a person, naming the field", () => {
    const refusals: [unknown, RegExp][] = [
      [{}, /email: name the person by email, uid or both/],
      [{ email: "nope" }, /email/],
      [{ uid: "a b" }, /uid: a Firebase Auth uid/],
      [{ uid: "x".repeat(129) }, /uid/],
      [{ email: "ann@acme.dev", name: "Ann" }, /name/],
    ];
    for (const [input, message] of refusals) {
      const parsed = privacySubjectSchema.safeParse(input);
      assert.equal(parsed.success, false, JSON.stringify(input));
      const text = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
      assert.match(text, message, JSON.stringify(input));
    }
    assert.equal(privacySubjectSchema.safeParse({ uid: "Uid4nn" }).success, true);
  });
});
