/**
 * Monitoring, live: the environment's thresholds become Cloud Monitoring objects (v3) in its
 * project: an uptime check of the hosting site (`<site>.web.app`, HTTPS GET /) and four alert
 * policies on that check's metrics (error rate from `uptime_check/check_passed` as the fraction of
 * passing checks, latency from `uptime_check/request_latency`), critical and warning, notifying the
 * configured channels. Ours carry the labels `orchestration_environment` and `orchestration_rule`:
 * others in the project are never touched. The `probe-degraded` rule watches the control plane's
 * own health status, which Cloud Monitoring does not see: it stays in the control plane.
 */
import type { monitoring_v3 } from "googleapis/build/src/apis/monitoring/v3.js";
import type { Problem } from "../../domain/problems.js";
import { problem } from "../emulator-rest.js";
import { buildMonitoringDesired } from "../monitoring.js";
import type { DriverSpec, DriverTarget } from "../types.js";
import { callGoogleData, monitoringApi, requireAccess, type GoogleAccess } from "./google.js";

/** The uptime check, in our spelling of Cloud Monitoring's fields. */
export interface LiveUptimeCheck {
  display_name: string;
  host: string;
  path: string;
  period: string;
  timeout: string;
}

/** One alert policy with its single threshold condition. */
export interface LiveAlertPolicy {
  rule: string;
  display_name: string;
  severity: "CRITICAL" | "WARNING";
  filter: string;
  aligner: "ALIGN_FRACTION_TRUE" | "ALIGN_MEAN";
  alignment_period: string;
  comparison: "COMPARISON_LT" | "COMPARISON_GT";
  threshold: number;
  duration: string;
  channels: string[];
}

/** What the project holds of ours. */
export interface MonitoringLiveState {
  uptime_check: LiveUptimeCheck | null;
  alert_policies: LiveAlertPolicy[];
}

const ENV_LABEL = "orchestration_environment";
const RULE_LABEL = "orchestration_rule";
const UPTIME_RULE = "uptime";
/** The periods Cloud Monitoring runs uptime checks at (UptimeCheckConfig.period). */
export const UPTIME_PERIODS = [60, 300, 600, 900];
const CHANNEL = /^projects\/[^/]+\/notificationChannels\/[^/]+$/;

/** The uptime period for a probe interval: the shortest allowed one not below it, 900 s at most. */
export const uptimePeriod = (seconds: number): string =>
  `${UPTIME_PERIODS.find((p) => p >= seconds) ?? UPTIME_PERIODS.at(-1) ?? 900}s`;

const metricFilter = (metric: string, host: string) =>
  `metric.type="monitoring.googleapis.com/uptime_check/${metric}" AND resource.type="uptime_url" AND resource.label.host="${host}"`;

const ours = (environment: string, labels: Record<string, string> | null | undefined) =>
  labels?.[ENV_LABEL] === environment;

function uptimeOf(config: monitoring_v3.Schema$UptimeCheckConfig): LiveUptimeCheck {
  return {
    display_name: config.displayName ?? "",
    host: config.monitoredResource?.labels?.host ?? "",
    path: config.httpCheck?.path ?? "/",
    period: config.period ?? "60s",
    timeout: config.timeout ?? "",
  };
}

function policyOf(policy: monitoring_v3.Schema$AlertPolicy): LiveAlertPolicy {
  const threshold = policy.conditions?.[0]?.conditionThreshold;
  const aggregation = threshold?.aggregations?.[0];
  return {
    rule: policy.userLabels?.[RULE_LABEL] ?? "",
    display_name: policy.displayName ?? "",
    severity: policy.severity === "CRITICAL" ? "CRITICAL" : "WARNING",
    filter: threshold?.filter ?? "",
    aligner: aggregation?.perSeriesAligner === "ALIGN_FRACTION_TRUE" ? "ALIGN_FRACTION_TRUE" : "ALIGN_MEAN",
    alignment_period: aggregation?.alignmentPeriod ?? "",
    comparison: threshold?.comparison === "COMPARISON_LT" ? "COMPARISON_LT" : "COMPARISON_GT",
    threshold: threshold?.thresholdValue ?? 0,
    duration: threshold?.duration ?? "",
    channels: [...(policy.notificationChannels ?? [])].sort(),
  };
}

const uptimeBody = (environment: string, check: LiveUptimeCheck): monitoring_v3.Schema$UptimeCheckConfig => ({
  displayName: check.display_name,
  monitoredResource: { type: "uptime_url", labels: { host: check.host } },
  httpCheck: { path: check.path, port: 443, useSsl: true, validateSsl: true, requestMethod: "GET" },
  period: check.period,
  timeout: check.timeout,
  userLabels: { [ENV_LABEL]: environment, [RULE_LABEL]: UPTIME_RULE },
});

