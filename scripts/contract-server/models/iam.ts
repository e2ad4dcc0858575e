import { ApiError, Operations, faultError, type Operation } from "../resources.js";
import type { ContractServer } from "../server.js";
import type { StoredBinding } from "./cloudresourcemanager.js";

type Json = Record<string, unknown>;

/** A Workload Identity pool as the model keeps it (the fields of revision 20211013). */
export type StoredPool = {
  name: string;
  displayName?: string;
  description?: string;
  disabled?: boolean;
  state: "ACTIVE" | "DELETED";
};

/** A pool's provider as the model keeps it. */
export type StoredProvider = {
  name: string;
  displayName?: string;
  description?: string;
  disabled?: boolean;
  state: "ACTIVE" | "DELETED";
  attributeMapping?: Record<string, string>;
  attributeCondition?: string;
  oidc?: { issuerUri: string; allowedAudiences?: string[] };
  aws?: { accountId: string };
};

/** A service account's IAM policy as the model keeps it. */
export type StoredAccountPolicy = { version: number; etag: string; bindings: StoredBinding[] };

/** What the IAM model holds, for tests to seed and inspect. */
export type IamModel = {
  /** project id -> project number; a project not here answers 403 as Google does. */
  projects: Map<string, string>;
  /** `projects/<number>/locations/global/workloadIdentityPools/<id>` -> the pool. */
  pools: Map<string, StoredPool>;
  /** `<pool name>/providers/<id>` -> the provider. */
  providers: Map<string, StoredProvider>;
  /** Service account email -> its IAM policy; an email not here is a service account that does not exist (404). */
  accountPolicies: Map<string, StoredAccountPolicy>;
  /** Changes another writer makes before the next service account setIamPolicy (its etag is then stale). */
  concurrent: ((policy: StoredAccountPolicy) => void)[];
  /** Polls before an operation the model starts is done (1: the first poll finds it done). */
  operationPolls: number;
  /** Creates a service account with an empty policy (or the given bindings). */
  seedAccount(email: string, bindings?: StoredBinding[]): StoredAccountPolicy;
  /** Soft-deletes a pool, as `workloadIdentityPools.delete` would. */
  softDelete(poolName: string): void;
};

const ID = /^(?!gcp-)[a-z0-9-]{4,32}$/;
const MEMBER =
  /^(user|serviceAccount|group):[^@\s]+@[^@\s]+$|^domain:[a-z0-9.-]+$|^principal(Set)?:\/\/iam\.googleapis\.com\/projects\/\d+\/locations\/global\/workloadIdentityPools\/[a-z0-9-]+\/\S+$/;
const GITHUB_ISSUER = "https://token.actions.githubusercontent.com";
const POOL_FIELDS = ["displayName", "description", "disabled"];
const PROVIDER_FIELDS = [...POOL_FIELDS, "attributeMapping", "attributeCondition", "oidc", "aws"];

/**
 * IAM v1 Workload Identity Federation and service account IAM policies, as the reference describes
 * them: pools and providers live under `projects/<project>/locations/global` (a project id or number
 * in requests; Google answers names with the number); create, patch and undelete return operations
 * that finish after `operationPolls` polls; a missing pool or provider is 404 NOT_FOUND; a
 * soft-deleted one (state DELETED) is still read, cannot be updated (400 FAILED_PRECONDITION) and
 * its id cannot be taken again (409 ALREADY_EXISTS) until it is undeleted. An OIDC provider needs a
 * mapping of `google.subject`; one for GitHub's issuer needs an attribute condition (Google has
 * refused GitHub providers without one since 2024). Service account policies carry an etag: a stale
 * one is 409 ABORTED; `allUsers` / `allAuthenticatedUsers` are refused.
 */
