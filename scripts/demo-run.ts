/**
 * The demo's steps, run inside a fresh emulator stack by scripts/demo.ts: load the example
 * config through the functions, read it back from Firestore, then run real deployments through
 * the engine and draw their timelines.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { getApps, initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { INTEGRATION_KINDS } from "../functions/src/domain/integrations.js";
import { createAuditLog } from "../functions/src/store/audit-log.js";
import { auditKeySource } from "../functions/src/store/audit-key.js";
import { createEngineStore } from "../functions/src/store/engine-store.js";
import { createStore } from "../functions/src/store/store.js";
import { createEnvironmentResolver } from "../functions/src/engine/environments.js";
import { svgToPng } from "../functions/src/visual/report-raster.js";
import { healthCells } from "../functions/src/visual/live-views.js";
import { FirebaseVisualOrchestrator } from "../functions/src/visual/visual-orchestrator.js";
import { emulatorToken } from "./lib/auth.js";
import { closeDashboard, launchChromium, screenshot, signIn } from "./lib/browser.js";
import { showFaultRepairs } from "./lib/demo-faults.js";
import { demoPlanning } from "./lib/demo-planning.js";
import { backtestOwnHistory, demoLearning } from "./lib/demo-learning.js";
import { demoForecast } from "./lib/demo-forecast.js";
import { demoLive } from "./lib/demo-live.js";
import { demoOps } from "./lib/demo-ops.js";
import { demoOperations2 } from "./lib/demo-operations2.js";
import { demoDr } from "./lib/demo-dr.js";
import { demoPrivacy } from "./lib/demo-privacy.js";
import { simulate } from "../test/sim/world.js";
import { showScheduledJobs } from "./demo-schedules.js";
import { consoleToDetails, createStory, timingLines } from "./lib/story.js";
import type { TrendsAnswer } from "../functions/src/warehouse/trends.js";

const repoRoot = fileURLToPath(new URL("..", import.meta.url));
const stackLog = process.env.ORCH_STACK_LOG;
// The story goes to the terminal; detail lines (and whatever the step modules print) to the log.
const story = createStory({ logFile: stackLog, verbose: process.env.ORCH_VERBOSE === "1" });
consoleToDetails(story);
const demoStarted = Date.now();
const apiBase = `${process.env.ORCH_API_URL ?? ""}/api/orchestration`;
const hostingBase = process.env.ORCH_HOSTING_URL ?? "";

interface TaskView {
  id: string;
  integration: string;
  status: string;
  attempt: number;
  retry_count: number;
  driver_label: string;
  started_at: string | null;
  completed_at: string | null;
  error_message: string | null;
  reason: string | null;
  rollback_note: string | null;
  dependencies: string[];
}
interface DeploymentView {
  status: string;
  started_at: string | null;
  completed_at: string | null;
  error_message: string | null;
  actual_duration: number | null;
}

type Role = "viewer" | "operator" | "admin";
const tokens = new Map<Role, Promise<string>>();
/** People of the demo, signed in on the Auth emulator with their role claim. */
function tokenOf(role: Role): Promise<string> {
  let token = tokens.get(role);
  if (!token) {
    token = emulatorToken({
      authHost: process.env.FIREBASE_AUTH_EMULATOR_HOST ?? "",
      projectId: process.env.GCLOUD_PROJECT ?? "",
      role,
      email: `${role}@acme.example`,
    });
    tokens.set(role, token);
  }
  return token;
}

