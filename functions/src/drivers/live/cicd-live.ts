/**
 * CI/CD, live: the GitHub Actions workflow of an environment (the staged driver's, cicd.ts, but
 * authenticating through Workload Identity Federation: no key, no secret) plus what it needs in the
 * environment's project, through IAM v1: a Workload Identity pool, an OIDC provider for GitHub
 * Actions in it whose attribute condition admits one repository only, and the binding that lets that
 * repository's principalSet impersonate the deployer service account (`roles/iam.workloadIdentityUser`
 * on the account, a read-modify-write under the policy's etag as security-live does for the
 * project). The workflow stays an artifact: the user commits it, nothing is pushed to GitHub. Its
 * digest is kept in the provider's description, so a plan sees a changed workflow and a second
 * apply finds nothing to do.
 *
 * Google names pools with the project's number, and google-github-actions/auth needs that number in
 * the provider's name (a project id is refused as an invalid audience), so the number is a setting,
 * checked against the pool Google answers. A pool or provider soft-deleted within 30 days is
 * undeleted (its id cannot be created again); one the config no longer names is left in place.
 */
import type { iam_v1 } from "googleapis/build/src/apis/iam/v1.js";
import { NonRetriableError } from "../../domain/errors.js";
import type { Problem } from "../../domain/problems.js";
import { buildCicdDesired } from "../cicd.js";
import { problem, settingPath } from "../rules-lint.js";
import type { DriverSpec, DriverTarget } from "../types.js";
import {
  awaitOperation,
  backoffMs,
  callGoogle,
  callGoogleData,
  iamApi,
  requireAccess,
  type GoogleAccess,
  type OperationBudget,
} from "./google.js";
import { sha256, stableJson } from "../../domain/digest.js";

/** The pool's settings we manage; `project_number` is the one in the name Google answers. */
export interface LivePool {
  project_number: string;
  display_name: string;
  description: string;
  disabled: boolean;
  state: string;
}

/** The provider's settings we manage (its description carries the workflow digest: see `workflow`). */
export interface LiveProvider {
  display_name: string;
  issuer_uri: string;
  allowed_audiences: string[];
  attribute_mapping: Record<string, string>;
  attribute_condition: string;
  disabled: boolean;
  state: string;
}

/** Who may impersonate the deployer: our principalSet members of the role on the service account. */
export interface LiveBinding {
  service_account: string;
  /** False when IAM has no such service account (it must be created first). */
  exists: boolean;
  role: string;
  members: string[];
}

/** What the project holds of ours; `pool` / `provider` are null when Google has none. */
export interface CicdLiveState {
  pool_id: string;
  provider_id: string;
  /** The workflow the provider serves: its file and the first 16 hex digits of its SHA-256. */
  workflow: { file: string; digest: string } | null;
  pool: LivePool | null;
  provider: LiveProvider | null;
  binding: LiveBinding;
}

/** The provider id in the pool (one GitHub provider per pool). */
export const PROVIDER_ID = "github";
export const GITHUB_ISSUER = "https://token.actions.githubusercontent.com";
export const WORKLOAD_IDENTITY_USER = "roles/iam.workloadIdentityUser";
/** Read-modify-write rounds of the service account policy before a run of concurrent changes is left to the engine's retry. */
export const ACCOUNT_POLICY_ATTEMPTS = 5;

const POOL_GET = "iam.workloadIdentityPools.get";
const POOL_CREATE = "iam.workloadIdentityPools.create";
const POOL_UPDATE = "iam.workloadIdentityPools.update";
const POOL_UNDELETE = "iam.workloadIdentityPools.undelete";
const PROVIDER_GET = "iam.workloadIdentityPoolProviders.get";
const PROVIDER_CREATE = "iam.workloadIdentityPoolProviders.create";
const PROVIDER_UPDATE = "iam.workloadIdentityPoolProviders.update";
const PROVIDER_UNDELETE = "iam.workloadIdentityPoolProviders.undelete";
const POLICY_GET = "iam.serviceAccounts.getIamPolicy";
const POLICY_SET = "iam.serviceAccounts.setIamPolicy";

