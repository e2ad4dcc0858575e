/**
 * The hand-written part of the CLI, keyed by route: shorter names and flags where people type
 * them often (`orch deploy --env dev`), defaults that need the API (every integration an
 * environment declares), following a deployment until it ends, and readable output. Everything
 * not written here is generated from the route table (cli-commands.ts).
 */
import { writeFileSync } from "node:fs";
import type { ApiAnswer, Client } from "./cli-client.js";
import type { Command, Convenience, ExtraFlag, RequestParts } from "./cli-commands.js";
import { CliError, EXIT, usageError } from "./cli-exit.js";
import type { TrendsAnswer } from "../../functions/src/warehouse/trends.js";
import {
  TERMINAL_DEPLOYMENT,
  lineView,
  out,
  printJson,
  render,
  seconds,
  table,
  taskTable,
  text,
  terminalView,
  type DeploymentView,
} from "./cli-views.js";

/** What a convenience works with: the parsed command line, the validated request and the API. */
export interface RunContext {
  command: Command;
  values: Readonly<Record<string, unknown>>;
  parts: RequestParts;
  client: Client;
  /** Sends this command's request (the parts as validated, or others). */
  send(parts?: RequestParts): Promise<ApiAnswer>;
  /** Calls another route of the table by its key; a route gone from the table fails here. */
  call(route: string, parts?: Partial<RequestParts>): Promise<unknown>;
}

type Handy = Convenience<RunContext>;

const FOLLOW_FLAGS: readonly ExtraFlag[] = [
  { flag: "no-wait", kind: "boolean", description: "print the deployment id and exit without following it" },
  { flag: "interval", kind: "string", description: "how often to poll the deployment, in ms (default 1000)" },
  {
    flag: "timeout",
    kind: "string",
    description: "stop following after this many seconds, exit 1 (default: no limit)",
  },
];

const FOLLOW_HELP = `  Follows the deployment until it ends: in a terminal, a progress line over the task graph
  redrawn in place; otherwise one line per task state change. Exit 0 when it succeeded, 1 when it
  ended failed, rolled_back or cancelled.`;

function positiveNumber(flag: string, text: unknown, fallback: number | undefined): number | undefined {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw usageError(`--${flag} must be a positive number`);
  return value;
}

interface DeploymentStarted {
  deployment_id: string;
  deployment_status: string;
  task_ids?: string[];
  estimated_completion?: string;
}

/** Polls a deployment until it ends, showing its progress; answers the exit code. */
async function follow(context: RunContext, id: string, heading: string): Promise<number> {
  const { values } = context;
  const interval = positiveNumber("interval", values.interval, 1000)!;
  const timeoutSeconds = positiveNumber("timeout", values.timeout, undefined);
  const log = values.json ? (line: string) => process.stderr.write(`${line}\n`) : (line: string) => out(line);
  log(heading);
  const stream = values.json ? process.stderr : process.stdout;
  const view = stream.isTTY ? terminalView(stream) : lineView(log);
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
  };
  process.once("SIGINT", onInterrupt);
  const deadline = timeoutSeconds ? Date.now() + timeoutSeconds * 1000 : Infinity;
  let failures = 0;
  let current: DeploymentView | undefined;
  try {
    for (;;) {
      try {
        current = (await context.call("GET /deployments/{id}", { params: { id } })) as DeploymentView;
        failures = 0;
      } catch (error) {
        // A blip while following: try a few more times before giving up on the connection.
        if (!(error instanceof CliError) || error.exitCode !== EXIT.server || ++failures >= 5) throw error;
        log(`(retrying: ${error.message})`);
      }
      if (current) view.update(current);
      if (current && TERMINAL_DEPLOYMENT.has(current.deployment.status)) break;
      if (interrupted) {
        view.close();
        log(`stopped following; deployment ${id} goes on. Cancel it with: orch cancel ${id}`);
        return EXIT.interrupted;
      }
      if (Date.now() > deadline) {
        view.close();
        log(
          `gave up after ${timeoutSeconds}s; deployment ${id} is ${current?.deployment.status ?? "unknown"}`,
        );
        return EXIT.failed;
      }
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  } finally {
    process.off("SIGINT", onInterrupt);
  }
  view.close();
  const { deployment, tasks } = current;
  if (values.json) printJson(current);
  else {
    out();
    for (const line of taskTable(tasks)) out(`  ${line}`);
    out();
    out(
      `deployment ${id} ${deployment.status}${deployment.error_message ? `: ${deployment.error_message}` : ""}`,
    );
  }
  return deployment.status === "succeeded" ? EXIT.ok : EXIT.failed;
}

