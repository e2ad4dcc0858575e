#!/usr/bin/env node
// orch: a command-line client for the orchestration API, against the local stack or a deployed one.
//
//   node scripts/orch.mjs <command> [options]      (see `node scripts/orch.mjs --help`)
//
// Plain Node ESM with only node: built-ins, so it runs without a build step. The exit codes are a
// contract CI jobs rely on; they are listed in HELP and in EXIT below.

import fs from "node:fs";
import path from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  auth: 3,
  notFound: 4,
  conflict: 5,
  server: 6,
};

const EXIT_HELP = `Exit codes:
  0  success
  1  the operation failed (deployment ended failed, rolled_back or cancelled; status not healthy with --strict)
  2  bad input or usage (unknown command or flag, HTTP 400, 405, 413 and other 4xx)
  3  not authenticated or not allowed (HTTP 401, 403)
  4  not found (HTTP 404)
  5  conflict (HTTP 409, e.g. a refused promotion)
  6  server or network error (HTTP 5xx, connection refused, timeout)`;

const COMMON_HELP = `Connection (every command):
  --url <base>        API base URL, with or without /api/orchestration
                      (env ORCH_URL, else ORCH_API_URL, else http://127.0.0.1:5000)
  --token <token>     Firebase ID token, sent as Authorization: Bearer (env ORCH_TOKEN)
  --api-key <key>     API key, sent as X-Api-Key (env ORCH_API_KEY)
  --verbose           print each request and answer status to stderr (credentials redacted)
  --help, -h          show help`;

const GLOBAL_OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  "api-key": { type: "string" },
  verbose: { type: "boolean" },
  help: { type: "boolean", short: "h" },
};

/**
 * Each command: its options, positionals it takes, help text, the API routes it calls (checked
 * against the route table by test/unit/cli-routes.spec.ts) and what it does.
 */
