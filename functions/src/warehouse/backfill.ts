/**
 * The events a recorded history implies: what the engine published for each deployment, task and
 * alert, with the engine's own event ids, so a backfill from Firestore and the live stream dedupe
 * against each other in the warehouse. Used to move history recorded before the warehouse existed,
 * and by tests and benches to give the warehouse the same history Firestore holds.
 */
import type { OrchestrationEvent } from "../bus.js";
import type { Deployment, Task } from "../domain/engine-model.js";
import type { AlertDoc } from "../domain/model.js";

const iso = (date: Date) => date.toISOString();

/** A deployment's events: it started (at its creation) and, when it ended, how. */
export function deploymentEvents(d: Deployment): OrchestrationEvent[] {
  const base = {
    kind: "deployment" as const,
    deployment_id: d.id,
    task_id: null,
    environment: d.environment,
    integration: null,
    attempt: null,
    correlation_id: d.correlation_id || d.id,
    actor: d.requested_by,
    payload: { created_at: iso(d.created_at), integrations: d.integrations },
  };
  if (d.status === "requested")
    return [
      {
        ...base,
        event_id: `deployment:${d.id}:requested`,
        from: null,
        to: "requested",
        detail: null,
        at: iso(d.created_at),
      },
    ];
  const events: OrchestrationEvent[] = [
    {
      ...base,
      event_id: `deployment:${d.id}:running`,
      from: "requested",
      to: "running",
      detail: null,
      at: iso(d.created_at),
    },
  ];
  if (d.status !== "running")
    events.push({
      ...base,
      event_id: `deployment:${d.id}:${d.status}`,
      from: "running",
      to: d.status,
      detail: d.error_message,
      at: iso(d.completed_at ?? d.started_at ?? d.created_at),
      duration: d.actual_duration,
    });
  return events;
}

/** A task's events: it ran (when it started) and how it ended, or how it ended without running. */
export function taskEvents(t: Task, correlationId: string): OrchestrationEvent[] {
  const base = {
    kind: "task" as const,
    deployment_id: t.deployment_id,
    task_id: t.id,
    environment: t.environment,
    integration: t.integration,
    correlation_id: correlationId,
    payload: {
      retry_count: t.retry_count,
      estimated_duration: t.estimated_duration,
      ready_at: t.ready_at ? iso(t.ready_at) : null,
      started_at: t.started_at ? iso(t.started_at) : null,
    },
  };
  const events: OrchestrationEvent[] = [];
  if (t.started_at)
    events.push({
      ...base,
      event_id: `task:${t.id}:running:${t.attempt}:${t.retry_count}`,
      from: "ready",
      to: "running",
      attempt: t.attempt,
      detail: null,
      at: iso(t.started_at),
    });
  if (t.status !== "running" && t.status !== "blocked" && t.status !== "ready")
    events.push({
      ...base,
      event_id: `task:${t.id}:${t.status}:${t.attempt}:${t.retry_count}`,
      from: t.started_at ? "running" : "blocked",
      to: t.status,
      attempt: t.attempt,
      detail: t.error_message ?? t.reason,
      at: iso(t.completed_at ?? t.started_at ?? t.created_at),
      duration: t.actual_duration,
    });
  return events;
}

/** An alert's events: opened, and resolved when it was. */
export function alertEvents(id: string, a: AlertDoc): OrchestrationEvent[] {
  const base = {
    kind: "alert" as const,
    deployment_id: a.deployment_id,
    task_id: null,
    environment: a.environment,
    integration: a.integration,
    from: null,
    attempt: null,
    correlation_id: a.deployment_id ?? id,
  };
  const events: OrchestrationEvent[] = [
    {
      ...base,
      event_id: `alert:${id}:open:${a.level}`,
      to: `${a.level}:open`,
      detail: `opened: ${a.message}`,
      at: iso(a.opened_at),
    },
  ];
  if (a.status === "resolved" && a.resolved_at)
    events.push({
      ...base,
      event_id: `alert:${id}:resolved:${a.level}`,
      to: `${a.level}:resolved`,
      detail: `resolved: ${a.message}`,
      at: iso(a.resolved_at),
    });
  return events;
}

/** Every event of a history, deployments first. */
export function historyEvents(history: {
  deployments: readonly Deployment[];
  tasks: readonly Task[];
  alerts: readonly (AlertDoc & { id: string })[];
}): OrchestrationEvent[] {
  const correlation = new Map(history.deployments.map((d) => [d.id, d.correlation_id || d.id]));
  return [
    ...history.deployments.flatMap(deploymentEvents),
    ...history.tasks.flatMap((t) => taskEvents(t, correlation.get(t.deployment_id) ?? t.deployment_id)),
    ...history.alerts.flatMap((a) => alertEvents(a.id, a)),
  ];
}
