/**
 * Security, live: the IAM bindings the config declares, on the environment's project through Cloud
 * Resource Manager v3. Each declared role is owned: its unconditional binding holds exactly the
 * configured members (others the plan names are removed from it); every other binding, conditional
 * bindings of owned roles and the audit configs are sent back untouched. Each write is a
 * read-modify-write guarded by the policy's etag: a concurrent change (409 ABORTED) is read again
 * and retried, a bounded number of times. Roles whose ownership would strip Google's service agents
 * or the deployer's own access (basic roles, IAM-granting roles, service agent roles) are refused.
 * App Check: the enforcement mode of each declared product App Check v1 covers (Firestore, Cloud
 * Storage for Firebase) through `projects.services` (`off` OFF, `monitor` UNENFORCED, `enforce`
 * ENFORCED); Auth and Functions are not App Check v1 services and are left to the console and code.
 */
import type { cloudresourcemanager_v3 } from "googleapis/build/src/apis/cloudresourcemanager/v3.js";
import type { firebaseappcheck_v1 } from "googleapis/build/src/apis/firebaseappcheck/v1.js";
import type { ResolvedEnvironment } from "../../domain/config-schema.js";
import type { Problem } from "../../domain/problems.js";
import { problem, settingPath, settingsOf } from "../rules-lint.js";
import { securityDriver } from "../security.js";
import type { DriverSpec, DriverTarget } from "../types.js";
import {
  appCheckApi,
  backoffMs,
  callGoogle,
  callGoogleData,
  requireAccess,
  resourceManagerApi,
  type GoogleAccess,
} from "./google.js";

/** What the project holds of ours: role -> its members (sorted), for each role the config owns. */
export interface SecurityLiveState {
  iam_bindings: Record<string, string[]>;
  /** App Check service id -> enforcement mode, for each declared product App Check v1 covers. */
  app_check: Record<string, EnforcementMode>;
}

/** GoogleFirebaseAppcheckV1Service.enforcementMode. */
export type EnforcementMode = "OFF" | "UNENFORCED" | "ENFORCED";

/** The products App Check v1 enforces through `projects.services`, by their service id. */
export const APP_CHECK_SERVICE: Record<string, string> = {
  firestore: "firestore.googleapis.com",
  storage: "firebasestorage.googleapis.com",
};
const MODE: Record<"off" | "monitor" | "enforce", EnforcementMode> = {
  off: "OFF",
  monitor: "UNENFORCED",
  enforce: "ENFORCED",
};
const LEVEL: Record<EnforcementMode, number> = { OFF: 0, UNENFORCED: 1, ENFORCED: 2 };
const APP_CHECK_GET = "firebaseappcheck.services.get";
const APP_CHECK_UPDATE = "firebaseappcheck.services.update";

/** Read-modify-write rounds before a run of concurrent changes is given up on (left to the engine's retry). */
export const IAM_WRITE_ATTEMPTS = 5;

const GET = "resourcemanager.projects.getIamPolicy";
const SET = "resourcemanager.projects.setIamPolicy";

/** Roles the driver never owns, and why. */
const REFUSED_ROLES: Record<string, string> = {
  "roles/owner": "a basic role",
  "roles/editor": "a basic role (Google's own service agents hold it)",
  "roles/viewer": "a basic role",
  "roles/resourcemanager.projectIamAdmin": "a role that grants IAM itself (the deployer's own access)",
  "roles/iam.securityAdmin": "a role that grants IAM itself (the deployer's own access)",
};
const EMAIL = /^[^@\s:]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$/;
const DOMAIN = /^[a-z0-9-]+(\.[a-z0-9-]+)+$/;

/** Why a member string is refused, or undefined when it is a principal IAM accepts. */
function memberProblem(member: string): string | undefined {
  const colon = member.indexOf(":");
  const kind = colon < 0 ? "" : member.slice(0, colon);
  const id = member.slice(colon + 1);
  if (member === "allUsers" || member === "allAuthenticatedUsers") return "anyone on the internet";
  if (kind === "user" || kind === "serviceAccount" || kind === "group")
    return EMAIL.test(id) ? undefined : `no email address after ${kind}:`;
  if (kind === "domain") return DOMAIN.test(id) ? undefined : "no domain name after domain:";
  return "no user:, serviceAccount:, group: or domain: prefix";
}

