/**
 * The live dashboard: signs in with Firebase Auth, listens to Firestore (no polling) and draws
 * with the same visual code as the server. Pages: the overview (health, deployments with their
 * graph and Gantt, alerts, trends, recommendations) and planning (plan, look, deploy). The trends
 * are the warehouse's per-day numbers (`GET /trends`), re-read every minute.
 */
import { onAuthStateChanged, signInWithEmailAndPassword, signOut, type User } from "firebase/auth";
import { terminate, type Firestore } from "firebase/firestore";
import { isTerminalDeployment } from "../../functions/src/domain/engine-model.js";
import type { Recommendation } from "../../functions/src/domain/optimize.js";
import {
  healthCells,
  predictedAgainstActual,
  taskChangeTracker,
  type PlanTimeline,
  type TaskChange,
} from "../../functions/src/visual/live-views.js";
import { FirebaseVisualOrchestrator } from "../../functions/src/visual/visual-orchestrator.js";
import type { TrendsAnswer } from "../../functions/src/warehouse/trends.js";
import { formatSeconds, formatTime, h, replaceChildren, svgFigure } from "./dom.js";
import { architecturePage } from "./architecture.js";
import { capacityPage } from "./capacity.js";
import { searchPage } from "./search.js";
import { API_BASE, connect } from "./firebase.js";
import {
  liveQueries,
  type AlertRow,
  type DeploymentRow,
  type EnvironmentRow,
  type IntegrationRow,
  type JobRunRow,
  type TaskRow,
} from "./live.js";

/** What the page measures of itself, for people (the header) and for the browser tests. */
interface LatencySample {
  task: string;
  status: string;
  /** From the engine's timestamp of the change to the frame that shows it. */
  ms: number;
}
declare global {
  interface Window {
    orchestrator: {
      latencies: LatencySample[];
      ready: boolean;
      /** Ends the page's Firestore connection, listeners and all, as closing the tab does. */
      disconnect?: () => Promise<void>;
    };
  }
}
window.orchestrator = { latencies: [], ready: false };

type Role = "viewer" | "operator" | "admin";
interface Viewer {
  user: User;
  role: Role | null;
  /** The `environments` claim: the only environments this person sees and acts on; null for all. */
  scope: string[] | null;
}

/** One job of `GET /jobs`, the parts the jobs panel shows. */
interface JobSummary {
  name: string;
  cron: string;
  time_zone: string;
  catch_up: string;
  paused: boolean;
  next_run: string | null;
  last_run: { outcome: string; scheduled_for: string } | null;
}

interface State {
  jobs: JobSummary[] | null;
  jobRuns: JobRunRow[];
  environments: EnvironmentRow[];
  integrations: IntegrationRow[];
  deployments: DeploymentRow[];
  alerts: AlertRow[];
  selected: string | null;
  tasks: TaskRow[];
  report: ReportSummary | null;
  /** The last `GET /trends` answer (the warehouse's per-day series), or why there is none; null before the first. */
  trends: TrendsAnswer | null;
  errors: Map<string, string>;
  /** Who is signed in: the approval buttons depend on their role and on who requested. */
  viewer: Viewer | null;
  /** What the person typed as a rejection reason, kept across redraws of the detail. */
  rejectReason: string;
  /** The last answer to an approve or reject, shown under the buttons. */
  approvalMessage: string;
  /** Redraws the deployment detail (set once the app has started). */
  redrawDetail: () => void;
}

/** The parts of `GET /reports?format=json` the dashboard shows. */
interface ReportSummary {
  recommendations: Recommendation[];
  comprehensive_report: {
    by_integration?: { environment: string; integration: string; retry_rate: number | null }[];
  };
}

const state: State = {
  jobs: null,
  jobRuns: [],
  environments: [],
  integrations: [],
  deployments: [],
  alerts: [],
  selected: null,
  tasks: [],
  report: null,
  trends: null,
  errors: new Map(),
  viewer: null,
  rejectReason: "",
  approvalMessage: "",
  redrawDetail: () => undefined,
};

const root = document.getElementById("app")!;
/** Draws every picture, as the server does. */
const visuals = new FirebaseVisualOrchestrator();

