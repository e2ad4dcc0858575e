/**
 * How the live drivers read Google's answers and apply the one retry policy, without a server:
 * the error shapes are written here from Google's published error model (google.rpc.Status with
 * ErrorInfo and RetryInfo details; Retry-After in seconds), not taken from the code under test.
 */
import assert from "node:assert/strict";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import {
  backoffMs,
  callGoogle,
  googleFailure,
  roleFor,
  type GoogleAccess,
} from "../../functions/src/drivers/live/google.js";

/** A gaxios-shaped error carrying an HTTP answer. */
const answered = (status: number, data?: unknown, headers: unknown = {}) =>
  Object.assign(new Error(`HTTP ${status}`), { response: { status, data, headers } });

function access(): GoogleAccess & { slept: number[] } {
  const slept: number[] = [];
  return {
    rootUrls: {},
    auth: () => Promise.reject(new Error("no credentials are asked for in these tests")),
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
    random: () => 0,
    maxAttempts: 3,
    slept,
  };
}

/** A call that fails with the given errors in turn, then answers `{ data: "done" }`. */
function failing(...errors: Error[]) {
  let calls = 0;
  return {
    call: () => {
      const error = errors[calls];
      calls += 1;
      return error ? Promise.reject(error) : Promise.resolve({ data: "done" });
    },
    calls: () => calls,
  };
}