const policyBody = (environment: string, policy: LiveAlertPolicy): monitoring_v3.Schema$AlertPolicy => ({
  displayName: policy.display_name,
  combiner: "OR",
  enabled: true,
  severity: policy.severity,
  notificationChannels: policy.channels,
  userLabels: { [ENV_LABEL]: environment, [RULE_LABEL]: policy.rule },
  conditions: [
    {
      displayName: policy.display_name,
      conditionThreshold: {
        filter: policy.filter,
        aggregations: [{ alignmentPeriod: policy.alignment_period, perSeriesAligner: policy.aligner }],
        comparison: policy.comparison,
        thresholdValue: policy.threshold,
        duration: policy.duration,
      },
    },
  ],
});

async function liveConfigs(
  access: GoogleAccess,
  api: monitoring_v3.Monitoring,
  target: DriverTarget<"monitoring">,
) {
  const project = `projects/${target.environment.project_id}`;
  const environment = target.environment.name;
  const policies: monitoring_v3.Schema$AlertPolicy[] = [];
  let pageToken: string | undefined;
  do {
    const page = await callGoogleData(
      access,
      `listing the alert policies of ${project}`,
      "monitoring.alertPolicies.list",
      () =>
        api.projects.alertPolicies.list({
          name: project,
          pageSize: 100,
          ...(pageToken ? { pageToken } : {}),
        }),
    );
    policies.push(...(page.alertPolicies ?? []).filter((p) => ours(environment, p.userLabels)));
    pageToken = page.nextPageToken ?? undefined;
  } while (pageToken);
  const checks: monitoring_v3.Schema$UptimeCheckConfig[] = [];
  do {
    const page = await callGoogleData(
      access,
      `listing the uptime checks of ${project}`,
      "monitoring.uptimeCheckConfigs.list",
      () =>
        api.projects.uptimeCheckConfigs.list({
          parent: project,
          pageSize: 100,
          ...(pageToken ? { pageToken } : {}),
        }),
    );
    checks.push(...(page.uptimeCheckConfigs ?? []).filter((c) => ours(environment, c.userLabels)));
    pageToken = page.nextPageToken ?? undefined;
  } while (pageToken);
  return { policies, checks };
}