/** The live problems of the configured bindings, on top of the staged checks (role and member shapes, open rules). */
function bindingProblems(target: DriverTarget<"security">): Problem[] {
  const problems: Problem[] = [];
  target.settings.iam_bindings.forEach((binding, index) => {
    const at = (...rest: (string | number)[]) => settingPath("security", "iam_bindings", index, ...rest);
    const refused = REFUSED_ROLES[binding.role];
    if (refused)
      problems.push(
        problem(
          at("role"),
          `${JSON.stringify(binding.role)}, ${refused}`,
          "a predefined role of narrower reach (roles/firebase.viewer, roles/datastore.user, ...): the driver owns each declared role and removes the principals the config does not list; grant this one in the console",
        ),
      );
    else if (binding.role.endsWith(".serviceAgent"))
      problems.push(
        problem(
          at("role"),
          `${JSON.stringify(binding.role)}, a service agent role`,
          "a role for people or your own service accounts: Google grants its service agents their roles",
        ),
      );
    binding.members.forEach((member, position) => {
      const why = memberProblem(member);
      if (why)
        problems.push(
          problem(
            at("members", position),
            `${JSON.stringify(member)} (${why})`,
            "user:EMAIL, serviceAccount:EMAIL, group:EMAIL or domain:DOMAIN (never allUsers or allAuthenticatedUsers)",
          ),
        );
      else if (member.startsWith("domain:") && /admin/i.test(binding.role))
        problems.push(
          problem(
            at("members", position),
            `${JSON.stringify(member)} on the admin role ${binding.role}`,
            "named users, groups or service accounts on an admin role, not a whole domain",
          ),
        );
    });
  });
  return problems;
}

/** The configured bindings as role -> sorted members (a role declared twice has the union). */
function wantedBindings(target: DriverTarget<"security">): Record<string, string[]> {
  const roles = new Map<string, Set<string>>();
  for (const binding of target.settings.iam_bindings) {
    const members = roles.get(binding.role) ?? new Set<string>();
    for (const member of binding.members) members.add(member);
    roles.set(binding.role, members);
  }
  return Object.fromEntries(
    [...roles.keys()].sort().map((role) => [role, [...(roles.get(role) ?? [])].sort()]),
  );
}

const resourceOf = (target: DriverTarget) => `projects/${target.environment.project_id}`;

async function readPolicy(
  access: GoogleAccess,
  api: cloudresourcemanager_v3.Cloudresourcemanager,
  resource: string,
): Promise<cloudresourcemanager_v3.Schema$Policy> {
  // Version 3, so conditional bindings come back whole and are written back whole.
  return callGoogleData(access, `reading the IAM policy of ${resource}`, GET, () =>
    api.projects.getIamPolicy({ resource, requestBody: { options: { requestedPolicyVersion: 3 } } }),
  );
}

/** The members of a role's unconditional bindings, sorted. */
const membersOf = (policy: cloudresourcemanager_v3.Schema$Policy, role: string): string[] =>
  [
    ...new Set(
      (policy.bindings ?? []).filter((b) => b.role === role && !b.condition).flatMap((b) => b.members ?? []),
    ),
  ].sort();

const observedIam = (
  policy: cloudresourcemanager_v3.Schema$Policy,
  roles: string[],
): Record<string, string[]> => Object.fromEntries(roles.map((role) => [role, membersOf(policy, role)]));

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/**
 * The policy's bindings with each owned role's unconditional binding set to `wanted` (dropped when
 * empty), in place; everything else as it was.
 */