export const COMMANDS = {
  plan: {
    summary: "show the deployment plan for environments",
    usage:
      "orch plan [--env dev --env prod] | --goals <file.json> [--constraints <json>] [--config-out <file>] [--json]",
    options: {
      env: { type: "string", multiple: true },
      goals: { type: "string" },
      constraints: { type: "string" },
      "config-out": { type: "string" },
      json: { type: "boolean" },
    },
    help: `  --env <name>          environment to plan (repeatable; default: every environment)
  --goals <file.json>   plan an architecture from goals: a JSON file with {goals, constraints?, objective?}
                        (or just the goals object); exit 1 when infeasible, with conflicts and relaxations
  --constraints <json>  constraints object as JSON (with --goals; overrides the file's)
  --config-out <file>   with --goals: write the planned orchestration.json there
  --json                print the API's answer as JSON`,
    routes: ["POST /plan"],
    run: runPlan,
  },
  deploy: {
    summary: "deploy integrations to an environment and follow its progress",
    usage:
      "orch deploy --env <name> [--integrations a,b] [--config <json>] [--no-wait] [--interval <ms>] [--timeout <s>] [--json]",
    options: {
      env: { type: "string" },
      integrations: { type: "string", multiple: true },
      config: { type: "string" },
      "no-wait": { type: "boolean" },
      interval: { type: "string" },
      timeout: { type: "string" },
      json: { type: "boolean" },
    },
    help: `  --env <name>            environment to deploy to (required)
  --integrations <a,b>    integrations to deploy, comma separated (repeatable;
                          default: every integration the environment declares)
  --config <json>         deployment configuration as JSON, e.g. '{"driver":"simulated"}'
  --no-wait               print the deployment id and exit without following it
  --interval <ms>         how often to poll the deployment (default 1000)
  --timeout <s>           stop following after this many seconds, exit 1 (default: no limit)
  --json                  print the final deployment and tasks as JSON (progress goes to stderr)

  Follows the deployment until it ends: in a terminal it redraws a task table in place,
  otherwise it prints one line per task state change. Exit 0 when the deployment succeeded,
  1 when it ended failed, rolled_back or cancelled.`,
    routes: ["POST /deploy", "GET /deployments/{id}", "GET /environments"],
    run: runDeploy,
  },
  status: {
    summary: "show system, environment and integration health",
    usage: "orch status [--env <name>] [--strict] [--json]",
    options: {
      env: { type: "string" },
      strict: { type: "boolean" },
      json: { type: "boolean" },
    },
    help: `  --env <name>   only this environment
  --strict       exit 1 unless the system health is "healthy"
  --json         print the API's answer as JSON`,
    routes: ["GET /status"],
    run: runStatus,
  },
  optimize: {
    summary: "ask for an optimization plan",
    usage: "orch optimize [--target duration --target reliability] [--constraints <json>] [--json]",
    options: {
      target: { type: "string", multiple: true },
      constraints: { type: "string" },
      json: { type: "boolean" },
    },
    help: `  --target <t>          optimization target (repeatable, or comma separated; default: duration)
  --constraints <json>  constraints object as JSON
  --json                print the API's answer as JSON`,
    routes: ["POST /optimize"],
    run: runOptimize,
  },
  report: {
    summary: "produce a report",
    usage: "orch report [--type deployment] [--range 7d] [--format <f>] [--out <file>] [--json]",
    options: {
      type: { type: "string" },
      range: { type: "string" },
      format: { type: "string" },
      out: { type: "string" },
      json: { type: "boolean" },
    },
    help: `  --type <t>     report type (report_type; default: the API's)
  --range <r>    time range, e.g. 24h, 7d (time_range)
  --format <f>   json (default), html, markdown, csv, pdf or png (format)
  --out <file>   write the report there (needed for pdf and png; text formats go to stdout otherwise)
  --json         print the API's answer as JSON`,
    routes: ["GET /reports"],
    run: runReport,
  },
  cancel: {
    summary: "cancel a deployment",
    usage: "orch cancel <deployment-id> [--json]",
    positionals: 1,
    options: { json: { type: "boolean" } },
    help: `  --json   print the API's answer as JSON`,
    routes: ["POST /deployments/{id}/cancel"],
    run: runCancel,
  },
  approve: {
    summary: "approve a production deployment waiting for a second person",
    usage: "orch approve <deployment-id> [--json]",
    positionals: 1,
    options: { json: { type: "boolean" } },
    help: `  --json   print the API's answer as JSON

  The requester cannot approve their own deployment (exit 3); an expired or already decided
  request answers 409 (exit 5).`,
    routes: ["POST /deployments/{id}/approve"],
    run: runApprove,
  },
  reject: {
    summary: "reject a production deployment waiting for approval",
    usage: "orch reject <deployment-id> --reason <text> [--json]",
    positionals: 1,
    options: { reason: { type: "string" }, json: { type: "boolean" } },
    help: `  --reason <text>  why it is rejected (required; recorded in the audit trail)
  --json           print the API's answer as JSON`,
    routes: ["POST /deployments/{id}/reject"],
    run: runReject,
  },
  doctor: {
    summary: "check read-only that a live environment's credentials hold the permissions its drivers need",
    usage: "orch doctor --env <name> [--json]",
    options: { env: { type: "string" }, json: { type: "boolean" } },
    help: `  --env <name>  the environment to check (required)
  --json        print the API's answer as JSON

  Exit 0 when ready; 1 when a credential or a permission is missing (each named with its role).`,
    routes: ["GET /doctor"],
    run: runDoctor,
  },
  keys: {
    summary: "manage API keys: create, revoke, list",
    usage:
      "orch keys create --role <role> [--env <name>...] --label <label> | orch keys revoke <id> | orch keys list",
    subcommands: {
      create: {
        usage: "orch keys create --role <role> [--env <name>...] --label <label> [--json]",
        options: {
          role: { type: "string" },
          env: { type: "string", multiple: true },
          label: { type: "string" },
          json: { type: "boolean" },
        },
        help: `  --role <role>    role the key acts as, e.g. operator (required)
  --env <name>     environment the key may act on (repeatable; default: the API's)
  --label <label>  a name to recognize the key by (required)
  --json           print the API's answer as JSON

  The key is shown once; store it at once (e.g. as the CI secret ORCH_API_KEY).`,
        routes: ["POST /keys"],
        run: runKeysCreate,
      },
      revoke: {
        usage: "orch keys revoke <id> [--json]",
        positionals: 1,
        options: { json: { type: "boolean" } },
        help: `  --json   print the API's answer as JSON`,
        routes: ["DELETE /keys/{id}"],
        run: runKeysRevoke,
      },
      list: {
        usage: "orch keys list [--json]",
        options: { json: { type: "boolean" } },
        help: `  --json   print the API's answer as JSON`,
        routes: ["GET /keys"],
        run: runKeysList,
      },
    },
  },
  jobs: {
    summary: "scheduled jobs: list, runs, run, pause, resume, sync",
    usage:
      "orch jobs list | orch jobs runs [<job>] | orch jobs run <job> | orch jobs pause <job> | orch jobs resume <job> | orch jobs sync",
    subcommands: {
      list: {
        usage: "orch jobs list [--json]",
        options: { json: { type: "boolean" } },
        help: `  --json   print the API's answer as JSON

  Each job's cron expression, time zone, catch-up policy, next run and last outcome.`,
        routes: ["GET /jobs"],
        run: runJobsList,
      },
      runs: {
        usage: "orch jobs runs [<job>] [--limit <n>] [--json]",
        positionals: 1,
        options: { limit: { type: "string" }, json: { type: "boolean" } },
        help: `  --limit <n>   how many runs, newest first (default 20)
  --json        print the API's answer as JSON`,
        routes: ["GET /jobs", "GET /jobs/{name}/runs"],
        run: runJobsRuns,
      },
      run: {
        usage: "orch jobs run <job> [--json]",
        positionals: 1,
        options: { json: { type: "boolean" } },
        help: `  --json   print the API's answer as JSON

  Runs the job now (admin). A run already in progress is not overlapped: the new run is skipped.`,
        routes: ["POST /jobs/{name}/run"],
        run: runJobsAction("run"),
      },
      pause: {
        usage: "orch jobs pause <job> [--json]",
        positionals: 1,
        options: { json: { type: "boolean" } },
        help: `  --json   print the API's answer as JSON`,
        routes: ["POST /jobs/{name}/pause"],
        run: runJobsAction("pause"),
      },
      resume: {
        usage: "orch jobs resume <job> [--json]",
        positionals: 1,
        options: { json: { type: "boolean" } },
        help: `  --json   print the API's answer as JSON`,
        routes: ["POST /jobs/{name}/resume"],
        run: runJobsAction("resume"),
      },
      sync: {
        usage: "orch jobs sync [--json]",
        options: { json: { type: "boolean" } },
        help: `  --json   print the API's answer as JSON

  Makes each environment's Cloud Scheduler jobs match the catalog (admin; idempotent).`,
        routes: ["POST /jobs/sync"],
        run: runJobsSync,
      },
    },
  },
  logs: {
    summary: "search the event log (the warehouse): logs search",
    usage:
      "orch logs search [<text>] [--env <name>] [--correlation <id>] [--deployment <id>] [--from <iso>] [--to <iso>] [--limit <n>] [--json]",
    subcommands: {
      search: {
        usage:
          "orch logs search [<text>] [--env <name>] [--correlation <id>] [--deployment <id>] [--integration <name>] [--from <iso>] [--to <iso>] [--limit <n>] [--json]",
        positionals: "any",
        options: {
          env: { type: "string" },
          correlation: { type: "string" },
          deployment: { type: "string" },
          integration: { type: "string" },
          from: { type: "string" },
          to: { type: "string" },
          limit: { type: "string" },
          json: { type: "boolean" },
        },
        help: `  <text>               words that must all occur in the event (any field)
  --env <name>         only this environment (default: every environment you may read)
  --correlation <id>   only this correlation id: a deployment's whole story
  --deployment <id>    only this deployment
  --integration <name> only this integration
  --from / --to <iso>  the window (default: the last 7 days)
  --limit <n>          at most n events (default 200)
  --json               print the API's answer as JSON`,
        routes: ["GET /events/search"],
        run: runLogsSearch,
      },
    },
  },
};

