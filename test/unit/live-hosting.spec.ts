import assert from "node:assert/strict";
import { gunzipSync } from "node:zlib";
import { NonRetriableError } from "../../functions/src/domain/errors.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { byMode } from "../../functions/src/drivers/registry.js";
import { hostingDriver } from "../../functions/src/drivers/hosting.js";
import { liveHostingSpec } from "../../functions/src/drivers/live/hosting-live.js";
import type { DriverTarget } from "../../functions/src/drivers/types.js";
import {
  ContractServer,
  firebaseHostingModel,
  type HostingModel,
} from "../../scripts/contract-server/index.js";
import { contractAccess, liveEnvironment, liveIO, memoryReleases, memorySources } from "../support/live.js";

const M = "firebasehosting.sites";
const SITE = "acme-prod-web";

/** The site as the repository holds it; tests change files between applies. */
const siteFiles = (): Record<string, string> => ({
  "web/index.html": "<h1>Acme</h1>\n",
  "web/app.js": "console.log('v1');\n",
});

describe("live hosting through googleapis against the Firebase Hosting v1beta1 contract", () => {
  let server: ContractServer;
  let model: HostingModel;
  let files: Record<string, string>;
  let access: Awaited<ReturnType<typeof contractAccess>>;
  let fabricator: ReturnType<typeof createFabricator>;
  const target: DriverTarget<"hosting"> = (() => {
    const environment = liveEnvironment(["hosting"], {
      hosting: {
        site: SITE,
        public_dir: "web",
        clean_urls: true,
        redirects: [{ source: "/old", destination: "/", type: 301 }],
      },
    });
    const declared = environment.integrations[0]!;
    return {
      environment,
      integration: "hosting",
      kind: "hosting",
      settings: declared.settings as DriverTarget<"hosting">["settings"],
    };
  })();

  beforeEach(async () => {
    server = ContractServer.fromRepository("firebasehosting-v1beta1");
    model = firebaseHostingModel(server, [SITE]);
    const { url } = await server.start();
    access = await contractAccess({ firebasehosting: url });
    files = siteFiles();
    fabricator = createFabricator(
      { hosting: byMode(hostingDriver, liveHostingSpec) },
      memoryReleases(),
      liveIO(memorySources(files), access),
    );
  });
  afterEach(() => server.stop());

  const live = () => model.sites.get(SITE)!;
  const servedText = (path: string): string => {
    const release = live().releases[0];
    assert.ok(release, "a release is live");
    const hash = live().files.get(release.version.name)?.[path];
    assert.ok(hash, `${path} is in the live version`);
    return gunzipSync(model.content.get(hash)!).toString("utf8");
  };

  it("plans read-only: only GET calls, field-level changes, mode live", async () => {
    const plan = await fabricator.plan(target);
    assert.equal(plan.mode, "live");
    assert.deepEqual(
      plan.changes.map((c) => c.path),
      [
        "config.cleanUrls",
        "config.redirects",
        "config.rewrites",
        "files./app.js",
        "files./index.html",
        "site",
      ],
    );
    assert.deepEqual(server.calls(), [`${M}.channels.get sites/${SITE}/channels/live`]);
    assert.ok(server.requests.every((r) => r.httpMethod === "GET"));
    assert.equal(plan.summary, "live: 6 change(s) (nothing there yet)");
  });

  it("first apply creates, uploads and releases; the second changes nothing", async () => {
    const first = await fabricator.apply(target, "d1");
    assert.equal(first.changed, true);
    const version = `sites/${SITE}/versions/v000001`;
    const uploaded = [...model.content.keys()].sort();
    assert.equal(uploaded.length, 2);
    assert.deepEqual(server.calls(), [
      `${M}.channels.get sites/${SITE}/channels/live`,
      `${M}.releases.list sites/${SITE}`,
      `${M}.versions.create sites/${SITE}`,
      `${M}.versions.populateFiles ${version}`,
      ...uploaded.map((hash) => `upload ${version} ${hash}`),
      `${M}.versions.patch ${version}`,
      `${M}.releases.create sites/${SITE}`,
    ]);
    assert.ok(
      server.requests.every((r) => r.verdict === "accepted"),
      "every request within the contract",
    );
    assert.equal(live().releases.length, 1);
    assert.equal(servedText("/index.html"), "<h1>Acme</h1>\n");
    assert.equal(servedText("/app.js"), "console.log('v1');\n");
    assert.deepEqual(live().releases[0]!.version.config, {
      cleanUrls: true,
      rewrites: [],
      redirects: [{ glob: "/old", location: "/", statusCode: 301 }],
    });

    const callsBefore = server.calls().length;
    const second = await fabricator.apply(target, "d2");
    assert.equal(second.changed, false);
    assert.deepEqual(server.calls().slice(callsBefore), [
      `${M}.channels.get sites/${SITE}/channels/live`,
      `${M}.versions.files.list ${version}`,
    ]);
    assert.equal(live().releases.length, 1, "no new release");
  });

  it("uploads only the files Hosting lacks", async () => {
    await fabricator.apply(target, "d1");
    files["web/app.js"] = "console.log('v2');\n";
    const before = server.requests.length;
    await fabricator.apply(target, "d2");
    const uploads = server.requests.slice(before).filter((r) => r.methodId === "upload");
    assert.equal(uploads.length, 1, "index.html is unchanged, so only app.js is sent");
    assert.equal(servedText("/app.js"), "console.log('v2');\n");
    assert.equal(servedText("/index.html"), "<h1>Acme</h1>\n");
  });

  it("rollback releases the previous version again, without creating or uploading anything", async () => {
    await fabricator.apply(target, "d1");
    files["web/app.js"] = "console.log('v2');\n";
    await fabricator.apply(target, "d2");
    const before = server.calls().length;
    const undone = await fabricator.rollback(target, "d2");
    assert.match(undone.summary, /^live: rolled back to the state of release 1/);
    assert.deepEqual(server.calls().slice(before), [
      `${M}.releases.list sites/${SITE}`,
      `${M}.releases.create sites/${SITE}`,
    ]);
    assert.equal(live().releases[0]!.type, "ROLLBACK");
    assert.equal(live().releases[0]!.version.name, `sites/${SITE}/versions/v000001`);
    assert.equal(servedText("/app.js"), "console.log('v1');\n");
    const plan = await fabricator.plan(target);
    assert.ok(
      plan.changes.some((c) => c.path === "files./app.js"),
      "the repository still holds v2, so a plan shows the difference",
    );
  });

  it("does not roll a live site back to a release recorded before the environment went live", async () => {
    const releases = memoryReleases();
    const staged = { ...target, environment: { ...target.environment, mode: "emulated" as const } };
    const specs = { hosting: byMode(hostingDriver, liveHostingSpec) };
    await createFabricator(specs, releases, liveIO(memorySources(files), access)).apply(staged, "d0");
    assert.equal(releases.all[0]?.mode, "staged");
    const live = createFabricator(specs, releases, liveIO(memorySources(files), access));
    await live.apply(target, "d1");
    const before = server.calls().length;
    const undone = await live.rollback(target, "d1");
    assert.equal(
      undone.summary,
      "live: no live release before 2 to go back to (release 1 was staged); left as is",
    );
    assert.equal(server.calls().length, before, "Google is not asked to release anything");
  });

  it("backs off for Retry-After (with jitter) on 429, then succeeds", async () => {
    server.inject(`${M}.versions.create`, { kind: "rate-limited", retryAfterSeconds: 7 }, 2);
    await fabricator.apply(target, "d1");
    assert.equal(server.calls().filter((c) => c.startsWith(`${M}.versions.create`)).length, 3);
    // 7 s from Retry-After, plus a quarter of it times random() = 0.5.
    assert.deepEqual(access.slept, [7875, 7875]);
    assert.equal(live().releases.length, 1);
  });

  it("gives up after maxAttempts with an error the engine may retry later", async () => {
    server.inject(`${M}.releases.list`, { kind: "rate-limited", retryAfterSeconds: 1 }, 10);
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      assert.ok(!(error instanceof NonRetriableError), "quota errors stay retriable");
      assert.match(error.message, /HTTP 429 RESOURCE_EXHAUSTED.*gave up after 4 attempts/);
      return true;
    });
    assert.equal(access.slept.length, 3);
  });

  it("a 403 names the permission and the role, and is not retried", async () => {
    server.inject(`${M}.versions.create`, {
      kind: "permission-denied",
      permission: "firebasehosting.sites.update",
    });
    await assert.rejects(fabricator.apply(target, "d1"), (error: Error) => {
      assert.ok(error instanceof NonRetriableError);
      assert.match(error.message, /HTTP 403 PERMISSION_DENIED/);
      assert.match(
        error.message,
        /needs permission firebasehosting\.sites\.update, granted by roles\/firebasehosting\.admin/,
      );
      return true;
    });
    assert.equal(access.slept.length, 0);
    assert.equal(live().releases.length, 0, "nothing released");
  });

  it("a site that does not exist is refused with what to do", async () => {
    const other = structuredClone(target);
    other.settings.site = "no-such-site";
    await assert.rejects(
      fabricator.plan(other),
      /Hosting site "no-such-site" was not found.*firebase hosting:sites:create no-such-site/,
    );
  });
});