/** Starts a deployment (deploy, promote, provision) and follows it unless --no-wait. */
async function startAndFollow(context: RunContext, target: string): Promise<number> {
  const started = (await context.send()).json as DeploymentStarted;
  const id = started.deployment_id;
  const tasks = (started.task_ids ?? []).length;
  if (context.values["no-wait"]) {
    if (context.values.json) printJson(started);
    else {
      out(`deployment ${id}: ${started.deployment_status}`);
      out(`tasks: ${tasks}; estimated completion ${started.estimated_completion ?? "-"}`);
      out(`cancel it with: orch cancel ${id}`);
    }
    return EXIT.ok;
  }
  return follow(
    context,
    id,
    `deployment ${id} to ${target}: ${started.deployment_status}; ${tasks} tasks; estimated completion ${started.estimated_completion ?? "-"}`,
  );
}

interface EnvironmentsAnswer {
  environments?: { name: string; integrations?: { name: string; status?: string }[] }[];
}

/** Every integration an environment declares (not removed), for a deploy that names none. */
async function declaredIntegrations(context: RunContext, environment: string): Promise<string[]> {
  const answer = (await context.call("GET /environments")) as EnvironmentsAnswer;
  const environments = answer.environments ?? [];
  const env = environments.find((candidate) => candidate.name === environment);
  if (!env)
    throw usageError(
      `environment ${JSON.stringify(environment)} is not declared; declared: ${environments.map((e) => e.name).join(", ") || "(none; load a config first)"}`,
    );
  const names = (env.integrations ?? []).filter((i) => i.status !== "removed").map((i) => i.name);
  if (names.length === 0) throw usageError(`environment ${environment} declares no integrations`);
  return names;
}

const bodyOf = (parts: RequestParts) => (parts.body ?? {}) as Record<string, unknown>;

const usd = (value: unknown) => (value == null ? "-" : `$${Number(value).toFixed(2)}`);
/** A task id without its deployment prefix: `plan-dev--auth` → `auth`. */
const shortTask = (id: string) => id.replace(/^.*--/, "");

/* The shapes of answers the views read; the API's own types live in functions/src. */
interface GoalPlanAnswer {
  error?: { message?: string };
  infeasible?: {
    conflicts: { set: number; field: string; value: unknown }[];
    relaxations: {
      field: string;
      value: unknown;
      nearest_feasible_value: unknown;
      monthly_cost_usd: number | null;
      feasible_alone: boolean;
      assumes_relaxed: string[];
    }[];
  };
  architecture_plan: {
    environments: {
      environment: string;
      type: string;
      project_id: string;
      region: string;
      integrations: { integration: string; option: string; monthly_cost_usd: number }[];
      manual_steps: string[];
    }[];
    monthly_cost_usd: { total: number; by_environment: Record<string, number> };
    price_catalog: { version: string; date: string };
    availability: {
      achieved: number | null;
      target: number | null;
      paths: { path: string; achieved: number }[];
    };
    recovery: {
      rpo_minutes: { achieved: number | null; target: number | null };
      rto_minutes: { achieved: number | null; target: number | null };
    };
    compliance: { framework: string; control: string; met_by: string }[];
    risks: { score: number; residual_risk: string; risk: string; mitigation: string }[];
    config: unknown;
  };
}