const REPOSITORY = /^[A-Za-z0-9][A-Za-z0-9-]{0,38}\/[A-Za-z0-9._-]{1,100}$/;
const POOL_ID = /^(?!gcp-)[a-z0-9-]{4,32}$/;
const ACCOUNT = /^[a-z][a-z0-9-]{4,28}[a-z0-9]@([a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com$/;
const NUMBER = /^[1-9][0-9]{5,19}$/;
const MAPPING = { "google.subject": "assertion.sub", "attribute.repository": "assertion.repository" };

const at = (field: string) => settingPath("cicd", field);
const locationOf = (project: string) => `projects/${project}/locations/global`;
const poolPath = (project: string, pool: string) => `${locationOf(project)}/workloadIdentityPools/${pool}`;
const providerPath = (project: string, pool: string, provider: string) =>
  `${poolPath(project, pool)}/providers/${provider}`;
const accountResource = (email: string) =>
  `projects/${ACCOUNT.exec(email)?.[1] ?? "-"}/serviceAccounts/${email}`;
/** The principalSet of one repository's workflows, as IAM names it (with the project number). */
export const repositoryPrincipal = (number: string, pool: string, repository: string) =>
  `principalSet://iam.googleapis.com/${poolPath(number, pool)}/attribute.repository/${repository}`;
const oursPrefix = (number: string, pool: string) => `://iam.googleapis.com/${poolPath(number, pool)}/`;
const isOurs = (member: string, number: string, pool: string) =>
  /^principal(Set)?:/.test(member) && member.includes(oursPrefix(number, pool));
const conditionFor = (repository: string) => `assertion.repository == '${repository}'`;

/**
 * Why an attribute condition would admit more than one repository's workflows, or undefined when it
 * requires `assertion.repository` (or `attribute.repository`) to equal exactly one `owner/name`: a
 * conjunction, no `||`, one equality on the repository. Answers the repository it admits too.
 */
export function conditionProblem(condition: string): { problem?: string; repository?: string } {
  if (condition.trim() === "")
    return { problem: "no condition: every GitHub repository's workflows would be admitted" };
  if (/\|\||\?|!(?!=)/.test(condition))
    return { problem: "a disjunction, negation or choice: it may admit other repositories" };
  const equalities = condition
    .split("&&")
    .map((part) =>
      part
        .trim()
        .replace(/^\((.*)\)$/, "$1")
        .trim(),
    )
    .map((part) => /^(?:assertion|attribute)\.repository\s*==\s*(['"])([^'"]+)\1$/.exec(part)?.[2]);
  const repositories = equalities.filter((r): r is string => r !== undefined);
  if (repositories.length !== 1 || !REPOSITORY.test(repositories[0] ?? ""))
    return {
      problem:
        "no single `assertion.repository == 'owner/name'` clause: it does not restrict to one repository",
    };
  return { repository: repositories[0] };
}

const workflowDescription = (workflow: { file: string; digest: string }) =>
  `GitHub Actions workflow ${workflow.file} (sha256 ${workflow.digest}), managed by the orchestration control plane`;
const workflowOf = (description: string | null | undefined): CicdLiveState["workflow"] => {
  const found = /workflow (\S+) \(sha256 ([0-9a-f]{16})\)/.exec(description ?? "");
  return found ? { file: found[1] ?? "", digest: found[2] ?? "" } : null;
};

const poolOf = (pool: iam_v1.Schema$WorkloadIdentityPool): LivePool => ({
  project_number: (pool.name ?? "").split("/")[1] ?? "",
  display_name: pool.displayName ?? "",
  description: pool.description ?? "",
  disabled: pool.disabled ?? false,
  state: pool.state ?? "STATE_UNSPECIFIED",
});

const providerOf = (provider: iam_v1.Schema$WorkloadIdentityPoolProvider): LiveProvider => ({
  display_name: provider.displayName ?? "",
  issuer_uri: provider.oidc?.issuerUri ?? "",
  allowed_audiences: provider.oidc?.allowedAudiences ?? [],
  attribute_mapping: Object.fromEntries(
    Object.entries(provider.attributeMapping ?? {}).sort(([a], [b]) => a.localeCompare(b)),
  ),
  attribute_condition: provider.attributeCondition ?? "",
  disabled: provider.disabled ?? false,
  state: provider.state ?? "STATE_UNSPECIFIED",
});

/** The live problems of the settings, each naming its field; [] when live can go ahead. */
function settingProblems(target: DriverTarget<"cicd">): Problem[] {
  const s = target.settings;
  const problems: Problem[] = [];
  if (!REPOSITORY.test(s.github_repository))
    problems.push(
      problem(
        at("github_repository"),
        JSON.stringify(s.github_repository),
        "the owner/name of the one repository whose workflows may deploy (a GitHub provider without it admits every repository's workflows)",
      ),
    );
  if (!POOL_ID.test(s.workload_identity_pool))
    problems.push(
      problem(
        at("workload_identity_pool"),
        JSON.stringify(s.workload_identity_pool),
        "a pool id: 4-32 of a-z, 0-9 and '-', not starting with gcp-",
      ),
    );
  if (!ACCOUNT.test(s.deployer_service_account))
    problems.push(
      problem(
        at("deployer_service_account"),
        JSON.stringify(s.deployer_service_account),
        "the email of an existing service account the workflow deploys as (NAME@PROJECT.iam.gserviceaccount.com), holding the roles firebase deploy needs",
      ),
    );
  if (!NUMBER.test(s.project_number))
    problems.push(
      problem(
        at("project_number"),
        JSON.stringify(s.project_number),
        `the number of project ${target.environment.project_id} (gcloud projects describe ${target.environment.project_id} --format='value(projectNumber)'): Google names pools with it and google-github-actions/auth refuses a project id`,
      ),
    );
  return problems;
}

/** Refusals of a state about to be applied (a rollback's included), before anything is written. */
function stateProblems(state: CicdLiveState): string[] {
  const out: string[] = [];
  const condition = state.provider ? conditionProblem(state.provider.attribute_condition) : {};
  if (condition.problem)
    out.push(
      `${at("github_repository")}: the provider's attribute condition ${JSON.stringify(state.provider?.attribute_condition)} is refused: ${condition.problem} (an unrestricted GitHub provider lets any repository's workflow in)`,
    );
  const number = state.pool?.project_number ?? "";
  if (!NUMBER.test(number))
    out.push(`${at("project_number")}: ${JSON.stringify(number)} is no project number`);
  const foreign = state.binding.members.filter(
    (m) =>
      !isOurs(m, number, state.pool_id) ||
      (condition.repository !== undefined && !m.endsWith(`/attribute.repository/${condition.repository}`)),
  );
  if (foreign.length > 0)
    out.push(
      `${at("github_repository")}: the members ${foreign.join(", ")} are not the principalSet of the repository the provider admits`,
    );
  return out;
}

async function readPool(access: GoogleAccess, api: iam_v1.Iam, name: string) {
  const answer = await callGoogle(
    access,
    `reading Workload Identity pool ${name}`,
    POOL_GET,
    () => api.projects.locations.workloadIdentityPools.get({ name }),
    [404],
  );
  return answer.ok ? answer.data : undefined;
}

async function readProvider(access: GoogleAccess, api: iam_v1.Iam, name: string) {
  const answer = await callGoogle(
    access,
    `reading Workload Identity provider ${name}`,
    PROVIDER_GET,
    () => api.projects.locations.workloadIdentityPools.providers.get({ name }),
    [404],
  );
  return answer.ok ? answer.data : undefined;
}

async function readAccountPolicy(
  access: GoogleAccess,
  api: iam_v1.Iam,
  email: string,
): Promise<iam_v1.Schema$Policy | undefined> {
  const resource = accountResource(email);
  // Version 3, so conditional bindings come back whole and are written back whole.
  const answer = await callGoogle(
    access,
    `reading the IAM policy of service account ${email}`,
    POLICY_GET,
    () => api.projects.serviceAccounts.getIamPolicy({ resource, "options.requestedPolicyVersion": 3 }),
    [404],
  );
  return answer.ok ? answer.data : undefined;
}

const ourMembers = (policy: iam_v1.Schema$Policy, role: string, number: string, pool: string): string[] =>
  [
    ...new Set(
      (policy.bindings ?? [])
        .filter((b) => b.role === role && !b.condition)
        .flatMap((b) => b.members ?? [])
        .filter((m) => isOurs(m, number, pool)),
    ),
  ].sort();

/** What IAM holds of a state's pool, provider and binding, read with GET calls only. */
async function readLive(
  access: GoogleAccess,
  api: iam_v1.Iam,
  project: string,
  want: Pick<CicdLiveState, "pool_id" | "provider_id"> & { number: string; account: string },
): Promise<CicdLiveState> {
  const pool = await readPool(access, api, poolPath(project, want.pool_id));
  const provider = pool
    ? await readProvider(access, api, providerPath(project, want.pool_id, want.provider_id))
    : undefined;
  const policy = await readAccountPolicy(access, api, want.account);
  return {
    pool_id: want.pool_id,
    provider_id: want.provider_id,
    workflow: provider ? workflowOf(provider.description) : null,
    pool: pool ? poolOf(pool) : null,
    provider: provider ? providerOf(provider) : null,
    binding: {
      service_account: want.account,
      exists: policy !== undefined,
      role: WORKLOAD_IDENTITY_USER,
      members: policy ? ourMembers(policy, WORKLOAD_IDENTITY_USER, want.number, want.pool_id) : [],
    },
  };
}

// Key order is no difference (Google answers maps in its own order).
const same = (a: unknown, b: unknown) => stableJson(a) === stableJson(b);

/** The update mask and body that turn `live` into `wanted`, field by field. */
function poolPatch(
  live: LivePool,
  wanted: LivePool,
): { mask: string[]; body: iam_v1.Schema$WorkloadIdentityPool } {
  const body: iam_v1.Schema$WorkloadIdentityPool = {};
  if (live.display_name !== wanted.display_name) body.displayName = wanted.display_name;
  if (live.description !== wanted.description) body.description = wanted.description;
  if (live.disabled !== wanted.disabled) body.disabled = wanted.disabled;
  const mask = Object.keys(body);
  return { mask, body };
}

function providerBody(
  wanted: LiveProvider,
  workflow: CicdLiveState["workflow"],
): iam_v1.Schema$WorkloadIdentityPoolProvider {
  return {
    displayName: wanted.display_name,
    ...(workflow ? { description: workflowDescription(workflow) } : {}),
    disabled: wanted.disabled,
    attributeMapping: wanted.attribute_mapping,
    attributeCondition: wanted.attribute_condition,
    oidc: {
      issuerUri: wanted.issuer_uri,
      ...(wanted.allowed_audiences.length > 0 ? { allowedAudiences: wanted.allowed_audiences } : {}),
    },
  };
}

function providerMask(live: CicdLiveState, wanted: CicdLiveState): string[] {
  const had = live.provider;
  const want = wanted.provider;
  if (!had || !want) return [];
  const mask: string[] = [];
  if (had.display_name !== want.display_name) mask.push("displayName");
  if (wanted.workflow && !same(live.workflow, wanted.workflow)) mask.push("description");
  if (had.disabled !== want.disabled) mask.push("disabled");
  if (!same(had.attribute_mapping, want.attribute_mapping)) mask.push("attributeMapping");
  if (had.attribute_condition !== want.attribute_condition) mask.push("attributeCondition");
  if (had.issuer_uri !== want.issuer_uri || !same(had.allowed_audiences, want.allowed_audiences))
    mask.push("oidc");
  return mask;
}

/**
 * Read the service account's policy, set our principalSet members of the role, write with the etag
 * read; a concurrent change (409 ABORTED) is read again and redone on top of it. Members of the
 * role that are not ours, other roles and conditional bindings are written back untouched.
 */
async function applyBinding(access: GoogleAccess, api: iam_v1.Iam, state: CicdLiveState) {
  const email = state.binding.service_account;
  const resource = accountResource(email);
  const number = state.pool?.project_number ?? "";
  const wanted = [...state.binding.members].sort();
  for (let attempt = 1; ; attempt += 1) {
    const policy = await readAccountPolicy(access, api, email);
    if (!policy)
      throw new NonRetriableError(
        `${at("deployer_service_account")}: service account ${email} does not exist; create it (gcloud iam service-accounts create ${email.split("@")[0] ?? ""} --project ${ACCOUNT.exec(email)?.[1] ?? "?"}), grant it the roles firebase deploy needs, then apply again`,
      );
    if (same(ourMembers(policy, state.binding.role, number, state.pool_id), wanted)) return;
    const bindings: iam_v1.Schema$Binding[] = [];
    let placed = false;
    for (const binding of policy.bindings ?? []) {
      if (binding.role !== state.binding.role || binding.condition) {
        bindings.push(binding);
        continue;
      }
      const others = (binding.members ?? []).filter((m) => !isOurs(m, number, state.pool_id));
      const members = placed ? others : [...others, ...wanted];
      placed = true;
      if (members.length > 0) bindings.push({ role: binding.role, members });
    }
    if (!placed && wanted.length > 0) bindings.push({ role: state.binding.role, members: wanted });
    const conditional = bindings.some((b) => b.condition);
    const written = await callGoogle(
      access,
      `setting the IAM policy of service account ${email}`,
      POLICY_SET,
      () =>
        api.projects.serviceAccounts.setIamPolicy({
          resource,
          requestBody: {
            policy: { bindings, etag: policy.etag ?? null, version: conditional ? 3 : (policy.version ?? 1) },
          },
        }),
      [409],
    );
    if (written.ok) return;
    if (attempt >= ACCOUNT_POLICY_ATTEMPTS)
      throw new Error(
        `setting the IAM policy of service account ${email}: the policy changed under each of ${attempt} read-modify-writes (HTTP 409 ${written.failure.code ?? ""}: ${written.failure.message}); left to the engine's retry`,
      );
    await access.sleep(backoffMs(written.failure, attempt, () => access.random()));
  }
}

/** The live half of the cicd driver, waiting for IAM's operations within `budget`. */
export function createLiveCicdSpec(budget?: OperationBudget): DriverSpec<"cicd", CicdLiveState> {
  const poolOperation = (access: GoogleAccess, api: iam_v1.Iam, what: string, op: iam_v1.Schema$Operation) =>
    awaitOperation(
      access,
      what,
      POOL_GET,
      op,
      (name) => api.projects.locations.workloadIdentityPools.operations.get({ name }),
      budget,
    );
  const providerOperation = (
    access: GoogleAccess,
    api: iam_v1.Iam,
    what: string,
    op: iam_v1.Schema$Operation,
  ) =>
    awaitOperation(
      access,
      what,
      PROVIDER_GET,
      op,
      (name) => api.projects.locations.workloadIdentityPools.providers.operations.get({ name }),
      budget,
    );

  const desired = (target: DriverTarget<"cicd">) => {
    const s = target.settings;
    const problems = settingProblems(target);
    const provider = providerPath(s.project_number, s.workload_identity_pool, PROVIDER_ID);
    const staged = buildCicdDesired(target, {
      workload_identity_provider: provider,
      service_account: s.deployer_service_account,
    });
    const condition = conditionFor(s.github_repository);
    const state: CicdLiveState = {
      pool_id: s.workload_identity_pool,
      provider_id: PROVIDER_ID,
      workflow: { file: staged.artifact.name, digest: sha256(staged.artifact.content).slice(0, 16) },
      pool: {
        project_number: s.project_number,
        display_name: "GitHub Actions",
        description: "GitHub Actions workflows deploying through the orchestration control plane",
        disabled: false,
        state: "ACTIVE",
      },
      provider: {
        display_name: "GitHub Actions",
        issuer_uri: GITHUB_ISSUER,
        allowed_audiences: [],
        attribute_mapping: MAPPING,
        attribute_condition: condition,
        disabled: false,
        state: "ACTIVE",
      },
      binding: {
        service_account: s.deployer_service_account,
        exists: true,
        role: WORKLOAD_IDENTITY_USER,
        members: [repositoryPrincipal(s.project_number, s.workload_identity_pool, s.github_repository)],
      },
    };
    // With the settings sound, the generated condition is checked as a rollback's would be.
    if (problems.length === 0)
      for (const refused of stateProblems(state))
        problems.push(problem(at("github_repository"), JSON.stringify(condition), refused));
    return { state, problems: [...staged.problems, ...problems], artifact: staged.artifact };
  };

  return {
    kind: "cicd",
    mode: () => "live",

    desired: (target) => Promise.resolve(desired(target)),

    async observe(target, io) {
      const access = requireAccess(io.google, "cicd");
      const s = target.settings;
      return readLive(access, await iamApi(access), target.environment.project_id, {
        pool_id: s.workload_identity_pool,
        provider_id: PROVIDER_ID,
        number: s.project_number,
        account: s.deployer_service_account,
      });
    },

    /** Pool, then provider (each created, undeleted or patched, awaiting the operation), then the binding. */
    async apply(target, state, io) {
      const access = requireAccess(io.google, "cicd");
      const refused = stateProblems(state);
      if (refused.length > 0)
        throw new NonRetriableError(`refused before writing anything: ${refused.join("; ")}`);
      const api = await iamApi(access);
      const project = target.environment.project_id;
      const wantPool = state.pool;
      const wantProvider = state.provider;
      if (!wantPool || !wantProvider)
        throw new NonRetriableError("the state names no pool or provider to keep");
      const number = wantPool.project_number;
      const live = await readLive(access, api, project, {
        pool_id: state.pool_id,
        provider_id: state.provider_id,
        number,
        account: state.binding.service_account,
      });
      const poolName = poolPath(project, state.pool_id);
      if (live.pool && live.pool.project_number !== number)
        throw new NonRetriableError(
          `${at("project_number")}: Google names pool ${state.pool_id} of ${project} with project number ${live.pool.project_number}, the config says ${number}; set it to ${live.pool.project_number} (nothing was changed)`,
        );
      if (!live.binding.exists)
        throw new NonRetriableError(
          `${at("deployer_service_account")}: service account ${state.binding.service_account} does not exist; create it and grant it the roles firebase deploy needs, then apply again (nothing was changed)`,
        );

      if (!live.pool) {
        const what = `creating Workload Identity pool ${poolName}`;
        const created = await callGoogle(
          access,
          what,
          POOL_CREATE,
          () =>
            api.projects.locations.workloadIdentityPools.create({
              parent: locationOf(project),
              workloadIdentityPoolId: state.pool_id,
              requestBody: {
                displayName: wantPool.display_name,
                description: wantPool.description,
                disabled: wantPool.disabled,
              },
            }),
          [409],
        );
        if (!created.ok)
          throw new NonRetriableError(
            `${what}: HTTP 409: ${created.failure.message} (a pool soft-deleted less than 30 days ago keeps its id, and only a project owner may purge it sooner: undelete it, or name another pool in ${at("workload_identity_pool")})`,
          );
        const made = await poolOperation(access, api, what, created.data);
        const madeNumber = typeof made.name === "string" ? made.name.split("/")[1] : undefined;
        if (madeNumber !== undefined && madeNumber !== number)
          throw new NonRetriableError(
            `${at("project_number")}: Google created pool ${state.pool_id} in project number ${madeNumber}, the config says ${number}; set it to ${madeNumber} and apply again`,
          );
      } else {
        if (live.pool.state === "DELETED") {
          const what = `undeleting Workload Identity pool ${poolName} (soft-deleted; its id cannot be created again for 30 days)`;
          const op = await callGoogleData(access, what, POOL_UNDELETE, () =>
            api.projects.locations.workloadIdentityPools.undelete({ name: poolName, requestBody: {} }),
          );
          await poolOperation(access, api, what, op);
        }
        const patch = poolPatch(live.pool, wantPool);
        if (patch.mask.length > 0) {
          const what = `updating ${patch.mask.join(", ")} of Workload Identity pool ${poolName}`;
          const op = await callGoogleData(access, what, POOL_UPDATE, () =>
            api.projects.locations.workloadIdentityPools.patch({
              name: poolName,
              updateMask: patch.mask.join(","),
              requestBody: patch.body,
            }),
          );
          await poolOperation(access, api, what, op);
        }
      }

      const providerName = providerPath(project, state.pool_id, state.provider_id);
      const body = providerBody(wantProvider, state.workflow);
      if (!live.provider) {
        const what = `creating Workload Identity provider ${providerName}`;
        const op = await callGoogleData(access, what, PROVIDER_CREATE, () =>
          api.projects.locations.workloadIdentityPools.providers.create({
            parent: poolName,
            workloadIdentityPoolProviderId: state.provider_id,
            requestBody: body,
          }),
        );
        await providerOperation(access, api, what, op);
      } else {
        if (live.provider.state === "DELETED") {
          const what = `undeleting Workload Identity provider ${providerName} (soft-deleted)`;
          const op = await callGoogleData(access, what, PROVIDER_UNDELETE, () =>
            api.projects.locations.workloadIdentityPools.providers.undelete({
              name: providerName,
              requestBody: {},
            }),
          );
          await providerOperation(access, api, what, op);
        }
        const mask = providerMask(live, state);
        if (mask.length > 0) {
          const what = `updating ${mask.join(", ")} of Workload Identity provider ${providerName}`;
          const op = await callGoogleData(access, what, PROVIDER_UPDATE, () =>
            api.projects.locations.workloadIdentityPools.providers.patch({
              name: providerName,
              updateMask: mask.join(","),
              requestBody: body,
            }),
          );
          await providerOperation(access, api, what, op);
        }
      }

      await applyBinding(access, api, state);
    },

    async verify(target, io, release) {
      const access = requireAccess(io.google, "cicd");
      // A release recorded while the environment was staged holds no live state to compare with.
      const recorded = release?.mode === "live" ? (release.state as CicdLiveState) : undefined;
      const wanted = recorded ?? desired(target).state;
      const number = wanted.pool?.project_number ?? target.settings.project_number;
      const live = await readLive(access, await iamApi(access), target.environment.project_id, {
        pool_id: wanted.pool_id,
        provider_id: wanted.provider_id,
        number,
        account: wanted.binding.service_account,
      });
      const provider = providerPath(number, wanted.pool_id, wanted.provider_id);
      if (!live.pool || !live.provider || live.pool.state !== "ACTIVE" || live.provider.state !== "ACTIVE")
        return {
          status: recorded ? "down" : "degraded",
          details: `Google reports no active ${live.pool?.state === "ACTIVE" ? "provider" : "pool"} for ${provider}${recorded ? ` though release ${release?.number ?? "?"} made it (deleted outside the control plane?)` : "; apply to create it"}`,
        };
      const drifted = (["workflow", "pool", "provider", "binding"] as const).filter(
        (key) => !same(live[key], wanted[key]),
      );
      if (drifted.length > 0)
        return {
          status: "degraded",
          details: `${drifted.join(", ")} of ${provider} differ from ${recorded ? `release ${release?.number ?? "?"}` : "the config"} (changed outside the control plane?)`,
        };
      return {
        status: "healthy",
        details: `Google reports ${provider} admitting only ${conditionProblem(live.provider.attribute_condition).repository ?? "?"}, whose workflows may impersonate ${wanted.binding.service_account}; the workflow ${wanted.workflow?.file ?? "?"} is an artifact to commit (nothing pushed to GitHub)`,
      };
    },
  };
}

/** The live cicd spec with the default operation budget. */
export const liveCicdSpec = createLiveCicdSpec();
