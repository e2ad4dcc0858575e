/**
 * The capacity page: each metric's last four weeks and its 30-day forecast with the 90 % interval
 * and the daily limit (`GET /capacity`, in the signed-in person's scope), and one sentence each.
 */
import type { CapacityAnswer } from "../../functions/src/warehouse/capacity.js";
import { CAPACITY_METRICS } from "../../functions/src/domain/learning/capacity.js";
import { capacityChart, capacitySummary } from "../../functions/src/visual/live-views.js";
import { FirebaseVisualOrchestrator } from "../../functions/src/visual/visual-orchestrator.js";
import { h, replaceChildren, svgFigure } from "./dom.js";

const visuals = new FirebaseVisualOrchestrator();

/** Draws the page into `content`; `get` calls the API as the signed-in person. */
export function capacityPage(content: HTMLElement, get: (path: string) => Promise<unknown>): void {
  const body = h("div", { "data-testid": "capacity-body" }, h("p", {}, "Reading the warehouse..."));
  replaceChildren(content, h("section", { id: "capacity", class: "panel" }, h("h2", {}, "Capacity"), body));
  get("/capacity")
    .then((answer) => {
      const forecast = (answer as { capacity_forecast: CapacityAnswer }).capacity_forecast;
      if ("message" in forecast) {
        replaceChildren(body, h("p", { "data-testid": "capacity-status" }, forecast.message));
        return;
      }
      const budget = forecast.budget;
      replaceChildren(
        body,
        h(
          "p",
          { "data-testid": "capacity-status" },
          `${forecast.plan} plan; from the warehouse (${forecast.aggregates_from}), days ${forecast.history.from} to ${forecast.history.to}; Firestore beyond the free tier over ${forecast.horizon_days} days: USD ${budget.expected_cost_usd.toFixed(2)} expected${budget.monthly_budget_usd === null ? "" : ` against a budget of USD ${budget.monthly_budget_usd} a month${budget.exceeds_on ? `, spent by ${budget.exceeds_on}` : ""}`}.`,
        ),
        ...CAPACITY_METRICS.map((metric) =>
          h(
            "div",
            { class: "capacity-metric", "data-metric": metric },
            svgFigure(
              visuals.lineChart(capacityChart(metric, forecast.metrics[metric])),
              `capacity-${metric}`,
            ),
            h(
              "p",
              { "data-testid": `capacity-summary-${metric}` },
              capacitySummary(metric, forecast.metrics[metric]),
            ),
          ),
        ),
        ...forecast.notes.map((note) => h("p", { class: "note" }, note)),
      );
    })
    .catch((error: unknown) =>
      replaceChildren(
        body,
        h("p", { class: "error" }, error instanceof Error ? error.message : String(error)),
      ),
    );
}
