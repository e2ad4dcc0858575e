/**
 * Health monitoring: verifies every integration of every environment concurrently, records each
 * one's status and latency, and opens, escalates or resolves alerts (one per incident).
 */
import type { Transaction } from "firebase-admin/firestore";
import type { Clock } from "../app.js";
import type { Bus } from "../bus.js";
import { z } from "zod";
import { INTEGRATION_DEFAULTS, type ResolvedEnvironment } from "../domain/config-schema.js";
import { decideAlert, levelFor, rollUp, type AlertLevel } from "../domain/health.js";
import { LATENCY_SETTINGS, latencyAlert, latencyAnomaly } from "../domain/learning/anomalies.js";
import type { AlertChange } from "../domain/notifications.js";
import {
  COLLECTIONS,
  alertDocSchema,
  integrationDocId,
  integrationDocSchema,
  type AlertDoc,
  type HealthRecord,
} from "../domain/model.js";
import {
  alertRuleSchema,
  evaluateMetric,
  measure,
  RULE_METRICS,
  ruleMessage,
  ruleStateSchema,
  warehouseSample,
  WAREHOUSE_METRICS,
  type CheckSample,
  type InstalledRule,
  type WarehouseSample,
} from "../domain/alert-rules.js";
import type { Warehouse } from "../warehouse/warehouse.js";
import type { Fabricator } from "../drivers/fabricator.js";
import { ALERT_RULES } from "../drivers/monitoring.js";
import { targetFor } from "../drivers/integration-driver.js";
import type { Logger } from "../logs.js";
import { resolvedAlert, withAlertExpiry } from "../domain/retention.js";
import { SCHEDULE_DEFAULTS } from "../domain/schedules.js";
import type { Store } from "../store/store.js";
import { runTransaction } from "../store/transaction.js";
import { parseDocument, typedCollection } from "../store/typed-collection.js";
import type { EnvironmentResolver } from "./environments.js";
import type { Notifier } from "./notifier.js";

/** `health_streaks/{environment}__{integration}`: consecutive unhealthy checks so far (0 once healthy). */
const HEALTH_STREAKS = "health_streaks";
const streakDocSchema = z.strictObject({ unhealthy_checks: z.int().min(0), last_checked_at: z.date() });
/** `alert_rule_state/{environment}__{metric}`: since when each rule is breached, and the metric's open incident. */
const RULE_STATE = "alert_rule_state";
const installedRulesSchema = z.object({
  alert_rules: z.array(alertRuleSchema),
  // Rules installed before the warehouse rules existed have no window: theirs is the config's default.
  warehouse: z.object({ window_minutes: z.int().min(1), min_deployments: z.int().min(1) }).default({
    window_minutes: INTEGRATION_DEFAULTS.monitoring.warehouse_window_minutes,
    min_deployments: INTEGRATION_DEFAULTS.monitoring.warehouse_min_deployments,
  }),
});

/**
 * `health_latency/{environment}__{integration}`: the latencies of the last healthy checks (oldest
 * first), which a check's latency is judged against, and the latency anomaly in progress.
 */
export const HEALTH_LATENCY = "health_latency";
export const latencyDocSchema = z.strictObject({
  latencies_ms: z.array(z.number().min(0)),
  /** Latency anomalies so far: the next one's alert is numbered `incidents + 1`. */
  incidents: z.int().min(0),
  open_alert: z.string().nullable(),
});

/** How many consecutive unhealthy checks open an incident in this environment (its monitoring settings; 1 without monitoring). */
function alertAfterChecks(env: ResolvedEnvironment): number {
  const monitoring = env.integrations.find((integration) => integration.kind === "monitoring");
  return monitoring?.kind === "monitoring" ? monitoring.settings.alert_after_checks : 1;
}

/**
 * Integrations recorded per transaction. Each writes at most five documents (its health alert, its
 * latency alert, its latency and streak documents, itself): 100 stay within Firestore's 500 writes
 * per commit.
 */
export const RECORD_BATCH = 100;