function mainHelp() {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const list = Object.entries(COMMANDS)
    .map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`)
    .join("\n");
  return `orch: client for the orchestration API

Usage: orch <command> [options]

Commands:
${list}

Run \`orch <command> --help\` for a command's options.

${COMMON_HELP}

${EXIT_HELP}
`;
}

function commandHelp(spec) {
  return `Usage: ${spec.usage}

${spec.help ?? ""}

${COMMON_HELP}

${EXIT_HELP}
`;
}

/** An error that ends the run with a given exit code and message. */
class CliError extends Error {
  constructor(code, message, details = []) {
    super(message);
    this.exitCode = code;
    this.details = details;
  }
}

const usageError = (message) => new CliError(EXIT.usage, message);

/** The credentials in use: never printed, replaced wherever they would show up. */
const SECRETS = [];
function redact(text) {
  let out = String(text);
  for (const secret of SECRETS) out = out.split(secret).join("[redacted]");
  return out;
}

// ---------------------------------------------------------------------------------------------
// Argument parsing

const GLOBAL_VALUE_FLAGS = new Set(["--url", "--token", "--api-key"]);

/** Splits argv into the command words (command, keys subcommand) and the rest. */
function splitCommand(argv) {
  const words = [];
  const rest = [];
  let wantWords = 1;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (words.length < wantWords && !arg.startsWith("-")) {
      words.push(arg);
      if (words.length === 1 && COMMANDS[arg]?.subcommands) wantWords = 2;
      continue;
    }
    rest.push(arg);
    if (GLOBAL_VALUE_FLAGS.has(arg) && i + 1 < argv.length) rest.push(argv[++i]);
    if (arg === "--") {
      rest.push(...argv.slice(i + 1));
      break;
    }
  }
  return { words, rest };
}

function parse(spec, rest) {
  try {
    return parseArgs({
      args: rest,
      options: { ...GLOBAL_OPTIONS, ...spec.options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    throw usageError(`${error.message.replace(/\. To specify a positional.*$/s, "")}`);
  }
}

function parseJsonFlag(name, text) {
  if (text === undefined) return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw usageError(`--${name} is not JSON: ${error.message}`);
  }
}

function parseObjectFlag(name, text) {
  const value = parseJsonFlag(name, text);
  if (value !== undefined && (typeof value !== "object" || value === null || Array.isArray(value)))
    throw usageError(`--${name} must be a JSON object, e.g. '{"driver":"simulated"}'`);
  return value;
}

function parsePositiveNumber(name, text, fallback) {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw usageError(`--${name} must be a positive number`);
  return value;
}

/** Comma-separated and repeated flags, flattened: ["a,b", "c"] → ["a", "b", "c"]. */
function listFlag(values) {
  if (!values) return undefined;
  const list = values.flatMap((value) => value.split(",")).map((value) => value.trim());
  return list.filter((value) => value.length > 0);
}

// ---------------------------------------------------------------------------------------------
// HTTP

/** The API root (ending in /api/orchestration) from the flag or the environment. */
function apiRoot(flag) {
  const env = process.env;
  const base = flag ?? env.ORCH_URL ?? env.ORCH_API_URL ?? "http://127.0.0.1:5000";
  let url;
  try {
    url = new URL(base);
  } catch {
    throw usageError(`--url ${JSON.stringify(base)} is not a URL, e.g. http://127.0.0.1:5000`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw usageError(`--url must be http or https, not ${url.protocol}`);
  const trimmed = url.href.replace(/[?#].*$/, "").replace(/\/+$/, "");
  return trimmed.endsWith("/api/orchestration") ? trimmed : `${trimmed}/api/orchestration`;
}

function createClient(values) {
  const root = apiRoot(values.url);
  const token = values.token ?? process.env.ORCH_TOKEN ?? undefined;
  const apiKey = values["api-key"] ?? process.env.ORCH_API_KEY ?? undefined;
  for (const secret of [token, apiKey]) if (secret) SECRETS.push(secret);
  const verbose = (line) => {
    if (values.verbose) process.stderr.write(`${redact(line)}\n`);
  };

  /** Sends one request; resolves the parsed body or throws a CliError mapped from the status. */
  /** With `bytes`, a successful answer comes back as a Buffer (reports in pdf or png are not text). */
  async function request(method, path, { body, query, bytes = false, allow = [] } = {}) {
    const url = new URL(`${root}${path}`);
    for (const [key, value] of Object.entries(query ?? {}))
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    const headers = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    if (token) headers.authorization = `Bearer ${token}`;
    if (apiKey) headers["x-api-key"] = apiKey;
    verbose(`> ${method} ${url.href}`);
    for (const [name, value] of Object.entries(headers))
      verbose(
        `> ${name}: ${name === "authorization" ? "Bearer [redacted]" : name === "x-api-key" ? "[redacted]" : value}`,
      );
    let response;
    let text = "";
    let raw = Buffer.alloc(0);
    const started = Date.now();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error("no answer within 60 s")), 60_000);
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: abort.signal,
      });
      raw = Buffer.from(await response.arrayBuffer());
      text = raw.toString("utf8");
    } catch (error) {
      const cause = error?.cause?.code ?? error?.cause?.message ?? error?.message ?? String(error);
      throw new CliError(EXIT.server, redact(`cannot reach ${root} (${method} ${path}): ${cause}`));
    } finally {
      clearTimeout(timer);
    }
    verbose(`< ${response.status} ${response.statusText} (${Date.now() - started} ms)`);
    if (bytes && response.ok) return raw;
    let parsed = text;
    try {
      parsed = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      // Not JSON (a proxy's error page, say): keep the text for the message.
    }
    if (response.ok || allow.includes(response.status)) return parsed;
    throw errorFromResponse(response.status, parsed, `${method} ${path}`);
  }
  return { request, root };
}

function exitCodeForStatus(status) {
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404) return EXIT.notFound;
  if (status === 409) return EXIT.conflict;
  if (status >= 500) return EXIT.server;
  if (status === 408 || status === 429) return EXIT.server;
  return EXIT.usage;
}