function printGoalPlan(answer: GoalPlanAnswer, configOut: unknown): number {
  if (answer.infeasible) {
    out(`infeasible: ${answer.error?.message ?? "no architecture meets every goal and constraint"}`);
    out("conflicts (each set cannot hold together):");
    for (const c of answer.infeasible.conflicts)
      out(`  [set ${c.set}] ${c.field} = ${JSON.stringify(c.value)}`);
    out("relaxations (nearest feasible value, solved again):");
    const rows = answer.infeasible.relaxations.map((r) => [
      r.field,
      JSON.stringify(r.value),
      JSON.stringify(r.nearest_feasible_value),
      usd(r.monthly_cost_usd),
      r.feasible_alone ? "yes" : `with ${r.assumes_relaxed.join(", ") || "-"} relaxed`,
    ]);
    for (const line of table(["field", "asked", "nearest feasible", "cost/month", "alone"], rows))
      out(`  ${line}`);
    return EXIT.failed;
  }
  const plan = answer.architecture_plan;
  for (const env of plan.environments) {
    out(
      `${env.environment} (${env.type}, ${env.project_id}, ${env.region}): ${usd(plan.monthly_cost_usd.by_environment[env.environment])}/month`,
    );
    const rows = env.integrations.map((i) => [i.integration, i.option, usd(i.monthly_cost_usd)]);
    for (const line of table(["integration", "option", "cost/month"], rows)) out(`  ${line}`);
    for (const step of env.manual_steps) out(`  manual: ${step}`);
  }
  out(
    `total: ${usd(plan.monthly_cost_usd.total)}/month (catalog ${plan.price_catalog.version}, dated ${plan.price_catalog.date})`,
  );
  const a = plan.availability;
  out(
    `availability: ${a.achieved ?? "-"} against ${a.target ?? "no target"} (${a.paths.map((p) => `${p.path} ${p.achieved}`).join(", ") || "no production"})`,
  );
  const r = plan.recovery;
  out(
    `recovery: RPO ${r.rpo_minutes.achieved ?? "-"} min (target ${r.rpo_minutes.target ?? "-"}), RTO ${r.rto_minutes.achieved ?? "-"} min (target ${r.rto_minutes.target ?? "-"})`,
  );
  for (const c of plan.compliance) out(`  ${c.framework} ${c.control}: ${c.met_by}`);
  out("risks:");
  for (const risk of plan.risks.slice(0, 5))
    out(
      `  ${String(risk.score).padStart(2)} ${risk.residual_risk.padEnd(6)} ${risk.risk}; mitigation: ${risk.mitigation}`,
    );
  if (typeof configOut === "string") {
    writeFileSync(configOut, `${JSON.stringify(plan.config, null, 2)}\n`);
    out(`config written: ${configOut}`);
  }
  return EXIT.ok;
}

interface EnvironmentPlanAnswer {
  architecture_plan?: { environment: string; type: string; mode: string; region?: string }[];
  timeline?: {
    environment: string;
    estimated_seconds: number;
    critical_path?: string[];
    tasks?: { id: string; start?: number; finish?: number; dependencies?: string[] }[];
  }[];
  differences?: unknown;
}

function printEnvironmentPlan(answer: EnvironmentPlanAnswer): void {
  for (const env of answer.architecture_plan ?? []) {
    const timeline = (answer.timeline ?? []).find((entry) => entry.environment === env.environment);
    out(`${env.environment} (${env.type}, ${env.mode}, ${env.region ?? "-"})`);
    if (timeline) {
      out(
        `  estimated: ${timeline.estimated_seconds}s; critical path: ${(timeline.critical_path ?? []).map(shortTask).join(" → ")}`,
      );
      const rows = (timeline.tasks ?? []).map((task) => [
        shortTask(task.id),
        task.start == null ? "" : `${task.start}s`,
        task.finish == null ? "" : `${task.finish}s`,
        (task.dependencies ?? []).map(shortTask).join(", "),
      ]);
      for (const line of table(["task", "start", "finish", "depends on"], rows)) out(`  ${line}`);
    }
    out();
  }
  const differences = answer.differences;
  if (differences && typeof differences === "object" && Object.keys(differences).length > 0) {
    out("differences:");
    for (const line of render(differences, "  ")) out(line);
  }
}