/** The checks in runs of one environment, of at most {@link RECORD_BATCH}, in their order. */
function batches<C extends { env: ResolvedEnvironment }>(checks: readonly C[]) {
  const runs: { env: ResolvedEnvironment; checks: C[] }[] = [];
  for (const check of checks) {
    const last = runs.at(-1);
    if (last?.env.name === check.env.name && last.checks.length < RECORD_BATCH) last.checks.push(check);
    else runs.push({ env: check.env, checks: [check] });
  }
  return runs;
}

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
  /** Sends alert changes to the environment's notification channels. */
  notifier?: Notifier;
  /** The warehouse the deployment rules read (null or absent: those rules are not evaluated). */
  warehouse?: () => Promise<Warehouse | null>;
}) {
  const { store, fabricator, bus, clock, log } = deps;
  const alerts = typedCollection(store.db, COLLECTIONS.alerts, alertDocSchema);
  const streaks = typedCollection(store.db, HEALTH_STREAKS, streakDocSchema);
  const latencies = typedCollection(store.db, HEALTH_LATENCY, latencyDocSchema);
  const ruleStates = typedCollection(store.db, RULE_STATE, ruleStateSchema);

  /** Notifies the channels; a failed notification never fails the check or the deployment. */
  async function notify(id: string, alert: AlertDoc, change: AlertChange): Promise<void> {
    try {
      await deps.notifier?.notify(id, alert, change);
    } catch (error) {
      log.error("notifying an alert failed", {
        alert_id: id,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

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

  /** How long a resolved alert stays in Firestore (`base.schedules.retention_days`; the default before a config is loaded). */
  async function retentionDays(): Promise<number> {
    try {
      return (await deps.environments.config()).schedules.retention_days;
    } catch {
      return SCHEDULE_DEFAULTS.retention_days;
    }
  }

  const monitor = {
    /** Raises an alert under a stable id, once: a second delivery of the same finding changes nothing. */
    async raiseAlert(id: string, alert: AlertDoc): Promise<void> {
      try {
        // Only a resolved alert needs the retention (an open one never expires): no read otherwise.
        await alerts
          .doc(id)
          .create(alert.status === "resolved" ? withAlertExpiry(alert, await retentionDays()) : alert);
      } catch {
        return; // already raised by an earlier delivery
      }
      await publishAlert(id, alert, "raised");
    },

    /** Raises an info or critical alert for a finished deployment (successful deployments are info). */
    async deploymentAlert(
      deploymentId: string,
      environment: string,
      level: AlertLevel,
      message: string,
      /** The deployment's own expiry: a successful one's alert (born resolved) goes with it. */
      deploymentExpireAt: Date | null = null,
    ): Promise<void> {
      const id = `deployment__${deploymentId}`;
      const now = clock.now();
      const opened: AlertDoc = {
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
      // A successful deployment's alert is born resolved: it expires with its deployment (or, for a
      // deployment that ended without an expiry, as any resolved alert does). Others are open: none.
      const alert =
        level !== "info"
          ? opened
          : deploymentExpireAt !== null
            ? { ...opened, expire_at: deploymentExpireAt }
            : withAlertExpiry(opened, await retentionDays());
      try {
        await alerts.doc(id).create(alert);
      } catch {
        return; // already raised by an earlier delivery
      }
      await publishAlert(id, alert, "raised");
      await notify(id, alert, "raised");
    },

    /**
     * Verifies the environments named (all when none are named) and answers the status report,
     * writing nothing: what a viewer's `GET /status` runs. Alerts and health are recorded by `check`.
     */
    async status(names?: readonly string[]): Promise<HealthReport> {
      const started = performance.now();
      const { environments, checks } = await verifyAll(names);
      const documents = await integrationDocs(environments);
      const results = checks.map(({ env, name, health }) => {
        const doc = documents.get(integrationDocId(env.name, name));
        return statusLine(env.name, name, doc?.status ?? "undeclared", health, doc?.open_alert ?? null);
      });
      return report(started, environments, results);
    },

    /**
     * Verifies every environment (or one) and records what it found: each integration's health,
     * and its alert opened, escalated or resolved, in one transaction per environment (per
     * {@link RECORD_BATCH} of its integrations) so that two checks running at once open one alert
     * per incident (its id is deterministic: the integration's next incident number). Answers the
     * status report. The scheduled health check and `POST /jobs/health` run it.
     */
    async check(only?: string): Promise<HealthReport> {
      const started = performance.now();
      const {
        environments,
        checks,
        retentionDays: days,
      } = await verifyAll(only === undefined ? undefined : [only]);
      const now = clock.now();
      const outcomes = (
        await Promise.all(
          batches(checks).map((batch) =>
            recordBatch(
              batch.env.name,
              batch.checks.map(({ name, health }) => ({ name, health: { ...health, checked_at: now } })),
              now,
              alertAfterChecks(batch.env),
              days,
            ),
          ),
        )
      ).flat();
      const byEnvironment = new Map<string, CheckSample>();
      for (const { env, name, health } of checks) {
        const sample = byEnvironment.get(env.name) ?? { probes: [] };
        sample.probes.push({ integration: name, status: health.status, latency_ms: health.latency_ms });
        byEnvironment.set(env.name, sample);
      }
      const fired = await Promise.all(
        [...byEnvironment].map(([environment, sample]) => evaluateRules(environment, sample, now, days)),
      );
      const raised = [...outcomes.flatMap((outcome) => outcome.raised), ...fired.flat()];
      await Promise.all(raised.map(({ id, alert, change }) => publishAlert(id, alert, change)));
      for (const { id, alert, change } of raised) await notify(id, alert, change);
      for (const { alert, change } of raised)
        log.warn(`alert ${change}`, {
          level: alert.level,
          environment: alert.environment,
          integration: alert.integration,
          message: alert.message,
        });
      return report(
        started,
        environments,
        outcomes.map((outcome) => outcome.line),
      );
    },
  };
  return monitor;

  async function verifyAll(names?: readonly string[]) {
    const config = await deps.environments.config();
    const environments =
      names === undefined
        ? config.environments
        : await Promise.all(names.map((name) => deps.environments.environment(name)));
    const now = clock.now();
    const checked = await Promise.all(
      environments.map(async (env) => {
        const healths = await fabricator.verifyEnvironment(
          env.integrations.map((integration) => targetFor(env, integration.name)),
        );
        return env.integrations.map((integration, at) => ({
          env,
          name: integration.name,
          health: { ...healths[at]!, checked_at: now } satisfies HealthRecord,
        }));
      }),
    );
    const checks = checked.flat();
    return { environments, checks, retentionDays: config.schedules.retention_days };
  }

  async function integrationDocs(environments: readonly { name: string }[]) {
    const lists = await Promise.all(environments.map((env) => store.listIntegrations(env.name)));
    return new Map(lists.flat().map((doc) => [integrationDocId(doc.environment, doc.name), doc]));
  }

  function statusLine(
    environment: string,
    name: string,
    status: string,
    health: HealthRecord,
    openAlert: string | null,
  ): HealthReport["integration_status"][number] {
    return {
      environment,
      name,
      status,
      health: health.status,
      mode: health.mode,
      latency_ms: health.latency_ms,
      details: health.details,
      open_alert: openAlert,
    };
  }

  async function report(
    started: number,
    environments: readonly { name: string; type: string; mode: string }[],
    results: HealthReport["integration_status"],
  ): Promise<HealthReport> {
    const declared = new Map((await store.listEnvironments()).map((env) => [env.name, env.status]));
    return {
      system_health: {
        status: rollUp(results.map((r) => r.health)),
        checked_at: clock.now().toISOString(),
        duration_ms: Math.round(performance.now() - started),
        environments: environments.length,
        integrations: results.length,
      },
      environment_status: environments.map((env) => ({
        name: env.name,
        type: env.type,
        mode: env.mode,
        status: declared.get(env.name) ?? "undeclared",
        health: rollUp(results.filter((r) => r.environment === env.name).map((r) => r.health)),
      })),
      integration_status: results,
    };
  }

  /**
   * The environment's recent deployments from the warehouse, when a warehouse rule is installed and
   * the warehouse answers; a warehouse that fails is logged, and its rules wait for the next check.
   */
  async function warehouseFigures(
    environment: string,
    rules: readonly InstalledRule[],
    settings: { window_minutes: number; min_deployments: number },
    now: Date,
  ): Promise<WarehouseSample | null> {
    if (!rules.some((rule) => (WAREHOUSE_METRICS as readonly string[]).includes(rule.metric))) return null;
    try {
      const warehouse = await deps.warehouse?.();
      if (!warehouse) return null;
      const window = {
        from: new Date(now.getTime() - settings.window_minutes * 60_000).toISOString(),
        to: now.toISOString(),
        environments: [environment],
      };
      const [outcomes, durations] = await Promise.all([
        warehouse.query("deployment_outcomes", window),
        warehouse.query("deployment_durations", window),
      ]);
      return warehouseSample(environment, outcomes, durations, settings);
    } catch (error) {
      log.warn("the warehouse did not answer; its alert rules wait for the next check", {
        environment,
        error: error instanceof Error ? error.message : String(error),
      });
      return null;
    }
  }

  /**
   * Evaluates the environment's installed alert rules (`alert_rules/{environment}`) against this
   * check, one transaction per metric: a rule fires once breached for its duration, one alert per
   * metric and incident (`rule__{environment}__{metric}__incident_{n}`), escalated and resolved as
   * health alerts are. Nothing installed, nothing evaluated.
   */
  async function evaluateRules(environment: string, sample: CheckSample, now: Date, days: number) {
    const installed = (await store.db.collection(ALERT_RULES).doc(environment).get()).data();
    if (installed === undefined) return [];
    const parsed = installedRulesSchema.safeParse(installed);
    if (!parsed.success) {
      log.warn("alert rules could not be read; not evaluated", {
        environment,
        error: parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; "),
      });
      return [];
    }
    const raised: { id: string; alert: AlertDoc; change: AlertChange }[] = [];
    const measured: CheckSample = {
      ...sample,
      warehouse: await warehouseFigures(environment, parsed.data.alert_rules, parsed.data.warehouse, now),
    };
    for (const metric of RULE_METRICS) {
      const rules = parsed.data.alert_rules.filter((rule) => rule.metric === metric);
      if (rules.length === 0) continue;
      const measurement = measure(metric, measured);
      // Not measured in this check (no warehouse): the breach times stand until it answers again.
      if (measurement === null) continue;
      const { value, culprit } = measurement;
      const stateRef = ruleStates.doc(`${environment}__${metric}`);
      const found = await runTransaction(store.db, async (tx) => {
        const previous = (await tx.get(stateRef)).data();
        const { state, decision } = evaluateMetric(
          rules,
          value,
          now,
          previous,
          (incident) => `rule__${environment}__${metric}__incident_${incident}`,
        );
        // Reads before writes, as a transaction needs.
        const openId = previous?.open_alert ?? null;
        const open = openId ? (await tx.get(alerts.doc(openId))).data() : undefined;
        // Quiet metrics with no history write nothing: most checks of a healthy environment.
        if (previous !== undefined || Object.keys(state.breaching_since).length > 0) tx.set(stateRef, state);
        if (decision.action === "open" && state.open_alert) {
          const alert: AlertDoc = {
            level: decision.level,
            status: "open",
            source: "rule",
            environment,
            integration: null,
            deployment_id: null,
            message: ruleMessage(environment, decision.rule, value, culprit),
            opened_at: now,
            last_seen_at: now,
            resolved_at: null,
          };
          tx.create(alerts.doc(state.open_alert), alert);
          return { id: state.open_alert, alert, change: "opened" as const };
        }
        if (decision.action === "escalate" && open && openId) {
          const alert: AlertDoc = {
            ...open,
            level: decision.level,
            message: ruleMessage(environment, decision.rule, value, culprit),
            last_seen_at: now,
          };
          tx.set(alerts.doc(openId), alert);
          return { id: openId, alert, change: "escalated" as const };
        }
        if (decision.action === "resolve" && open && openId) {
          const alert = resolvedAlert(open, now, days);
          tx.set(alerts.doc(openId), alert);
          return {
            id: openId,
            alert: {
              ...alert,
              level: "info" as const,
              message: `${metric} in ${environment} is back within its rules`,
            },
            change: "resolved" as const,
          };
        }
        return undefined;
      });
      if (found) raised.push(found);
    }
    return raised;
  }

  /**
   * Records the checks of some integrations of one environment and decides their alerts, in one
   * transaction: one `getAll` of their documents, health streaks and latencies, a second of the
   * alerts they hold open, then the incident ids of those opening one; then every decision (the
   * pure ones of domain/), then the writes. An incident opens only once the integration has been
   * unhealthy for `afterChecks` consecutive checks (its streak is kept in `health_streaks`);
   * escalation and recovery act on the check itself.
   */
  async function recordBatch(
    environment: string,
    checked: readonly { name: string; health: HealthRecord }[],
    now: Date,
    afterChecks: number,
    days: number,
  ) {
    return runTransaction(store.db, async (tx) => {
      const items = checked.map((item) => ({ ...item, id: integrationDocId(environment, item.name) }));
      // Raw references (one getAll takes one document type): each read is parsed as its converter would.
      const snaps = await tx.getAll(
        ...items.flatMap(({ id }) => [
          store.db.collection(COLLECTIONS.integrations).doc(id),
          store.db.collection(HEALTH_STREAKS).doc(id),
          store.db.collection(HEALTH_LATENCY).doc(id),
        ]),
      );
      const parsed = <S extends z.ZodType>(schema: S, at: number): z.infer<S> | undefined => {
        const snap = snaps[at];
        return snap?.exists ? parseDocument(schema, snap.ref.path, snap.data()) : undefined;
      };
      const found = items.map((item, i) => ({
        ...item,
        doc: parsed(integrationDocSchema, 3 * i),
        streak: parsed(streakDocSchema, 3 * i + 1),
        latency: parsed(latencyDocSchema, 3 * i + 2) ?? { latencies_ms: [], incidents: 0, open_alert: null },
      }));
      const held = [
        ...new Set(found.flatMap(({ doc, latency }) => [doc?.open_alert ?? "", latency.open_alert ?? ""])),
      ].filter((alertId) => alertId !== "");
      const alertSnaps =
        held.length > 0 ? await tx.getAll(...held.map((alertId) => alerts.doc(alertId))) : [];
      const heldAlerts = new Map(alertSnaps.map((snap) => [snap.id, snap.data()]));
      const decided = found.map((item) => {
        const openId = item.doc?.open_alert ?? null;
        const openSnap = openId ? heldAlerts.get(openId) : undefined;
        const open = openSnap?.status === "open" ? openSnap : undefined;
        const latencyOpen = item.latency.open_alert ? heldAlerts.get(item.latency.open_alert) : undefined;
        const unhealthy =
          levelFor(item.health.status) === undefined ? 0 : (item.streak?.unhealthy_checks ?? 0) + 1;
        const decision = decideAlert(open, item.health, { unhealthyChecks: unhealthy, afterChecks });
        return { ...item, openId, open, latencyOpen, unhealthy, decision };
      });
      const opened = await nextIncidents(
        tx,
        decided.flatMap(({ id, doc, decision }) =>
          decision.action === "open" ? [{ id, incidents: doc?.incidents ?? 0, level: decision.level }] : [],
        ),
      );
      const openings = new Map(opened.map((opening) => [opening.id, opening]));
      // Reads done: the writes, each integration's as a transaction of its own wrote them.
      return decided.map((item) => {
        const { id, name, health, doc, streak, latency, openId, open, latencyOpen, unhealthy, decision } =
          item;
        const raised: { id: string; alert: AlertDoc; change: AlertChange }[] = [];
        let nextOpen = open ? openId : null;
        let incidents = doc?.incidents ?? 0;
        const message = `${name} in ${environment} is ${health.status} (${health.mode}): ${health.details}`;
        const opening = openings.get(id);
        if (opening) {
          incidents = opening.incident;
          nextOpen = `${id}__incident_${opening.incident}`;
          const alert: AlertDoc = {
            level: opening.level,
            status: "open",
            source: "health",
            environment,
            integration: name,
            deployment_id: null,
            message,
            opened_at: now,
            last_seen_at: now,
            resolved_at: null,
          };
          tx.create(alerts.doc(nextOpen), alert);
          raised.push({ id: nextOpen, alert, change: "opened" });
        } else if (decision.action === "escalate" && open && openId) {
          const alert = { ...open, level: decision.level, message, last_seen_at: now };
          tx.set(alerts.doc(openId), alert);
          raised.push({ id: openId, alert, change: "escalated" });
        } else if (decision.action === "resolve" && open && openId) {
          const alert = resolvedAlert(open, now, days);
          tx.set(alerts.doc(openId), alert);
          raised.push({
            id: openId,
            alert: { ...alert, level: "info", message: `${name} in ${environment} is healthy again` },
            change: "resolved",
          });
          nextOpen = null;
        }
        // A healthy check's latency against the integration's last healthy checks: an anomaly opens
        // an alert with the evidence, the next normal latency resolves it. Unhealthy checks are the
        // health incident's business, and are not kept as a normal latency.
        if (health.status === "healthy") {
          const slow = latencyAnomaly(environment, name, latency.latencies_ms, health.latency_ms);
          let openLatency = latencyOpen?.status === "open" ? latency.open_alert : null;
          let latencyIncidents = latency.incidents;
          if (slow && openLatency === null) {
            latencyIncidents += 1;
            openLatency = `${id}__latency_${latencyIncidents}`;
            const alert = latencyAlert(slow, environment, name, now);
            tx.create(alerts.doc(openLatency), alert);
            raised.push({ id: openLatency, alert, change: "opened" });
          } else if (!slow && openLatency !== null && latencyOpen) {
            const alert = resolvedAlert(latencyOpen, now, days);
            tx.set(alerts.doc(openLatency), alert);
            raised.push({
              id: openLatency,
              alert: {
                ...alert,
                level: "info",
                message: `${name} in ${environment} answers in ${health.latency_ms} ms again`,
              },
              change: "resolved",
            });
            openLatency = null;
          }
          tx.set(latencies.doc(id), {
            latencies_ms: [...latency.latencies_ms, health.latency_ms].slice(-LATENCY_SETTINGS.window_checks),
            incidents: latencyIncidents,
            open_alert: openLatency,
          });
        }
        // Kept only where a duration applies (or to reset one left from an earlier config): with the
        // default of one check, a check writes exactly what it wrote before durations existed.
        if (unhealthy !== (streak?.unhealthy_checks ?? 0) && (afterChecks > 1 || streak !== undefined))
          tx.set(streaks.doc(id), { unhealthy_checks: unhealthy, last_checked_at: now });
        // Only the health fields: a deployment may be updating status and release at the same time.
        if (doc)
          tx.update(store.db.collection(COLLECTIONS.integrations).doc(id), {
            health,
            open_alert: nextOpen,
            incidents,
          });
        return { raised, line: statusLine(environment, name, doc?.status ?? "undeclared", health, nextOpen) };
      });
    });
  }

  /**
   * The number of each opening integration's incident: the next after its document's count, or
   * past it while that alert exists. Point reads only (one getAll of the first candidates): a query
   * in a transaction locks a range of alerts, and concurrent checks then time out on the emulator's
   * locks. A check that races this one and commits first makes this transaction retry, and it then
   * sees the alert open.
   */
  async function nextIncidents<O extends { id: string; incidents: number }>(
    tx: Transaction,
    opening: readonly O[],
  ): Promise<(O & { incident: number })[]> {
    if (opening.length === 0) return [];
    const first = await tx.getAll(
      ...opening.map(({ id, incidents }) => alerts.doc(`${id}__incident_${incidents + 1}`)),
    );
    return Promise.all(
      opening.map(async (item, i) => {
        let incident = item.incidents + 1;
        let taken = first[i]?.exists === true;
        while (taken) {
          incident += 1;
          taken = (await tx.get(alerts.doc(`${item.id}__incident_${incident}`))).exists;
        }
        return { ...item, incident };
      }),
    );
  }
}

export type HealthMonitor = ReturnType<typeof createHealthMonitor>;
export type { AlertLevel };