function errorFromResponse(status, body, what) {
  const error = typeof body === "object" && body !== null ? body.error : undefined;
  const message =
    typeof error?.message === "string"
      ? error.message
      : typeof body === "string" && body.trim().length > 0
        ? body.trim().slice(0, 300)
        : "no details";
  const code = typeof error?.code === "string" ? ` ${error.code}` : "";
  const details = Array.isArray(error?.problems)
    ? error.problems.map((problem) => {
        const text = problem?.message ?? `found ${problem?.found}; allowed: ${problem?.allowed}`;
        const path = problem?.path ?? "$";
        return text.startsWith(`${path}:`) ? text : `${path}: ${text}`;
      })
    : [];
  return new CliError(
    exitCodeForStatus(status),
    redact(`${what} answered ${status}${code}: ${message}`),
    details.map(redact),
  );
}

// ---------------------------------------------------------------------------------------------
// Output helpers

const out = (line = "") => process.stdout.write(`${line}\n`);
const printJson = (value) => out(JSON.stringify(value, null, 2));

/** A plain text table: rows of cells, padded to each column's width. */
function table(header, rows) {
  const all = [header, ...rows].map((row) => row.map((cell) => (cell == null ? "" : String(cell))));
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  return all.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]))
      .join("  ")
      .trimEnd(),
  );
}

