/** The orch command (bin/orch.mjs running scripts/orch.ts), driving the API on the emulators and keeping its exit codes. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { api, clearFirestore, requireEmulators, tokenFor } from "../support/emulators.js";
import { loadTestConfig, settled } from "../support/engine.js";

const ORCH = fileURLToPath(new URL("../../bin/orch.mjs", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/**
 * TODO(auth): credentials the CLI runs with, as environment variables (ORCH_API_KEY or ORCH_TOKEN).
 * An operator's Firebase ID token from the Auth emulator (tokens survive clearFirestore; keys do not).
 */
function credentialsForTests(): Promise<Record<string, string>> {
  return tokenFor("operator").then((token) => ({ ORCH_TOKEN: token }));
}

/** The same credentials as request headers, for the test's own API calls. */
function headersFor(credentials: Record<string, string>): Record<string, string> {
  return {
    ...(credentials.ORCH_API_KEY ? { "x-api-key": credentials.ORCH_API_KEY } : {}),
    ...(credentials.ORCH_TOKEN ? { authorization: `Bearer ${credentials.ORCH_TOKEN}` } : {}),
  };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `orch ...args` (node bin/orch.mjs) against the stack (ORCH_API_URL from with-stack). */
function orch(args: string[], env: Record<string, string> = {}, timeoutMs = 90_000): Promise<Run> {
  const { ORCH_URL: _url, ORCH_TOKEN: _token, ORCH_API_KEY: _key, ...inherited } = process.env;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [ORCH, ...args], {
      cwd: ROOT,
      env: { ...inherited, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`orch ${args.join(" ")} ran over ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const shown = (run: Run) => `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;

const FAST = JSON.stringify({ driver: "simulated", simulate: { "*": { latency_ms: 50 } } });

describe("the orch CLI on the emulators", function () {
  this.timeout(120_000);
  let credentials: Record<string, string> = {};

  before(async function () {
    requireEmulators(this);
    credentials = await credentialsForTests();
  });
  beforeEach(async () => {
    await clearFirestore();
    await loadTestConfig();
  });

  it("deploys every integration dev declares, follows it to the end and exits 0", async () => {
    const environments = await api("GET", "/environments", undefined, headersFor(credentials));
    assert.equal(environments.status, 200, JSON.stringify(environments.body));
    const dev = environments.body.environments.find((env: { name: string }) => env.name === "dev");
    const declared: string[] = dev.integrations.map((integration: { name: string }) => integration.name);
    assert.ok(declared.length >= 5, `dev declares ${declared.join(", ")}`);

    const run = await orch(["deploy", "--env", "dev", "--config", FAST, "--interval", "200"], credentials);
    assert.equal(run.code, 0, shown(run));
    const id = /deployment (\S+) to dev/.exec(run.stdout)?.[1];
    assert.ok(id, shown(run));
    assert.match(run.stdout, new RegExp(`deployment ${id} succeeded`), shown(run));
    // The final table lists every task, each succeeded.
    for (const integration of declared)
      assert.match(run.stdout, new RegExp(`^\\s+${integration}\\s+succeeded\\s`, "m"), shown(run));
    // Not a TTY: the progress view printed one line per state change.
    // (A 50 ms task may start and finish between two polls, so any intermediate state will do.)
    assert.match(run.stdout, /\d\d:\d\d:\d\d \S+: (ready|running)/, shown(run));
    assert.match(run.stdout, /\d\d:\d\d:\d\d deployment: succeeded/, shown(run));
    const after = await api("GET", `/deployments/${id}`, undefined, headersFor(credentials));
    assert.equal(after.body.deployment.status, "succeeded");
    assert.equal(after.body.tasks.length, declared.length);
  });

  it("exits 1 when the deployment fails, naming the failed task", async () => {
    const config = JSON.stringify({
      driver: "simulated",
      max_retries: 0,
      simulate: { "*": { latency_ms: 20 }, firestore: { fail_always: true } },
    });
    const run = await orch(
      ["deploy", "--env", "dev", "--integrations", "auth,firestore", "--config", config, "--interval", "200"],
      credentials,
    );
    assert.equal(run.code, 1, shown(run));
    assert.match(run.stdout, /^\s+firestore\s+failed\s/m, shown(run));
    assert.match(run.stdout, /deployment \S+ (failed|rolled_back): .*firestore/, shown(run));
  });

  it("--json prints the final deployment and its tasks as JSON, progress on stderr", async () => {
    const run = await orch(
      ["deploy", "--env", "dev", "--integrations", "auth", "--config", FAST, "--interval", "200", "--json"],
      credentials,
    );
    assert.equal(run.code, 0, shown(run));
    const answer = JSON.parse(run.stdout);
    assert.equal(answer.deployment.status, "succeeded");
    assert.deepEqual(
      answer.tasks.map((task: { integration: string; status: string }) => [task.integration, task.status]),
      [["auth", "succeeded"]],
    );
    assert.match(run.stderr, /auth: succeeded/);
  });

  it("--no-wait returns the deployment id at once, and cancel stops it", async () => {
    const slow = JSON.stringify({ driver: "simulated", simulate: { "*": { latency_ms: 3000 } } });
    const run = await orch(
      [
        "deploy",
        "--env",
        "dev",
        "--integrations",
        "auth,firestore,storage",
        "--config",
        slow,
        "--no-wait",
        "--json",
      ],
      credentials,
    );
    assert.equal(run.code, 0, shown(run));
    const id = JSON.parse(run.stdout).deployment_id as string;
    assert.ok(id);
    const cancel = await orch(["cancel", id], credentials);
    assert.equal(cancel.code, 0, shown(cancel));
    assert.match(cancel.stdout, new RegExp(`deployment ${id}: (cancelling|cancelled)`));
    const { deployment } = await settled(id);
    assert.equal(deployment.status, "cancelled");
  });

  it("generated from the route table: deployments get --watch follows, deployments picture --out writes the graph, alerts lists", async () => {
    const started = await orch(
      ["deploy", "--env", "dev", "--integrations", "auth,firestore", "--config", FAST, "--no-wait", "--json"],
      credentials,
    );
    assert.equal(started.code, 0, shown(started));
    const id = JSON.parse(started.stdout).deployment_id as string;
    const watched = await orch(["deployments", "get", id, "--watch", "--interval", "200"], credentials);
    assert.equal(watched.code, 0, shown(watched));
    assert.match(watched.stdout, new RegExp(`deployment ${id} succeeded`), shown(watched));
    const file = path.join(mkdtempSync(path.join(tmpdir(), "orch-picture-")), "graph.svg");
    const picture = await orch(["deployments", "picture", id, "--kind", "graph", "--out", file], credentials);
    assert.equal(picture.code, 0, shown(picture));
    assert.match(readFileSync(file, "utf8"), /<svg[\s>]/);
    const refused = await orch(["deployments", "picture", id], credentials);
    assert.equal(refused.code, 2, shown(refused));
    assert.match(refused.stderr, /--kind: required/);
    const alerts = await orch(["alerts", "--status", "open", "--json"], credentials);
    assert.equal(alerts.code, 0, shown(alerts));
    assert.ok(Array.isArray(JSON.parse(alerts.stdout).alerts), shown(alerts));
  });

  it("exits 2 on bad input: an unknown environment (400, problems printed) or one it cannot find", async () => {
    const server = await orch(
      ["deploy", "--env", "nowhere", "--integrations", "auth", "--config", FAST],
      credentials,
    );
    assert.equal(server.code, 2, shown(server));
    assert.match(server.stderr, /answered 400 bad_input/, shown(server));
    const local = await orch(["deploy", "--env", "nowhere"], credentials);
    assert.equal(local.code, 2, shown(local));
    assert.match(local.stderr, /environment "nowhere" is not declared; declared: .*dev/, shown(local));
    const badJson = await orch(["deploy", "--env", "dev", "--config", "{driver"], credentials);
    assert.equal(badJson.code, 2, shown(badJson));
    assert.match(badJson.stderr, /--config is not JSON/);
  });

  it("exits 2 on an unknown command or flag, 0 on --help, which lists the exit codes", async () => {
    const command = await orch(["frobnicate"]);
    assert.equal(command.code, 2, shown(command));
    assert.match(command.stderr, /unknown command "frobnicate"/);
    const flag = await orch(["status", "--bogus"]);
    assert.equal(flag.code, 2, shown(flag));
    assert.match(flag.stderr, /--bogus/);
    const none = await orch([]);
    assert.equal(none.code, 2, shown(none));
    const help = await orch(["--help"]);
    assert.equal(help.code, 0, shown(help));
    for (const command of ["plan", "deploy", "status", "optimize", "report", "cancel", "keys"])
      assert.match(help.stdout, new RegExp(`^  ${command}\\s`, "m"));
    for (const code of [0, 1, 2, 3, 4, 5, 6]) assert.match(help.stdout, new RegExp(`^  ${code}  \\S`, "m"));
    const deployHelp = await orch(["deploy", "--help"]);
    assert.equal(deployHelp.code, 0, shown(deployHelp));
    assert.match(deployHelp.stdout, /--no-wait/);
  });

  it("status exits 0 and --json prints parseable JSON", async () => {
    const run = await orch(["status", "--env", "dev", "--json"], credentials);
    assert.equal(run.code, 0, shown(run));
    const answer = JSON.parse(run.stdout);
    assert.equal(typeof answer.system_health.status, "string");
    assert.ok(Array.isArray(answer.integration_status));
    const text = await orch(["status", "--env", "dev"], credentials);
    assert.equal(text.code, 0, shown(text));
    assert.match(text.stdout, /^system: \S+/m);
  });

  it("plan prints the plan of the environments asked for", async () => {
    const run = await orch(["plan", "--env", "dev", "--json"], credentials);
    assert.equal(run.code, 0, shown(run));
    const answer = JSON.parse(run.stdout);
    assert.deepEqual(
      answer.architecture_plan.map((env: { environment: string }) => env.environment),
      ["dev"],
    );
    const text = await orch(["plan", "--env", "dev"], credentials);
    assert.equal(text.code, 0, shown(text));
    assert.match(text.stdout, /^dev \(development/m);
    assert.match(text.stdout, /critical path: /);
  });

  it("report writes a PDF or PNG to --out byte for byte, prints text formats, and refuses a binary format without --out", async () => {
    const directory = mkdtempSync(path.join(tmpdir(), "orch-report-"));
    for (const [format, magic] of [
      ["pdf", "%PDF-"],
      ["png", "\u0089PNG"],
    ] as const) {
      const file = path.join(directory, `report.${format}`);
      const run = await orch(
        ["report", "--type", "executive", "--format", format, "--out", file],
        credentials,
      );
      assert.equal(run.code, 0, shown(run));
      assert.equal(readFileSync(file).subarray(0, magic.length).toString("latin1"), magic);
    }
    const csv = await orch(["report", "--type", "health", "--format", "csv"], credentials);
    assert.equal(csv.code, 0, shown(csv));
    assert.match(csv.stdout, /^section,item,metric,value\r?\n/);
    const refused = await orch(["report", "--format", "pdf"], credentials);
    assert.equal(refused.code, 2, shown(refused));
    assert.match(refused.stderr, /--format pdf is binary: name a file with --out/);
  });

  it("cancel of a deployment that does not exist exits 4", async () => {
    const run = await orch(["cancel", "no-such-deployment"], credentials);
    assert.equal(run.code, 4, shown(run));
    assert.match(run.stderr, /404/);
  });

  it("exits 6 when the API cannot be reached", async () => {
    const run = await orch(["status", "--url", "http://127.0.0.1:9"]);
    assert.equal(run.code, 6, shown(run));
    assert.match(run.stderr, /cannot reach http:\/\/127\.0\.0\.1:9/);
  });

  it("never prints the credentials it sends, even with --verbose", async () => {
    const secret = "orch-test-secret-7f3a9c";
    const run = await orch(
      ["status", "--verbose", "--api-key", secret, "--token", `${secret}-token`],
      credentials,
    );
    assert.ok(run.code === 0 || run.code === 3, shown(run));
    assert.match(run.stderr, /x-api-key: \[redacted\]/);
    assert.match(run.stderr, /authorization: Bearer \[redacted\]/);
    assert.ok(!`${run.stdout}${run.stderr}`.includes(secret), shown(run));
  });

  it("creates an API key as admin, uses it, revokes it: the revoked key is refused with exit 3", async () => {
    const admin = { ORCH_TOKEN: await tokenFor("admin") };
    const created = await orch(["keys", "create", "--role", "viewer", "--label", "ci", "--json"], admin);
    assert.equal(created.code, 0, shown(created));
    const key = JSON.parse(created.stdout) as { id: string; key: string };
    assert.match(key.key, /^orch_/);
    const used = await orch(["status", "--json"], { ORCH_API_KEY: key.key });
    assert.equal(used.code, 0, shown(used));
    const denied = await orch(["deploy", "--env", "dev", "--integrations", "auth", "--config", FAST], {
      ORCH_API_KEY: key.key,
    });
    assert.equal(denied.code, 3, shown(denied));
    const revoked = await orch(["keys", "revoke", key.id], admin);
    assert.equal(revoked.code, 0, shown(revoked));
    const refused = await orch(["status"], { ORCH_API_KEY: key.key });
    assert.equal(refused.code, 3, shown(refused));
    assert.ok(
      !refused.stdout.includes(key.key) && !refused.stderr.includes(key.key),
      "the key never appears in output",
    );
  });
});