/** Calls the API as a person with a role: an admin unless told otherwise. */
async function call(
  method: string,
  path: string,
  body?: unknown,
  role: Role = "admin",
): Promise<{ status: number; body: Record<string, unknown> }> {
  const send = async () =>
    fetch(`${apiBase}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${await tokenOf(role)}`,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  let response: Response;
  try {
    response = await send();
  } catch (error) {
    // A kept-alive connection the emulator closed while the demo computed locally for a few
    // seconds: the request went out on a dead socket and was never read. Sent once more, afresh.
    if ((error as { cause?: { code?: string } }).cause?.code !== "UND_ERR_SOCKET") throw error;
    response = await send();
  }
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Where the demo writes its pictures and reports. */
const outDir = path.join(repoRoot, "out", "demo");
/** The demo's people sign in to the dashboard with this password (Auth emulator only). */
const DEMO_PASSWORD = "local-emulator-only";

function heading(text: string): void {
  story.step(text);
}

/** Names joined by two spaces, in lines of at most `width` characters. */
function wrapped(names: string[], width: number): string[] {
  const lines: string[] = [];
  for (const name of names) {
    const last = lines.at(-1);
    if (last !== undefined && last.length + 2 + name.length <= width)
      lines[lines.length - 1] = `${last}  ${name}`;
    else lines.push(name);
  }
  return lines;
}

function summarize(configuration: Record<string, unknown>): string {
  return Object.entries(configuration)
    .filter(([, value]) => typeof value !== "object" || Array.isArray(value))
    .slice(0, 4)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join("|") || "-" : String(value)}`)
    .join(" ");
}

/** The instance the demo adds to staging: a second Hosting site, its own settings over the kind's. */
const DEMO_INSTANCE = "hosting:marketing";

/**
 * orchestration.json as the demo loads it: staging also declares one integration instance,
 * hosting:marketing (its own site and files), to show instances provisioned and health-checked.
 * The file itself stays as it is: the seeded histories the learning tests replay are drawn from it.
 */
function demoConfig(): {
  environments: {
    name: string;
    integrations: string[];
    overrides?: Record<string, Record<string, unknown>>;
  }[];
} {
  const config = JSON.parse(readFileSync(path.join(repoRoot, "orchestration.json"), "utf8")) as ReturnType<
    typeof demoConfig
  >;
  const staging = config.environments.find((env) => env.name === "staging");
  if (!staging) throw new Error("orchestration.json has no staging");
  staging.integrations.push(DEMO_INSTANCE);
  staging.overrides = {
    ...staging.overrides,
    [DEMO_INSTANCE]: { site: "acme-marketing", public_dir: "environments/marketing", rewrites: [] },
  };
  return config;
}

async function loadConfig(): Promise<void> {
  heading(
    `1. Load orchestration.json (with ${DEMO_INSTANCE} in staging) into the control plane through the api function`,
  );
  const response = await call("POST", "/config", demoConfig());
  if (response.status !== 200)
    throw new Error(`loading the config failed: ${response.status} ${JSON.stringify(response.body)}`);
  console.log(`POST ${apiBase}/config -> ${response.status} ${JSON.stringify(response.body)}`);
  story.say(
    `POST /config -> ${response.status}: the example config is loaded, staging with one integration instance (${DEMO_INSTANCE}: its own Hosting site)`,
  );

  const bad = await call("POST", "/config", {
    version: 1,
    base: { region: "mars-1", concurrency: 0, integrations: {} },
    environments: [],
  });
  const problems = (bad.body.error as { problems?: { message: string }[] }).problems ?? [];
  story.say(
    `A broken config is refused with ${bad.status}, naming every path (${problems.length} problems):`,
  );
  for (const problem of problems.slice(0, 3))
    story.say(`  - ${problem.message.length > 96 ? `${problem.message.slice(0, 93)}...` : problem.message}`);
  for (const problem of problems.slice(3)) console.log(`  - ${problem.message}`);
}

async function printEnvironments(): Promise<void> {
  heading("2. Environments and their integrations, as read back from Firestore (typed store)");
  if (getApps().length === 0) initializeApp({ projectId: process.env.GCLOUD_PROJECT });
  const store = createStore(getFirestore());
  const [environments, integrations] = await Promise.all([
    store.listEnvironments(),
    store.listIntegrations(),
  ]);
  for (const env of environments) {
    const own = integrations.filter((i) => i.environment === env.name);
    story.say(
      `${env.name.padEnd(8)} ${env.type.padEnd(11)} ${env.region.padEnd(12)} ${env.mode.padEnd(9)} rollback ${env.rollback_policy.padEnd(7)} ${own.length} integrations`,
    );
    console.log(
      `${env.name.padEnd(8)} ${env.type.padEnd(11)} project=${env.project_id} region=${env.region} mode=${env.mode} concurrency=${env.concurrency} rollback=${env.rollback_policy} status=${env.status}`,
    );
    for (const integration of integrations.filter((i) => i.environment === env.name)) {
      console.log(
        `    ${integration.name.padEnd(10)} ${integration.status.padEnd(9)} ${summarize(integration.configuration)}`,
      );
    }
  }
}

async function deployAndWatch(
  title: string,
  request: Record<string, unknown>,
  { timeline = false }: { timeline?: boolean } = {},
): Promise<{ id: string; deployment: DeploymentView; tasks: TaskView[] }> {
  heading(title);
  const response = await call("POST", "/deploy", request, "operator");
  if (response.status !== 202)
    throw new Error(`deploy refused: ${response.status} ${JSON.stringify(response.body)}`);
  const id = String(response.body.deployment_id);
  console.log(
    `POST /deploy -> 202 deployment ${id}, ${(response.body.task_ids as string[]).length} tasks, estimated completion ${String(response.body.estimated_completion)}`,
  );
  let lastLine = "";
  const deadline = Date.now() + 120_000;
  for (;;) {
    const view = await call("GET", `/deployments/${id}`);
    const deployment = view.body.deployment as DeploymentView;
    const tasks = view.body.tasks as TaskView[];
    const counts = new Map<string, number>();
    for (const task of tasks) counts.set(task.status, (counts.get(task.status) ?? 0) + 1);
    const line = `  [${deployment.status}] ${[...counts].map(([status, n]) => `${status} ${n}`).join(", ")}`;
    if (line !== lastLine) console.log(line);
    lastLine = line;
    if (["succeeded", "failed", "rolled_back", "cancelled"].includes(deployment.status)) {
      drawTimeline(deployment, tasks, timeline ? story.say : story.detail);
      return { id, deployment, tasks };
    }
    if (Date.now() > deadline)
      throw new Error(`deployment ${id} did not finish within 120 s (last: ${line.trim()})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function drawTimeline(deployment: DeploymentView, tasks: TaskView[], show: (line: string) => void): void {
  const width = 50;
  const times = tasks
    .flatMap((t) => [t.started_at, t.completed_at])
    .filter((t): t is string => t !== null)
    .map((t) => Date.parse(t));
  const start = Math.min(...times, Date.parse(deployment.started_at ?? new Date().toISOString()));
  const end = Math.max(...times, Date.parse(deployment.completed_at ?? new Date().toISOString()));
  const span = Math.max(1, end - start);
  const column = (iso: string) => Math.min(width - 1, Math.floor(((Date.parse(iso) - start) / span) * width));
  show(`timeline (${(span / 1000).toFixed(1)} s across; driver: ${tasks[0]?.driver_label ?? "-"})`);
  const ordered = [...tasks].sort((a, b) => (a.started_at ?? "~").localeCompare(b.started_at ?? "~"));
  for (const task of ordered) {
    const bar = Array.from({ length: width }, () => " ");
    if (task.started_at) {
      const from = column(task.started_at);
      const to = task.completed_at ? column(task.completed_at) : from;
      for (let i = from; i <= to; i += 1)
        bar[i] = task.status === "succeeded" ? "#" : task.status === "rolled_back" ? "~" : "x";
    }
    const note = task.error_message ?? task.reason ?? "";
    const retries = task.retry_count > 0 ? ` retries=${task.retry_count}` : "";
    show(
      `${task.integration.padEnd(11)} |${bar.join("")}| ${task.status.padEnd(11)} attempt ${task.attempt}${retries} ${note.slice(0, 40)}`,
    );
  }
  const ending = `=> ${tasks.length} tasks, deployment ${deployment.status} in ${deployment.actual_duration?.toFixed(1) ?? "?"} s${deployment.error_message ? `: ${deployment.error_message}` : ""}`;
  show(ending.slice(0, 110));
  if (show !== story.say) story.say(ending.slice(0, 110));
}

const allTen = [...INTEGRATION_KINDS];

async function showAccessControl(): Promise<void> {
  heading(
    "3. Access control: a viewer may read but not deploy; an operator may deploy (Firebase Auth ID tokens)",
  );
  const request = { environment: "dev", integrations: ["auth"], configuration: { driver: "simulated" } };
  const refused = await call("POST", "/deploy", request, "viewer");
  const reason = (refused.body.error as { message?: string } | undefined)?.message ?? "";
  console.log(`viewer@acme.example   POST /deploy -> ${refused.status} ${reason}`);
  const read = await call("GET", "/environments", undefined, "viewer");
  const anonymous = await fetch(`${apiBase}/deploy`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(request),
  });
  story.say(
    `viewer: POST /deploy -> ${refused.status}, GET /environments -> ${read.status}; no credentials: POST /deploy -> ${anonymous.status}`,
  );
}

rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
await tokenOf("operator");
process.stdout.write(
  `Watch it live on the dashboard: ${hostingBase}/  (operator@acme.example, password ${DEMO_PASSWORD})\n`,
);
await loadConfig();
await printEnvironments();
await showAccessControl();
const happy = await deployAndWatch(
  "4. Deploy all ten integrations to dev through the engine (simulated driver, 150 ms each)",
  {
    environment: "dev",
    integrations: allTen,
    configuration: { driver: "simulated", simulate: { "*": { latency_ms: 150 } } },
  },
);
const retried = await deployAndWatch(
  "5. Transient failure: staging's functions fail twice, then succeed on attempt 3",
  {
    environment: "staging",
    integrations: ["auth", "firestore", "functions", "hosting"],
    configuration: { driver: "simulated", retry_base_ms: 400, simulate: { functions: { fail_first: 2 } } },
  },
  { timeline: true },
);
const rolledBack = await deployAndWatch(
  "6. Permanent failure in prod (rollback policy all): hosting always fails, everything applied is rolled back",
  {
    environment: "prod",
    integrations: ["security", "auth", "firestore", "functions", "hosting", "monitoring"],
    configuration: {
      driver: "simulated",
      retry_base_ms: 200,
      max_retries: 1,
      simulate: { hosting: { fail_always: true } },
    },
  },
  { timeline: true },
);

interface IntegrationStatus {
  environment: string;
  name: string;
  status: string;
  health: string;
  mode: string;
  latency_ms: number;
  details: string;
  open_alert: string | null;
}

async function provisionAll(): Promise<boolean> {
  heading(
    `7. Provision dev, staging and prod with the real drivers (all ten integrations each, and staging's ${DEMO_INSTANCE})`,
  );
  const ids: string[] = [];
  for (const name of ["dev", "staging", "prod"]) {
    const response = await call("POST", `/environments/${name}/provision`);
    if (response.status !== 202)
      throw new Error(`provisioning ${name} refused: ${JSON.stringify(response.body)}`);
    ids.push(String(response.body.deployment_id));
    console.log(
      `POST /environments/${name}/provision -> 202 deployment ${String(response.body.deployment_id)}`,
    );
  }
  const deadline = Date.now() + 300_000;
  let last = "";
  for (;;) {
    const views = await Promise.all(ids.map((id) => call("GET", `/deployments/${id}`)));
    const line = views
      .map((view) => {
        const deployment = view.body.deployment as DeploymentView & { environment: string };
        const tasks = view.body.tasks as TaskView[];
        return `${deployment.environment} ${deployment.status} ${tasks.filter((t) => t.status === "succeeded").length}/${tasks.length}`;
      })
      .join("  |  ");
    if (line !== last) console.log(`  ${line}`);
    last = line;
    const statuses = views.map((view) => (view.body.deployment as DeploymentView).status);
    if (statuses.every((status) => ["succeeded", "failed", "rolled_back", "cancelled"].includes(status))) {
      story.say(line);
      for (const view of views) {
        const deployment = view.body.deployment as DeploymentView & { environment: string };
        if (deployment.status !== "succeeded")
          story.say(`${deployment.environment}: ${deployment.status}: ${deployment.error_message ?? ""}`);
      }
      break;
    }
    if (Date.now() > deadline) throw new Error("provisioning did not finish within 300 s");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const report = await call("GET", "/status");
  const integrations = report.body.integration_status as IntegrationStatus[];
  const system = report.body.system_health as { status: string; duration_ms: number; integrations: number };
  const healthy = integrations.filter((row) => row.health === "healthy").length;
  story.say(
    `health check of ${system.integrations} integrations in ${system.duration_ms} ms: ${healthy} healthy, system ${system.status}`,
  );
  console.log(
    `  ${"environment".padEnd(9)} ${"integration".padEnd(11)} ${"mode".padEnd(9)} ${"status".padEnd(9)} ${"health".padEnd(8)} latency  details`,
  );
  for (const row of integrations) {
    console.log(
      `  ${row.environment.padEnd(9)} ${row.name.padEnd(11)} ${row.mode.padEnd(9)} ${row.status.padEnd(9)} ${row.health.padEnd(8)} ${`${row.latency_ms} ms`.padStart(7)}  ${row.details.slice(0, 70)}`,
    );
  }
  const instance = integrations.find((row) => row.environment === "staging" && row.name === DEMO_INSTANCE);
  story.say(
    instance
      ? `staging/${DEMO_INSTANCE}: ${instance.status}, ${instance.health} (${instance.mode}; ${instance.details.slice(0, 60)})`
      : `staging/${DEMO_INSTANCE} is missing from the health report`,
  );
  return instance !== undefined && integrations.every((row) => row.health === "healthy");
}

async function breakAndMend(): Promise<boolean> {
  heading(
    "9. Health monitoring: break prod's Firestore rules (an open write), watch the alert fire, mend, watch it clear",
  );
  const scratchDir = path.join(repoRoot, ".stack", "demo-sources");
  mkdirSync(scratchDir, { recursive: true });
  const scratch = path.join(scratchDir, "prod.firestore.rules");
  const good = readFileSync(path.join(repoRoot, "environments", "firestore.rules"), "utf8");
  writeFileSync(scratch, good);
  const config = demoConfig();
  const prod = config.environments.find((env) => env.name === "prod");
  if (!prod) throw new Error("orchestration.json has no prod");
  prod.overrides = {
    ...prod.overrides,
    firestore: {
      ...(prod.overrides?.firestore ?? {}),
      rules_file: ".stack/demo-sources/prod.firestore.rules",
    },
  };
  await call("POST", "/config", config);
  console.log(
    "prod's rules now come from a scratch copy (same content): .stack/demo-sources/prod.firestore.rules",
  );
  const security = async () => {
    // The recorded check (what the scheduler runs every minute); GET /status only reads.
    const report = await call("POST", "/jobs/health?environment=prod");
    return (report.body.integration_status as IntegrationStatus[]).find((row) => row.name === "security");
  };
  writeFileSync(
    scratch,
    `${good}\nservice cloud.firestore { match /databases/{d}/documents { match /x/{y} { allow write: if true; } } }\n`,
  );
  const broken = await security();
  story.say(`broken:  security ${broken?.health} (${broken?.details.slice(0, 70)})`);
  const alerts = await call("GET", "/alerts?status=open");
  for (const alert of (
    alerts.body.alerts as { level: string; message: string; integration: string | null }[]
  ).filter((a) => a.integration === "security")) {
    story.say(`ALERT [${alert.level}] ${alert.message.slice(0, 96)}`);
  }
  writeFileSync(scratch, good);
  const mended = await security();
  story.say(`mended:  security ${mended?.health}; open alert ${mended?.open_alert ?? "none"}`);
  const resolved = await call("GET", "/alerts?status=resolved");
  const cleared = (resolved.body.alerts as { integration: string | null; resolved_at: string }[]).filter(
    (a) => a.integration === "security",
  );
  story.say(
    `the security alert is resolved: ${cleared.length === 1 ? `yes, at ${cleared[0]?.resolved_at}` : "no"}`,
  );
  return broken?.health !== "healthy" && mended?.health === "healthy";
}

async function promote(): Promise<string> {
  heading("10. Promote dev to staging behind the health gate");
  const response = await call("POST", "/promote", { from: "dev", to: "staging" });
  story.say(`POST /promote {from: dev, to: staging} -> ${response.status}`);
  if (response.status !== 202) {
    story.say(JSON.stringify(response.body).slice(0, 110));
    return "refused";
  }
  const id = String(response.body.deployment_id);
  const deadline = Date.now() + 180_000;
  for (;;) {
    const view = await call("GET", `/deployments/${id}`);
    const deployment = view.body.deployment as DeploymentView;
    if (["succeeded", "failed", "rolled_back", "cancelled"].includes(deployment.status)) {
      story.say(`promotion deployment ${id}: ${deployment.status}`);
      return deployment.status;
    }
    if (Date.now() > deadline) throw new Error("promotion did not finish within 180 s");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

async function showDifferences(): Promise<void> {
  heading("8. How staging and prod differ (POST /plan)");
  const response = await call("POST", "/plan", { environments: ["staging", "prod"] });
  const differences = response.body.differences as {
    from: string;
    to: string;
    changes: { path: string; left: unknown; right: unknown }[];
  }[];
  const changes = differences[0]?.changes ?? [];
  story.say(`${changes.length} settings differ, e.g.:`);
  for (const change of changes.slice(0, 3))
    story.say(
      `${change.path.padEnd(40)} staging=${JSON.stringify(change.left)}  prod=${JSON.stringify(change.right)}`.slice(
        0,
        110,
      ),
    );
  for (const change of changes) {
    console.log(
      `  ${change.path.padEnd(44)} staging=${JSON.stringify(change.left)}  prod=${JSON.stringify(change.right)}`,
    );
  }
}

const allHealthy = await provisionAll();
await showDifferences();
const alertCycle = await breakAndMend();
const promotion = await promote();

heading(
  "10b. Scheduled jobs: the catalog with its next runs, and backups run on their cron under an injected clock",
);
const schedules = await showScheduledJobs(call);
story.say(
  schedules
    ? "backups of dev, staging and the control plane each ran once, on their cron"
    : "NOT as expected",
);

heading("11. Faults are the normal case: a lost trigger and a dead executor, repaired by the sweeper");
const repaired = await showFaultRepairs(getFirestore(), call);
story.say(repaired ? "both deployments finished after the sweeper's repair" : "NOT repaired");

heading("12. The audit trail: every mutating request and deployment state change, hash-chained");
const audit = createAuditLog(getFirestore(), { now: () => new Date() });
// Records are staged with each request and state change and chained off the request path.
const staged = await audit.pending();
const drained = await audit.drain({ untilEmpty: true });
story.say(
  `${staged} record(s) were still staged; the chain writer chained ${drained.chained} now (HMAC-keyed, key: ${auditKeySource().kind})`,
);
const records = await audit.list();
for (const record of records.slice(-5)) {
  console.log(
    `  #${record.seq} ${record.at.toISOString()} ${record.actor.kind}:${record.actor.id ?? "-"} ${record.action} -> ${record.outcome}${record.status ? ` ${record.status}` : ""}`,
  );
}
const verified = await audit.verify();
story.say(
  `verify: ${verified.ok ? `${verified.count} records, intact` : `record #${verified.seq} was ${verified.problem}: ${verified.message}`}`,
);

heading("13. Pictures and reports of this run, and the dashboard");
const visuals = new FirebaseVisualOrchestrator();
const engineStore = createEngineStore(getFirestore());
const written: string[] = [];
const write = (name: string, content: string | Buffer) => {
  writeFileSync(path.join(outDir, name), content);
  written.push(name);
};
const picture = (name: string, svg: string) => {
  write(`${name}.svg`, svg);
  write(`${name}.png`, svgToPng(svg, 2));
};
for (const [label, id] of [
  ["dev-deployment", happy.id],
  ["staging-retries", retried.id],
  ["prod-rollback", rolledBack.id],
] as const) {
  const deployment = await engineStore.getDeployment(id);
  if (!deployment) throw new Error(`deployment ${id} is gone`);
  const tasks = await engineStore.tasksOf(id);
  const views = visuals.deployment(deployment, tasks, deployment.completed_at ?? new Date());
  picture(`${label}-graph`, views.graph);
  picture(`${label}-gantt`, views.gantt);
}
const integrationsNow = await createStore(getFirestore()).listIntegrations();
picture(
  "health-matrix",
  visuals.healthMatrix(healthCells(integrationsNow), "Health: environment x integration"),
);
const recent = (await engineStore.deployments.orderBy("created_at", "desc").limit(100).get()).docs.map(
  (doc) => doc.data(),
);
const trends = visuals.trends(recent, new Date(), 8);
picture("success-rate", trends.successRate);
picture("durations", trends.durations);
picture("throughput", trends.throughput);

const reportTimes: string[] = [];
for (const [type, format] of [
  ["executive", "html"],
  ["executive", "pdf"],
  ["deployment", "html"],
  ["performance", "markdown"],
  ["health", "csv"],
  ["executive", "png"],
] as const) {
  const started = Date.now();
  const response = await fetch(`${apiBase}/reports?report_type=${type}&time_range=24h&format=${format}`, {
    headers: { authorization: `Bearer ${await tokenOf("viewer")}` },
  });
  if (!response.ok)
    throw new Error(`the ${type} ${format} report failed: ${response.status} ${await response.text()}`);
  const extension = format === "markdown" ? "md" : format;
  write(`report-${type}.${extension}`, Buffer.from(await response.arrayBuffer()));
  reportTimes.push(`${type} ${format} ${Date.now() - started} ms`);
}
story.say(`reports via GET /reports: ${reportTimes.join(", ")}`);

const chromiumPath = process.env.ORCH_CHROMIUM;
let dashboardShots = "not taken";
if (chromiumPath) {
  const browser = await launchChromium(chromiumPath);
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await signIn(page, `${hostingBase}/`, { email: "operator@acme.example", password: DEMO_PASSWORD });
    await page.evaluate((id) => (location.hash = `#/deployments/${id}`), rolledBack.id);
    await page.waitForSelector(
      `#detail[data-deployment="${rolledBack.id}"] [data-testid=deployment-gantt] svg`,
    );
    await screenshot(page, outDir, "dashboard");
    await page.evaluate(() => (location.hash = "#/plan"));
    await page.waitForSelector("[data-testid=plan-environment] option[value=prod]", { state: "attached" });
    await page.selectOption("[data-testid=plan-environment]", "prod");
    await page.click("[data-testid=plan]");
    await page.waitForSelector("[data-testid=plan-graph] svg");
    await screenshot(page, outDir, "dashboard-plan");
    written.push("dashboard.png", "dashboard-plan.png");
    dashboardShots = "taken";
    await closeDashboard(page);
  } finally {
    await browser.close();
  }
} else {
  story.say(`dashboard screenshots skipped: ${process.env.ORCH_CHROMIUM_MISSING ?? "no Chromium"}`);
}
story.say(`wrote ${written.length} files into ${path.relative(process.cwd(), outDir) || outDir}/:`);
for (const line of wrapped(written, 100)) story.say(`  ${line}`);

if (await demoLearning(call, heading, deployAndWatch))
  story.say(
    "predicted from history, deployed, backtest goal met, every planted anomaly caught (a slow health check too); retries and leases tuned by replaying their history; a tuning change reverted by its canary on a seeded regression",
  );
else {
  story.say("learning did NOT behave");
  process.exitCode = 1;
}
if (!(await demoForecast(call, heading, story.say))) process.exitCode = 1;
if (await demoOps(call, heading))
  story.say(
    "prod waited for approval; its requester and a viewer were refused (403), an admin approved, a second approval got 409; it succeeded and the webhook heard one notice",
  );
else {
  story.say("approvals did NOT behave");
  process.exitCode = 1;
}
if (!(await demoOperations2(call, heading, story.say))) process.exitCode = 1;
if (!(await demoDr(call, heading, story.say))) process.exitCode = 1;
if (!(await demoPrivacy(call, heading, story.say, "viewer@acme.example"))) process.exitCode = 1;
const planning = await demoPlanning(call, heading, deployAndWatch);
story.say(
  planning
    ? "planned from goals, explained an infeasible request, deployed the plan"
    : "planning did NOT behave",
);
story.say(
  await backtestOwnHistory(
    getFirestore(),
    (await createEnvironmentResolver(createStore(getFirestore())).config()).environments,
  ),
);
if (await demoLive(heading, story.say))
  story.say(
    "doctor named the missing permission; all seven integrations applied, then planned no changes; every request within the contract",
  );
else {
  story.say("live mode against the contract servers did NOT behave");
  process.exitCode = 1;
}
heading("Deterministic simulation (npm run simulate)");
{
  // One seed of the engine under crashes, lost and duplicated triggers, with its invariants checked.
  const seed = 6;
  const run = await simulate(seed);
  story.say(
    `seed ${seed}: ${run.steps} scheduler steps, ${(run.simulatedMs / 1000).toFixed(0)} s simulated, ${run.crashes} invocations crashed`,
  );
  console.log(`deployments ${run.deployments.map((d) => `${d.id} ${d.status}`).join(", ")}`);
  const violated = [...new Set(run.violations.map((v) => v.invariant))];
  story.say(
    violated.length === 0
      ? "every invariant held"
      : `invariants violated: ${violated.join(", ")} (replay: npm run simulate -- --seed ${seed})`,
  );
}

heading("The event stream in the warehouse (a local DuckDB process standing in for BigQuery)");
let warehouseShown = "not configured";
if (process.env.ORCH_WAREHOUSE_URL) {
  const counts = (await (await fetch(`${process.env.ORCH_WAREHOUSE_URL}/status`)).json()) as {
    events: number;
    received: number;
  };
  story.say(
    `${counts.events} events in orchestration_events (${counts.received} deliveries received, duplicates dropped)`,
  );
  const stagingView = await call("GET", `/deployments/${retried.id}`);
  const correlation = String(
    (stagingView.body.deployment as { correlation_id?: string }).correlation_id ?? retried.id,
  );
  const found = await call(
    "GET",
    `/events/search?correlation_id=${encodeURIComponent(correlation)}`,
    undefined,
    "viewer",
  );
  const events = found.body.events as {
    time: string;
    kind: string;
    integration: string | null;
    from: string | null;
    to: string;
    attempt: number | null;
  }[];
  story.say(
    `GET /events/search?correlation_id=${correlation} -> ${events.length} events (the staging story)`,
  );
  for (const e of events)
    console.log(
      `    ${e.time.slice(11, 23)}  ${e.kind.padEnd(10)} ${(e.integration ?? "").padEnd(10)} ${e.from ?? ""} -> ${e.to}${e.attempt ? ` (attempt ${e.attempt})` : ""}`,
    );
  const report = await call("GET", "/reports?report_type=executive&time_range=24h", undefined, "viewer");
  const comprehensive = report.body.comprehensive_report as { aggregates_from?: string; headline?: string[] };
  story.say(
    `executive report, aggregates from ${comprehensive.aggregates_from ?? "Firestore"}: ${(comprehensive.headline ?? []).slice(0, 1).join("; ")}`.slice(
      0,
      110,
    ),
  );
  const trendsAnswer = (await call("GET", "/trends?days=7", undefined, "viewer")).body as TrendsAnswer;
  if (trendsAnswer.status === "ok") {
    const w = trendsAnswer.window;
    story.say(
      `GET /trends?days=7 (from ${trendsAnswer.aggregates_from}): ${w.deployments} deployments, ${w.succeeded} succeeded, ${w.failed} failed, ${w.rolled_back} rolled back; p50 ${w.duration_p50 ?? "-"} s, p95 ${w.duration_p95 ?? "-"} s`,
    );
    const daily = visuals.dailyTrends(trendsAnswer.series);
    picture("trends-success-rate", daily.successRate);
    picture("trends-durations", daily.durations);
    picture("trends-outcomes", daily.throughput);
  } else story.say(`GET /trends: ${trendsAnswer.status}: ${trendsAnswer.message}`);
  warehouseShown = `${counts.events} events, ${events.length} in the staging story`;
}

// The closing summary: outcomes, every step's time, and addresses, each checked to answer.
const summaryLines = [
  `deployments: dev ${happy.deployment.status}, staging ${retried.deployment.status}, prod ${rolledBack.deployment.status}; promotion dev -> staging ${promotion}`,
  `provisioning: ${allHealthy ? `all 31 integrations healthy (${DEMO_INSTANCE} included)` : "some integrations unhealthy"}; alert: ${alertCycle ? "fired and cleared" : "did not behave"}; faults: ${repaired ? "repaired by the sweeper" : "not repaired"}`,
  `scheduled jobs: ${schedules ? "ran on schedule" : "did not behave"}; planning: ${planning ? "as expected" : "did not behave"}; audit: ${verified.ok ? `${verified.count} records intact` : "BROKEN"}; warehouse: ${warehouseShown}`,
  ...timingLines(story.timings(), 96).map(
    (line, index) => `${index === 0 ? "step times: " : "            "}${line}`,
  ),
];
const addresses: [string, string][] = [
  ["dashboard", `${hostingBase}/`],
  ["API (via Hosting)", `${hostingBase}/api/orchestration/health`],
];
for (const [label, url] of addresses) {
  const status = await fetch(url).then(
    (response) => String(response.status),
    (error: Error) => error.message,
  );
  summaryLines.push(`${label}: ${url}${status === "200" ? "" : `  (answered ${status})`}`);
}
summaryLines.push(
  `sign in as operator@acme.example or viewer@acme.example, password ${DEMO_PASSWORD}; screenshots ${dashboardShots}`,
  `pictures and reports: ${path.relative(process.cwd(), outDir) || outDir}/`,
);
if (stackLog) summaryLines.push(`emulator and function logs: ${path.relative(process.cwd(), stackLog)}`);
process.stdout.write(`\nSummary: ${((Date.now() - demoStarted) / 1000).toFixed(0)} s\n`);
for (const line of summaryLines) process.stdout.write(`   ${line}\n`);
const expected =
  happy.deployment.status === "succeeded" &&
  retried.deployment.status === "succeeded" &&
  rolledBack.deployment.status === "rolled_back" &&
  allHealthy &&
  alertCycle &&
  promotion === "succeeded" &&
  repaired &&
  schedules &&
  verified.ok &&
  planning;
if (!expected) {
  console.error("The demo did not end as expected (see the summary above and the log).");
  process.exit(1);
}
if (process.env.ORCH_DEMO_KEEP === "1") {
  process.stdout.write(`\nThe stack stays up for the dashboard at ${hostingBase}/ until you press Ctrl-C.\n`);
  await new Promise<void>((resolve) => process.once("SIGINT", resolve));
}