interface StatusAnswer {
  system_health?: { status?: string; duration_ms?: number };
  environment_status?: {
    name?: string;
    environment?: string;
    type?: string;
    mode?: string;
    status?: string;
    health?: string;
  }[];
  integration_status?: {
    environment: string;
    name: string;
    status: string;
    health: string;
    mode: string;
    latency_ms?: number | null;
    open_alert?: string | { id?: string } | null;
  }[];
}

function printStatus(answer: StatusAnswer, context: RunContext): number {
  const health = answer.system_health?.status ?? "unknown";
  if (context.values.json) printJson(answer);
  else {
    out(`system: ${health} (checked in ${answer.system_health?.duration_ms ?? "?"} ms)`);
    const envs = answer.environment_status ?? [];
    if (envs.length > 0) {
      out();
      const rows = envs.map((env) => [
        env.name ?? env.environment,
        env.type,
        env.mode,
        env.status,
        env.health,
      ]);
      for (const line of table(["environment", "type", "mode", "status", "health"], rows)) out(line);
    }
    const integrations = answer.integration_status ?? [];
    if (integrations.length > 0) {
      out();
      const rows = integrations.map((i) => [
        i.environment,
        i.name,
        i.status,
        i.health,
        i.mode,
        i.latency_ms == null ? "" : `${i.latency_ms} ms`,
        i.open_alert
          ? `alert ${typeof i.open_alert === "string" ? i.open_alert : (i.open_alert.id ?? "open")}`
          : "",
      ]);
      for (const line of table(
        ["environment", "integration", "status", "health", "mode", "latency", ""],
        rows,
      ))
        out(line);
    }
  }
  if (context.values.strict && health !== "healthy") {
    process.stderr.write(`system health is ${health}, not healthy\n`);
    return EXIT.failed;
  }
  return EXIT.ok;
}

interface DoctorAnswer {
  ok: boolean;
  environment: string;
  project_id: string;
  mode: string;
  summary: string;
  credentials: { ok: boolean; details: string };
  integrations: {
    integration: string;
    status: string;
    details: string;
    missing: { permission: string; role: string; used_for: string }[];
  }[];
}

interface JobRun {
  scheduled_for: string;
  job: string;
  outcome: string;
  duration_ms?: number | null;
  trigger: string;
  summary: string;
}

interface KeySummary {
  id: string;
  prefix?: string;
  role?: string;
  environments?: string[] | null;
  label?: string;
  revoked_at?: string | null;
  status?: string;
}

interface JobSummary {
  name: string;
  cron: string;
  time_zone: string;
  catch_up: string;
  paused?: boolean;
  next_run?: string | null;
  last_run?: JobRun | null;
}

const runLine = (run: JobRun) =>
  `${run.scheduled_for}  ${run.job}  ${run.outcome}${run.duration_ms == null ? "" : ` in ${seconds(run.duration_ms)}`} (${run.trigger}): ${run.summary}`;

const deploymentLine =
  (fallback: string) =>
  (answer: unknown, context: RunContext): void => {
    const deployment = (answer as { deployment?: { status?: string } }).deployment;
    out(`deployment ${context.parts.params.id}: ${deployment?.status ?? fallback}`);
  };

