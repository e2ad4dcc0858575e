/**
 * The log search page: filters the warehouse's events (`GET /events/search`) by free text,
 * correlation id, deployment, integration and environment, in the signed-in person's scope.
 */
import { h, replaceChildren } from "./dom.js";

/** One event as the search answers it. */
interface FoundEvent {
  time: string;
  kind: string;
  environment: string;
  integration: string | null;
  deployment_id: string | null;
  task_id: string | null;
  from: string | null;
  to: string;
  attempt: number | null;
  detail: string | null;
  correlation_id: string;
}

/** Draws the search form into `content`; `get` calls the API as the signed-in person. */
export function searchPage(content: HTMLElement, get: (path: string) => Promise<unknown>): void {
  const field = (name: string, label: string) =>
    h("label", {}, label, h("input", { name, type: "search", "data-testid": `search-${name}` }));
  const results = h("div", { "data-testid": "search-results" });
  const form = h(
    "form",
    { id: "search", class: "panel" },
    h("h2", {}, "Search the event log"),
    field("q", "Text"),
    field("correlation_id", "Correlation id"),
    field("deployment_id", "Deployment"),
    field("integration", "Integration"),
    field("environment", "Environment"),
    h("button", { type: "submit", "data-testid": "search-run" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const query = new URLSearchParams();
    for (const input of form.querySelectorAll("input"))
      if (input.value.trim()) query.set(input.name, input.value.trim());
    replaceChildren(results, h("p", {}, "Searching..."));
    get(`/events/search?${query.toString()}`)
      .then((answer) => {
        const { events, warehouse } = answer as { events: FoundEvent[]; warehouse: string };
        replaceChildren(
          results,
          h("p", { "data-testid": "search-count" }, `${events.length} event(s) from ${warehouse}`),
          h(
            "table",
            {},
            h(
              "tr",
              {},
              ...["time", "environment", "kind", "subject", "integration", "change", "detail"].map((c) =>
                h("th", {}, c),
              ),
            ),
            ...events.map((e) =>
              h(
                "tr",
                {},
                h("td", {}, e.time),
                h("td", {}, e.environment),
                h("td", {}, e.kind),
                h("td", {}, e.task_id ?? e.deployment_id ?? ""),
                h("td", {}, e.integration ?? ""),
                h("td", {}, `${e.from ?? ""} -> ${e.to}${e.attempt ? ` (attempt ${e.attempt})` : ""}`),
                h("td", {}, e.detail ?? ""),
              ),
            ),
          ),
        );
      })
      .catch((error: unknown) =>
        replaceChildren(
          results,
          h("p", { class: "error" }, error instanceof Error ? error.message : String(error)),
        ),
      );
  });
  replaceChildren(content, form, results);
}
