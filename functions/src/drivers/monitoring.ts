/**
 * The monitoring driver: health probes (one per integration of the environment) and alert rules
 * (critical and warning thresholds from settings, plus an info rule on degraded probes) kept in
 * the CONTROL PLANE's Firestore, `alert_rules/{environment}`, where the health checks read them.
 * Nothing in the target project is touched, so it needs the control plane's Firestore.
 */
import type { Firestore } from "firebase-admin/firestore";
import type { IntegrationSettings, ResolvedEnvironment } from "../domain/config-schema.js";
import type { RuleMetric } from "../domain/alert-rules.js";
import type { Problem } from "../domain/problems.js";
import { emulatedOrLive, liveNotImplemented, problem } from "./emulator-rest.js";
import type { DriverSpec, DriverTarget } from "./types.js";

export const ALERT_RULES = "alert_rules";

export interface AlertRule {
  id: string;
  metric: RuleMetric | "health_status";
  severity: "critical" | "warning" | "info";
  comparison: ">=" | "==";
  threshold: number | string;
  /** How long the condition must hold before the rule fires. */
  for_seconds: number;
}

export interface MonitoringState {
  environment: string;
  project_id: string;
  probes: { integration: string; interval_seconds: number }[];
  alert_rules: AlertRule[];
  /** The window and the evidence floor of the warehouse rules. */
  warehouse: { window_minutes: number; min_deployments: number };
  notification_channels: string[];
}

/** The state and its problems from settings and the environment alone (pure). */
export function buildMonitoringDesired(
  integration: string,
  settings: IntegrationSettings<"monitoring">,
  environment: ResolvedEnvironment,
): { state: MonitoringState; problems: Problem[] } {
  const problems: Problem[] = [];
  for (const pair of [
    "error_rate",
    "latency_ms",
    "deployment_failure_rate",
    "deployment_p95_seconds",
  ] as const) {
    const warning = settings[`${pair}_warning`];
    const critical = settings[`${pair}_critical`];
    if (warning >= critical)
      problems.push(
        problem(
          [integration, `${pair}_warning`],
          `${warning}, not below ${pair}_critical ${critical}`,
          `a warning threshold below the critical one (${critical})`,
        ),
      );
  }
  const seen = new Set<string>();
  settings.notification_channels.forEach((channel, index) => {
    if (seen.has(channel))
      problems.push(
        problem(
          [integration, "notification_channels", index],
          `"${channel}" a second time`,
          "each channel once",
        ),
      );
    seen.add(channel);
  });
  const probes = environment.integrations
    .filter((i) => i.kind !== "monitoring")
    .map((i) => ({ integration: i.name, interval_seconds: settings.probe_interval_seconds }));
  return {
    state: {
      environment: environment.name,
      project_id: environment.project_id,
      probes,
      alert_rules: [
        {
          id: "error-rate-critical",
          metric: "error_rate",
          severity: "critical",
          comparison: ">=",
          threshold: settings.error_rate_critical,
          for_seconds: settings.alert_for_seconds,
        },
        {
          id: "error-rate-warning",
          metric: "error_rate",
          severity: "warning",
          comparison: ">=",
          threshold: settings.error_rate_warning,
          for_seconds: settings.alert_for_seconds,
        },
        {
          id: "latency-critical",
          metric: "latency_ms",
          severity: "critical",
          comparison: ">=",
          threshold: settings.latency_ms_critical,
          for_seconds: settings.alert_for_seconds,
        },
        {
          id: "latency-warning",
          metric: "latency_ms",
          severity: "warning",
          comparison: ">=",
          threshold: settings.latency_ms_warning,
          for_seconds: settings.alert_for_seconds,
        },
        {
          id: "deployment-failure-rate-critical",
          metric: "deployment_failure_rate",
          severity: "critical",
          comparison: ">=",
          threshold: settings.deployment_failure_rate_critical,
          for_seconds: settings.alert_for_seconds,
        },
        {
          id: "deployment-failure-rate-warning",
          metric: "deployment_failure_rate",
          severity: "warning",
          comparison: ">=",
          threshold: settings.deployment_failure_rate_warning,
          for_seconds: settings.alert_for_seconds,
        },
        {
          id: "deployment-p95-critical",
          metric: "deployment_p95_seconds",
          severity: "critical",
          comparison: ">=",
          threshold: settings.deployment_p95_seconds_critical,
          for_seconds: settings.alert_for_seconds,
        },
        {
          id: "deployment-p95-warning",
          metric: "deployment_p95_seconds",
          severity: "warning",
          comparison: ">=",
          threshold: settings.deployment_p95_seconds_warning,
          for_seconds: settings.alert_for_seconds,
        },
        {
          id: "probe-degraded",
          metric: "health_status",
          severity: "info",
          comparison: "==",
          threshold: "degraded",
          for_seconds: settings.alert_for_seconds,
        },
      ],
      warehouse: {
        window_minutes: settings.warehouse_window_minutes,
        min_deployments: settings.warehouse_min_deployments,
      },
      notification_channels: [...seen],
    },
    problems,
  };
}

export function createMonitoringDriver(db: Firestore): DriverSpec<"monitoring", MonitoringState> {
  const ref = (environment: string) => db.collection(ALERT_RULES).doc(environment);
  const read = async (environment: string): Promise<MonitoringState | undefined> => {
    const snapshot = await ref(environment).get();
    if (!snapshot.exists) return undefined;
    const { updated_at: _updated, ...state } = snapshot.data() as MonitoringState & { updated_at?: unknown };
    return state;
  };
  return {
    kind: "monitoring",
    mode: emulatedOrLive,

    desired(target: DriverTarget<"monitoring">) {
      return Promise.resolve(buildMonitoringDesired(target.integration, target.settings, target.environment));
    },

    async observe(target) {
      if (emulatedOrLive(target.environment) === "live")
        liveNotImplemented("monitoring", "read alert policies");
      return read(target.environment.name);
    },

    async apply(target, state, io) {
      if (emulatedOrLive(target.environment) === "live")
        liveNotImplemented("monitoring", "install alert policies");
      await ref(target.environment.name).set({ ...state, updated_at: io.now() });
    },

    async verify(target) {
      if (emulatedOrLive(target.environment) === "live")
        liveNotImplemented("monitoring", "probe alert policies");
      const state = await read(target.environment.name);
      if (!state) return { status: "down", details: `${ALERT_RULES}/${target.environment.name} is missing` };
      return {
        status: "healthy",
        details: `${state.probes.length} probe(s) and ${state.alert_rules.length} alert rule(s) installed in ${ALERT_RULES}/${target.environment.name}`,
      };
    },
  };
}