/** Renders any JSON value as indented text for commands whose answer shape is open. */
function render(value, indent = "") {
  if (value === null || value === undefined) return [`${indent}-`];
  if (typeof value !== "object") return [`${indent}${value}`];
  const lines = [];
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${indent}(none)`];
    for (const item of value) {
      if (item !== null && typeof item === "object") {
        const [first, ...more] = render(item, `${indent}  `);
        lines.push(`${indent}- ${first.trimStart()}`, ...more);
      } else lines.push(`${indent}- ${item}`);
    }
    return lines;
  }
  for (const [key, item] of Object.entries(value)) {
    if (item !== null && typeof item === "object" && (Array.isArray(item) ? item.length > 0 : true)) {
      lines.push(`${indent}${key}:`, ...render(item, `${indent}  `));
    } else lines.push(`${indent}${key}: ${Array.isArray(item) ? "(none)" : (item ?? "-")}`);
  }
  return lines;
}

function seconds(ms) {
  return ms == null ? "" : `${(ms / 1000).toFixed(1)}s`;
}

function durationOf(task) {
  if (!task.started_at) return "";
  const start = Date.parse(task.started_at);
  const end = task.completed_at ? Date.parse(task.completed_at) : Date.now();
  return Number.isFinite(start) && Number.isFinite(end) ? seconds(end - start) : "";
}

// ---------------------------------------------------------------------------------------------
// Commands

/** A task id without its deployment prefix: `plan-dev--auth` → `auth`. */
const shortTask = (id) => String(id).replace(/^.*--/, "");

/** Reads `--goals <file>`: a planning request, or just its goals. */
function goalsRequest(file, constraints) {
  let parsed;
  try {
    parsed = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (error) {
    throw usageError(`--goals ${file}: ${error.message}`);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))
    throw usageError(`--goals ${file}: a JSON object, {"goals": {...}, "constraints": {...}}`);
  const body = "goals" in parsed ? { ...parsed } : { goals: parsed };
  if (constraints) body.constraints = constraints;
  return body;
}

const usd = (value) => (value == null ? "-" : `$${Number(value).toFixed(2)}`);

/** Prints an architecture plan (or the conflicts of an infeasible request); exit 1 when infeasible. */
async function runGoalPlan({ values, client }) {
  if (listFlag(values.env)?.length)
    throw usageError("--env is not used with --goals: name environments in goals.environments");
  const body = goalsRequest(values.goals, parseObjectFlag("constraints", values.constraints));
  const answer = await client.request("POST", "/plan", { body, allow: [422] });
  if (values.json) {
    printJson(answer);
    return answer.infeasible ? EXIT.failed : EXIT.ok;
  }
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
  if (values["config-out"]) {
    fs.writeFileSync(values["config-out"], `${JSON.stringify(plan.config, null, 2)}\n`);
    out(`config written: ${values["config-out"]}`);
  }
  return EXIT.ok;
}

async function runPlan({ values, client }) {
  if (values.goals) return runGoalPlan({ values, client });
  const body = {};
  const envs = listFlag(values.env);
  if (envs?.length) body.environments = envs;
  const constraints = parseObjectFlag("constraints", values.constraints);
  if (constraints) throw usageError("--constraints is used with --goals <file.json>");
  const answer = await client.request("POST", "/plan", { body });
  if (values.json) return printJson(answer);
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
  if (
    differences &&
    (Array.isArray(differences) ? differences.length > 0 : Object.keys(differences).length > 0)
  ) {
    out("differences:");
    for (const line of render(differences, "  ")) out(line);
  }
}

const TERMINAL_DEPLOYMENT = new Set(["succeeded", "failed", "rolled_back", "cancelled"]);

async function integrationsOf(client, environment) {
  const answer = await client.request("GET", "/environments");
  const envs = answer?.environments ?? [];
  const env = envs.find((candidate) => candidate.name === environment);
  if (!env)
    throw usageError(
      `environment ${JSON.stringify(environment)} is not declared; declared: ${envs.map((e) => e.name).join(", ") || "(none; load a config first)"}`,
    );
  const names = (env.integrations ?? [])
    .filter((integration) => integration.status !== "removed")
    .map((integration) => integration.name);
  if (names.length === 0) throw usageError(`environment ${environment} declares no integrations`);
  return names;
}

async function runDeploy({ values, client }) {
  const environment = values.env;
  if (!environment) throw usageError("deploy needs --env <name>");
  const configuration = parseObjectFlag("config", values.config);
  const interval = parsePositiveNumber("interval", values.interval, 1000);
  const timeoutSeconds = parsePositiveNumber("timeout", values.timeout, undefined);
  const integrations = listFlag(values.integrations) ?? (await integrationsOf(client, environment));
  if (integrations.length === 0) throw usageError("--integrations lists no integration");

  const body = { environment, integrations, ...(configuration ? { configuration } : {}) };
  const started = await client.request("POST", "/deploy", { body });
  const id = started.deployment_id;
  const log = values.json ? (line) => process.stderr.write(`${line}\n`) : out;
  if (values["no-wait"]) {
    if (values.json) printJson(started);
    else {
      out(`deployment ${id}: ${started.deployment_status}`);
      out(`tasks: ${(started.task_ids ?? []).length}; estimated completion ${started.estimated_completion}`);
      out(`cancel it with: orch cancel ${id}`);
    }
    return EXIT.ok;
  }
  log(
    `deployment ${id} to ${environment}: ${started.deployment_status}; ${(started.task_ids ?? []).length} tasks; estimated completion ${started.estimated_completion}`,
  );

  const stream = values.json ? process.stderr : process.stdout;
  const view = stream.isTTY ? tableView(stream) : lineView(log);
  let interrupted = false;
  const onInterrupt = () => {
    interrupted = true;
  };
  process.once("SIGINT", onInterrupt);
  const deadline = timeoutSeconds ? Date.now() + timeoutSeconds * 1000 : Infinity;
  let failures = 0;
  let current;
  try {
    for (;;) {
      try {
        current = await client.request("GET", `/deployments/${encodeURIComponent(id)}`);
        failures = 0;
      } catch (error) {
        // A blip while following: try a few more times before giving up on the connection.
        if (!(error instanceof CliError) || error.exitCode !== EXIT.server || ++failures >= 5) throw error;
        log(`(retrying: ${error.message})`);
      }
      if (current) view.update(current);
      if (current && TERMINAL_DEPLOYMENT.has(current.deployment?.status)) break;
      if (interrupted) {
        view.close();
        log(`stopped following; deployment ${id} goes on. Cancel it with: orch cancel ${id}`);
        return 130;
      }
      if (Date.now() > deadline) {
        view.close();
        log(
          `gave up after ${timeoutSeconds}s; deployment ${id} is ${current?.deployment?.status ?? "unknown"}`,
        );
        return EXIT.failed;
      }
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
  } finally {
    process.off("SIGINT", onInterrupt);
  }
  view.close();

  const deployment = current.deployment;
  const tasks = current.tasks ?? [];
  if (values.json) printJson(current);
  else {
    out();
    for (const line of table(
      ["task", "status", "attempt", "duration", "driver", "note"],
      tasks.map((task) => [
        task.integration,
        task.status,
        task.attempt,
        durationOf(task),
        task.driver_label ?? task.driver ?? "",
        task.error_message ?? task.reason ?? "",
      ]),
    ))
      out(`  ${line}`);
    out();
    out(
      `deployment ${id} ${deployment.status}${deployment.error_message ? `: ${deployment.error_message}` : ""}`,
    );
  }
  return deployment.status === "succeeded" ? EXIT.ok : EXIT.failed;
}

/** Non-terminal view: one line per deployment or task state change. */
function lineView(log) {
  const seen = new Map();
  let deploymentStatus;
  const time = () => new Date().toISOString().slice(11, 19);
  return {
    update({ deployment, tasks }) {
      for (const task of tasks ?? []) {
        const key = `${task.status}/${task.attempt}`;
        if (seen.get(task.id) === key) continue;
        seen.set(task.id, key);
        const note = task.error_message ?? task.reason;
        const attempt = task.attempt > 0 ? ` (attempt ${task.attempt})` : "";
        log(`${time()} ${task.integration}: ${task.status}${attempt}${note ? ` - ${note}` : ""}`);
      }
      if (deployment?.status !== deploymentStatus) {
        deploymentStatus = deployment?.status;
        log(`${time()} deployment: ${deploymentStatus}`);
      }
    },
    close() {},
  };
}

/** Terminal view: a task table redrawn in place. */
function tableView(stream) {
  let drawn = 0;
  const started = Date.now();
  return {
    update({ deployment, tasks }) {
      const counts = {};
      for (const task of tasks ?? []) counts[task.status] = (counts[task.status] ?? 0) + 1;
      const summary = Object.entries(counts)
        .map(([status, n]) => `${n} ${status}`)
        .join(", ");
      const lines = [
        `deployment ${deployment?.status ?? "?"} · ${seconds(Date.now() - started)} · ${summary}`,
        ...table(
          ["task", "status", "attempt", "duration", "note"],
          (tasks ?? []).map((task) => [
            task.integration,
            task.status,
            task.attempt,
            durationOf(task),
            (task.error_message ?? task.reason ?? "").slice(0, Math.max(20, (stream.columns ?? 100) - 60)),
          ]),
        ).map((line) => `  ${line}`),
      ];
      if (drawn > 0) stream.write(`\x1b[${drawn}A\x1b[0J`);
      stream.write(`${lines.join("\n")}\n`);
      drawn = lines.length;
    },
    close() {
      drawn = 0;
    },
  };
}

async function runStatus({ values, client }) {
  const answer = await client.request("GET", "/status", { query: { environment: values.env } });
  const health = answer?.system_health?.status ?? "unknown";
  if (values.json) printJson(answer);
  else {
    out(`system: ${health} (checked in ${answer?.system_health?.duration_ms ?? "?"} ms)`);
    const envs = answer?.environment_status ?? [];
    if (envs.length > 0) {
      out();
      const rows = envs.map((env) => [
        env.name ?? env.environment,
        env.type ?? "",
        env.mode ?? "",
        env.status ?? "",
        env.health ?? "",
      ]);
      for (const line of table(["environment", "type", "mode", "status", "health"], rows)) out(line);
    }
    const integrations = answer?.integration_status ?? [];
    if (integrations.length > 0) {
      out();
      const rows = integrations.map((integration) => [
        integration.environment,
        integration.name,
        integration.status,
        integration.health,
        integration.mode,
        integration.latency_ms == null ? "" : `${integration.latency_ms} ms`,
        integration.open_alert
          ? `alert ${typeof integration.open_alert === "string" ? integration.open_alert : (integration.open_alert.id ?? "open")}`
          : "",
      ]);
      for (const line of table(
        ["environment", "integration", "status", "health", "mode", "latency", ""],
        rows,
      ))
        out(line);
    }
  }
  if (values.strict && health !== "healthy") {
    process.stderr.write(`system health is ${health}, not healthy\n`);
    return EXIT.failed;
  }
  return EXIT.ok;
}

async function runOptimize({ values, client }) {
  const targets = listFlag(values.target) ?? ["duration"];
  const constraints = parseObjectFlag("constraints", values.constraints);
  const answer = await client.request("POST", "/optimize", {
    body: { optimization_targets: targets, ...(constraints ? { constraints } : {}) },
  });
  if (values.json) return printJson(answer);
  for (const key of ["optimization_plan", "expected_improvements", "timeline"]) {
    out(`${key.replace(/_/g, " ")}:`);
    for (const line of render(answer?.[key], "  ")) out(line);
  }
}

async function runReport({ values, client }) {
  const query = { report_type: values.type, time_range: values.range, format: values.format };
  if (values.format !== undefined && values.format !== "json") {
    if (["pdf", "png"].includes(values.format) && !values.out)
      throw usageError(`--format ${values.format} is binary: name a file with --out`);
    const document = await client.request("GET", "/reports", { query, bytes: true });
    if (!values.out) return out(document.toString("utf8"));
    fs.writeFileSync(values.out, document);
    return out(`wrote ${values.out} (${document.length} bytes)`);
  }
  const answer = await client.request("GET", "/reports", { query });
  if (values.json || typeof answer !== "object" || answer === null) {
    return typeof answer === "string" ? out(answer) : printJson(answer);
  }
  out("report:");
  for (const line of render(answer.comprehensive_report, "  ")) out(line);
  if (answer.visualizations) {
    const count = Array.isArray(answer.visualizations)
      ? answer.visualizations.length
      : Object.keys(answer.visualizations).length;
    out(`visualizations: ${count} (use --json to get them)`);
  }
  out("recommendations:");
  for (const line of render(answer.recommendations, "  ")) out(line);
}

function onePositional(positionals, what) {
  if (positionals.length === 0) throw usageError(`missing ${what}`);
  if (positionals.length > 1) throw usageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  const value = positionals[0];
  if (!/^[A-Za-z0-9_-]{1,128}$/.test(value))
    throw usageError(`${what} ${JSON.stringify(value)} must be 1-128 letters, digits, - or _`);
  return value;
}

async function runCancel({ values, positionals, client }) {
  const id = onePositional(positionals, "deployment id");
  const answer = await client.request("POST", `/deployments/${encodeURIComponent(id)}/cancel`);
  if (values.json) return printJson(answer);
  out(`deployment ${id}: ${answer?.deployment?.status ?? "cancel requested"}`);
}

async function runApprove({ values, positionals, client }) {
  const id = onePositional(positionals, "deployment id");
  const answer = await client.request("POST", `/deployments/${encodeURIComponent(id)}/approve`);
  if (values.json) return printJson(answer);
  out(`deployment ${id}: ${answer?.deployment?.status ?? answer?.status ?? "approved"}`);
}

async function runReject({ values, positionals, client }) {
  const id = onePositional(positionals, "deployment id");
  if (!values.reason) throw usageError("reject needs --reason <text>");
  const answer = await client.request("POST", `/deployments/${encodeURIComponent(id)}/reject`, {
    body: { reason: values.reason },
  });
  if (values.json) return printJson(answer);
  out(`deployment ${id}: ${answer?.deployment?.status ?? answer?.status ?? "rejected"}`);
}

async function runDoctor({ values, client }) {
  if (!values.env) throw usageError("doctor needs --env <name>");
  const report = await client.request("GET", "/doctor", { query: { environment: values.env } });
  if (values.json) printJson(report);
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
  if (!report.ok) process.exitCode = EXIT.failed;
}

async function runKeysCreate({ values, client }) {
  if (!values.role) throw usageError("keys create needs --role <role>");
  if (!values.label) throw usageError("keys create needs --label <label>");
  const environments = listFlag(values.env);
  const answer = await client.request("POST", "/keys", {
    body: { role: values.role, label: values.label, ...(environments?.length ? { environments } : {}) },
  });
  if (values.json) return printJson(answer);
  out(`key ${answer.id} (${answer.prefix ?? ""}) created for role ${values.role}, label ${values.label}`);
  out(`key: ${answer.key}`);
  process.stderr.write("This is the only time the key is shown; store it now (e.g. as ORCH_API_KEY).\n");
}

async function runKeysRevoke({ values, positionals, client }) {
  const id = onePositional(positionals, "key id");
  const answer = await client.request("DELETE", `/keys/${encodeURIComponent(id)}`);
  if (values.json) return printJson(answer ?? {});
  out(`key ${id} revoked`);
}

async function runKeysList({ values, client }) {
  const answer = await client.request("GET", "/keys");
  if (values.json) return printJson(answer);
  const keys = answer?.keys ?? [];
  if (keys.length === 0) return out("no keys");
  const rows = keys.map((key) => [
    key.id,
    key.prefix ?? "",
    key.role ?? "",
    (key.environments ?? []).join(",") || "*",
    key.label ?? "",
    key.revoked_at ? `revoked ${key.revoked_at}` : (key.status ?? "active"),
  ]);
  for (const line of table(["id", "prefix", "role", "environments", "label", "status"], rows)) out(line);
}

function runLine(run) {
  const took =
    run.duration_ms === null || run.duration_ms === undefined ? "" : ` in ${seconds(run.duration_ms)}`;
  return `${run.scheduled_for}  ${run.job}  ${run.outcome}${took} (${run.trigger}): ${run.summary}`;
}

async function runJobsList({ values, client }) {
  const answer = await client.request("GET", "/jobs", { query: { limit: 1 } });
  if (values.json) return printJson(answer);
  const rows = answer.jobs.map((job) => [
    job.name,
    job.cron,
    job.time_zone,
    job.catch_up,
    job.paused ? "paused" : (job.next_run ?? "-"),
    job.last_run ? `${job.last_run.outcome} (${job.last_run.scheduled_for})` : "-",
  ]);
  for (const line of table(["job", "cron", "time zone", "catch-up", "next run", "last run"], rows)) out(line);
}

async function runJobsRuns({ values, positionals, client }) {
  const limit = parsePositiveNumber("limit", values.limit, 20);
  const path =
    positionals.length === 0
      ? "/jobs"
      : `/jobs/${encodeURIComponent(onePositional(positionals, "job"))}/runs`;
  const answer = await client.request("GET", path, { query: { limit } });
  if (values.json) return printJson(answer.runs);
  if (answer.runs.length === 0) return out("no runs yet");
  for (const run of answer.runs) out(runLine(run));
}

function runJobsAction(action) {
  return async ({ values, positionals, client }) => {
    const job = onePositional(positionals, "job");
    const answer = await client.request("POST", `/jobs/${encodeURIComponent(job)}/${action}`);
    if (values.json) return printJson(answer);
    if (action === "run") return out(runLine(answer.run));
    out(`${answer.job}: ${answer.paused ? `paused by ${answer.paused_by}` : "resumed"}`);
  };
}

async function runJobsSync({ values, client }) {
  const answer = await client.request("POST", "/jobs/sync");
  if (values.json) return printJson(answer);
  for (const line of answer.done) out(line);
  out(answer.note);
}

async function runLogsSearch({ values, positionals, client }) {
  const query = {
    q: positionals.length > 0 ? positionals.join(" ") : undefined,
    environment: values.env,
    correlation_id: values.correlation,
    deployment_id: values.deployment,
    integration: values.integration,
    from: values.from,
    to: values.to,
    limit: values.limit,
  };
  const answer = await client.request("GET", "/events/search", { query });
  if (values.json) return printJson(answer);
  const events = answer?.events ?? [];
  process.stderr.write(`${events.length} event(s) from ${answer?.warehouse ?? "the warehouse"}\n`);
  const rows = events.map((e) => [
    e.time,
    e.environment,
    e.kind,
    e.task_id ?? e.deployment_id ?? "",
    e.integration ?? "",
    `${e.from ?? ""}->${e.to}`,
    e.detail ?? "",
  ]);
  for (const line of table(["time", "env", "kind", "subject", "integration", "change", "detail"], rows))
    out(line);
}

// ---------------------------------------------------------------------------------------------
// Main

async function main(argv) {
  const { words, rest } = splitCommand(argv);
  const [name, subName] = words;
  const wantsHelp = rest.includes("--help") || rest.includes("-h");
  if (name === "help") {
    const spec = COMMANDS[subName];
    process.stdout.write(spec ? commandHelp(spec) : mainHelp());
    return EXIT.ok;
  }
  if (name === "completion" && !wantsHelp) {
    const [shell, extra] = rest;
    if ((shell !== "bash" && shell !== "zsh") || extra !== undefined)
      throw usageError(
        `completion needs a shell: bash or zsh${shell ? `, not ${JSON.stringify(shell)}` : ""}`,
      );
    process.stdout.write(completionScript(shell));
    return EXIT.ok;
  }
  if (!name) {
    if (wantsHelp) {
      process.stdout.write(mainHelp());
      return EXIT.ok;
    }
    const unknown = rest.find((arg) => arg.startsWith("-"));
    if (unknown && !GLOBAL_VALUE_FLAGS.has(unknown) && unknown !== "--verbose")
      throw usageError(`unknown option ${unknown}`);
    process.stderr.write(mainHelp());
    throw usageError("no command given");
  }
  let spec = COMMANDS[name];
  if (!spec)
    throw usageError(
      `unknown command ${JSON.stringify(name)}; commands: ${Object.keys(COMMANDS).join(", ")}`,
    );
  if (spec.subcommands) {
    const sub = spec.subcommands[subName];
    if (!sub) {
      if (wantsHelp && !subName) {
        process.stdout.write(
          `Usage: ${spec.usage}\n\n${Object.values(spec.subcommands)
            .map((s) => `${s.usage}\n${s.help}`)
            .join("\n\n")}\n\n${COMMON_HELP}\n\n${EXIT_HELP}\n`,
        );
        return EXIT.ok;
      }
      throw usageError(
        subName
          ? `unknown ${name} command ${JSON.stringify(subName)}; use ${Object.keys(spec.subcommands).join(", ")}`
          : `${name} needs a command: ${Object.keys(spec.subcommands).join(", ")}`,
      );
    }
    spec = sub;
  }
  if (wantsHelp) {
    process.stdout.write(commandHelp(spec));
    return EXIT.ok;
  }
  const { values, positionals } = parse(spec, rest);
  if (!spec.positionals && positionals.length > 0)
    throw usageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const client = createClient(values);
  const code = await spec.run({ values, positionals, client });
  return typeof code === "number" ? code : EXIT.ok;
}

/** A completion script for bash or zsh (through zsh's bashcompinit), made from COMMANDS. */
export function completionScript(shell) {
  const flagsOf = (spec) =>
    [...Object.keys(spec.options ?? {}), ...Object.keys(GLOBAL_OPTIONS)].map((flag) => `--${flag}`).join(" ");
  const commands = Object.entries(COMMANDS).filter(([name]) => name !== "completion");
  const cases = commands.map(([name, spec]) => {
    if (!spec.subcommands) return `    ${name}) words="${flagsOf(spec)}" ;;`;
    const inner = Object.entries(spec.subcommands)
      .map(([sub, subSpec]) => `        ${sub}) words="${flagsOf(subSpec)}" ;;`)
      .join("\n");
    return `    ${name})
      if [ "$COMP_CWORD" -eq 2 ]; then words="${Object.keys(spec.subcommands).join(" ")}"; else
      case "\${COMP_WORDS[2]}" in