async function callApi(
  viewer: Viewer,
  method: string,
  path: string,
  body?: unknown,
  timeoutMs?: number,
): Promise<unknown> {
  const response = await fetch(`${API_BASE}${path}`, {
    method,
    signal: timeoutMs === undefined ? null : AbortSignal.timeout(timeoutMs),
    headers: {
      authorization: `Bearer ${await viewer.user.getIdToken()}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await response.json()) as { error?: { message: string } };
  if (!response.ok) throw new Error(answer.error?.message ?? `HTTP ${response.status}`);
  return answer;
}

// --- sign in ------------------------------------------------------------------------------------

function signInPage(auth: Parameters<typeof signInWithEmailAndPassword>[0]): HTMLElement {
  const message = h("p", { class: "error", "data-testid": "sign-in-error" });
  const email = h("input", { type: "email", name: "email", autocomplete: "username", required: true });
  const password = h("input", {
    type: "password",
    name: "password",
    autocomplete: "current-password",
    required: true,
  });
  const form = h(
    "form",
    {
      class: "sign-in",
      onsubmit: (event) => {
        event.preventDefault();
        message.textContent = "";
        signInWithEmailAndPassword(auth, email.value, password.value).catch((error: unknown) => {
          message.textContent = `Sign-in failed: ${error instanceof Error ? error.message : String(error)}`;
        });
      },
    },
    h("h2", {}, "Sign in"),
    h("label", {}, "Email", email),
    h("label", {}, "Password", password),
    h("button", { type: "submit" }, "Sign in"),
    message,
  );
  return h("main", { class: "narrow" }, form);
}

// --- overview -----------------------------------------------------------------------------------

const STATUS_CLASS: Record<string, string> = {
  succeeded: "ok",
  healthy: "ok",
  deployed: "ok",
  ready: "ok",
  running: "busy",
  requested: "busy",
  provisioning: "busy",
  deploying: "busy",
  rolling_back: "busy",
  cancelling: "busy",
  failed: "bad",
  down: "bad",
  rolled_back: "warn",
  degraded: "warn",
  staged: "staged",
};

function badge(status: string): HTMLElement {
  return h("span", { class: `badge ${STATUS_CLASS[status] ?? ""}`, "data-status": status }, status);
}

function healthSection(): HTMLElement {
  const cells = healthCells(state.integrations);
  const environments = state.environments.map((env) =>
    h(
      "li",
      { "data-environment": env.name },
      h("strong", {}, env.name),
      ` ${env.type}, ${env.mode} `,
      badge(env.status),
    ),
  );
  return h(
    "section",
    { id: "health" },
    h("h2", {}, "Environments and integrations"),
    h("ul", { class: "environments" }, environments),
    cells.length > 0
      ? svgFigure(visuals.healthMatrix(cells, "Health: environment x integration"), "health-matrix")
      : h("p", {}, "No integrations yet: load a config and provision an environment."),
  );
}

function progress(deployment: DeploymentRow, tasks: TaskRow[] | null): string {
  if (!tasks) return `${deployment.task_ids.length} task(s)`;
  const done = tasks.filter((task) => task.status === "succeeded").length;
  return `${done}/${tasks.length} succeeded`;
}

function deploymentsSection(): HTMLElement {
  const rows = state.deployments.slice(0, 20).map((deployment) =>
    h(
      "tr",
      {
        "data-deployment": deployment.id,
        class: deployment.id === state.selected ? "selected" : "",
        onclick: () => (location.hash = `#/deployments/${deployment.id}`),
      },
      h("td", {}, h("a", { href: `#/deployments/${deployment.id}` }, deployment.id)),
      h("td", {}, deployment.environment),
      h("td", {}, badge(deployment.status)),
      h("td", {}, progress(deployment, deployment.id === state.selected ? state.tasks : null)),
      h("td", {}, formatTime(deployment.created_at)),
      h("td", {}, formatSeconds(deployment.actual_duration)),
    ),
  );
  return h(
    "section",
    { id: "deployments" },
    h("h2", {}, "Deployments"),
    rows.length === 0
      ? h("p", {}, "No deployments yet.")
      : h(
          "table",
          {},
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              ["id", "environment", "status", "progress", "requested", "duration"].map((c) => h("th", {}, c)),
            ),
          ),
          h("tbody", {}, rows),
        ),
  );
}

/** Roles that may approve or reject a production deployment (the API checks again, with the config's policy). */
const APPROVE_ROLES: readonly Role[] = ["operator", "admin"];

/**
 * A deployment waiting for a second person: who asked, until when, and approve / reject buttons,
 * disabled with the reason for a viewer and for the requester (the API refuses them too).
 */
