/**
 * The demo's steps, run inside a fresh emulator stack by scripts/demo.mjs: load the example
 * config through the functions, read it back from Firestore, then run real deployments through
 * the engine and draw their timelines.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { getApps, initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { createStore } from "../functions/src/store/store.js";

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

async function call(
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${apiBase}${path}`, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function heading(text: string): void {
  console.log(`\n=== ${text}`);
}

function summarize(configuration: Record<string, unknown>): string {
  return Object.entries(configuration)
    .filter(([, value]) => typeof value !== "object" || Array.isArray(value))
    .slice(0, 4)
    .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join("|") || "-" : String(value)}`)
    .join(" ");
}

async function loadConfig(): Promise<void> {
  heading("1. Load orchestration.json into the control plane through the api function");
  const text = readFileSync(fileURLToPath(new URL("../orchestration.json", import.meta.url)), "utf8");
  const response = await call("POST", "/config", JSON.parse(text));
  if (response.status !== 200)
    throw new Error(`loading the config failed: ${response.status} ${JSON.stringify(response.body)}`);
  console.log(`POST ${apiBase}/config -> ${response.status} ${JSON.stringify(response.body)}`);

  const bad = await call("POST", "/config", {
    version: 1,
    base: { region: "mars-1", concurrency: 0, integrations: {} },
    environments: [],
  });
  const problems = (bad.body.error as { problems?: { message: string }[] }).problems ?? [];
  console.log(`A broken config is refused with ${bad.status}, naming every path:`);
  for (const problem of problems)
    console.log(
      `  - ${problem.message.length > 110 ? `${problem.message.slice(0, 107)}...` : problem.message}`,
    );
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
): Promise<{ deployment: DeploymentView; tasks: TaskView[] }> {
  heading(title);
  const response = await call("POST", "/deploy", request);
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
      drawTimeline(deployment, tasks);
      return { deployment, tasks };
    }
    if (Date.now() > deadline)
      throw new Error(`deployment ${id} did not finish within 120 s (last: ${line.trim()})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function drawTimeline(deployment: DeploymentView, tasks: TaskView[]): void {
  const width = 50;
  const times = tasks
    .flatMap((t) => [t.started_at, t.completed_at])
    .filter((t): t is string => t !== null)
    .map((t) => Date.parse(t));
  const start = Math.min(...times, Date.parse(deployment.started_at ?? new Date().toISOString()));
  const end = Math.max(...times, Date.parse(deployment.completed_at ?? new Date().toISOString()));
  const span = Math.max(1, end - start);
  const column = (iso: string) => Math.min(width - 1, Math.floor(((Date.parse(iso) - start) / span) * width));
  console.log(
    `\n  timeline (${(span / 1000).toFixed(1)} s across; driver: ${tasks[0]?.driver_label ?? "-"})`,
  );
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
    console.log(
      `  ${task.integration.padEnd(12)} |${bar.join("")}| ${task.status.padEnd(11)} attempt ${task.attempt}${retries} ${note.slice(0, 60)}`,
    );
  }
  console.log(
    `  => deployment ${deployment.status} in ${deployment.actual_duration?.toFixed(1) ?? "?"} s${deployment.error_message ? `: ${deployment.error_message}` : ""}`,
  );
}

const allTen = [
  "auth",
  "firestore",
  "storage",
  "functions",
  "hosting",
  "monitoring",
  "backup",
  "security",
  "analytics",
  "cicd",
];

await loadConfig();
await printEnvironments();
const happy = await deployAndWatch(
  "3. Deploy all ten integrations to dev through the engine (simulated driver, 150 ms each)",
  {
    environment: "dev",
    integrations: allTen,
    configuration: { driver: "simulated", simulate: { "*": { latency_ms: 150 } } },
  },
);
const retried = await deployAndWatch(
  "4. Transient failure: staging's functions fail twice, then succeed on attempt 3",
  {
    environment: "staging",
    integrations: ["auth", "firestore", "functions", "hosting"],
    configuration: { driver: "simulated", retry_base_ms: 400, simulate: { functions: { fail_first: 2 } } },
  },
);
const rolledBack = await deployAndWatch(
  "5. Permanent failure in prod (rollback policy all): hosting always fails, everything applied is rolled back",
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
);

heading("Summary");
console.log(
  `dev: ${happy.deployment.status}; staging: ${retried.deployment.status}; prod: ${rolledBack.deployment.status}`,
);
console.log(`API: ${apiBase}   via Hosting: ${hostingBase}/api/orchestration   dashboard: ${hostingBase}/`);
const expected =
  happy.deployment.status === "succeeded" &&
  retried.deployment.status === "succeeded" &&
  rolledBack.deployment.status === "rolled_back";
if (!expected) {
  console.error("The demo did not end as expected (dev and staging succeeded, prod rolled back).");
  process.exit(1);
}