export function iamModel(server: ContractServer): IamModel {
  let writes = 0;
  const nextEtag = () => Buffer.from(`account-policy-${(writes += 1)}`).toString("base64");
  const operations = new Operations();
  const model: IamModel = {
    projects: new Map(),
    pools: new Map(),
    providers: new Map(),
    accountPolicies: new Map(),
    concurrent: [],
    operationPolls: 1,
    seedAccount(email, bindings = []) {
      const policy = { version: 1, etag: nextEtag(), bindings: structuredClone(bindings) };
      model.accountPolicies.set(email, policy);
      return policy;
    },
    softDelete(poolName) {
      const pool = model.pools.get(poolName);
      if (pool) pool.state = "DELETED";
    },
  };

  /** The canonical (project number) name of a location, or 403 naming `permission`. */
  const location = (parent: string | undefined, permission: string): string => {
    const [, project = "", , where = ""] = (parent ?? "").split("/");
    const number = /^\d+$/.test(project)
      ? [...model.projects.values()].find((n) => n === project)
      : model.projects.get(project);
    if (number === undefined) throw faultError({ kind: "permission-denied", permission }, parent ?? "");
    if (where !== "global")
      throw new ApiError(
        "INVALID_ARGUMENT",
        `Location ${where} is not supported; the only location is global.`,
      );
    return `projects/${number}/locations/global`;
  };
  const poolName = (name: string | undefined, permission: string): string => {
    const parts = (name ?? "").split("/");
    return `${location(parts.slice(0, 4).join("/"), permission)}/workloadIdentityPools/${parts[5] ?? ""}`;
  };
  const providerName = (name: string | undefined, permission: string): string =>
    `${poolName(name, permission)}/providers/${(name ?? "").split("/")[7] ?? ""}`;
  const found = <T>(map: Map<string, T>, name: string, what: string): T => {
    const item = map.get(name);
    if (item === undefined)
      throw new ApiError("NOT_FOUND", `Requested entity was not found: ${what} ${name}.`);
    return item;
  };
  const started = (parent: string, resource: Json): { body: Operation } => ({
    body: operations.start(parent, { response: resource }, model.operationPolls),
  });
  const maskOf = (query: Record<string, string | string[]>, allowed: string[]): string[] => {
    const mask = typeof query.updateMask === "string" ? query.updateMask : "";
    if (mask === "") throw new ApiError("INVALID_ARGUMENT", "update_mask is required.");
    const paths = mask.split(",");
    const wrong = paths.find((p) => !allowed.includes(p));
    if (wrong) throw new ApiError("INVALID_ARGUMENT", `Field ${wrong} cannot be updated.`);
    return paths;
  };
  const checkProvider = (provider: Partial<StoredProvider>) => {
    if (!!provider.oidc === !!provider.aws)
      throw new ApiError("INVALID_ARGUMENT", "A provider needs exactly one of oidc or aws.");
    if (provider.oidc) {
      if (!provider.oidc.issuerUri?.startsWith("https://"))
        throw new ApiError("INVALID_ARGUMENT", "oidc.issuer_uri must be an HTTPS URL.");
      if (!provider.attributeMapping?.["google.subject"])
        throw new ApiError(
          "INVALID_ARGUMENT",
          "attribute_mapping must map google.subject for an OIDC provider.",
        );
      if (provider.oidc.issuerUri === GITHUB_ISSUER && !provider.attributeCondition)
        throw new ApiError(
          "INVALID_ARGUMENT",
          "The attribute condition must reference one of the provider's claims. For more information, see https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines#conditions",
        );
    }
    for (const key of Object.keys(provider.attributeMapping ?? {}))
      if (!/^google\.(subject|groups)$|^attribute\.[a-z0-9_]{1,100}$/.test(key))
        throw new ApiError("INVALID_ARGUMENT", `Invalid attribute mapping key ${key}.`);
  };
  const answer = <T extends { state: string }>(item: T): Json => structuredClone(item);

  server
    .on("iam.projects.locations.workloadIdentityPools.get", ({ params }) => ({
      body: answer(found(model.pools, poolName(params.name, "iam.workloadIdentityPools.get"), "pool")),
    }))
    .on("iam.projects.locations.workloadIdentityPools.create", ({ params, query, body }) => {
      const parent = location(params.parent, "iam.workloadIdentityPools.create");
      const id = typeof query.workloadIdentityPoolId === "string" ? query.workloadIdentityPoolId : "";
      if (!ID.test(id))
        throw new ApiError(
          "INVALID_ARGUMENT",
          `Invalid workload_identity_pool_id "${id}": 4-32 of [a-z0-9-], not gcp-.`,
        );
      const name = `${parent}/workloadIdentityPools/${id}`;
      const existing = model.pools.get(name);
      if (existing)
        throw new ApiError(
          "ALREADY_EXISTS",
          existing.state === "DELETED"
            ? `Pool ${name} was deleted; undelete it, or wait until it is purged (30 days) to create it again.`
            : `Pool ${name} already exists.`,
        );
      const sent = (body ?? {}) as Partial<StoredPool>;
      const pool: StoredPool = { ...pickFields(sent, POOL_FIELDS), name, state: "ACTIVE" };
      model.pools.set(name, pool);
      return started(name, answer(pool));
    })
    .on("iam.projects.locations.workloadIdentityPools.patch", ({ params, query, body }) => {
      const name = poolName(params.name, "iam.workloadIdentityPools.update");
      const pool = found(model.pools, name, "pool");
      if (pool.state === "DELETED")
        throw new ApiError("FAILED_PRECONDITION", `Pool ${name} is deleted: undelete it to update it.`);
      for (const path of maskOf(query, POOL_FIELDS)) setField(pool, path, (body ?? {}) as Json);
      return started(name, answer(pool));
    })
    .on("iam.projects.locations.workloadIdentityPools.undelete", ({ params }) => {
      const name = poolName(params.name, "iam.workloadIdentityPools.undelete");
      const pool = found(model.pools, name, "pool");
      if (pool.state !== "DELETED") throw new ApiError("FAILED_PRECONDITION", `Pool ${name} is not deleted.`);
      pool.state = "ACTIVE";
      return started(name, answer(pool));
    })
    .on("iam.projects.locations.workloadIdentityPools.operations.get", ({ params }) => ({
      body: operations.get(params.name ?? ""),
    }))
    .on("iam.projects.locations.workloadIdentityPools.providers.get", ({ params }) => ({
      body: answer(
        found(
          model.providers,
          providerName(params.name, "iam.workloadIdentityPoolProviders.get"),
          "provider",
        ),
      ),
    }))
    .on("iam.projects.locations.workloadIdentityPools.providers.create", ({ params, query, body }) => {
      const pool = poolName(params.parent, "iam.workloadIdentityPoolProviders.create");
      if (found(model.pools, pool, "pool").state === "DELETED")
        throw new ApiError("FAILED_PRECONDITION", `Pool ${pool} is deleted.`);
      const id =
        typeof query.workloadIdentityPoolProviderId === "string" ? query.workloadIdentityPoolProviderId : "";
      if (!ID.test(id))
        throw new ApiError(
          "INVALID_ARGUMENT",
          `Invalid workload_identity_pool_provider_id "${id}": 4-32 of [a-z0-9-], not gcp-.`,
        );
      const name = `${pool}/providers/${id}`;
      if (model.providers.has(name)) throw new ApiError("ALREADY_EXISTS", `Provider ${name} already exists.`);
      const provider: StoredProvider = {
        ...pickFields((body ?? {}) as Json, PROVIDER_FIELDS),
        name,
        state: "ACTIVE",
      };
      checkProvider(provider);
      model.providers.set(name, provider);
      return started(name, answer(provider));
    })
    .on("iam.projects.locations.workloadIdentityPools.providers.patch", ({ params, query, body }) => {
      const name = providerName(params.name, "iam.workloadIdentityPoolProviders.update");
      const provider = found(model.providers, name, "provider");
      if (provider.state === "DELETED")
        throw new ApiError("FAILED_PRECONDITION", `Provider ${name} is deleted: undelete it to update it.`);
      const next = structuredClone(provider);
      for (const path of maskOf(query, PROVIDER_FIELDS)) setField(next, path, (body ?? {}) as Json);
      checkProvider(next);
      model.providers.set(name, next);
      return started(name, answer(next));
    })
    .on("iam.projects.locations.workloadIdentityPools.providers.undelete", ({ params }) => {
      const name = providerName(params.name, "iam.workloadIdentityPoolProviders.undelete");
      const provider = found(model.providers, name, "provider");
      if (provider.state !== "DELETED")
        throw new ApiError("FAILED_PRECONDITION", `Provider ${name} is not deleted.`);
      provider.state = "ACTIVE";
      return started(name, answer(provider));
    })
    .on("iam.projects.locations.workloadIdentityPools.providers.operations.get", ({ params }) => ({
      body: operations.get(params.name ?? ""),
    }))
    .on("iam.projects.serviceAccounts.getIamPolicy", ({ params, query }) => {
      const policy = accountPolicy(model, params.resource);
      const asked = Number(query["options.requestedPolicyVersion"] ?? 0);
      if (![0, 1, 3].includes(asked))
        throw new ApiError("INVALID_ARGUMENT", `Invalid requested policy version: ${asked}.`);
      return { body: policyAnswer(policy) };
    })
    .on("iam.projects.serviceAccounts.setIamPolicy", ({ params, body }) => {
      const email = accountEmail(model, params.resource);
      const current = accountPolicy(model, params.resource);
      for (const change of model.concurrent.splice(0, 1)) {
        change(current);
        current.etag = nextEtag();
      }
      const sent = ((body ?? {}) as { policy?: Partial<StoredAccountPolicy> }).policy ?? {};
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
        for (const member of binding.members)
          if (!MEMBER.test(member))
            throw new ApiError("INVALID_ARGUMENT", `Invalid member ${member} in ${binding.role}.`);
      });
      const stored: StoredAccountPolicy = {
        version: bindings.some((b) => b.condition) ? 3 : 1,
        etag: nextEtag(),
        bindings: structuredClone(bindings as StoredBinding[]),
      };
      model.accountPolicies.set(email, stored);
      return { body: policyAnswer(stored) };
    });
  return model;
}

/** The fields of `source` among `fields`, copied. */
function pickFields(source: Json, fields: string[]): Json {
  return Object.fromEntries(
    fields.filter((f) => source[f] !== undefined).map((f) => [f, structuredClone(source[f])]),
  );
}

/** Sets (or clears, when the body leaves it out) one top-level masked field. */
function setField(target: object, path: string, body: Json): void {
  const record = target as Json;
  if (body[path] === undefined) delete record[path];
  else record[path] = structuredClone(body[path]);
}

function accountEmail(model: IamModel, resource: string | undefined): string {
  const email = (resource ?? "").split("/")[3] ?? "";
  if (!model.accountPolicies.has(email))
    throw new ApiError("NOT_FOUND", `Service account ${resource ?? ""} does not exist.`);
  return email;
}

function accountPolicy(model: IamModel, resource: string | undefined): StoredAccountPolicy {
  return model.accountPolicies.get(accountEmail(model, resource)) as StoredAccountPolicy;
}

function policyAnswer(policy: StoredAccountPolicy): Json {
  const out: Json = { version: policy.version, etag: policy.etag };
  if (policy.bindings.length > 0) out.bindings = structuredClone(policy.bindings);
  return out;
}
