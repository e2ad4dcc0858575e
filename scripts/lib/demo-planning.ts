/**
 * The demo's planning step: plan an EU, GDPR architecture within a budget from goals, show an
 * infeasible request with its conflicts and relaxations, then load the planned config and deploy
 * its production environment with the real drivers.
 */
import { readFileSync } from "node:fs";

type Call = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: Record<string, unknown> }>;
type Deploy = (
  title: string,
  request: Record<string, unknown>,
) => Promise<{ deployment: { status: string } }>;

interface PlanView {
  environments: {
    environment: string;
    region: string;
    integrations: { integration: string; option: string; monthly_cost_usd: number }[];
  }[];
  monthly_cost_usd: { total: number; by_environment: Record<string, number> };
  availability: { target: number; achieved: number };
  recovery: { rpo_minutes: { achieved: number }; rto_minutes: { achieved: number } };
  compliance: { framework: string; control: string; met_by: string }[];
  risks: { score: number; residual_risk: string; risk: string }[];
  price_catalog: { version: string; date: string };
  solver: { variables: number; rows: number };
  config: { environments: { name: string; integrations: string[] }[] };
}

const goals = (name: string): Record<string, unknown> =>
  JSON.parse(
    readFileSync(new URL(`../../docs/planning/${name}.goals.json`, import.meta.url), "utf8"),
  ) as Record<string, unknown>;

/** Runs the step; true when the plan, the infeasible answer and the deployment all behaved. */
export async function demoPlanning(
  call: Call,
  heading: (text: string) => void,
  deploy: Deploy,
): Promise<boolean> {
  heading("Plan an architecture from goals: EU, GDPR, high security, within USD 150 a month");
  const request = goals("eu-gdpr");
  const planned = await call("POST", "/plan", request);
  if (planned.status !== 200) {
    console.log(`POST /plan -> ${planned.status} ${JSON.stringify(planned.body).slice(0, 300)}`);
    return false;
  }
  const plan = planned.body.architecture_plan as PlanView;
  console.log(
    `POST /plan {goals, constraints} -> 200 (HiGHS: ${plan.solver.variables} variables, ${plan.solver.rows} rows; catalog ${plan.price_catalog.version} dated ${plan.price_catalog.date})`,
  );
  for (const env of plan.environments) {
    const data = env.integrations.find((i) => i.integration === "firestore")?.option ?? "-";
    console.log(
      `  ${env.environment.padEnd(8)} ${env.region.padEnd(13)} $${plan.monthly_cost_usd.by_environment[env.environment]?.toFixed(2).padStart(8)}  ${data}`,
    );
  }
  console.log(
    `  total $${plan.monthly_cost_usd.total.toFixed(2)} a month; availability ${plan.availability.achieved} (target ${plan.availability.target}); RPO ${plan.recovery.rpo_minutes.achieved} min, RTO ${plan.recovery.rto_minutes.achieved} min`,
  );
  console.log(
    `  GDPR and high security: ${plan.compliance.length} controls, all met: ${plan.compliance.every((c) => c.met_by !== "not met")}`,
  );
  for (const risk of plan.risks.slice(0, 3))
    console.log(`  risk ${String(risk.score).padStart(2)} (${risk.residual_risk}): ${risk.risk}`);

  const impossible = await call("POST", "/plan", goals("infeasible"));
  const infeasible = impossible.body.infeasible as
    | {
        conflicts: { field: string; value: unknown }[];
        relaxations: { field: string; nearest_feasible_value: unknown; monthly_cost_usd: number | null }[];
      }
    | undefined;
  console.log(`\nThe same with availability 0.999 and USD 60: POST /plan -> ${impossible.status}`);
  for (const c of infeasible?.conflicts ?? [])
    console.log(`  conflict: ${c.field} = ${JSON.stringify(c.value)}`);
  for (const r of infeasible?.relaxations ?? [])
    console.log(
      `  relax ${r.field} to ${JSON.stringify(r.nearest_feasible_value)}: $${r.monthly_cost_usd?.toFixed(2) ?? "-"} a month`,
    );

  const loaded = await call("POST", "/config", plan.config);
  console.log(`\nPOST /config with the planned config -> ${loaded.status}`);
  const prod = plan.config.environments.find((env) => env.name === "prod");
  if (loaded.status !== 200 || !prod) return false;
  const deployed = await deploy("Deploy the planned prod environment (real drivers)", {
    environment: "prod",
    integrations: prod.integrations,
  });
  return impossible.status === 422 && deployed.deployment.status === "succeeded";
}