function rewrite(
  bindings: cloudresourcemanager_v3.Schema$Binding[],
  wanted: Record<string, string[]>,
): cloudresourcemanager_v3.Schema$Binding[] {
  const out: cloudresourcemanager_v3.Schema$Binding[] = [];
  const placed = new Set<string>();
  for (const binding of bindings) {
    const role = binding.role ?? "";
    const members = wanted[role];
    if (binding.condition || members === undefined) {
      out.push(binding);
      continue;
    }
    if (placed.has(role)) continue;
    placed.add(role);
    if (members.length > 0) out.push({ role, members });
  }
  for (const [role, members] of Object.entries(wanted))
    if (!placed.has(role) && members.length > 0) out.push({ role, members });
  return out;
}

/** The App Check mode the config wants for each declared product App Check v1 covers. */
function wantedAppCheck(
  environment: ResolvedEnvironment,
  mode: "off" | "monitor" | "enforce",
): Record<string, EnforcementMode> {
  const out: [string, EnforcementMode][] = [];
  for (const [product, service] of Object.entries(APP_CHECK_SERVICE))
    if (settingsOf(environment, product as "firestore" | "storage") !== undefined)
      out.push([service, MODE[mode]]);
  return Object.fromEntries(out.sort(([a], [b]) => a.localeCompare(b)));
}

async function readService(
  access: GoogleAccess,
  api: firebaseappcheck_v1.Firebaseappcheck,
  name: string,
): Promise<firebaseappcheck_v1.Schema$GoogleFirebaseAppcheckV1Service> {
  return callGoogleData(access, `reading the App Check configuration ${name}`, APP_CHECK_GET, () =>
    api.projects.services.get({ name }),
  );
}

// proto3 JSON leaves the enum's zero, OFF, out.
const modeOf = (value: string | null | undefined): EnforcementMode =>
  value === "UNENFORCED" || value === "ENFORCED" ? value : "OFF";

async function observedAppCheck(
  access: GoogleAccess,
  target: DriverTarget,
  services: string[],
): Promise<Record<string, EnforcementMode>> {
  if (services.length === 0) return {};
  const api = await appCheckApi(access);
  const out: Record<string, EnforcementMode> = {};
  for (const service of services)
    out[service] = modeOf(
      (await readService(access, api, `${resourceOf(target)}/services/${service}`)).enforcementMode,
    );
  return out;
}

/**
 * Read, rewrite the owned roles, write with the etag read; on 409 ABORTED (someone else wrote in
 * between) read again and redo the change on what they wrote. Nothing is written when the owned
 * roles already hold their members.
 */
async function applyIam(access: GoogleAccess, target: DriverTarget, wanted: Record<string, string[]>) {
  const api = await resourceManagerApi(access);
  const resource = resourceOf(target);
  for (let attempt = 1; ; attempt += 1) {
    const policy = await readPolicy(access, api, resource);
    if (same(observedIam(policy, Object.keys(wanted)), wanted)) return;
    const bindings = rewrite(policy.bindings ?? [], wanted);
    const conditional = bindings.some((b) => b.condition);
    const written = await callGoogle(
      access,
      `setting the IAM policy of ${resource}`,
      SET,
      () =>
        api.projects.setIamPolicy({
          resource,
          requestBody: {
            // No update mask: Google's default, "bindings, etag", leaves the audit configs alone.
            policy: { bindings, etag: policy.etag ?? null, version: conditional ? 3 : (policy.version ?? 1) },
          },
        }),
      [409],
    );
    if (written.ok) return;
    if (attempt >= IAM_WRITE_ATTEMPTS)
      throw new Error(
        `setting the IAM policy of ${resource}: the policy changed under each of ${attempt} read-modify-writes (HTTP 409 ${written.failure.code ?? ""}: ${written.failure.message}); left to the engine's retry`,
      );
    await access.sleep(backoffMs(written.failure, attempt, () => access.random()));
  }
}

/**
 * Patches each service whose mode differs (update mask `enforcementMode`); replay protection, which
 * may not exceed the mode, is lowered with it when it would.
 */
