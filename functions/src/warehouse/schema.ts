/**
 * The warehouse's one event table, `orchestration_events`: its columns (the same in DuckDB and
 * BigQuery), how an event on `orchestration-events` becomes a row, and how long rows are kept.
 */
import { orchestrationEventSchema, type ParsedOrchestrationEvent } from "../bus.js";

/** The table every analytical read goes through. */
export const EVENTS_TABLE = "orchestration_events";

/** One row per deployment (latest state by event time): what reports count. */
export const DEPLOYMENT_FACTS = "deployment_facts";
/** One row per task (latest state by event time): what reports count. */
export const TASK_FACTS = "task_facts";

/** Column types, named once: each dialect maps them to its own type names. */
export type ColumnType = "STRING" | "TIMESTAMP" | "INT64" | "FLOAT64" | "JSON";

/** The columns, in order (the issue's list, plus when the warehouse received the row). */
export const EVENT_COLUMNS: readonly { name: string; type: ColumnType; required: boolean }[] = [
  { name: "event_id", type: "STRING", required: true },
  { name: "kind", type: "STRING", required: true },
  { name: "time", type: "TIMESTAMP", required: true },
  { name: "environment", type: "STRING", required: true },
  { name: "integration", type: "STRING", required: false },
  { name: "deployment_id", type: "STRING", required: false },
  { name: "task_id", type: "STRING", required: false },
  { name: "from", type: "STRING", required: false },
  { name: "to", type: "STRING", required: true },
  { name: "attempt", type: "INT64", required: false },
  { name: "duration", type: "FLOAT64", required: false },
  { name: "detail", type: "STRING", required: false },
  { name: "correlation_id", type: "STRING", required: true },
  { name: "actor", type: "STRING", required: false },
  { name: "payload", type: "JSON", required: false },
  { name: "ingested_at", type: "TIMESTAMP", required: true },
];

/** One row of `orchestration_events`; times are ISO strings, payload JSON text. */
export interface EventRow {
  event_id: string;
  kind: string;
  time: string;
  environment: string;
  integration: string | null;
  deployment_id: string | null;
  task_id: string | null;
  from: string | null;
  to: string;
  attempt: number | null;
  duration: number | null;
  detail: string | null;
  correlation_id: string;
  actor: string | null;
  payload: string | null;
  ingested_at: string;
}

/** The specification's retention: operational events 90 days, audit records one year. */
export const RETENTION_DAYS = { operational: 90, audit: 365 } as const;

/** The row an event becomes; the event must be valid (see `parseEventMessage`). */
export function eventToRow(event: ParsedOrchestrationEvent, ingestedAt: Date): EventRow {
  return {
    event_id: event.event_id,
    kind: event.kind,
    time: new Date(event.at).toISOString(),
    environment: event.environment,
    integration: event.integration,
    deployment_id: event.deployment_id,
    task_id: event.task_id,
    from: event.from,
    to: event.to,
    attempt: event.attempt,
    duration: event.duration,
    detail: event.detail,
    correlation_id: event.correlation_id,
    actor: event.actor,
    payload: event.payload === null ? null : JSON.stringify(event.payload),
    ingested_at: ingestedAt.toISOString(),
  };
}

/** Parses a message body from the topic; a bad one is named by its first problem, for the dead-letter log. */
export function parseEventMessage(
  data: Buffer | string,
): { ok: true; event: ParsedOrchestrationEvent } | { ok: false; reason: string } {
  let json: unknown;
  try {
    json = JSON.parse(typeof data === "string" ? data : data.toString("utf8"));
  } catch (error) {
    return { ok: false, reason: `not JSON: ${(error as Error).message}` };
  }
  const parsed = orchestrationEventSchema.safeParse(json);
  if (parsed.success) return { ok: true, event: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, reason: `${issue?.path.join(".") || "(event)"}: ${issue?.message ?? "invalid"}` };
}
