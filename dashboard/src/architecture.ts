/**
 * The architecture planning page: goals and constraints in, the planned architecture out (options
 * per environment, cost breakdown, availability, recovery, compliance, risks), or, when nothing
 * fits, the conflicting fields and what to relax them to.
 */
import { FirebaseVisualOrchestrator } from "../../functions/src/visual/visual-orchestrator.js";
import { h, replaceChildren, svgFigure } from "./dom.js";
import { API_BASE } from "./firebase.js";

interface PlannedIntegration {
  integration: string;
  option: string;
  monthly_cost_usd: number;
  reason: string;
}
interface Plan {
  environments: {
    environment: string;
    region: string;
    integrations: PlannedIntegration[];
    manual_steps: string[];
  }[];
  monthly_cost_usd: {
    total: number;
    by_environment: Record<string, number>;
    by_integration: Record<string, number>;
  };
  availability: {
    target: number | null;
    achieved: number | null;
    paths: { path: string; route: string; achieved: number }[];
  };
  recovery: {
    rpo_minutes: { target: number | null; achieved: number | null };
    rto_minutes: { target: number | null; achieved: number | null };
  };
  compliance: { framework: string; control: string; met_by: string }[];
  risks: {
    risk: string;
    likelihood: number;
    impact: number;
    score: number;
    mitigation: string;
    residual_risk: string;
  }[];
  price_catalog: { version: string; date: string };
}
interface Infeasible {
  conflicts: { field: string; value: unknown; set: number }[];
  relaxations: {
    field: string;
    value: unknown;
    nearest_feasible_value: unknown;
    monthly_cost_usd: number | null;
    feasible_alone: boolean;
  }[];
}

const NUMBER_GOALS: [string, string, string][] = [
  ["monthly_active_users", "Monthly active users", "20000"],
  ["reads_per_day", "Reads per day", "2000000"],
  ["writes_per_day", "Writes per day", "200000"],
  ["storage_gib", "Stored data (GiB)", "5"],
  ["function_invocations_per_day", "Function calls per day", "500000"],
  ["hosting_egress_gib_per_month", "Hosting egress (GiB/month)", "50"],
  ["availability", "Availability (fraction)", "0.998"],
  ["rpo_minutes", "RPO (minutes)", "60"],
  ["rto_minutes", "RTO (minutes)", "240"],
];

const usd = (value: number | null) => (value === null ? "-" : `$${value.toFixed(2)}`);

function table(testId: string, header: string[], rows: (string | number)[][]): HTMLElement {
  return h(
    "table",
    { "data-testid": testId },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        header.map((cell) => h("th", {}, cell)),
      ),
    ),
    h(
      "tbody",
      {},
      rows.map((row) =>
        h(
          "tr",
          {},
          row.map((cell) => h("td", {}, String(cell))),
        ),
      ),
    ),
  );
}

function showPlan(plan: Plan): HTMLElement[] {
  const a = plan.availability;
  const r = plan.recovery;
  return [
    h(
      "h3",
      { "data-testid": "arch-total" },
      `Total ${usd(plan.monthly_cost_usd.total)} a month (price catalog ${plan.price_catalog.version}, dated ${plan.price_catalog.date})`,
    ),
    table(
      "arch-cost-environment",
      ["environment", "cost/month"],
      Object.entries(plan.monthly_cost_usd.by_environment).map(([k, v]) => [k, usd(v)]),
    ),
    svgFigure(
      new FirebaseVisualOrchestrator().barChart({
        title: "Monthly cost by integration",
        unit: "USD",
        bars: Object.entries(plan.monthly_cost_usd.by_integration).map(([label, value]) => ({
          label,
          value,
        })),
      }),
      "arch-cost-chart",
    ),
    table(
      "arch-cost-integration",
      ["integration", "cost/month"],
      Object.entries(plan.monthly_cost_usd.by_integration).map(([k, v]) => [k, usd(v)]),
    ),
    ...plan.environments.map((env) =>
      h(
        "div",
        {},
        h("h4", {}, `${env.environment} (${env.region})`),
        table(
          `arch-env-${env.environment}`,
          ["integration", "option", "cost/month", "why"],
          env.integrations.map((i) => [i.integration, i.option, usd(i.monthly_cost_usd), i.reason]),
        ),
        ...env.manual_steps.map((step) => h("p", { class: "note" }, `manual step: ${step}`)),
      ),
    ),
    h(
      "p",
      { "data-testid": "arch-availability" },
      `Availability ${a.achieved ?? "-"} against ${a.target ?? "no target"}: ${a.paths.map((p) => `${p.route} ${p.achieved}`).join("; ")}`,
    ),
    h(
      "p",
      { "data-testid": "arch-recovery" },
      `RPO ${r.rpo_minutes.achieved ?? "-"} min (target ${r.rpo_minutes.target ?? "-"}), RTO ${r.rto_minutes.achieved ?? "-"} min (target ${r.rto_minutes.target ?? "-"})`,
    ),
    table(
      "arch-compliance",
      ["framework", "control", "met by"],
      plan.compliance.map((c) => [c.framework, c.control, c.met_by]),
    ),
    table(
      "arch-risks",
      ["risk", "likelihood", "impact", "score", "residual", "mitigation"],
      plan.risks.map((k) => [k.risk, k.likelihood, k.impact, k.score, k.residual_risk, k.mitigation]),
    ),
  ];
}

