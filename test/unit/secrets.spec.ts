/**
 * Secrets by reference only (issue 18): a value that is a secret, by field name or by shape, is
 * refused unless given as `projects/<p>/secrets/<name>/versions/<v>`; the refusal names the field
 * path and never repeats the value.
 */
import assert from "node:assert/strict";
import { validateConfig } from "../../functions/src/domain/config.js";
import {
  isSecretReference,
  plainSecretProblems,
  SCRUBBED,
  scrubPlainSecrets,
} from "../../functions/src/domain/secrets.js";
import { exampleConfig } from "../support/config-builder.js";

/** Secret values of the shapes the issue names (made up here; none is a real credential). */
const SHAPED: Record<string, string> = {
  "PEM private key":
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
  JWT: "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ0ZXN0LXVzZXIifQ.c2lnbmF0dXJlLXRoYXQtaXMtZmFrZQ",
  "Google API key": "AIzaSyD-this-is-not-a-real-key-0123456789",
  "URL with a password": "postgres://app:hunter2-canary@db.internal:5432/orders",
  "orch_ API key": "orch_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
};

describe("secrets by reference only", () => {
  it("recognises Secret Manager references, and only those", () => {
    for (const good of [
      "projects/demo-acme-prod/secrets/db-password/versions/1",
      "projects/123456789/secrets/STRIPE_KEY/versions/latest",
    ])
      assert.ok(isSecretReference(good), good);
    for (const bad of [
      "projects/demo-acme-prod/secrets/db-password",
      "projects/demo-acme-prod/secrets/db-password/versions/0",
      "projects/x/secrets/db/versions/1",
      "secrets/db-password/versions/1",
      " projects/demo-acme-prod/secrets/db-password/versions/1",
    ])
      assert.ok(!isSecretReference(bad), bad);
  });

  it("refuses secrets by field name, naming the path and never the value", () => {
    const configuration = {
      database: { password: "canary-pw-3f9a", user: "app", password_policy: "strong" },
      apiKey: "canary-key-77c1",
      webhooks: [{ url: "https://example.test/hook", signing_secret: "canary-sig-0d2e" }],
      token_ttl_seconds: 3600,
      mfa_secret_required: "yes",
    };
    const problems = plainSecretProblems(configuration, ["configuration"]);
    assert.deepEqual(
      problems.map((p) => p.path).sort(),
      [
        "configuration.apiKey",
        "configuration.database.password",
        "configuration.webhooks[0].signing_secret",
      ].sort(),
    );
    for (const problem of problems) {
      assert.match(problem.message, /found a secret in plain text \(recognised by its field name\)/);
      assert.match(problem.message, /projects\/<project>\/secrets\/<name>\/versions\/<version or latest>/);
      assert.ok(!/canary/.test(JSON.stringify(problem)), "the value is never repeated");
    }
  });

  for (const [shape, value] of Object.entries(SHAPED)) {
    it(`refuses a ${shape} by its shape, under an innocent name`, () => {
      const problems = plainSecretProblems({ notes: [{ text: value }] }, ["configuration"]);
      assert.equal(problems.length, 1);
      assert.equal(problems[0]?.path, "configuration.notes[0].text");
      assert.match(problems[0]?.message ?? "", /recognised by its shape/);
      assert.ok(!JSON.stringify(problems).includes(value));
    });
  }

  it("accepts references under secret names, and ordinary values", () => {
    assert.deepEqual(
      plainSecretProblems({
        database: { password: "projects/demo-acme-prod/secrets/db-password/versions/3" },
        region: "europe-west1",
        url: "https://example.test/path?page=2",
        retries: 3,
        enabled: true,
        empty_token: "",
      }),
      [],
    );
  });

  it("scrubs plain secrets and keeps everything else", () => {
    const reference = "projects/demo-acme-prod/secrets/db-password/versions/3";
    assert.deepEqual(
      scrubPlainSecrets({
        password: "canary-1",
        nested: [{ note: SHAPED.JWT, keep: "x" }],
        reference_password: reference,
        count: 2,
      }),
      {
        password: SCRUBBED,
        nested: [{ note: SCRUBBED, keep: "x" }],
        reference_password: reference,
        count: 2,
      },
    );
  });

  it("the config refuses a plain secret anywhere, naming the path; the shipped example has none", () => {
    assert.ok(validateConfig(exampleConfig()).ok);
    const raw = exampleConfig() as { environments: { overrides?: Record<string, unknown> }[] };
    const prod = raw.environments[2];
    assert.ok(prod);
    prod.overrides = {
      ...prod.overrides,
      hosting: { site: "projects", headers_note: SHAPED["Google API key"] },
    };
    const result = validateConfig(raw);
    assert.ok(!result.ok);
    // The strict schema refuses the unknown field too; the secret check adds its own problem naming the path.
    assert.ok(
      result.problems.some(
        (p) =>
          p.path === "environments[2].overrides.hosting.headers_note" &&
          /secret in plain text/.test(p.message),
      ),
      JSON.stringify(result.problems),
    );
    assert.ok(!JSON.stringify(result.problems).includes(SHAPED["Google API key"] ?? "-"));
  });
});