describe("the contract server holds Hosting requests to the discovery document", () => {
  let server: ContractServer;
  let url: string;
  beforeEach(async () => {
    server = ContractServer.fromRepository("firebasehosting-v1beta1");
    firebaseHostingModel(server, ["s1"]);
    ({ url } = await server.start());
  });
  afterEach(() => server.stop());
  const send = (method: string, path: string, body?: unknown, type = "application/json") =>
    fetch(`${url}${path}`, {
      method,
      headers: { "content-type": type },
      ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as { error?: { message?: string } } }));

  it("answers 404 for a path or HTTP method no method has, 400 for a name outside the pattern", async () => {
    assert.equal((await send("GET", "/v2/sites/s1/releases")).status, 404);
    assert.equal((await send("DELETE", "/v1beta1/sites/s1/releases")).status, 404);
    const outside = await send("GET", "/v1beta1/sites/s1/nothing");
    assert.equal(outside.status, 400);
    assert.match(outside.body.error?.message ?? "", /name: "sites\/s1\/nothing" does not match the pattern/);
  });

  it("refuses wrong field types, unknown fields and unknown update-mask fields, naming each", async () => {
    const typed = await send("POST", "/v1beta1/sites/s1/versions", { config: { cleanUrls: "yes" } });
    assert.equal(typed.status, 400);
    assert.match(typed.body.error?.message ?? "", /config\.cleanUrls: expected a boolean/);
    const unknown = await send("POST", "/v1beta1/sites/s1/versions", { config: { cleanURLs: true } });
    assert.match(unknown.body.error?.message ?? "", /config\.cleanURLs: unknown field/);
    const redirect = await send("POST", "/v1beta1/sites/s1/versions", {
      config: { redirects: [{ glob: "/a" }] },
    });
    assert.match(redirect.body.error?.message ?? "", /config\.redirects\[0\]\.location: required field/);
    const mask = await send("PATCH", "/v1beta1/sites/s1/versions/v1?updateMask=colour", {
      status: "FINALIZED",
    });
    assert.match(mask.body.error?.message ?? "", /"colour" names no field of Version/);
    assert.ok(server.requests.every((r) => r.verdict === "refused"));
  });

  it("refuses an upload whose bytes do not hash to its name", async () => {
    const created = await send("POST", "/v1beta1/sites/s1/versions", {});
    const version = (created.body as { name?: string }).name!;
    const hash = "0".repeat(64);
    await send("POST", `/v1beta1/${version}:populateFiles`, { files: { "/a.txt": hash } });
    const upload = await send(
      "POST",
      `/upload/${version}/files/${hash}`,
      "not gzip",
      "application/octet-stream",
    );
    assert.equal(upload.status, 400);
    assert.match(upload.body.error?.message ?? "", /SHA-256 is [0-9a-f]{64}, not 0{64}/);
  });
});
