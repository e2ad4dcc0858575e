/**
 * The control plane's own deploy (`npm run deploy:control-plane -- --project <id> --dry-run`): the
 * repository passes every offline check, and each check refuses what Firebase would refuse.
 * The build checks (tsc, the dashboard bundle) are left out here: `npm test` type-checks first.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import {
  checkConfig,
  checkFunctions,
  checkIndexes,
  checkRules,
  checkRuntime,
  deployArgs,
  dryRunChecks,
  repoRoot,
  type Endpoint,
  type FirebaseJson,
} from "../../scripts/deploy-control-plane.js";

const firebaseJson: FirebaseJson = {
  functions: [{ source: "functions", codebase: "control-plane", runtime: "nodejs22" }],
  firestore: { rules: "firestore.rules", indexes: "firestore.indexes.json" },
  hosting: {
    public: "dashboard/public",
    rewrites: [{ source: "/api/orchestration/**", function: { functionId: "api", region: "us-central1" } }],
  },
};
const api: Endpoint = {
  region: ["us-central1"],
  availableMemoryMb: null,
  timeoutSeconds: null,
  httpsTrigger: {},
};

describe("deploy:control-plane dry run", function () {
  this.timeout(60_000);

  it("passes on the repository and deploys exactly functions, rules, indexes and hosting", async () => {
    const { checks, endpoints } = await dryRunChecks({ build: false });
    const failed = checks.filter((check) => !check.ok);
    assert.deepEqual(failed, []);
    assert.deepEqual(
      checks.map((check) => check.name),
      [
        "Node runtime",
        "Firestore rules compile",
        "Firestore indexes valid",
        "orchestration.json valid",
        "functions: regions, memory, timeouts",
      ],
    );
    assert.ok(endpoints.api?.httpsTrigger, "the api function is an HTTPS function");
    assert.deepEqual(deployArgs("acme-control"), [
      "deploy",
      "--project",
      "acme-control",
      "--only",
      "functions:control-plane,firestore:rules,firestore:indexes,hosting",
      "--non-interactive",
    ]);
  });

  it("refuses a runtime other than Node 22 wherever it is declared", () => {
    assert.equal(checkRuntime(firebaseJson, "22", "v22.3.0").ok, true);
    const node20 = { ...firebaseJson, functions: [{ ...firebaseJson.functions[0]!, runtime: "nodejs20" }] };
    assert.match(checkRuntime(node20, "22", "v22.3.0").detail, /runtime is nodejs20/);
    assert.match(checkRuntime(firebaseJson, "20", "v22.3.0").detail, /engines.node is 20/);
    assert.match(checkRuntime(firebaseJson, "22", "v20.1.0").detail, /this Node is v20.1.0/);
  });

  it("refuses rules that do not compile, naming file:line:column", () => {
    const good = "rules_version = '2';\nservice cloud.firestore {\n  match /databases/{d}/documents {}\n}\n";
    assert.equal(checkRules(good, "firestore.rules").ok, true);
    const unbalanced = checkRules(good.replace(/}\n$/, ""), "firestore.rules");
    assert.equal(unbalanced.ok, false);
    assert.match(unbalanced.detail, /firestore\.rules:\d+:\d+/);
    assert.equal(checkRules(good.replace("cloud.firestore", "firebase.storage"), "x.rules").ok, false);
  });

  it("refuses an index with one field, a field with both order and arrayConfig, an unknown scope, a repeat", () => {
    const index = (fields: unknown[], queryScope = "COLLECTION") => ({
      collectionGroup: "tasks",
      queryScope,
      fields,
    });
    const two = [
      { fieldPath: "a", order: "ASCENDING" },
      { fieldPath: "b", arrayConfig: "CONTAINS" },
    ];
    const table: [string, unknown, boolean][] = [
      ["two fields", { indexes: [index(two)], fieldOverrides: [] }, true],
      ["one field", { indexes: [index(two.slice(0, 1))] }, false],
      [
        "both",
        { indexes: [index([{ fieldPath: "a", order: "ASCENDING", arrayConfig: "CONTAINS" }, two[1]])] },
        false,
      ],
      ["scope", { indexes: [index(two, "DATABASE")] }, false],
      ["repeat", { indexes: [index(two), index(two)] }, false],
      ["not an object", [], false],
    ];
    for (const [label, raw, ok] of table) assert.equal(checkIndexes(raw, "i.json").ok, ok, label);
  });

  it("refuses an invalid orchestration config, naming the path", () => {
    const check = checkConfig(
      { version: 1, base: { region: "mars-1" }, environments: [] },
      "orchestration.json",
    );
    assert.equal(check.ok, false);
    assert.match(check.detail, /orchestration\.json: base\.region/);
  });

  it("refuses an unknown region, a memory size Cloud Functions lacks, a timeout over the limit, a rewrite to nothing", () => {
    assert.equal(checkFunctions({ api }, firebaseJson).ok, true);
    const table: [string, Record<string, Endpoint>, RegExp][] = [
      ["region", { api, f: { region: ["mars-1"] } }, /f: unknown region mars-1/],
      ["memory", { api, f: { region: ["us-central1"], availableMemoryMb: 300 } }, /f: memory 300 MB/],
      [
        "event timeout",
        { api, f: { region: ["us-central1"], timeoutSeconds: 600, eventTrigger: { eventType: "e" } } },
        /f: timeout 600 s is over the 540 s/,
      ],
      ["rewrite", { other: api }, /names api in us-central1, which is no HTTPS function there/],
    ];
    for (const [label, endpoints, expected] of table) {
      const check = checkFunctions(endpoints, firebaseJson);
      assert.equal(check.ok, false, label);
      assert.match(check.detail, expected, label);
    }
    // An HTTPS function may run for an hour.
    assert.equal(checkFunctions({ api: { ...api, timeoutSeconds: 3600 } }, firebaseJson).ok, true);
  });

  it("exits 2 on a project id Firebase would refuse, before checking anything", async () => {
    const script = path.join(repoRoot, "scripts", "deploy-control-plane.ts");
    const tsx = path.join(repoRoot, "node_modules", ".bin", "tsx");
    const run = await promisify(execFile)(tsx, [script, "--project", "Bad_Id", "--dry-run"]).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--project must be a Firebase project id.*"Bad_Id"/);
  });
});