describe("live drivers: Google's answers and the retry policy", () => {
  describe("googleFailure", () => {
    it("a failure without an HTTP answer (the network) is none", () => {
      assert.equal(googleFailure(new Error("ECONNRESET")), undefined);
    });

    it("reads status, code, message and the permission an ErrorInfo names, from a JSON text body", () => {
      const body = JSON.stringify({
        error: {
          code: 403,
          message: "The caller does not have permission",
          status: "PERMISSION_DENIED",
          details: [
            {
              "@type": "type.googleapis.com/google.rpc.ErrorInfo",
              reason: "IAM_PERMISSION_DENIED",
              metadata: { permission: "iam.workloadIdentityPools.create" },
            },
          ],
        },
      });
      assert.deepEqual(googleFailure(answered(403, body)), {
        status: 403,
        code: "PERMISSION_DENIED",
        message: "The caller does not have permission",
        retryAfterSeconds: undefined,
        permission: "iam.workloadIdentityPools.create",
      });
    });

    it("says what came when the body is not JSON, and the status when there is none", () => {
      assert.equal(
        googleFailure(answered(502, "<html>Bad Gateway</html>"))?.message,
        "<html>Bad Gateway</html>",
      );
      assert.equal(googleFailure(answered(500))?.message, "HTTP 500");
      assert.equal(googleFailure(answered(500))?.code, undefined);
    });

    const table: [string, unknown, unknown, number | undefined][] = [
      ["Retry-After in seconds (headers as an object)", { "retry-after": "7" }, undefined, 7],
      ["Retry-After in seconds (fetch Headers)", new Headers({ "retry-after": "2" }), undefined, 2],
      [
        "Retry-After as an HTTP date is not read",
        { "retry-after": "Wed, 02 Dec 2026 15:00:00 GMT" },
        undefined,
        undefined,
      ],
      [
        "a RetryInfo delay",
        {},
        { error: { details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "2.5s" }] } },
        2.5,
      ],
      [
        "the header wins over RetryInfo",
        { "retry-after": "4" },
        { error: { details: [{ "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "9s" }] } },
        4,
      ],
      ["no headers at all", null, undefined, undefined],
    ];
    for (const [name, headers, data, seconds] of table) {
      it(`retry delay: ${name}`, () => {
        assert.equal(googleFailure(answered(429, data, headers))?.retryAfterSeconds, seconds);
      });
    }
  });

  it("roleFor names the least-privilege role of a permission, none for one no driver uses", () => {
    assert.equal(roleFor("cloudbuild.builds.create"), "roles/cloudbuild.builds.editor");
    assert.equal(roleFor("iam.serviceAccounts.setIamPolicy"), "roles/iam.serviceAccountAdmin");
    assert.equal(roleFor("compute.instances.create"), undefined);
  });

  it("backoffMs: Retry-After when given, else 2^attempt seconds; up to a quarter more as jitter", () => {
    const failure = {
      status: 429,
      code: undefined,
      message: "",
      retryAfterSeconds: undefined,
      permission: undefined,
    };
    assert.equal(
      backoffMs(failure, 1, () => 0),
      2000,
    );
    assert.equal(
      backoffMs(failure, 3, () => 0),
      8000,
    );
    assert.equal(
      backoffMs(failure, 1, () => 0.999),
      2500,
    );
    assert.equal(
      backoffMs({ ...failure, retryAfterSeconds: 5 }, 4, () => 0),
      5000,
    );
  });

  describe("callGoogle", () => {
    it("retries 503 and RESOURCE_EXHAUSTED after the back-off, then answers", async () => {
      const a = access();
      const exhausted = answered(400, { error: { status: "RESOURCE_EXHAUSTED", message: "quota" } });
      const calls = failing(answered(503), exhausted);
      assert.deepEqual(await callGoogle(a, "read", "p.get", calls.call), { ok: true, data: "done" });
      assert.equal(calls.calls(), 3);
      assert.deepEqual(a.slept, [2000, 4000]);
    });

    it("gives up on 429 after maxAttempts, saying how many, as an error the engine retries", async () => {
      const a = access();
      const calls = failing(answered(429), answered(429), answered(429), answered(429));
      await assert.rejects(
        callGoogle(a, "patch", "p.update", calls.call),
        (error: Error) =>
          !(error instanceof NonRetriableError) &&
          /^patch: HTTP 429: HTTP 429 \(gave up after 3 attempts\)$/.test(error.message),
      );
      assert.equal(calls.calls(), 3);
    });

    it("a 500 or a 408 is an error the engine retries, not retried here", async () => {
      for (const status of [500, 408]) {
        const calls = failing(answered(status));
        await assert.rejects(
          callGoogle(access(), "get", "p.get", calls.call),
          (error: Error) =>
            !(error instanceof NonRetriableError) && error.message === `get: HTTP ${status}: HTTP ${status}`,
        );
        assert.equal(calls.calls(), 1);
      }
    });

    it("another 4xx is final; one the caller allows comes back as the failure", async () => {
      const notFound = () => answered(404, { error: { status: "NOT_FOUND", message: "no pool" } });
      await assert.rejects(
        callGoogle(access(), "get pool", "p.get", failing(notFound()).call),
        (error: Error) =>
          error instanceof NonRetriableError && error.message === "get pool: HTTP 404 NOT_FOUND: no pool",
      );
      const allowed = await callGoogle(access(), "get pool", "p.get", failing(notFound()).call, [404]);
      assert.equal(allowed.ok, false);
      assert.equal(allowed.ok ? undefined : allowed.failure.code, "NOT_FOUND");
    });

    it("a 403 without a named permission names the call's own, and its role", async () => {
      await assert.rejects(
        callGoogle(access(), "create build", "cloudbuild.builds.create", failing(answered(403)).call),
        (error: Error) =>
          error instanceof NonRetriableError &&
          error.message ===
            "create build: HTTP 403: HTTP 403 (needs permission cloudbuild.builds.create, granted by roles/cloudbuild.builds.editor; run doctor for the full list)",
      );
      await assert.rejects(
        callGoogle(access(), "list", "compute.instances.list", failing(answered(403)).call),
        /needs permission compute\.instances\.list; run doctor/,
      );
    });

    it("a failure with no HTTP answer says what was called", async () => {
      await assert.rejects(
        callGoogle(access(), "get bucket", "storage.buckets.get", failing(new Error("socket hang up")).call),
        /^Error: get bucket: socket hang up$/,
      );
    });
  });
});