function approvalPanel(deployment: DeploymentRow): HTMLElement | null {
  const viewer = state.viewer;
  if (deployment.status !== "awaiting_approval" || !viewer) return null;
  const names = [`uid:${viewer.user.uid}`, ...(viewer.user.email ? [`user:${viewer.user.email}`] : [])];
  const blocked =
    viewer.role === null || !APPROVE_ROLES.includes(viewer.role)
      ? `Approving needs the operator or admin role; you are signed in as ${viewer.role ?? "a user without a role"}.`
      : names.includes(deployment.requested_by)
        ? "You requested this deployment: a second person must approve or reject it."
        : null;
  const decide = (path: "approve" | "reject", body?: unknown) => {
    state.approvalMessage = `${path === "approve" ? "Approving" : "Rejecting"}...`;
    state.redrawDetail();
    callApi(viewer, "POST", `/deployments/${deployment.id}/${path}`, body)
      .then(() => {
        state.approvalMessage = path === "approve" ? "Approved." : "Rejected.";
        state.rejectReason = "";
      })
      .catch((error: unknown) => {
        state.approvalMessage = `Refused: ${error instanceof Error ? error.message : String(error)}`;
      })
      .finally(() => state.redrawDetail());
  };
  const reason = h("input", {
    type: "text",
    "data-testid": "reject-reason",
    placeholder: "why (required to reject)",
    value: state.rejectReason,
    disabled: blocked !== null,
    oninput: (event) => (state.rejectReason = (event.target as HTMLInputElement).value),
  });
  return h(
    "div",
    { class: "approval", "data-testid": "approval" },
    h(
      "p",
      {},
      `Awaits a second person's approval: requested by ${deployment.requested_by}, expires ${deployment.approval ? deployment.approval.expires_at.toLocaleString() : "(unknown)"}.`,
    ),
    h(
      "div",
      { class: "deploy-row" },
      h(
        "button",
        {
          type: "button",
          "data-testid": "approve",
          disabled: blocked !== null,
          title: blocked ?? `Approve ${deployment.id}: it starts at once`,
          onclick: () => decide("approve"),
        },
        "Approve",
      ),
      reason,
      h(
        "button",
        {
          type: "button",
          "data-testid": "reject",
          disabled: blocked !== null,
          title: blocked ?? `Reject ${deployment.id}: it ends cancelled`,
          onclick: () => {
            if (state.rejectReason.trim() === "") {
              state.approvalMessage = "Say why it is rejected first.";
              state.redrawDetail();
              return;
            }
            decide("reject", { reason: state.rejectReason.trim() });
          },
        },
        "Reject",
      ),
      blocked ? h("span", { class: "reason", "data-testid": "approval-reason" }, blocked) : null,
    ),
    state.approvalMessage ? h("p", { "data-testid": "approval-message" }, state.approvalMessage) : null,
  );
}

function detailSection(): HTMLElement | null {
  const deployment = state.deployments.find((d) => d.id === state.selected);
  if (!state.selected) return null;
  if (!deployment)
    return h("section", { id: "detail" }, h("p", {}, `Deployment ${state.selected} not found.`));
  const tasks = [...state.tasks].sort((a, b) => a.id.localeCompare(b.id));
  let pictures: HTMLElement;
  try {
    const views = visuals.deployment(deployment, tasks, new Date());
    pictures = h(
      "div",
      { class: "pictures" },
      svgFigure(views.graph, "deployment-graph"),
      svgFigure(views.gantt, "deployment-gantt"),
    );
  } catch (error) {
    // A picture that cannot be drawn must not take the live table down with it.
    pictures = h("p", { class: "error" }, `The pictures could not be drawn: ${String(error)}`);
  }
  return h(
    "section",
    { id: "detail", "data-deployment": deployment.id, "data-status": deployment.status },
    h("h2", {}, `Deployment ${deployment.id} `, badge(deployment.status)),
    deployment.error_message ? h("p", { class: "error" }, deployment.error_message) : null,
    h("p", { "data-testid": "predicted-vs-actual" }, predictedAgainstActual(deployment, formatSeconds).text),
    approvalPanel(deployment),
    h(
      "table",
      { class: "tasks" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          [
            "integration",
            "status",
            "attempt",
            "retries",
            "started",
            "predicted",
            "duration",
            "driver",
            "note",
          ].map((c) => h("th", {}, c)),
        ),
      ),
      h(
        "tbody",
        {},
        tasks.map((task) =>
          h(
            "tr",
            { "data-task": task.id, "data-integration": task.integration, "data-status": task.status },
            h("td", {}, task.integration),
            h("td", {}, badge(task.status)),
            h("td", {}, String(task.attempt)),
            h("td", {}, String(task.retry_count)),
            h("td", {}, formatTime(task.started_at)),
            h("td", { "data-testid": "task-predicted" }, formatSeconds(task.estimated_duration)),
            h("td", {}, formatSeconds(task.actual_duration)),
            h("td", {}, task.driver === "simulated" ? "simulated (test driver)" : "integration"),
            h("td", {}, task.error_message ?? task.reason ?? task.rollback_note ?? ""),
          ),
        ),
      ),
    ),
    pictures,
  );
}

function alertsSection(): HTMLElement {
  const alerts = [...state.alerts].sort((a, b) => b.opened_at.getTime() - a.opened_at.getTime());
  return h(
    "section",
    { id: "alerts" },
    h("h2", {}, `Open alerts (${alerts.length})`),
    alerts.length === 0
      ? h("p", {}, "None.")
      : h(
          "ul",
          {},
          alerts.map((alert) =>
            h(
              "li",
              { "data-alert": alert.id, class: `alert ${alert.level}` },
              h("strong", {}, alert.level),
              ` ${alert.environment}${alert.integration ? `/${alert.integration}` : ""}: ${alert.message} `,
              h("small", {}, `since ${formatTime(alert.opened_at)}`),
            ),
          ),
        ),
  );
}

