/**
 * CI/CD, staged: writes the GitHub Actions workflow of an environment
 * (`.github/workflows/deploy-<env>.yml`: on a push to its branch, install, test and
 * `firebase deploy --project <project_id>`; with `promote_to`, a promotion job that ships the same
 * commit to that environment behind its GitHub environment), parses the YAML back and checks its
 * structure (jobs, steps, needs). The workflow is the artifact; nothing is pushed to GitHub.
 *
 * Approval: GitHub declares required reviewers on a GitHub environment (repository settings), not
 * in the workflow. So every job that reaches a project runs in the GitHub environment of that
 * project's environment (which holds its credentials), and the staged state lists which of those
 * GitHub environments must require reviewers: the promotion target when `require_approval` is on,
 * or the environment itself when it promotes nowhere.
 */
import { parse, stringify } from "yaml";
import type { Problem } from "../domain/problems.js";
import { liveNote, nothingStaged, problem, STAGED, settingPath } from "./rules-lint.js";
import type { Desired, DriverSpec, DriverTarget } from "./types.js";
import { sha256 } from "../domain/digest.js";

/** A GitHub environment the workflow runs jobs in, and whether it must require reviewers. */
export interface GithubEnvironmentPlan {
  name: string;
  required_reviewers: boolean;
}

/** The staged workflow. */
export interface CicdRelease {
  provider: string;
  workflow_file: string;
  branch: string;
  project_id: string;
  promote_to: string | null;
  require_approval: boolean;
  jobs: string[];
  github_environments: GithubEnvironmentPlan[];
  workflow_sha256: string;
}

/** What the structural check expects of a parsed workflow. */
export interface WorkflowExpectations {
  branch: string;
  project_id: string;
  promote_to: string | null;
}

export const workflowFile = (environment: string) => `.github/workflows/deploy-${environment}.yml`;

/** Git's rules for a branch name, beyond the characters the config schema already allows. */
function branchProblem(branch: string): string | undefined {
  if (
    branch.length === 0 ||
    branch.startsWith("-") ||
    branch.startsWith("/") ||
    branch.endsWith("/") ||
    branch.endsWith(".") ||
    branch.endsWith(".lock") ||
    branch.includes("..") ||
    branch.includes("//") ||
    branch.split("/").some((part) => part.startsWith("."))
  ) {
    return "a git branch name (no '..', '//', leading '-' or '.', trailing '/', '.' or '.lock')";
  }
  if (!/^[A-Za-z0-9._/-]+$/.test(branch)) return "a git branch name (letters, digits, '.', '_', '/', '-')";
  return undefined;
}

const setupSteps = [
  { name: "Check out", uses: "actions/checkout@v4" },
  { name: "Set up Node.js 22", uses: "actions/setup-node@v4", with: { "node-version": 22, cache: "npm" } },
  { name: "Install", run: "npm ci" },
];
const keyAuthStep = {
  name: "Authenticate to Google Cloud",
  uses: "google-github-actions/auth@v2",
  with: { credentials_json: "${{ secrets.FIREBASE_SERVICE_ACCOUNT }}" },
};

/** Workload Identity Federation for the workflow (live): no key, GitHub's OIDC token is exchanged. */
export interface WorkflowIdentity {
  /** `projects/<number>/locations/global/workloadIdentityPools/<pool>/providers/<provider>`. */
  workload_identity_provider: string;
  service_account: string;
}

const identityAuthStep = (identity: { workload_identity_provider: string; service_account: string }) => ({
  name: "Authenticate to Google Cloud (Workload Identity Federation, no key)",
  uses: "google-github-actions/auth@v2",
  with: {
    workload_identity_provider: identity.workload_identity_provider,
    service_account: identity.service_account,
  },
});
// A job that exchanges GitHub's OIDC token needs the id-token permission.
const OIDC_PERMISSIONS = { contents: "read", "id-token": "write" };

