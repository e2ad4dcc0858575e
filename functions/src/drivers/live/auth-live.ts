/**
 * Auth, live: the same Identity Toolkit v2 config the emulated driver writes (providers, authorized
 * domains, MFA, password policy), through `projects.getConfig` / `projects.updateConfig` with the
 * same update mask, against the real endpoint. Google answers in proto3 JSON, which leaves out
 * false booleans and adds output-only fields; observe reads it back into the driver's shape so a
 * second plan finds no changes. Role accounts (users with a role claim) are not managed live: a
 * live plan that declares them is refused. Google and GitHub sign-in need OAuth client secrets and
 * stay out of the state, as in emulated mode.
 */
import type { identitytoolkit_v2 } from "googleapis/build/src/apis/identitytoolkit/v2.js";
import { diffStates } from "../fabricator.js";
import { buildAuthDesired, UPDATE_MASK, type AuthConfig, type AuthState } from "../auth.js";
import { problem } from "../emulator-rest.js";
import type { DriverSpec } from "../types.js";
import { NonRetriableError } from "../../domain/errors.js";
import {
  callGoogle,
  callGoogleData,
  identityToolkitApi,
  requireAccess,
  type GoogleAccess,
} from "./google.js";

type ApiConfig = identitytoolkit_v2.Schema$GoogleCloudIdentitytoolkitAdminV2Config;

/**
 * The owned fields of a config as Google reports it, in the driver's shape (absent booleans are
 * false). A project without a password policy has no enforcement state: the value then lacks it,
 * as the emulated driver's observed configs lack absent fields, and the plan shows it as a change.
 */
export function ownedLiveConfig(config: ApiConfig): AuthConfig {
  const strength = config.passwordPolicyConfig?.passwordPolicyVersions?.[0]?.customStrengthOptions;
  const providers = config.mfa?.enabledProviders ?? [];
  // Google's enums are wider than the states this driver writes; any other value shows as a change.
  const mfaState = (config.mfa?.state ?? "DISABLED") as AuthConfig["mfa"]["state"];
  const enforcement = config.passwordPolicyConfig?.passwordPolicyEnforcementState as
    AuthConfig["passwordPolicyConfig"]["passwordPolicyEnforcementState"] | undefined;
  const observed = {
    signIn: {
      email: {
        enabled: config.signIn?.email?.enabled ?? false,
        passwordRequired: config.signIn?.email?.passwordRequired ?? false,
      },
      anonymous: { enabled: config.signIn?.anonymous?.enabled ?? false },
      phoneNumber: { enabled: config.signIn?.phoneNumber?.enabled ?? false },
    },
    authorizedDomains: config.authorizedDomains ?? [],
    mfa: providers.length > 0 ? { state: mfaState, enabledProviders: providers } : { state: mfaState },
    passwordPolicyConfig: {
      ...(enforcement ? { passwordPolicyEnforcementState: enforcement } : {}),
      passwordPolicyVersions: strength
        ? [
            {
              customStrengthOptions: {
                minPasswordLength: strength.minPasswordLength ?? 0,
                containsUppercaseCharacter: strength.containsUppercaseCharacter ?? false,
                containsLowercaseCharacter: strength.containsLowercaseCharacter ?? false,
                containsNumericCharacter: strength.containsNumericCharacter ?? false,
                containsNonAlphanumericCharacter: strength.containsNonAlphanumericCharacter ?? false,
              },
            },
          ]
        : [],
    },
  };
  return observed as AuthConfig;
}

async function readLiveConfig(access: GoogleAccess, project: string): Promise<AuthConfig> {
  const api = await identityToolkitApi(access);
  const answer = await callGoogle(
    access,
    `reading the Auth config of ${project}`,
    "firebaseauth.configs.get",
    () => api.projects.getConfig({ name: `projects/${project}/config` }),
    [404],
  );
  if (!answer.ok)
    throw new NonRetriableError(
      `Authentication is not set up in project ${project} (${answer.failure.message}): open Authentication in the Firebase console and click "Get started" once, then plan again`,
    );
  return ownedLiveConfig(answer.data);
}

/** The live half of the auth driver. */
export const liveAuthSpec: DriverSpec<"auth", AuthState> = {
  kind: "auth",
  mode: () => "live",

  desired(target) {
    const built = buildAuthDesired(target.integration, target.settings);
    const problems = [
      ...built.problems,
      ...target.settings.role_accounts.map((account, index) =>
        problem(
          [target.integration, "role_accounts", index],
          `a role account (${account.email}) for a live environment`,
          "no role_accounts in live environments: grant roles to real users through your identity provider",
        ),
      ),
    ];
    return Promise.resolve({
      state: { config: built.state.config, role_accounts: [] },
      problems,
      artifact: {
        name: "identity-toolkit-config.json",
        content: `${JSON.stringify(
          { config: built.state.config, update_mask: UPDATE_MASK, configure_in_console: built.idpProviders },
          null,
          2,
        )}\n`,
      },
    });
  },

  async observe(target, io) {
    const access = requireAccess(io.google, "auth");
    return { config: await readLiveConfig(access, target.environment.project_id), role_accounts: [] };
  },

  async apply(target, state, io) {
    const access = requireAccess(io.google, "auth");
    const api = await identityToolkitApi(access);
    const project = target.environment.project_id;
    await callGoogleData(
      access,
      `updating the Auth config of ${project}`,
      "firebaseauth.configs.update",
      () =>
        api.projects.updateConfig({
          name: `projects/${project}/config`,
          updateMask: UPDATE_MASK.join(","),
          requestBody: state.config,
        }),
    );
  },

  async verify(target, io, release) {
    const access = requireAccess(io.google, "auth");
    const project = target.environment.project_id;
    const config = await readLiveConfig(access, project);
    if (!release)
      return { status: "degraded", details: `Google answers the Auth config of ${project}; no release yet` };
    const drift = diffStates(config, (release.state as AuthState).config);
    return drift.length > 0
      ? {
          status: "degraded",
          details: `Google reports the Auth config of ${project} differs from release ${release.number} at ${drift.map((c) => c.path).join(", ")}`,
        }
      : {
          status: "healthy",
          details: `Google reports the Auth config of ${project} matches release ${release.number}`,
        };
  },
};