/** Days of history the Trends section reads from the warehouse. */
const TREND_DAYS = 30;
/** How often the Trends section re-reads the warehouse: its numbers are per day, not per snapshot. */
const TRENDS_REFRESH_MS = 60_000;
/** A /trends answer slower than this counts as none (the next refresh asks again). */
const TRENDS_TIMEOUT_MS = 20_000;

function engineName(engine: "duckdb" | "bigquery"): string {
  return engine === "duckdb" ? "DuckDB, standing in for BigQuery" : "BigQuery";
}

/**
 * The trends: from the warehouse (`GET /trends`) when it answers, otherwise from the deployments
 * the page follows, saying why.
 */
function trendsSection(): HTMLElement {
  const answer = state.trends;
  const fromWarehouse = answer?.status === "ok" ? answer : null;
  const trends = fromWarehouse
    ? visuals.dailyTrends(fromWarehouse.series)
    : visuals.trends(state.deployments, new Date());
  const source = fromWarehouse
    ? `From the warehouse (${engineName(fromWarehouse.aggregates_from)}), last ${fromWarehouse.days} days: ${fromWarehouse.window.deployments} deployment(s), per UTC day.`
    : `From the last ${state.deployments.length} deployments this page follows: ${
        answer === null
          ? "reading the warehouse..."
          : `the warehouse is unavailable (${answer.status === "ok" ? "" : answer.message}).`
      }`;
  // The integrations that retried most: a bar per pair would not be readable past a dozen.
  const retryRates = (state.report?.comprehensive_report.by_integration ?? [])
    .filter((row) => row.retry_rate !== null && row.retry_rate > 0)
    .sort((a, b) => (b.retry_rate ?? 0) - (a.retry_rate ?? 0))
    .slice(0, 10)
    .map((row) => ({ label: `${row.environment}/${row.integration}`, value: 100 * (row.retry_rate ?? 0) }));
  return h(
    "section",
    {
      id: "trends",
      "data-source": fromWarehouse ? "warehouse" : "live",
      "data-deployments": String(fromWarehouse?.window.deployments ?? state.deployments.length),
    },
    h("h2", {}, "Trends"),
    h("p", { class: "note", "data-testid": "trends-source" }, source),
    h(
      "div",
      { class: "pictures" },
      svgFigure(trends.successRate, "success-rate"),
      svgFigure(trends.durations, "durations"),
      svgFigure(trends.throughput, "throughput"),
      retryRates.length > 0
        ? svgFigure(
            visuals.barChart({
              title: "Most retried integrations (last 7 days)",
              unit: "%",
              bars: retryRates,
            }),
            "retry-rates",
          )
        : null,
    ),
  );
}

function recommendationsSection(): HTMLElement {
  const items = state.report?.recommendations ?? [];
  return h(
    "section",
    { id: "recommendations" },
    h("h2", {}, "Recommendations"),
    items.length === 0
      ? h("p", {}, state.report ? "None: nothing in the last 7 days calls for a change." : "Loading...")
      : h(
          "ul",
          {},
          items.map((item) =>
            h(
              "li",
              { "data-recommendation": item.id },
              h(
                "strong",
                {},
                `${item.target}, ${item.environment}${item.integration ? `/${item.integration}` : ""}: `,
              ),
              `${item.action} (${item.how}) `,
              h(
                "small",
                {},
                `evidence: ${item.evidence.metric} ${item.evidence.value} ${item.evidence.unit} over ${item.evidence.sample_size}; expected: ${item.expected_improvement.metric} ${item.expected_improvement.value} ${item.expected_improvement.unit}`,
              ),
            ),
          ),
        ),
  );
}

function jobsSection(): HTMLElement {
  const failed = state.jobRuns.filter((run) => run.outcome === "failed" || run.outcome === "timed_out");
  return h(
    "section",
    { id: "jobs" },
    h("h2", {}, `Scheduled jobs${failed.length > 0 ? ` (${failed.length} failed run(s) below)` : ""}`),
    state.jobs === null
      ? h("p", {}, "Loading...")
      : h(
          "table",
          { class: "jobs" },
          h(
            "tr",
            {},
            ["job", "cron", "time zone", "catch-up", "next run", "last run"].map((t) => h("th", {}, t)),
          ),
          state.jobs.map((job) =>
            h(
              "tr",
              { "data-job": job.name },
              h("td", {}, job.name),
              h("td", {}, h("code", {}, job.cron)),
              h("td", {}, job.time_zone),
              h("td", {}, job.catch_up),
              h("td", {}, job.paused ? "paused" : job.next_run ? formatTime(new Date(job.next_run)) : "-"),
              h("td", { class: job.last_run?.outcome ?? "" }, job.last_run ? job.last_run.outcome : "-"),
            ),
          ),
        ),
    h("h3", {}, `Last runs (${state.jobRuns.length})`),
    state.jobRuns.length === 0
      ? h("p", {}, "None yet.")
      : h(
          "ul",
          {},
          state.jobRuns.map((run) =>
            h(
              "li",
              { "data-job-run": run.id, class: `job-run ${run.outcome}` },
              h("strong", {}, run.outcome),
              ` ${run.job} `,
              h("small", {}, `${formatTime(run.scheduled_for)} (${run.trigger})`),
              run.duration_ms === null ? "" : ` ${formatSeconds(run.duration_ms / 1000)}`,
              `: ${run.summary}`,
            ),
          ),
        ),
  );
}

