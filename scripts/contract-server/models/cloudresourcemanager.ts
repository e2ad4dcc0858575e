import { ApiError } from "../resources.js";
import type { ContractServer } from "../server.js";

/**
 * Cloud Resource Manager v3 `projects.testIamPermissions` as its reference describes it: answers the
 * subset of the asked permissions the caller holds on the project (no permission is needed to ask),
 * refuses wildcards with INVALID_ARGUMENT, and answers 403 for a project the caller cannot see.
 * `granted` maps project id -> the permissions the test's principal holds there.
 */
export function resourceManagerModel(server: ContractServer, granted: Map<string, Set<string>>): void {
  server.on("cloudresourcemanager.projects.testIamPermissions", ({ params, body }) => {
    const project = (params.resource ?? "").replace(/^projects\//, "");
    const asked = ((body ?? {}) as { permissions?: string[] }).permissions ?? [];
    const wildcard = asked.find((p) => p.includes("*"));
    if (wildcard)
      throw new ApiError("INVALID_ARGUMENT", `Permissions with wildcards are not allowed: ${wildcard}`);
    const held = granted.get(project);
    if (!held)
      throw new ApiError(
        "PERMISSION_DENIED",
        `The caller does not have permission (or project ${project} does not exist).`,
      );
    return { body: { permissions: asked.filter((p) => held.has(p)) } };
  });
}