const stateOf = (configs: Awaited<ReturnType<typeof liveConfigs>>): MonitoringLiveState => ({
  uptime_check: configs.checks[0] ? uptimeOf(configs.checks[0]) : null,
  alert_policies: configs.policies.map(policyOf).sort((a, b) => a.rule.localeCompare(b.rule)),
});

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** The live half of the monitoring driver; the emulated half (monitoring.ts) validates the same thresholds. */
export const liveMonitoringSpec: DriverSpec<"monitoring", MonitoringLiveState> = {
  kind: "monitoring",
  mode: () => "live",

  desired(target) {
    const { settings, environment, integration } = target;
    const base = buildMonitoringDesired(integration, settings, environment);
    const problems: Problem[] = [...base.problems];
    settings.notification_channels.forEach((channel, index) => {
      if (!CHANNEL.test(channel))
        problems.push(
          problem(
            [integration, "notification_channels", index],
            JSON.stringify(channel),
            "a Cloud Monitoring channel name, projects/PROJECT/notificationChannels/ID (`gcloud beta monitoring channels list`)",
          ),
        );
    });
    // The uptime check watches one site: the default instance's, else the first hosting instance's.
    const hosting =
      environment.integrations.find((i) => i.name === "hosting") ??
      environment.integrations.find((i) => i.kind === "hosting");
    const site = hosting ? (hosting.settings as { site: string }).site : undefined;
    if (!site)
      problems.push(
        problem(
          [integration],
          `no hosting integration in live environment ${environment.name}`,
          "a hosting integration: the live uptime check and its alert policies watch the hosting site",
        ),
      );
    const host = `${site ?? "unknown"}.web.app`;
    const channels = [...settings.notification_channels].sort();
    const label = `${environment.name} (${host})`;
    const errorRate = (severity: "CRITICAL" | "WARNING", rate: number): LiveAlertPolicy => ({
      rule: severity === "CRITICAL" ? "error-rate-critical" : "error-rate-warning",
      display_name: `${label}: error rate ≥ ${rate}`,
      severity,
      filter: metricFilter("check_passed", host),
      aligner: "ALIGN_FRACTION_TRUE",
      alignment_period: "300s",
      comparison: "COMPARISON_LT",
      // Fewer than (1 - rate) of the checks passing is an error rate above `rate`.
      threshold: Math.round((1 - rate) * 1e6) / 1e6,
      duration: "300s",
      channels,
    });
    const latency = (severity: "CRITICAL" | "WARNING", ms: number): LiveAlertPolicy => ({
      rule: severity === "CRITICAL" ? "latency-critical" : "latency-warning",
      display_name: `${label}: latency ≥ ${ms} ms`,
      severity,
      filter: metricFilter("request_latency", host),
      aligner: "ALIGN_MEAN",
      alignment_period: "60s",
      comparison: "COMPARISON_GT",
      threshold: ms,
      duration: "300s",
      channels,
    });
    return Promise.resolve({
      state: {
        uptime_check: {
          display_name: `orchestration ${environment.name}: ${host}`,
          host,
          path: "/",
          period: uptimePeriod(settings.probe_interval_seconds),
          timeout: "10s",
        },
        alert_policies: [
          errorRate("CRITICAL", settings.error_rate_critical),
          errorRate("WARNING", settings.error_rate_warning),
          latency("CRITICAL", settings.latency_ms_critical),
          latency("WARNING", settings.latency_ms_warning),
        ].sort((a, b) => a.rule.localeCompare(b.rule)),
      },
      problems,
    });
  },

  async observe(target, io) {
    const access = requireAccess(io.google, "monitoring");
    const configs = await liveConfigs(access, await monitoringApi(access), target);
    return configs.checks.length === 0 && configs.policies.length === 0 ? undefined : stateOf(configs);
  },

  async apply(target, state, io) {
    const access = requireAccess(io.google, "monitoring");
    const api = await monitoringApi(access);
    const project = `projects/${target.environment.project_id}`;
    const environment = target.environment.name;
    const { policies, checks } = await liveConfigs(access, api, target);

    const [check, ...extraChecks] = checks;
    for (const extra of state.uptime_check ? extraChecks : checks)
      await callGoogleData(
        access,
        `deleting ${extra.name ?? "?"}`,
        "monitoring.uptimeCheckConfigs.delete",
        () => api.projects.uptimeCheckConfigs.delete({ name: extra.name ?? "" }),
      );
    if (state.uptime_check) {
      const body = uptimeBody(environment, state.uptime_check);
      if (!check)
        await callGoogleData(
          access,
          `creating the uptime check of ${environment}`,
          "monitoring.uptimeCheckConfigs.create",
          () => api.projects.uptimeCheckConfigs.create({ parent: project, requestBody: body }),
        );
      else if (!same(uptimeOf(check), state.uptime_check))
        await callGoogleData(
          access,
          `updating ${check.name ?? "?"}`,
          "monitoring.uptimeCheckConfigs.update",
          () => api.projects.uptimeCheckConfigs.patch({ name: check.name ?? "", requestBody: body }),
        );
    }

    for (const live of policies.filter(
      (p) => !state.alert_policies.some((w) => w.rule === p.userLabels?.[RULE_LABEL]),
    ))
      await callGoogleData(access, `deleting ${live.name ?? "?"}`, "monitoring.alertPolicies.delete", () =>
        api.projects.alertPolicies.delete({ name: live.name ?? "" }),
      );
    for (const wanted of state.alert_policies) {
      const live = policies.find((p) => p.userLabels?.[RULE_LABEL] === wanted.rule);
      const body = policyBody(environment, wanted);
      if (!live)
        await callGoogleData(
          access,
          `creating alert policy ${wanted.rule}`,
          "monitoring.alertPolicies.create",
          () => api.projects.alertPolicies.create({ name: project, requestBody: body }),
        );
      // No update mask: the whole policy is replaced, so nothing of an older shape lingers.
      else if (!same(policyOf(live), wanted))
        await callGoogleData(access, `updating ${live.name ?? "?"}`, "monitoring.alertPolicies.update", () =>
          api.projects.alertPolicies.patch({ name: live.name ?? "", requestBody: body }),
        );
    }
  },

  async verify(target, io, release) {
    const access = requireAccess(io.google, "monitoring");
    const live = stateOf(await liveConfigs(access, await monitoringApi(access), target));
    const wanted = release ? (release.state as MonitoringLiveState) : undefined;
    if (!live.uptime_check)
      return { status: "down", details: `no uptime check of ${target.environment.name} in Cloud Monitoring` };
    if (wanted && !same(live, wanted))
      return {
        status: "degraded",
        details: `the uptime check or alert policies of ${target.environment.name} differ from release ${release?.number ?? "?"}'s (changed outside the control plane?)`,
      };
    return {
      status: "healthy",
      details: `Google reports an uptime check of ${live.uptime_check.host} every ${live.uptime_check.period} and ${live.alert_policies.length} alert policies for ${target.environment.name}`,
    };
  },
};