function errorsLine(): HTMLElement | null {
  if (state.errors.size === 0) return null;
  return h(
    "p",
    { class: "error", "data-testid": "listen-errors" },
    [...state.errors].map(([what, message]) => `${what}: ${message}`).join("; "),
  );
}

/** The overview's sections, in page order, each drawn from the state it shows. */
const SECTIONS = {
  errors: errorsLine,
  health: healthSection,
  detail: detailSection,
  deployments: deploymentsSection,
  alerts: alertsSection,
  trends: trendsSection,
  recommendations: recommendationsSection,
  jobs: jobsSection,
} as const;
type Section = keyof typeof SECTIONS;
const ALL_SECTIONS = Object.keys(SECTIONS) as Section[];

/**
 * Redraws only the named sections of the overview (each in its own slot, so the page keeps its
 * order): a task snapshot redraws the deployment it belongs to, not the health matrix and trends.
 */
function renderOverview(target: HTMLElement, sections: readonly Section[]): void {
  if (target.querySelector(":scope > [data-slot]") === null)
    target.replaceChildren(...ALL_SECTIONS.map((name) => h("div", { "data-slot": name })));
  for (const name of sections) {
    const section = SECTIONS[name]();
    replaceChildren(target.querySelector(`:scope > [data-slot=${name}]`), ...(section ? [section] : []));
  }
}

// --- planning -----------------------------------------------------------------------------------

interface PlanAnswer {
  architecture_plan: {
    environment: string;
    mode: string;
    integrations: {
      integration: string;
      mode: string;
      summary: string;
      changes: { path: string; from: unknown; to: unknown }[];
    }[];
  }[];
  timeline: (Omit<PlanTimeline, "tasks"> & {
    estimated_seconds: number;
    estimated_seconds_p90: number | null;
    failure_probability: number | null;
    most_likely_to_fail: { integration: string; failure_probability: number; runs: number }[];
    tasks: (PlanTimeline["tasks"][number] & { estimate: { source: string; runs: number } | null })[];
  })[];
}

/** What a plan's estimate rests on, in words: learned runs or the catalog, p90, the likeliest failure. */
function estimateBasis(timeline: PlanAnswer["timeline"][number]): string {
  const runs = timeline.tasks.reduce((total, task) => total + (task.estimate?.runs ?? 0), 0);
  const learned = timeline.tasks.some((task) => task.estimate?.source === "learned");
  const likeliest = timeline.most_likely_to_fail[0];
  return [
    learned ? `learned from ${runs} earlier run(s)` : "from the catalog (no runs yet)",
    timeline.estimated_seconds_p90 === null ? null : `p90 ${formatSeconds(timeline.estimated_seconds_p90)}`,
    timeline.failure_probability === null
      ? null
      : `chance of a failure ${(timeline.failure_probability * 100).toFixed(1)}%${likeliest ? `, likeliest ${likeliest.integration}` : ""}`,
  ]
    .filter((part) => part !== null)
    .join("; ");
}

const DEPLOY_ROLES: readonly Role[] = ["operator", "admin"];

