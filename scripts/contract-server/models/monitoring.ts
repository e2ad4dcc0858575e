import { ApiError } from "../resources.js";
import type { ContractServer } from "../server.js";

type Json = Record<string, unknown>;
/** An alert policy or uptime check as the model keeps it. */
export type StoredConfig = Json & { name: string; displayName?: string; userLabels?: Record<string, string> };

/** What the model holds, for tests to inspect: alert policies and uptime checks by name. */
export type MonitoringModel = {
  alertPolicies: Map<string, StoredConfig>;
  uptimeChecks: Map<string, StoredConfig>;
};

const str = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value[0] : value;
/** The periods the UptimeCheckConfig reference allows. */
const PERIODS = ["60s", "300s", "600s", "900s"];
const CHANNEL = /^projects\/[^/]+\/notificationChannels\/[^/]+$/;

function checkPolicy(body: Json): void {
  if (typeof body.displayName !== "string" || body.displayName === "")
    throw new ApiError("INVALID_ARGUMENT", "AlertPolicy.displayName is required.");
  const conditions = (body.conditions ?? []) as {
    displayName?: string;
    conditionThreshold?: { filter?: string };
  }[];
  if (conditions.length === 0)
    throw new ApiError("INVALID_ARGUMENT", "AlertPolicy.conditions: at least one condition.");
  if (conditions.length > 1 && !body.combiner)
    throw new ApiError("INVALID_ARGUMENT", "AlertPolicy.combiner is required with more than one condition.");
  for (const [index, condition] of conditions.entries())
    if (!condition.conditionThreshold?.filter)
      throw new ApiError(
        "INVALID_ARGUMENT",
        `AlertPolicy.conditions[${index}].conditionThreshold.filter is required.`,
      );
  for (const channel of (body.notificationChannels ?? []) as string[])
    if (!CHANNEL.test(channel))
      throw new ApiError(
        "INVALID_ARGUMENT",
        `notificationChannels: "${channel}" is not projects/[PROJECT]/notificationChannels/[ID].`,
      );
}

function checkUptime(body: Json): void {
  if (typeof body.displayName !== "string" || body.displayName === "")
    throw new ApiError("INVALID_ARGUMENT", "UptimeCheckConfig.displayName is required.");
  const period = (body.period as string | undefined) ?? "60s";
  if (!PERIODS.includes(period))
    throw new ApiError(
      "INVALID_ARGUMENT",
      `UptimeCheckConfig.period ${period}: one of ${PERIODS.join(", ")}.`,
    );
  const timeout = typeof body.timeout === "string" ? Number(body.timeout.replace(/s$/, "")) : NaN;
  if (!(timeout >= 1 && timeout <= 60))
    throw new ApiError(
      "INVALID_ARGUMENT",
      "UptimeCheckConfig.timeout is required, between 1 and 60 seconds.",
    );
  const resource = body.monitoredResource as { type?: string; labels?: Record<string, string> } | undefined;
  if (resource?.type === "uptime_url" && !resource.labels?.host)
    throw new ApiError("INVALID_ARGUMENT", "monitoredResource uptime_url needs the label host.");
}

/**
 * Cloud Monitoring v3 alert policies and uptime checks as the reference describes them, on a
 * contract server: create assigns the name, checks what the reference calls required (display name,
 * conditions with a filter, a combiner for several conditions, channel names; an uptime check's
 * period among 60/300/600/900 s and a timeout of 1 to 60 s); patch without an update mask replaces
 * the whole resource (name kept); list answers everything of the project; delete removes.
 */
export function monitoringModel(server: ContractServer): MonitoringModel {
  const model: MonitoringModel = { alertPolicies: new Map(), uptimeChecks: new Map() };
  let counter = 0;
  const register = (
    collection: "alertPolicies" | "uptimeCheckConfigs",
    store: Map<string, StoredConfig>,
    check: (body: Json) => void,
    parentParam: "name" | "parent",
  ) => {
    const id = `monitoring.projects.${collection}`;
    const listKey = collection === "alertPolicies" ? "alertPolicies" : "uptimeCheckConfigs";
    server
      .on(`${id}.create`, ({ params, body }) => {
        const input = (body ?? {}) as Json;
        check(input);
        counter += 1;
        const name = `${params[parentParam] ?? ""}/${collection}/${1000 + counter}`;
        const stored: StoredConfig = { ...structuredClone(input), name };
        store.set(name, stored);
        return { body: structuredClone(stored) };
      })
      .on(`${id}.list`, ({ params }) => ({
        body: {
          [listKey]: [...store.values()]
            .filter((c) => c.name.startsWith(`${params[parentParam] ?? ""}/`))
            .map((c) => structuredClone(c)),
        },
      }))
      .on(`${id}.patch`, ({ params, query, body }) => {
        const name = params.name ?? "";
        const current = store.get(name);
        if (!current) throw new ApiError("NOT_FOUND", `${name} was not found.`);
        const input = (body ?? {}) as Json;
        const mask = str(query.updateMask);
        const updated: StoredConfig = mask
          ? {
              ...current,
              ...Object.fromEntries(mask.split(",").map((f) => [f, structuredClone(input[f])])),
              name,
            }
          : { ...structuredClone(input), name };
        check(updated);
        store.set(name, updated);
        return { body: structuredClone(updated) };
      })
      .on(`${id}.delete`, ({ params }) => {
        if (!store.delete(params.name ?? ""))
          throw new ApiError("NOT_FOUND", `${params.name} was not found.`);
        return { body: {} };
      });
  };
  register("alertPolicies", model.alertPolicies, checkPolicy, "name");
  register("uptimeCheckConfigs", model.uptimeChecks, checkUptime, "parent");
  return model;
}