/** The workflow as a plain object, before it is printed as YAML; with `identity`, no key is used. */
export function buildWorkflow(input: {
  environment: string;
  project_id: string;
  branch: string;
  promote_to: string | null;
  identity?: WorkflowIdentity;
}): Record<string, unknown> {
  const identity = input.identity;
  const authStep = identity ? identityAuthStep(identity) : keyAuthStep;
  // The promotion target's GitHub environment names its own provider and deployer (its own apply made them).
  const promoteAuthStep = identity
    ? identityAuthStep({
        workload_identity_provider: "${{ vars.WORKLOAD_IDENTITY_PROVIDER }}",
        service_account: "${{ vars.DEPLOYER_SERVICE_ACCOUNT }}",
      })
    : keyAuthStep;
  const jobPermissions = identity ? { permissions: OIDC_PERMISSIONS } : {};
  const jobs: Record<string, unknown> = {
    test: {
      name: "Install and test",
      "runs-on": "ubuntu-latest",
      steps: [...setupSteps, { name: "Test", run: "npm test" }],
    },
    deploy: {
      name: `Release to ${input.environment} (${input.project_id})`,
      needs: ["test"],
      "runs-on": "ubuntu-latest",
      ...jobPermissions,
      environment: { name: input.environment },
      steps: [
        ...setupSteps,
        authStep,
        {
          name: `firebase deploy to ${input.project_id}`,
          run: `npx firebase deploy --project ${input.project_id} --non-interactive`,
        },
      ],
    },
  };
  if (input.promote_to) {
    jobs.promote = {
      name: `Promote to ${input.promote_to}`,
      needs: ["deploy"],
      if: "github.event_name == 'push'",
      "runs-on": "ubuntu-latest",
      ...jobPermissions,
      environment: { name: input.promote_to },
      steps: [
        ...setupSteps,
        promoteAuthStep,
        {
          name: `Check the project id of ${input.promote_to}`,
          run: 'test -n "${{ vars.FIREBASE_PROJECT_ID }}" || { echo "set the FIREBASE_PROJECT_ID variable of the GitHub environment"; exit 1; }',
        },
        {
          name: `firebase deploy to ${input.promote_to}`,
          run: "npx firebase deploy --project ${{ vars.FIREBASE_PROJECT_ID }} --non-interactive",
        },
      ],
    };
  }
  return {
    name: `Release ${input.environment}`,
    on: { push: { branches: [input.branch] }, workflow_dispatch: {} },
    permissions: { contents: "read" },
    concurrency: { group: `release-${input.environment}`, "cancel-in-progress": false },
    jobs,
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Checks a parsed workflow's structure: triggers, jobs with runs-on and steps, each step with
 * exactly one of run / uses, `needs` naming existing jobs without cycles, and the deploy and
 * promotion jobs doing what the settings say. Returns `[path, what is wrong]` pairs.
 */
export function checkWorkflow(workflow: unknown, expect: WorkflowExpectations): [string, string][] {
  const found: [string, string][] = [];
  if (!isRecord(workflow)) return [["$", "the workflow is not a mapping"]];
  if (typeof workflow.name !== "string" || workflow.name === "") found.push(["name", "no workflow name"]);
  const on = workflow.on;
  const branches = isRecord(on) && isRecord(on.push) ? on.push.branches : undefined;
  if (!Array.isArray(branches) || !branches.includes(expect.branch)) {
    found.push(["on.push.branches", `does not list the branch "${expect.branch}"`]);
  }
  const jobs = workflow.jobs;
  if (!isRecord(jobs) || Object.keys(jobs).length === 0) return [...found, ["jobs", "no jobs"]];
  const needsOf = new Map<string, string[]>();
  for (const [id, job] of Object.entries(jobs)) {
    if (!isRecord(job)) {
      found.push([`jobs.${id}`, "not a mapping"]);
      continue;
    }
    if (typeof job["runs-on"] !== "string") found.push([`jobs.${id}.runs-on`, "missing"]);
    const steps = job.steps;
    if (!Array.isArray(steps) || steps.length === 0) found.push([`jobs.${id}.steps`, "no steps"]);
    else
      steps.forEach((step, index) => {
        const has = isRecord(step) ? ["run", "uses"].filter((key) => typeof step[key] === "string") : [];
        if (has.length !== 1) found.push([`jobs.${id}.steps[${index}]`, "needs exactly one of run or uses"]);
      });
    const needs = job.needs === undefined ? [] : typeof job.needs === "string" ? [job.needs] : job.needs;
    if (!Array.isArray(needs) || !needs.every((need) => typeof need === "string")) {
      found.push([`jobs.${id}.needs`, "not a job id or a list of job ids"]);
      needsOf.set(id, []);
    } else {
      for (const need of needs)
        if (!(need in jobs)) found.push([`jobs.${id}.needs`, `names "${need}", no such job`]);
      needsOf.set(
        id,
        needs.filter((need) => need in jobs),
      );
    }
  }
  const visiting = new Set<string>();
  const done = new Set<string>();
  const cyclic = (id: string): boolean => {
    if (done.has(id)) return false;
    if (visiting.has(id)) return true;
    visiting.add(id);
    const result = (needsOf.get(id) ?? []).some(cyclic);
    visiting.delete(id);
    done.add(id);
    return result;
  };
  for (const id of needsOf.keys()) if (cyclic(id)) found.push([`jobs.${id}.needs`, "is part of a cycle"]);

  const runs = (job: unknown): string[] =>
    isRecord(job) && Array.isArray(job.steps)
      ? job.steps.flatMap((step) => (isRecord(step) && typeof step.run === "string" ? [step.run] : []))
      : [];
  const deploy = jobs.deploy;
  if (!deploy) found.push(["jobs.deploy", "missing"]);
  else {
    const commands = runs(deploy);
    for (const command of ["npm ci", "npm test"]) {
      const everywhere = [...commands, ...runs(jobs.test)];
      if (!everywhere.includes(command)) found.push(["jobs", `no step runs "${command}"`]);
    }
    if (!commands.some((command) => command.includes(`firebase deploy --project ${expect.project_id}`))) {
      found.push(["jobs.deploy.steps", `no step runs firebase deploy --project ${expect.project_id}`]);
    }
  }
  if (expect.promote_to) {
    const promote = jobs.promote;
    if (!isRecord(promote)) found.push(["jobs.promote", "missing"]);
    else {
      if (!(needsOf.get("promote") ?? []).includes("deploy"))
        found.push(["jobs.promote.needs", "does not need deploy"]);
      const environment = promote.environment;
      const name = isRecord(environment) ? environment.name : environment;
      if (name !== expect.promote_to) {
        found.push(["jobs.promote.environment", `is not the GitHub environment "${expect.promote_to}"`]);
      }
    }
  } else if (jobs.promote !== undefined) {
    found.push(["jobs.promote", "present, but the environment promotes nowhere"]);
  }
  return found;
}

/** Parses workflow text and checks it; `[path, what]` pairs, empty when it is fine. */
export function checkWorkflowText(text: string, expect: WorkflowExpectations): [string, string][] {
  let parsed: unknown;
  try {
    parsed = parse(text, { prettyErrors: true });
  } catch (error) {
    return [
      ["$", `not valid YAML: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`],
    ];
  }
  return checkWorkflow(parsed, expect);
}

/**
 * The workflow of an environment and its staged state, checked: what the staged driver records,
 * and (with `identity`) the live driver's artifact, authenticating without a key.
 */
export function buildCicdDesired(
  target: DriverTarget<"cicd">,
  identity?: WorkflowIdentity,
): Desired<CicdRelease> & { artifact: { name: string; content: string } } {
  const settings = target.settings;
  const environment = target.environment;
  const problems: Problem[] = [];
  const at = (...rest: (string | number)[]) => settingPath("cicd", ...rest);
  if (settings.provider !== "github-actions") {
    problems.push(problem(at("provider"), JSON.stringify(settings.provider), '"github-actions"'));
  }
  const badBranch = branchProblem(settings.branch);
  if (badBranch) problems.push(problem(at("branch"), JSON.stringify(settings.branch), badBranch));
  const promoteTo = settings.promote_to === "" ? null : settings.promote_to;
  if (promoteTo !== null && (promoteTo === environment.name || !/^[a-z][a-z0-9-]{1,29}$/.test(promoteTo))) {
    problems.push(problem(at("promote_to"), JSON.stringify(promoteTo), "another environment of the config"));
  }

  const reviewers: GithubEnvironmentPlan[] = [
    { name: environment.name, required_reviewers: settings.require_approval && promoteTo === null },
    ...(promoteTo ? [{ name: promoteTo, required_reviewers: settings.require_approval }] : []),
  ];
  const file = workflowFile(environment.name);
  const workflow = buildWorkflow({
    environment: environment.name,
    project_id: environment.project_id,
    branch: settings.branch,
    promote_to: promoteTo,
    ...(identity ? { identity } : {}),
  });
  const gates = reviewers.filter((entry) => entry.required_reviewers).map((entry) => entry.name);
  const header = [
    `# Generated by the orchestration control plane for environment ${environment.name} (${environment.project_id}).`,
    ...(identity
      ? [
          "# Staged artifact: commit it to use it (nothing is pushed to GitHub). No key: GitHub's OIDC token is exchanged",
          `# through ${identity.workload_identity_provider} for ${identity.service_account}.`,
          ...(promoteTo
            ? [
                `# The GitHub environment ${promoteTo} needs the variables FIREBASE_PROJECT_ID, WORKLOAD_IDENTITY_PROVIDER and DEPLOYER_SERVICE_ACCOUNT.`,
              ]
            : []),
        ]
      : [
          "# Staged artifact: commit it to use it. Each GitHub environment used below needs the secret FIREBASE_SERVICE_ACCOUNT.",
          ...(promoteTo
            ? [`# The GitHub environment ${promoteTo} also needs the variable FIREBASE_PROJECT_ID.`]
            : []),
        ]),
    gates.length > 0
      ? `# Approval: give the GitHub environment(s) ${gates.join(", ")} required reviewers.`
      : "# No approval gate.",
  ].join("\n");
  const content = `${header}\n${stringify(workflow, { lineWidth: 0, aliasDuplicateObjects: false })}`;
  for (const [where, what] of checkWorkflowText(content, {
    branch: settings.branch,
    project_id: environment.project_id,
    promote_to: promoteTo,
  })) {
    problems.push(problem(`${file}: ${where}`, what, "a valid GitHub Actions workflow"));
  }

  const state: CicdRelease = {
    provider: settings.provider,
    workflow_file: file,
    branch: settings.branch,
    project_id: environment.project_id,
    promote_to: promoteTo,
    require_approval: settings.require_approval,
    jobs: Object.keys(workflow.jobs as Record<string, unknown>),
    github_environments: reviewers,
    workflow_sha256: sha256(content),
  };
  return { state, problems, artifact: { name: file, content } };
}

export const cicdDriver: DriverSpec<"cicd", CicdRelease> = {
  kind: "cicd",
  ...STAGED,

  desired(target) {
    return Promise.resolve(buildCicdDesired(target));
  },

  verify(target, _io, release) {
    if (!release) return Promise.resolve(nothingStaged(target));
    const suffix = liveNote(target.environment);
    const recorded = release.state as Partial<CicdRelease> | undefined;
    const content = release.artifact?.content;
    if (!recorded || content === undefined) {
      return Promise.resolve({
        status: "degraded" as const,
        details: `staged release ${release.number} holds no workflow${suffix}`,
      });
    }
    const found = checkWorkflowText(content, {
      branch: recorded.branch ?? "",
      project_id: recorded.project_id ?? "",
      promote_to: recorded.promote_to ?? null,
    });
    if (sha256(content) !== recorded.workflow_sha256)
      found.push(["$", "the workflow text does not match its digest"]);
    if (found.length > 0) {
      return Promise.resolve({
        status: "degraded" as const,
        details: `staged workflow ${release.artifact?.name ?? "?"} (release ${release.number}): ${found.map(([where, what]) => `${where} ${what}`).join("; ")}${suffix}`,
      });
    }
    return Promise.resolve({
      status: "healthy" as const,
      details: `staged workflow ${release.artifact?.name ?? "?"} (release ${release.number}) parses and is well formed; nothing pushed to GitHub${suffix}`,
    });
  },
};