function planningPage(viewer: Viewer, target: HTMLElement): void {
  const environment = h(
    "select",
    { name: "environment", "data-testid": "plan-environment" },
    state.environments.map((env) => h("option", { value: env.name }, `${env.name} (${env.type})`)),
  );
  const choices = h("fieldset", { class: "integrations", "data-testid": "plan-integrations" });
  const result = h("div", { id: "plan-result" });
  const message = h("p", { class: "error", "data-testid": "plan-error" });
  const fillChoices = () => {
    const names = state.integrations
      .filter((integration) => integration.environment === environment.value)
      .map((integration) => integration.name)
      .sort();
    replaceChildren(
      choices,
      h("legend", {}, "Integrations"),
      ...names.map((name) =>
        h(
          "label",
          {},
          h("input", { type: "checkbox", name: "integration", value: name, checked: true }),
          ` ${name}`,
        ),
      ),
    );
  };
  environment.addEventListener("change", fillChoices);
  fillChoices();

  const selected = () =>
    [...choices.querySelectorAll<HTMLInputElement>("input[name=integration]:checked")].map(
      (box) => box.value,
    );

  const deployBlocked =
    viewer.role === null || !DEPLOY_ROLES.includes(viewer.role)
      ? `Deploying needs the operator or admin role; you are signed in as ${viewer.role ?? "a user without a role"}.`
      : null;

  const showPlan = (answer: PlanAnswer, env: string, integrations: string[]) => {
    const timeline = answer.timeline.find((entry) => entry.environment === env);
    const drivers = answer.architecture_plan.find((entry) => entry.environment === env);
    if (!timeline || !drivers) {
      message.textContent = `the plan has no timeline for ${env}`;
      return;
    }
    const views = visuals.plan(timeline);
    const finish = new Date(Date.now() + timeline.estimated_seconds * 1000);
    const deploy = h(
      "button",
      {
        type: "button",
        "data-testid": "deploy",
        disabled: deployBlocked !== null,
        title: deployBlocked ?? `Deploy ${integrations.join(", ")} to ${env}`,
        onclick: () => {
          deploy.setAttribute("disabled", "");
          callApi(viewer, "POST", "/deploy", { environment: env, integrations })
            .then((answer) => {
              location.hash = `#/deployments/${(answer as { deployment_id: string }).deployment_id}`;
            })
            .catch((error: unknown) => {
              deploy.removeAttribute("disabled");
              message.textContent = `Deploy refused: ${error instanceof Error ? error.message : String(error)}`;
            });
        },
      },
      `Deploy ${integrations.length} integration(s) to ${env}`,
    );
    replaceChildren(
      result,
      h(
        "p",
        { "data-testid": "plan-estimate" },
        `Estimated ${formatSeconds(timeline.estimated_seconds)} (${estimateBasis(timeline)}): done about ${formatTime(finish)} if started now. Critical path: ${timeline.critical_path.map((id) => timeline.tasks.find((t) => t.id === id)?.integration ?? id).join(" -> ")}.`,
      ),
      h(
        "div",
        { class: "deploy-row" },
        deploy,
        deployBlocked ? h("span", { class: "reason", "data-testid": "deploy-reason" }, deployBlocked) : null,
      ),
      h(
        "div",
        { class: "pictures" },
        svgFigure(views.graph, "plan-graph"),
        svgFigure(views.gantt, "plan-gantt"),
      ),
      h("h3", {}, "What changes"),
      h(
        "table",
        { "data-testid": "plan-changes" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["integration", "mode", "summary", "changes"].map((c) => h("th", {}, c)),
          ),
        ),
        h(
          "tbody",
          {},
          drivers.integrations.map((plan) =>
            h(
              "tr",
              { "data-integration": plan.integration },
              h("td", {}, plan.integration),
              h("td", {}, plan.mode),
              h("td", {}, plan.summary),
              h(
                "td",
                {},
                h(
                  "ul",
                  {},
                  plan.changes
                    .slice(0, 12)
                    .map((change) =>
                      h(
                        "li",
                        {},
                        `${change.path}: ${JSON.stringify(change.from)} -> ${JSON.stringify(change.to)}`,
                      ),
                    ),
                ),
              ),
            ),
          ),
        ),
      ),
    );
  };

  const planButton = h(
    "button",
    {
      type: "button",
      "data-testid": "plan",
      onclick: () => {
        const env = environment.value;
        const integrations = selected();
        message.textContent = "";
        if (integrations.length === 0) {
          message.textContent = "Pick at least one integration.";
          return;
        }
        replaceChildren(result, h("p", {}, "Planning..."));
        callApi(viewer, "POST", "/plan", { environments: [env], integrations })
          .then((answer) => showPlan(answer as PlanAnswer, env, integrations))
          .catch((error: unknown) => {
            replaceChildren(result);
            message.textContent = `Plan refused: ${error instanceof Error ? error.message : String(error)}`;
          });
      },
    },
    "Plan",
  );

  replaceChildren(
    target,
    h(
      "section",
      { id: "planning" },
      h("h2", {}, "Plan and deploy"),
      h("div", { class: "plan-form" }, h("label", {}, "Environment ", environment), choices, planButton),
      message,
      result,
    ),
  );
}

// --- shell --------------------------------------------------------------------------------------