async function applyAppCheck(
  access: GoogleAccess,
  target: DriverTarget,
  wanted: Record<string, EnforcementMode>,
) {
  if (Object.keys(wanted).length === 0) return;
  const api = await appCheckApi(access);
  for (const [service, mode] of Object.entries(wanted)) {
    const name = `${resourceOf(target)}/services/${service}`;
    const live = await readService(access, api, name);
    if (modeOf(live.enforcementMode) === mode) continue;
    const lowerReplay = LEVEL[modeOf(live.replayProtection)] > LEVEL[mode];
    await callGoogleData(access, `setting App Check on ${name} to ${mode}`, APP_CHECK_UPDATE, () =>
      api.projects.services.patch({
        name,
        updateMask: lowerReplay ? "enforcementMode,replayProtection" : "enforcementMode",
        requestBody: { name, enforcementMode: mode, ...(lowerReplay ? { replayProtection: mode } : {}) },
      }),
    );
  }
}

/** The live half of the security driver; the staged half (security.ts) checks the rules files and member shapes. */
export const liveSecuritySpec: DriverSpec<"security", SecurityLiveState> = {
  kind: "security",
  mode: () => "live",

  async desired(target, io) {
    // The staged checks hold live too: open rules in production, role and member shapes.
    const staged = await securityDriver.desired(target, io);
    const seen = new Set(staged.problems.map((p) => p.path));
    const problems = [...staged.problems];
    // One problem per field: where the staged check already refused it, its message stands.
    for (const found of bindingProblems(target)) if (!seen.has(found.path)) problems.push(found);
    return {
      state: {
        iam_bindings: wantedBindings(target),
        app_check: wantedAppCheck(target.environment, target.settings.app_check),
      },
      problems,
    };
  },

  async observe(target, io) {
    const access = requireAccess(io.google, "security");
    const policy = await readPolicy(access, await resourceManagerApi(access), resourceOf(target));
    const services = Object.keys(wantedAppCheck(target.environment, target.settings.app_check));
    return {
      iam_bindings: observedIam(policy, Object.keys(wantedBindings(target))),
      app_check: await observedAppCheck(access, target, services),
    };
  },

  /** The owned roles first (read-modify-write under the etag), then App Check service by service. */
  async apply(target, state, io) {
    const access = requireAccess(io.google, "security");
    await applyIam(access, target, state.iam_bindings);
    await applyAppCheck(access, target, state.app_check);
  },

  async verify(target, io, release) {
    const access = requireAccess(io.google, "security");
    const wanted: SecurityLiveState = release
      ? (release.state as SecurityLiveState)
      : {
          iam_bindings: wantedBindings(target),
          app_check: wantedAppCheck(target.environment, target.settings.app_check),
        };
    const policy = await readPolicy(access, await resourceManagerApi(access), resourceOf(target));
    const iam = observedIam(policy, Object.keys(wanted.iam_bindings));
    const appCheck = await observedAppCheck(access, target, Object.keys(wanted.app_check));
    const drifted = [
      ...Object.keys(wanted.iam_bindings)
        .filter((role) => !same(iam[role], wanted.iam_bindings[role]))
        .map((role) => `the members of ${role}`),
      ...Object.keys(wanted.app_check)
        .filter((service) => appCheck[service] !== wanted.app_check[service])
        .map((service) => `App Check on ${service} (${appCheck[service] ?? "?"})`),
    ];
    if (drifted.length > 0)
      return {
        status: "degraded",
        details: `${drifted.join(", ")} on ${resourceOf(target)} differ from release ${release?.number ?? "(none)"}'s (changed outside the control plane?)`,
      };
    const modes = Object.entries(wanted.app_check).map(([service, mode]) => `${service} ${mode}`);
    return {
      status: "healthy",
      details: `Google reports the ${Object.keys(wanted.iam_bindings).length} owned role(s) of ${resourceOf(target)} with their configured members; App Check: ${modes.length > 0 ? modes.join(", ") : "no Firestore or Storage integration to enforce it on"}`,
    };
  },
};
