import { ApiError, ResourceCollection } from "../resources.js";
import type { ContractServer } from "../server.js";

type Json = Record<string, unknown>;

/** proto3 JSON as Google writes it: false booleans, empty lists and empty objects are left out. */
function proto3(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? undefined : value.map(proto3);
  if (typeof value === "object" && value !== null) {
    const out: Json = {};
    for (const [key, item] of Object.entries(value)) {
      const kept = proto3(item);
      if (kept !== undefined) out[key] = kept;
    }
    return Object.keys(out).length === 0 ? undefined : out;
  }
  return value === false ? undefined : value;
}

/**
 * Identity Toolkit v2 project config as the reference describes it, on a contract server: a project
 * without Authentication set up answers 404 CONFIGURATION_NOT_FOUND; updateConfig writes exactly the
 * masked fields; answers are proto3 JSON (false booleans left out) with the output-only `name`,
 * `passwordPolicyConfig.lastUpdateTime` and `passwordPolicyVersions[].schemaVersion` added.
 */
export function identityToolkitModel(
  server: ContractServer,
  projects: string[],
  now: () => Date = () => new Date(),
): ResourceCollection {
  const configs = new ResourceCollection("config");
  for (const project of projects) configs.create(`projects/${project}/config`, {});
  const answer = (stored: Json): Json => {
    const body = (proto3(stored) ?? {}) as Json;
    const policy = body.passwordPolicyConfig as { passwordPolicyVersions?: Json[] } | undefined;
    if (policy) {
      Object.assign(policy, { lastUpdateTime: now().toISOString() });
      policy.passwordPolicyVersions = (policy.passwordPolicyVersions ?? []).map((v) => ({
        ...v,
        schemaVersion: 1,
      }));
    }
    return body;
  };
  const find = (name: string | undefined): Json => {
    if (!configs.has(name ?? "")) throw new ApiError("NOT_FOUND", "CONFIGURATION_NOT_FOUND");
    return configs.get(name ?? "");
  };
  server
    .on("identitytoolkit.projects.getConfig", ({ params }) => ({ body: answer(find(params.name)) }))
    .on("identitytoolkit.projects.updateConfig", ({ params, query, body }) => {
      find(params.name);
      const mask = Array.isArray(query.updateMask) ? query.updateMask[0] : query.updateMask;
      if (!mask) throw new ApiError("INVALID_ARGUMENT", "updateMask: the fields to update must be named");
      return { body: answer(configs.patch(params.name ?? "", (body ?? {}) as Json, mask)) };
    });
  return configs;
}