function route(): {
  page: "overview" | "plan" | "architecture" | "search" | "capacity";
  deployment: string | null;
} {
  const hash = location.hash.replace(/^#\/?/, "");
  if (hash === "capacity") return { page: "capacity", deployment: null };
  if (hash === "plan") return { page: "plan", deployment: null };
  if (hash === "architecture") return { page: "architecture", deployment: null };
  if (hash === "search") return { page: "search", deployment: null };
  const match = /^deployments\/([A-Za-z0-9_-]{1,128})$/.exec(hash);
  return { page: "overview", deployment: match?.[1] ?? null };
}

function startApp(db: Firestore, viewer: Viewer, signOutNow: () => void): () => void {
  state.viewer = viewer;
  // A person signing in after another sees nothing of the other's answers.
  state.trends = null;
  state.report = null;
  /** Set when this person's session ends: answers arriving later are theirs, not the next person's. */
  let stopped = false;
  const latency = h(
    "span",
    { class: "latency", "data-testid": "latency" },
    "event to screen: waiting for an event",
  );
  const content = h("div", { id: "content" });
  const nav = (page: string, label: string) =>
    h("a", { href: page === "overview" ? "#/" : `#/${page}`, "data-page": page }, label);
  replaceChildren(
    root,
    h(
      "header",
      {},
      h("h1", {}, "Firebase Master Orchestration"),
      h(
        "nav",
        {},
        nav("overview", "Overview"),
        nav("plan", "Plan and deploy"),
        nav("architecture", "Plan from goals"),
        nav("search", "Search logs"),
        nav("capacity", "Capacity"),
      ),
      latency,
      h(
        "span",
        { class: "who", "data-testid": "who", "data-role": viewer.role ?? "none" },
        `${viewer.user.email ?? viewer.user.uid} (${viewer.role ?? "no role"}${viewer.scope ? ` in ${viewer.scope.join(", ") || "no environment"}` : ""})`,
      ),
      h("button", { type: "button", onclick: signOutNow }, "Sign out"),
    ),
    content,
  );
  if (viewer.role === null) {
    replaceChildren(
      content,
      h(
        "p",
        { class: "error" },
        "Your account has no role claim: ask an admin for viewer, operator or admin.",
      ),
    );
    return () => undefined;
  }

  const live = liveQueries(db, viewer.scope, (what, message) => {
    state.errors.set(what, message);
    draw(["errors"]);
  });
  let stopTasks: (() => void) | null = null;
  let reportLoading = false;

  const loadReport = () => {
    if (reportLoading) return;
    reportLoading = true;
    callApi(viewer, "GET", "/reports?report_type=performance&time_range=7d&format=json")
      .then((report) => {
        if (stopped) return;
        state.report = report as ReportSummary;
        state.errors.delete("report");
      })
      .catch((error: unknown) => {
        if (!stopped) state.errors.set("report", error instanceof Error ? error.message : String(error));
      })
      .finally(() => {
        reportLoading = false;
        if (!stopped) draw(["errors", "trends", "recommendations"]);
      });
  };

  let trendsLoading = false;
  /** Re-reads the warehouse's trends; any failure falls back to the live deployments, with the reason. */
  const loadTrends = () => {
    if (trendsLoading) return;
    trendsLoading = true;
    callApi(viewer, "GET", `/trends?days=${TREND_DAYS}`, undefined, TRENDS_TIMEOUT_MS)
      .then((answer) => {
        if (!stopped) state.trends = answer as TrendsAnswer;
      })
      .catch((error: unknown) => {
        if (stopped) return;
        state.trends = {
          status: "warehouse_error",
          message: error instanceof Error ? error.message : String(error),
        };
      })
      .finally(() => {
        trendsLoading = false;
        if (!stopped) draw(["trends"]);
      });
  };
  const trendsTimer = setInterval(loadTrends, TRENDS_REFRESH_MS);

  function draw(sections: readonly Section[] = ALL_SECTIONS): void {
    const current = route();
    for (const link of root.querySelectorAll("nav a"))
      link.classList.toggle("active", link.getAttribute("data-page") === current.page);
    if (current.page === "architecture") {
      // Drawn once per navigation: the form keeps what the user typed across snapshots.
      if (!content.querySelector("#architecture")) architecturePage(() => viewer.user.getIdToken(), content);
      return;
    }
    if (current.page === "search") {
      // The search form keeps what was typed: drawn on navigation only.
      if (!content.querySelector("#search")) searchPage(content, (path) => callApi(viewer, "GET", path));
      return;
    }
    if (current.page === "capacity") {
      // Read once per navigation: the forecast changes by the day, not by the snapshot.
      if (!content.querySelector("#capacity")) capacityPage(content, (path) => callApi(viewer, "GET", path));
      return;
    }
    if (current.page === "plan") {
      // The planning form keeps its own state; it is drawn on navigation, not on every snapshot.
      const form = content.querySelector("#planning select");
      if (!form || (form.childElementCount === 0 && state.environments.length > 0))
        planningPage(viewer, content);
      return;
    }
    renderOverview(content, sections);
  }
  state.redrawDetail = () => draw(["detail"]);

  /** Records, for each task change, the time from the engine's timestamp to the frame that shows it. */
  const measure = (changes: TaskChange[]) => {
    if (changes.length === 0) return;
    requestAnimationFrame(() => {
      const shown = Date.now();
      for (const change of changes) {
        const sample = { task: change.task, status: change.status, ms: shown - change.at.getTime() };
        window.orchestrator.latencies.push(sample);
        latency.textContent = `event to screen: ${sample.ms} ms`;
      }
    });
  };

  const select = (deployment: string | null) => {
    if (deployment === state.selected) return;
    stopTasks?.();
    stopTasks = null;
    state.selected = deployment;
    state.tasks = [];
    if (deployment) {
      const changesOf = taskChangeTracker();
      stopTasks = live.tasksOf(deployment, (snapshot) => {
        state.tasks = snapshot.rows;
        const changes = changesOf(snapshot.rows);
        draw(["detail", "deployments"]);
        measure(changes);
      });
    }
  };

  let jobsLoading = false;
  /** The catalog's next and last runs change with each run: re-read them when a run changes. */
  const loadJobs = () => {
    if (jobsLoading) return;
    jobsLoading = true;
    callApi(viewer, "GET", "/jobs?limit=1")
      .then((answer) => {
        state.jobs = (answer as { jobs: JobSummary[] }).jobs;
        state.errors.delete("jobs");
      })
      .catch((error: unknown) =>
        state.errors.set("jobs", error instanceof Error ? error.message : String(error)),
      )
      .finally(() => {
        jobsLoading = false;
        draw(["errors", "jobs"]);
      });
  };

  const wasTerminal = new Map<string, boolean>();
  const stops = [
    live.jobRuns((s) => {
      state.jobRuns = s.rows;
      loadJobs();
      draw(["jobs"]);
    }),
    live.environments((s) => {
      state.environments = s.rows;
      draw(["health"]);
    }),
    live.integrations((s) => {
      state.integrations = s.rows;
      draw(["health"]);
    }),
    live.openAlerts((s) => {
      state.alerts = s.rows;
      draw(["alerts"]);
    }),
    live.deployments((s) => {
      state.deployments = s.rows;
      // A deployment that just finished changes the history the report is computed from.
      let finishedNow = false;
      for (const deployment of s.rows) {
        const terminal = isTerminalDeployment(deployment.status);
        if (terminal && wasTerminal.get(deployment.id) === false) finishedNow = true;
        wasTerminal.set(deployment.id, terminal);
      }
      if (finishedNow) loadReport();
      // With no deployment chosen, the overview follows the newest one in progress.
      const current = route();
      const active = s.rows.find((deployment) => !isTerminalDeployment(deployment.status));
      if (
        current.page === "overview" &&
        current.deployment === null &&
        active &&
        active.id !== state.selected
      )
        select(active.id);
      // The warehouse's trends are re-read on their timer; only the live fallback follows the snapshots.
      draw(state.trends?.status === "ok" ? ["detail", "deployments"] : ["detail", "deployments", "trends"]);
      window.orchestrator.ready = true;
    }),
  ];
  const onHash = () => {
    const current = route();
    // A page change starts from an empty page: the overview's slots or the planning form are made anew.
    content.replaceChildren();
    select(current.deployment);
    draw();
  };
  window.addEventListener("hashchange", onHash);
  onHash();
  loadReport();
  loadTrends();
  return () => {
    stopped = true;
    clearInterval(trendsTimer);
    window.removeEventListener("hashchange", onHash);
    stopTasks?.();
    for (const stop of stops) stop();
  };
}

/** How long the SDK is given to send the removal of each listen target before the connection ends. */
const UNLISTEN_FLUSH_MS = 300;

async function main(): Promise<void> {
  replaceChildren(root, h("p", {}, "Connecting..."));
  const { auth, db } = await connect();
  let stop: (() => void) | null = null;
  // Leaving ends every listener before the connection: the Firestore emulator keeps the listen
  // targets of a channel that was only closed, queues every later change for them, and once ten
  // thousand are queued logs a warning per change, which slowed every write tenfold.
  const disconnect = async () => {
    stop?.();
    stop = null;
    await new Promise((resolve) => setTimeout(resolve, UNLISTEN_FLUSH_MS));
    await terminate(db);
  };
  window.orchestrator.disconnect = disconnect;
  window.addEventListener("pagehide", () => void disconnect());
  // A page the browser kept in its back-forward cache comes back disconnected: start it afresh.
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) location.reload();
  });
  onAuthStateChanged(auth, (user) => {
    stop?.();
    stop = null;
    if (!user) {
      replaceChildren(root, signInPage(auth));
      return;
    }
    user
      .getIdTokenResult()
      .then((token) => {
        const claim = token.claims.role;
        const role = claim === "viewer" || claim === "operator" || claim === "admin" ? claim : null;
        const environments = token.claims.environments;
        // A scope that is not a list of names reaches nothing, as in the rules.
        const scope =
          environments === undefined || environments === null
            ? null
            : Array.isArray(environments) && environments.every((name) => typeof name === "string")
              ? environments
              : [];
        stop = startApp(db, { user, role, scope }, () => void signOut(auth));
      })
      .catch((error: unknown) => replaceChildren(root, h("p", { class: "error" }, String(error))));
  });
}

main().catch((error: unknown) => {
  replaceChildren(
    root,
    h(
      "p",
      { class: "error" },
      `The dashboard could not start: ${error instanceof Error ? error.message : String(error)}`,
    ),
  );
});
