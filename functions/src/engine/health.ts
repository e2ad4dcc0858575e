/**
 * Health monitoring: verifies every integration of every environment concurrently, records each
 * one's status and latency, and opens, escalates or resolves alerts (one per incident).
 */
import type { Clock } from "../app.js";
import type { Bus } from "../bus.js";
import { decideAlert, rollUp, type AlertLevel } from "../domain/health.js";
import {
  COLLECTIONS,
  alertDocSchema,
  integrationDocId,
  type AlertDoc,
  type HealthRecord,
} from "../domain/model.js";
import type { Fabricator } from "../drivers/fabricator.js";
import { targetFor } from "../drivers/integration-driver.js";
import type { Logger } from "../logs.js";
import type { Store } from "../store/store.js";
import { typedCollection } from "../store/typed-collection.js";
import type { EnvironmentResolver } from "./environments.js";

export interface HealthReport {
  system_health: {
    status: string;
    checked_at: string;
    duration_ms: number;
    environments: number;
    integrations: number;
  };
  environment_status: { name: string; type: string; mode: string; status: string; health: string }[];
  integration_status: {
    environment: string;
    name: string;
    status: string;
    health: HealthRecord["status"];
    mode: string;
    latency_ms: number;
    details: string;
    open_alert: string | null;
  }[];
}

export function createHealthMonitor(deps: {
  store: Store;
  environments: EnvironmentResolver;
  fabricator: Fabricator;
  bus: Bus;
  clock: Clock;
  log: Logger;
}) {
  const { store, fabricator, bus, clock, log } = deps;
  const alerts = typedCollection(store.db, COLLECTIONS.alerts, alertDocSchema);

  async function publishAlert(id: string, alert: AlertDoc, change: string): Promise<void> {
    await bus.publishEvent({
      event_id: `alert:${id}:${alert.status}:${alert.level}`,
      kind: "alert",
      deployment_id: alert.deployment_id,
      task_id: null,
      environment: alert.environment,
      integration: alert.integration,
      from: null,
      to: `${alert.level}:${alert.status}`,
      attempt: null,
      detail: `${change}: ${alert.message}`,
      correlation_id: alert.deployment_id ?? id,
      at: clock.now().toISOString(),
    });
  }

  return {
    /** Raises an info or critical alert for a finished deployment (successful deployments are info). */
    async deploymentAlert(
      deploymentId: string,
      environment: string,
      level: AlertLevel,
      message: string,
    ): Promise<void> {
      const id = `deployment__${deploymentId}`;
      const now = clock.now();
      const alert: AlertDoc = {
        level,
        status: level === "info" ? "resolved" : "open",
        source: "deployment",
        environment,
        integration: null,
        deployment_id: deploymentId,
        message,
        opened_at: now,
        last_seen_at: now,
        resolved_at: level === "info" ? now : null,
      };
      try {
        await alerts.doc(id).create(alert);
      } catch {
        return; // already raised by an earlier delivery
      }
      await publishAlert(id, alert, "raised");
    },

    /** Checks every environment (or one), concurrently; writes health and alerts; answers the status report. */
    async check(only?: string): Promise<HealthReport> {
      const started = performance.now();
      const config = await deps.environments.config();
      const environments =
        only === undefined ? config.environments : [await deps.environments.environment(only)];
      const documents = new Map(
        (await store.listIntegrations(only)).map((doc) => [integrationDocId(doc.environment, doc.name), doc]),
      );
      const now = clock.now();
      const checks = await Promise.all(
        environments.flatMap((env) =>
          env.integrations.map(async (integration) => {
            const health = await fabricator.verify(targetFor(env, integration.kind));
            return {
              env,
              name: integration.kind,
              health: { ...health, checked_at: now } satisfies HealthRecord,
            };
          }),
        ),
      );

      const batch = store.db.batch();
      const raised: { id: string; alert: AlertDoc; change: string }[] = [];
      const openAlerts = new Map(
        (await alerts.where("status", "==", "open").where("source", "==", "health").get()).docs.map((doc) => [
          doc.id,
          doc.data(),
        ]),
      );
      const results: HealthReport["integration_status"] = [];
      for (const { env, name, health } of checks) {
        const id = integrationDocId(env.name, name);
        const doc = documents.get(id);
        const openId = doc?.open_alert ?? null;
        const open = openId ? openAlerts.get(openId) : undefined;
        const decision = decideAlert(open, health);
        let nextOpen = open ? openId : null;
        const message = `${name} in ${env.name} is ${health.status} (${health.mode}): ${health.details}`;
        if (decision.action === "open") {
          nextOpen = `${id}__${now.getTime()}`;
          const alert: AlertDoc = {
            level: decision.level,
            status: "open",
            source: "health",
            environment: env.name,
            integration: name,
            deployment_id: null,
            message,
            opened_at: now,
            last_seen_at: now,
            resolved_at: null,
          };
          batch.set(alerts.doc(nextOpen), alert);
          raised.push({ id: nextOpen, alert, change: "opened" });
        } else if (decision.action === "escalate" && open && openId) {
          const alert = { ...open, level: decision.level, message, last_seen_at: now };
          batch.set(alerts.doc(openId), alert);
          raised.push({ id: openId, alert, change: "escalated" });
        } else if (decision.action === "resolve" && open && openId) {
          const alert: AlertDoc = { ...open, status: "resolved", resolved_at: now, last_seen_at: now };
          batch.set(alerts.doc(openId), alert);
          raised.push({
            id: openId,
            alert: { ...alert, level: "info", message: `${name} in ${env.name} is healthy again` },
            change: "resolved",
          });
          nextOpen = null;
        }
        // Only the health fields: a deployment may be updating status and release at the same time.
        if (doc)
          batch.update(store.db.collection(COLLECTIONS.integrations).doc(id), {
            health,
            open_alert: nextOpen,
          });
        results.push({
          environment: env.name,
          name,
          status: doc?.status ?? "undeclared",
          health: health.status,
          mode: health.mode,
          latency_ms: health.latency_ms,
          details: health.details,
          open_alert: nextOpen,
        });
      }
      await batch.commit();
      await Promise.all(raised.map(({ id, alert, change }) => publishAlert(id, alert, change)));
      for (const { alert, change } of raised)
        log.warn(`alert ${change}`, {
          level: alert.level,
          environment: alert.environment,
          integration: alert.integration,
          message: alert.message,
        });

      const environmentStatus = environments.map((env) => ({
        name: env.name,
        type: env.type,
        mode: env.mode,
        status: "",
        health: rollUp(results.filter((r) => r.environment === env.name).map((r) => r.health)),
      }));
      const declared = new Map((await store.listEnvironments()).map((env) => [env.name, env.status]));
      for (const env of environmentStatus) env.status = declared.get(env.name) ?? "undeclared";
      return {
        system_health: {
          status: rollUp(results.map((r) => r.health)),
          checked_at: now.toISOString(),
          duration_ms: Math.round(performance.now() - started),
          environments: environments.length,
          integrations: results.length,
        },
        environment_status: environmentStatus,
        integration_status: results,
      };
    },
  };
}

export type HealthMonitor = ReturnType<typeof createHealthMonitor>;
export type { AlertLevel };