${inner}
      esac; fi ;;`;
  });
  const bash = `_orch() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" words
  if [ "$COMP_CWORD" -eq 1 ]; then
    words="${[...Object.keys(COMMANDS), "help"].join(" ")}"
  else
    case "\${COMP_WORDS[1]}" in
${cases.join("\n")}
    completion) words="bash zsh" ;;
    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _orch orch
`;
  return shell === "zsh" ? `autoload -U +X bashcompinit && bashcompinit\n${bash}` : bash;
}

COMMANDS.completion = {
  summary: 'print a shell completion script: eval "$(orch completion bash)" (or zsh)',
  usage: "orch completion bash|zsh",
  options: {},
  positionals: 1,
  help: "  bash|zsh   the shell to complete for (needs no API address or credentials)",
};

const isMain =
  process.argv[1] && fs.realpathSync(path.resolve(process.argv[1])) === fileURLToPath(import.meta.url);
if (isMain)
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error) => {
      if (error instanceof CliError) {
        process.stderr.write(`orch: ${redact(error.message)}\n`);
        for (const detail of error.details) process.stderr.write(`  ${redact(detail)}\n`);
        if (
          error.exitCode === EXIT.usage &&
          !error.details.length &&
          /option|argument|command|needs/.test(error.message)
        )
          process.stderr.write("Run `orch --help` for usage.\n");
        process.exitCode = error.exitCode;
      } else {
        process.stderr.write(`orch: unexpected error: ${redact(error?.stack ?? error)}\n`);
        process.exitCode = EXIT.server;
      }
    },
  );