export const CONVENIENCES: Record<string, Handy> = {
  "POST /plan": {
    name: ["plan"],
    answerStatuses: [422],
    extraFlags: [
      {
        flag: "config-out",
        kind: "string",
        description: "with --goals: write the planned orchestration.json there",
      },
    ],
    help: `  --goals takes a JSON file (or inline JSON) with {goals, constraints?, objective?}, or just the goals
  object; exit 1 when no architecture meets them, printing the conflicts and relaxations.`,
    prepare: (parts) => {
      // A goals file may hold the whole planning request; its fields join the body, the flags win.
      const body = bodyOf(parts);
      const goals = body.goals as Record<string, unknown> | undefined;
      if (goals && typeof goals === "object" && "goals" in goals) {
        const { goals: inner, ...rest } = goals;
        parts.body = { ...rest, ...body, goals: inner };
      }
    },
    run: async (context) => {
      const answer = (await context.send()).json;
      const goals =
        bodyOf(context.parts).goals !== undefined || bodyOf(context.parts).constraints !== undefined;
      if (context.values.json) {
        printJson(answer);
        return (answer as GoalPlanAnswer).infeasible ? EXIT.failed : EXIT.ok;
      }
      if (goals) return printGoalPlan(answer as GoalPlanAnswer, context.values["config-out"]);
      printEnvironmentPlan(answer as EnvironmentPlanAnswer);
      return EXIT.ok;
    },
  },
  "POST /deploy": {
    name: ["deploy"],
    flags: { configuration: "config" },
    fills: ["integrations"],
    extraFlags: FOLLOW_FLAGS,
    help: `  --integrations defaults to every integration the environment declares.\n\n${FOLLOW_HELP}`,
    prepare: async (parts, context) => {
      const body = bodyOf(parts);
      if (body.integrations === undefined && typeof body.environment === "string")
        parts.body = { ...body, integrations: await declaredIntegrations(context, body.environment) };
    },
    run: (context) => startAndFollow(context, String(bodyOf(context.parts).environment)),
  },
  "POST /promote": {
    extraFlags: FOLLOW_FLAGS,
    help: FOLLOW_HELP,
    run: (context) => startAndFollow(context, String(bodyOf(context.parts).to)),
  },
  "POST /environments/{name}/provision": {
    extraFlags: FOLLOW_FLAGS,
    help: FOLLOW_HELP,
    run: (context) => startAndFollow(context, String(context.parts.params.name)),
  },
  "GET /deployments/{id}": {
    extraFlags: [
      {
        flag: "watch",
        kind: "boolean",
        description: "follow the deployment until it ends (progress and task graph)",
      },
      FOLLOW_FLAGS[1]!,
      FOLLOW_FLAGS[2]!,
    ],
    run: async (context) => {
      const id = context.parts.params.id!;
      if (context.values.watch) return follow(context, id, `deployment ${id}:`);
      const view = (await context.send()).json as DeploymentView;
      if (context.values.json) return printJson(view);
      out(`deployment ${id} ${view.deployment.status}`);
      for (const line of taskTable(view.tasks)) out(`  ${line}`);
      return TERMINAL_DEPLOYMENT.has(view.deployment.status) && view.deployment.status !== "succeeded"
        ? EXIT.failed
        : EXIT.ok;
    },
  },
  "POST /deployments/{id}/cancel": { name: ["cancel"], print: deploymentLine("cancel requested") },
  "POST /deployments/{id}/approve": {
    name: ["approve"],
    help: `  The requester cannot approve their own deployment (exit 3); an expired or already decided
  request answers 409 (exit 5).`,
    print: deploymentLine("approved"),
  },
  "POST /deployments/{id}/reject": { name: ["reject"], print: deploymentLine("rejected") },
  "GET /status": {
    extraFlags: [
      { flag: "strict", kind: "boolean", description: 'exit 1 unless the system health is "healthy"' },
    ],
    run: async (context) => printStatus((await context.send()).json as StatusAnswer, context),
  },
  "GET /doctor": {
    help: "  Exit 0 when ready; 1 when a credential or a permission is missing (each named with its role).",
    run: async (context) => {
      const report = (await context.send()).json as DoctorAnswer;
      if (context.values.json) printJson(report);
      else {
        out(`doctor: ${report.environment} (project ${report.project_id}, ${report.mode})`);
        out(`  credentials: ${report.credentials.ok ? "ok" : "NOT OK"}: ${report.credentials.details}`);
        for (const entry of report.integrations) {
          out(`  ${entry.integration.padEnd(11)} ${entry.status}: ${entry.details}`);
          for (const missing of entry.missing)
            out(`      missing ${missing.permission} (grant ${missing.role}; for ${missing.used_for})`);
        }
        out(`  ${report.ok ? "READY" : "NOT READY"}: ${report.summary}`);
      }
      return report.ok ? EXIT.ok : EXIT.failed;
    },
  },
  "POST /optimize": {
    flags: { optimization_targets: "target" },
    print: (answer) => {
      for (const key of ["optimization_plan", "expected_improvements", "timeline"]) {
        out(`${key.replace(/_/g, " ")}:`);
        for (const line of render((answer as Record<string, unknown>)[key], "  ")) out(line);
      }
    },
  },
  // `orch optimize` stays the docs' short command; applying one of its recommendations is `orch tune <id>`.
  "POST /optimize/{id}/apply": { name: ["tune"] },
  // `orch promote` stays the docs' command; what a promotion would carry is `orch promote-plan`.
  "POST /promote/plan": { name: ["promote-plan"] },
  "GET /reports": {
    name: ["report"],
    flags: { report_type: "type", time_range: "range" },
    help: "  --format pdf and png are binary: name a file with --out; text formats go to stdout otherwise.",
    run: async (context) => {
      const format = context.parts.query.format;
      if ((format === "pdf" || format === "png") && !context.values.out)
        throw usageError(`--format ${format} is binary: name a file with --out`);
      const answer = await context.send();
      if (context.values.out || (format !== undefined && format !== "json"))
        return writeAnswer(answer, context);
      if (context.values.json) return printJson(answer.json);
      const report = answer.json as Record<string, unknown>;
      out("report:");
      for (const line of render(report.comprehensive_report, "  ")) out(line);
      const visualizations = report.visualizations;
      if (visualizations && typeof visualizations === "object")
        out(`visualizations: ${Object.keys(visualizations).length} (use --json to get them)`);
      out("recommendations:");
      for (const line of render(report.recommendations, "  ")) out(line);
    },
  },
  "GET /keys": {
    name: ["keys", "list"],
    print: (answer) => {
      const keys = (answer as { keys?: KeySummary[] }).keys ?? [];
      if (keys.length === 0) return out("no keys");
      const rows = keys.map((key) => [
        key.id,
        key.prefix,
        key.role,
        (key.environments ?? []).join(",") || "*",
        key.label,
        key.revoked_at ? `revoked ${key.revoked_at}` : (key.status ?? "active"),
      ]);
      for (const line of table(["id", "prefix", "role", "environments", "label", "status"], rows)) out(line);
    },
  },
  "POST /keys": {
    name: ["keys", "create"],
    help: "  The key is shown once; store it at once (e.g. as the CI secret ORCH_API_KEY).",
    print: (answer) => {
      const key = answer as { id: string; prefix?: string; key: string; role: string; label: string };
      out(`key ${key.id} (${key.prefix ?? ""}) created for role ${key.role}, label ${key.label}`);
      out(`key: ${key.key}`);
      process.stderr.write("This is the only time the key is shown; store it now (e.g. as ORCH_API_KEY).\n");
    },
  },
  "DELETE /keys/{id}": {
    name: ["keys", "revoke"],
    print: (_answer, context) => out(`key ${context.parts.params.id} revoked`),
  },
  "GET /jobs": {
    name: ["jobs", "list"],
    help: "  Each job's cron expression, time zone, catch-up policy, next run and last outcome.",
    print: (answer) => {
      const jobs = (answer as { jobs: JobSummary[] }).jobs;
      const rows = jobs.map((job) => [
        job.name,
        job.cron,
        job.time_zone,
        job.catch_up,
        job.paused ? "paused" : (job.next_run ?? "-"),
        job.last_run ? `${job.last_run.outcome} (${job.last_run.scheduled_for})` : "-",
      ]);
      for (const line of table(["job", "cron", "time zone", "catch-up", "next run", "last run"], rows))
        out(line);
    },
  },
  "GET /jobs/{name}/runs": {
    name: ["jobs", "runs"],
    optionalParams: true,
    help: "  Without <name>: the latest runs of every job.",
    run: async (context) => {
      const answer = (
        context.parts.params.name === undefined
          ? await context.call("GET /jobs", { query: context.parts.query })
          : (await context.send()).json
      ) as { runs: JobRun[] };
      if (context.values.json) return printJson(answer.runs);
      if (answer.runs.length === 0) return out("no runs yet");
      for (const run of answer.runs) out(runLine(run));
    },
  },
  "POST /jobs/{name}/run": {
    help: "  Runs the job now (admin). A run already in progress is not overlapped: the new run is skipped.",
    print: (answer) => out(runLine((answer as { run: JobRun }).run)),
  },
  "POST /jobs/{name}/pause": { print: (answer) => out(pausedLine(answer)) },
  "POST /jobs/{name}/resume": { print: (answer) => out(pausedLine(answer)) },
  "POST /jobs/sync": {
    help: "  Makes each environment's Cloud Scheduler jobs match the catalog (admin; idempotent).",
    print: (answer) => {
      const sync = answer as { done: string[]; note: string };
      for (const line of sync.done) out(line);
      out(sync.note);
    },
  },
  "GET /events/search": {
    name: ["logs", "search"],
    flags: { correlation_id: "correlation", deployment_id: "deployment" },
    restField: "q",
    help: "  Words after the command are the free text (q): every word must occur in the event.",
    print: (answer) => {
      const found = answer as { events?: Record<string, unknown>[]; warehouse?: string };
      const events = found.events ?? [];
      process.stderr.write(`${events.length} event(s) from ${found.warehouse ?? "the warehouse"}\n`);
      const rows = events.map((e) => [
        text(e.time),
        text(e.environment),
        text(e.kind),
        text(e.task_id ?? e.deployment_id),
        text(e.integration),
        `${text(e.from)}->${text(e.to)}`,
        text(e.detail),
      ]);
      for (const line of table(["time", "env", "kind", "subject", "integration", "change", "detail"], rows))
        out(line);
    },
  },
  "GET /trends": {
    print: (answer) => {
      const trends = answer as TrendsAnswer;
      if (trends.status !== "ok") {
        out(`no trends (${trends.status}): ${trends.message}`);
        return;
      }
      process.stderr.write(
        `${trends.days} day(s) from ${trends.aggregates_from === "duckdb" ? "duckdb (local, standing in for BigQuery)" : "bigquery"}, ${trends.environments?.join(", ") ?? "every environment"}\n`,
      );
      const rate = (value: number | null) => (value === null ? "-" : `${Math.round(value * 1000) / 10} %`);
      const secs = (value: number | null) => (value === null ? "-" : `${value} s`);
      const rows = [...trends.series, { day: "all", ...trends.window }].map((d) => [
        d.day,
        d.deployments,
        d.succeeded,
        d.failed,
        d.rolled_back,
        d.cancelled,
        d.in_progress,
        rate(d.success_rate),
        secs(d.duration_p50),
        secs(d.duration_p95),
      ]);
      const header = ["day", "deployments", "ok", "failed", "rolled back", "cancelled", "running"];
      for (const line of table([...header, "success", "p50", "p95"], rows)) out(line);
    },
  },
  "POST /config": { name: ["config", "load"], flags: { $body: "file" } },
};

function pausedLine(answer: unknown): string {
  const state = answer as { job: string; paused: boolean; paused_by?: string };
  return `${state.job}: ${state.paused ? `paused by ${state.paused_by}` : "resumed"}`;
}

/** Writes an answer to --out (a document as is, JSON pretty-printed), or a text document to stdout. */
export function writeAnswer(answer: ApiAnswer, context: RunContext): number {
  const file = context.values.out;
  const isJson = answer.contentType.includes("json");
  const bytes = isJson ? Buffer.from(`${JSON.stringify(answer.json, null, 2)}\n`) : answer.bytes;
  if (typeof file === "string") {
    writeFileSync(file, bytes);
    out(`wrote ${file} (${bytes.length} bytes)`);
    return EXIT.ok;
  }
  if (!isJson && !/^text\/|svg|xml|csv|markdown/.test(answer.contentType))
    throw usageError(`the answer is ${answer.contentType || "binary"}: name a file with --out`);
  process.stdout.write(bytes);
  return EXIT.ok;
}
