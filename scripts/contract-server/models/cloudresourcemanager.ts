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

type Json = Record<string, unknown>;
/** One binding as the Policy schema spells it. */
export type StoredBinding = { role: string; members: string[]; condition?: Json };
/** A project's IAM policy as the model keeps it. */
export type StoredPolicy = {
  version: number;
  etag: string;
  bindings: StoredBinding[];
  auditConfigs?: Json[];
};

/** What the IAM model holds, for tests to seed and inspect. */
export type IamPolicyModel = {
  /** project id -> its policy; a project not here answers 403 as Google does. */
  policies: Map<string, StoredPolicy>;
  /**
   * Changes another writer makes between a caller's read and its write: each queued change runs
   * (and bumps the etag) when the next setIamPolicy arrives, so that write carries a stale etag.
   */
  concurrent: ((policy: StoredPolicy) => void)[];
  /** Installs a policy for a project with a fresh etag. */
  seed(project: string, bindings: StoredBinding[]): StoredPolicy;
};

const MEMBER =
  /^(user|serviceAccount|group):[^@\s]+@[^@\s]+$|^domain:[a-z0-9.-]+$|^deleted:(user|serviceAccount|group):\S+$/;

/**
 * Cloud Resource Manager v3 `projects.getIamPolicy` / `projects.setIamPolicy` as the reference
 * describes them: the policy comes with an `etag` and a `version`; a write whose etag is not the
 * current one is refused 409 ABORTED (a concurrent change: read-modify-write again), one without an
 * etag overwrites; `allUsers` / `allAuthenticatedUsers` are refused on projects, as is granting
 * `roles/owner` to a `user:` (an invitation only the console sends); conditional bindings need
 * version 3 both ways; each binding needs at least one principal. The etag changes on every write.
 */
export function iamPolicyModel(server: ContractServer): IamPolicyModel {
  let writes = 0;
  const nextEtag = () => Buffer.from(`policy-${(writes += 1)}`).toString("base64");
  const model: IamPolicyModel = {
    policies: new Map(),
    concurrent: [],
    seed(project, bindings) {
      const policy = { version: 1, etag: nextEtag(), bindings: structuredClone(bindings) };
      model.policies.set(project, policy);
      return policy;
    },
  };
  const find = (resource: string | undefined): [string, StoredPolicy] => {
    const project = (resource ?? "").replace(/^projects\//, "");
    const policy = model.policies.get(project);
    if (!policy)
      throw new ApiError(
        "PERMISSION_DENIED",
        `The caller does not have permission (or project ${project} does not exist).`,
      );
    return [project, policy];
  };
  const conditional = (policy: { bindings: StoredBinding[] }) => policy.bindings.some((b) => b.condition);

  server
    .on("cloudresourcemanager.projects.getIamPolicy", ({ params, body }) => {
      const [, policy] = find(params.resource);
      const asked =
        ((body ?? {}) as { options?: { requestedPolicyVersion?: number } }).options?.requestedPolicyVersion ??
        0;
      if (![0, 1, 3].includes(asked))
        throw new ApiError("INVALID_ARGUMENT", `Invalid requested policy version: ${asked}.`);
      if (conditional(policy) && asked !== 3)
        throw new ApiError(
          "INVALID_ARGUMENT",
          "The policy has conditional role bindings: request policy version 3.",
        );
      const answer: Json = { version: policy.version, etag: policy.etag };
      if (policy.bindings.length > 0) answer.bindings = structuredClone(policy.bindings);
      if (policy.auditConfigs) answer.auditConfigs = structuredClone(policy.auditConfigs);
      return { body: answer };
    })
    .on("cloudresourcemanager.projects.setIamPolicy", ({ params, body }) => {
      const [project, current] = find(params.resource);
      for (const change of model.concurrent.splice(0, 1)) {
        change(current);
        current.etag = nextEtag();
      }
      const sent = ((body ?? {}) as { policy?: Partial<StoredPolicy> & Json }).policy ?? {};
      if (sent.etag !== undefined && sent.etag !== current.etag)
        throw new ApiError(
          "ABORTED",
          "There were concurrent policy changes. Please retry the whole read-modify-write with exponential backoff.",
        );
      const bindings = (sent.bindings ?? []) as Partial<StoredBinding>[];
      bindings.forEach((binding, index) => {
        if (!binding.role) throw new ApiError("INVALID_ARGUMENT", `Policy bindings[${index}] has no role.`);
        if (!binding.members || binding.members.length === 0)
          throw new ApiError(
            "INVALID_ARGUMENT",
            `Policy bindings[${index}] (${binding.role}) has no members.`,
          );
        for (const member of binding.members) {
          if (member === "allUsers" || member === "allAuthenticatedUsers")
            throw new ApiError(
              "INVALID_ARGUMENT",
              `Project does not support ${member} as a member of a binding (${binding.role}).`,
            );
          if (!MEMBER.test(member))
            throw new ApiError("INVALID_ARGUMENT", `Invalid member ${member} in ${binding.role}.`);
          if (binding.role === "roles/owner" && member.startsWith("user:"))
            throw new ApiError(
              "FAILED_PRECONDITION",
              `A user cannot be granted the owner role using setIamPolicy(): invite ${member.slice(5)} in the console.`,
            );
        }
      });
      const version = sent.version ?? 1;
      if (![0, 1, 3].includes(version))
        throw new ApiError("INVALID_ARGUMENT", `Invalid policy version: ${version}.`);
      const checked = bindings as StoredBinding[];
      if (conditional({ bindings: checked }) && version !== 3)
        throw new ApiError("INVALID_ARGUMENT", "Conditional role bindings require policy version 3.");
      const stored: StoredPolicy = {
        version: conditional({ bindings: checked }) ? 3 : 1,
        etag: nextEtag(),
        bindings: structuredClone(checked),
        ...(sent.auditConfigs ? { auditConfigs: structuredClone(sent.auditConfigs) } : {}),
      };
      model.policies.set(project, stored);
      const answer: Json = { version: stored.version, etag: stored.etag };
      if (stored.bindings.length > 0) answer.bindings = structuredClone(stored.bindings);
      if (stored.auditConfigs) answer.auditConfigs = structuredClone(stored.auditConfigs);
      return { body: answer };
    });
  return model;
}