function showInfeasible(message: string, infeasible: Infeasible): HTMLElement[] {
  return [
    h("p", { class: "error", "data-testid": "arch-infeasible" }, message),
    table(
      "arch-conflicts",
      ["set", "field", "asked"],
      infeasible.conflicts.map((c) => [c.set, c.field, JSON.stringify(c.value)]),
    ),
    table(
      "arch-relaxations",
      ["field", "asked", "nearest feasible", "cost/month", "alone"],
      infeasible.relaxations.map((r) => [
        r.field,
        JSON.stringify(r.value),
        JSON.stringify(r.nearest_feasible_value),
        usd(r.monthly_cost_usd),
        r.feasible_alone ? "yes" : "with the other sets relaxed",
      ]),
    ),
  ];
}

/** Draws the planning form into `target`; `token` gives the caller's ID token for each request. */
export function architecturePage(token: () => Promise<string>, target: HTMLElement): void {
  const inputs = new Map<string, HTMLInputElement>();
  const fields = NUMBER_GOALS.map(([name, label, value]) => {
    const input = h("input", { name, type: "number", step: "any", value, "data-testid": `goal-${name}` });
    inputs.set(name, input);
    return h("label", {}, `${label} `, input);
  });
  const budget = h("input", {
    name: "monthly_budget_usd",
    type: "number",
    step: "any",
    value: "150",
    "data-testid": "constraint-budget",
  });
  const compliance = ["gdpr", "soc2", "hipaa"].map((name) => {
    const box = h("input", {
      type: "checkbox",
      value: name,
      checked: name === "gdpr",
      "data-testid": `constraint-${name}`,
    });
    return { name, box, label: h("label", {}, box, ` ${name.toUpperCase()}`) };
  });
  const residency = h(
    "select",
    { "data-testid": "constraint-residency" },
    ["eu", "us", "asia", "none"].map((g) => h("option", { value: g }, g)),
  );
  const security = h(
    "select",
    { "data-testid": "constraint-security" },
    ["baseline", "high"].map((s) => h("option", { value: s }, s)),
  );
  const result = h("div", { id: "architecture-result" });
  const submit = h(
    "button",
    {
      type: "button",
      "data-testid": "architecture-plan",
      onclick: () => {
        const goals: Record<string, number> = {};
        for (const [name, input] of inputs) if (input.value !== "") goals[name] = Number(input.value);
        const constraints = {
          ...(budget.value !== "" ? { monthly_budget_usd: Number(budget.value) } : {}),
          compliance: compliance.filter((c) => c.box.checked).map((c) => c.name),
          data_residency: residency.value,
          security_level: security.value,
        };
        replaceChildren(result, h("p", {}, "Solving..."));
        void (async () => {
          const response = await fetch(`${API_BASE}/plan`, {
            method: "POST",
            headers: { authorization: `Bearer ${await token()}`, "content-type": "application/json" },
            body: JSON.stringify({ goals, constraints }),
          });
          const answer = (await response.json()) as {
            architecture_plan?: Plan;
            infeasible?: Infeasible;
            error?: { message: string; problems?: { message: string }[] };
          };
          if (response.status === 200 && answer.architecture_plan)
            replaceChildren(result, ...showPlan(answer.architecture_plan));
          else if (response.status === 422 && answer.infeasible)
            replaceChildren(
              result,
              ...showInfeasible(answer.error?.message ?? "infeasible", answer.infeasible),
            );
          else
            replaceChildren(
              result,
              h(
                "p",
                { class: "error", "data-testid": "architecture-error" },
                [
                  answer.error?.message ?? `HTTP ${response.status}`,
                  ...(answer.error?.problems ?? []).map((p) => p.message),
                ].join("; "),
              ),
            );
        })().catch((error: unknown) =>
          replaceChildren(
            result,
            h("p", { class: "error" }, error instanceof Error ? error.message : String(error)),
          ),
        );
      },
    },
    "Plan architecture",
  );
  replaceChildren(
    target,
    h(
      "section",
      { id: "architecture" },
      h("h2", {}, "Plan an architecture from goals"),
      h("fieldset", { class: "plan-form" }, h("legend", {}, "Goals"), fields),
      h(
        "fieldset",
        { class: "plan-form" },
        h("legend", {}, "Constraints"),
        h("label", {}, "Monthly budget (USD) ", budget),
        compliance.map((c) => c.label),
        h("label", {}, "Data residency ", residency),
        h("label", {}, "Security level ", security),
      ),
      submit,
      result,
    ),
  );
}
