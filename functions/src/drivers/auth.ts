/**
 * The auth driver: sign-in providers, authorized domains, MFA and password policy through the
 * Identity Toolkit v2 config API, and role accounts (users with a `role` custom claim) through
 * the v1 accounts API; in emulated mode against the Auth emulator.
 *
 * What the Auth emulator keeps (checked by hand): a PATCH with an updateMask stores exactly the
 * masked fields and GET returns them, including authorizedDomains, mfa and passwordPolicyConfig
 * (it stores them; it does not enforce them). It does NOT implement defaultSupportedIdpConfigs
 * (501 NOT_IMPLEMENTED), so Google and GitHub sign-in cannot be configured there: they are kept
 * out of the state (nothing to apply, nothing to compare) and listed in the artifact and in
 * verify's details instead. Live environments go to live/auth-live.ts, which builds the same
 * config with buildAuthDesired.
 */
import type { IntegrationSettings } from "../domain/config-schema.js";
import type { Problem } from "../domain/problems.js";
import {
  emulatedOrLive,
  ensureOk,
  errorMessage,
  hostProblem,
  OWNER_HEADERS,
  problem,
  requireHost,
  rest,
} from "./emulator-rest.js";
import { diffStates } from "./fabricator.js";
import type { DriverIO, DriverSpec, DriverTarget } from "./types.js";
import { sha256 } from "../domain/digest.js";

/** The part of the Identity Toolkit v2 project config this driver owns, as the API spells it. */
export interface AuthConfig {
  signIn: {
    email: { enabled: boolean; passwordRequired: boolean };
    anonymous: { enabled: boolean };
    phoneNumber: { enabled: boolean };
  };
  authorizedDomains: string[];
  mfa: { state: "DISABLED" | "ENABLED" | "MANDATORY"; enabledProviders?: string[] };
  passwordPolicyConfig: {
    passwordPolicyEnforcementState: "ENFORCE";
    passwordPolicyVersions: {
      customStrengthOptions: {
        minPasswordLength: number;
        containsUppercaseCharacter: boolean;
        containsLowercaseCharacter: boolean;
        containsNumericCharacter: boolean;
        containsNonAlphanumericCharacter: boolean;
      };
    }[];
  };
}

export interface AuthState {
  config: AuthConfig;
  /** Users carrying a `role` custom claim, sorted by email. */
  role_accounts: { email: string; role: string }[];
}

/** Providers the Auth emulator cannot configure (defaultSupportedIdpConfigs is not implemented there). */
const IDP_PROVIDERS = ["google", "github"] as const;

/** The config fields this driver owns: the updateMask of every PATCH. */
export const UPDATE_MASK = [
  "signIn.email",
  "signIn.anonymous",
  "signIn.phoneNumber",
  "authorizedDomains",
  "mfa",
  "passwordPolicyConfig",
];

type AuthSettings = IntegrationSettings<"auth">;

/** The desired state and its problems from settings alone (pure). */
export function buildAuthDesired(
  integration: string,
  settings: AuthSettings,
): { state: AuthState; problems: Problem[]; idpProviders: string[] } {
  const problems: Problem[] = [];
  const providers = settings.providers;
  const seenProviders = new Set<string>();
  providers.forEach((provider, index) => {
    if (seenProviders.has(provider))
      problems.push(
        problem([integration, "providers", index], `"${provider}" a second time`, "each provider once"),
      );
    seenProviders.add(provider);
  });
  if (providers.length === 0)
    problems.push(problem([integration, "providers"], "an empty list", "at least one sign-in provider"));

  const seenDomains = new Set<string>();
  settings.authorized_domains.forEach((domain, index) => {
    if (seenDomains.has(domain))
      problems.push(
        problem([integration, "authorized_domains", index], `"${domain}" a second time`, "each domain once"),
      );
    seenDomains.add(domain);
  });

  const emailBased = seenProviders.has("password") || seenProviders.has("email_link");
  if (settings.mfa !== "off" && !emailBased)
    problems.push(
      problem(
        [integration, "mfa"],
        `string "${settings.mfa}" without an email provider`,
        `"off", or add "password" or "email_link" to providers (multi-factor needs an email first factor)`,
      ),
    );

  const seenEmails = new Map<string, number>();
  settings.role_accounts.forEach((account, index) => {
    const email = account.email.toLowerCase();
    const first = seenEmails.get(email);
    if (first !== undefined)
      problems.push(
        problem(
          [integration, "role_accounts", index, "email"],
          `"${account.email}", already given at role_accounts[${first}]`,
          "each account once (one role per account)",
        ),
      );
    else seenEmails.set(email, index);
  });

  const policy = settings.password_policy;
  const state: AuthState = {
    config: {
      signIn: {
        email: {
          enabled: emailBased,
          // Email link sign-in is the email provider without a required password.
          passwordRequired: !seenProviders.has("email_link"),
        },
        anonymous: { enabled: seenProviders.has("anonymous") },
        phoneNumber: { enabled: seenProviders.has("phone") },
      },
      authorizedDomains: [...seenDomains],
      mfa:
        settings.mfa === "off"
          ? { state: "DISABLED" }
          : { state: settings.mfa === "required" ? "MANDATORY" : "ENABLED", enabledProviders: ["PHONE_SMS"] },
      passwordPolicyConfig: {
        passwordPolicyEnforcementState: "ENFORCE",
        passwordPolicyVersions: [
          {
            customStrengthOptions: {
              minPasswordLength: policy.min_length ?? 8,
              containsUppercaseCharacter: policy.require_uppercase ?? false,
              containsLowercaseCharacter: policy.require_lowercase ?? false,
              containsNumericCharacter: policy.require_numeric ?? false,
              containsNonAlphanumericCharacter: policy.require_symbol ?? false,
            },
          },
        ],
      },
    },
    role_accounts: [...seenEmails.keys()].sort().map((email) => ({
      email,
      role: settings.role_accounts[seenEmails.get(email) ?? 0]?.role ?? "viewer",
    })),
  };
  return {
    state,
    problems,
    idpProviders: providers.filter((p) => (IDP_PROVIDERS as readonly string[]).includes(p)),
  };
}

const configUrl = (host: string, projectId: string, mask?: string[]) =>
  `http://${host}/identitytoolkit.googleapis.com/v2/projects/${projectId}/config${
    mask ? `?updateMask=${encodeURIComponent(mask.join(","))}` : ""
  }`;
const accountsUrl = (host: string, projectId: string, action = "") =>
  `http://${host}/identitytoolkit.googleapis.com/v1/projects/${projectId}/accounts${action}`;

/** The owned fields of the config as the emulator reports them (absent fields stay absent). */
async function readConfig(io: DriverIO, projectId: string): Promise<AuthConfig> {
  const answer = await rest(io, "GET", configUrl(requireHost(io, "auth"), projectId), undefined, {
    ...OWNER_HEADERS,
  });
  ensureOk(answer, `reading the Auth config of ${projectId}`);
  const body = answer.body as Partial<AuthConfig> & { signIn?: Partial<AuthConfig["signIn"]> };
  return {
    signIn: {
      email: body.signIn?.email,
      anonymous: body.signIn?.anonymous,
      phoneNumber: body.signIn?.phoneNumber,
    },
    authorizedDomains: body.authorizedDomains,
    mfa: body.mfa,
    passwordPolicyConfig: body.passwordPolicyConfig,
  } as AuthConfig;
}

interface EmulatorUser {
  localId: string;
  email?: string;
  customAttributes?: string;
}

const claimsOf = (user: EmulatorUser): Record<string, unknown> => {
  try {
    const parsed: unknown = JSON.parse(user.customAttributes ?? "{}");
    return typeof parsed === "object" && parsed !== null ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
};

async function listUsers(io: DriverIO, projectId: string): Promise<EmulatorUser[]> {
  const answer = await rest(
    io,
    "POST",
    accountsUrl(requireHost(io, "auth"), projectId, ":query"),
    { returnUserInfo: true },
    { ...OWNER_HEADERS },
  );
  ensureOk(answer, `listing the users of ${projectId}`);
  return (answer.body as { userInfo?: EmulatorUser[] }).userInfo ?? [];
}

async function setClaims(io: DriverIO, projectId: string, localId: string, claims: Record<string, unknown>) {
  const answer = await rest(
    io,
    "POST",
    accountsUrl(requireHost(io, "auth"), projectId, ":update"),
    { localId, customAttributes: JSON.stringify(claims) },
    { ...OWNER_HEADERS },
  );
  ensureOk(answer, `setting the claims of user ${localId} in ${projectId}`);
}

/** Makes the role accounts exactly the given list: creates missing users, sets and clears role claims. */
async function applyRoleAccounts(io: DriverIO, projectId: string, accounts: AuthState["role_accounts"]) {
  const users = await listUsers(io, projectId);
  const byEmail = new Map(users.filter((u) => u.email).map((u) => [u.email!.toLowerCase(), u]));
  for (const account of accounts) {
    let user = byEmail.get(account.email);
    if (!user) {
      // A stable id per email, so a repeated or concurrent apply finds the same account.
      const localId = `role-${sha256(account.email).slice(0, 24)}`;
      const created = await rest(
        io,
        "POST",
        accountsUrl(requireHost(io, "auth"), projectId),
        { email: account.email, localId },
        { ...OWNER_HEADERS },
      );
      if (!created.ok && !/EMAIL_EXISTS|DUPLICATE_LOCAL_ID/.test(errorMessage(created)))
        ensureOk(created, `creating the account ${account.email} in ${projectId}`);
      user = { localId };
    }
    const claims = claimsOf(user);
    if (claims.role !== account.role)
      await setClaims(io, projectId, user.localId, { ...claims, role: account.role });
  }
  const wanted = new Set(accounts.map((a) => a.email));
  for (const user of users) {
    const claims = claimsOf(user);
    if (claims.role !== undefined && !wanted.has((user.email ?? "").toLowerCase())) {
      const { role: _role, ...rest } = claims;
      await setClaims(io, projectId, user.localId, rest);
    }
  }
}

async function readRoleAccounts(io: DriverIO, projectId: string): Promise<AuthState["role_accounts"]> {
  return (await listUsers(io, projectId))
    .map((user) => ({ email: (user.email ?? "").toLowerCase(), role: claimsOf(user).role }))
    .filter((a): a is { email: string; role: string } => typeof a.role === "string" && a.email !== "")
    .sort((a, b) => a.email.localeCompare(b.email));
}

const NOT_EMULATED = (idps: string[]) =>
  idps.length === 0
    ? ""
    : ` ${idps.join(", ")} sign-in not applied: the Auth emulator does not implement defaultSupportedIdpConfigs (kept out of the compared state).`;

export const authDriver: DriverSpec<"auth", AuthState> = {
  kind: "auth",
  mode: emulatedOrLive,

  desired(target: DriverTarget<"auth">, io) {
    const built = buildAuthDesired(target.integration, target.settings);
    const problems = [...built.problems];
    if (emulatedOrLive(target.environment) === "emulated") {
      const missing = hostProblem(io, "auth");
      if (missing) problems.push(missing);
    }
    return Promise.resolve({
      state: built.state,
      problems,
      artifact: {
        name: "identity-toolkit-config.json",
        content: `${JSON.stringify(
          {
            config: built.state.config,
            update_mask: UPDATE_MASK,
            role_accounts: built.state.role_accounts,
            not_applied_in_emulator: built.idpProviders,
          },
          null,
          2,
        )}\n`,
      },
    });
  },

  async observe(target, io) {
    if (!io.emulators.auth) return undefined;
    const projectId = target.environment.project_id;
    return { config: await readConfig(io, projectId), role_accounts: await readRoleAccounts(io, projectId) };
  },

  async apply(target, state, io) {
    const projectId = target.environment.project_id;
    const answer = await rest(
      io,
      "PATCH",
      configUrl(requireHost(io, "auth"), projectId, UPDATE_MASK),
      state.config,
      { ...OWNER_HEADERS },
    );
    ensureOk(answer, `updating the Auth config of ${projectId}`);
    await applyRoleAccounts(io, projectId, state.role_accounts);
  },

  async verify(target, io, release) {
    const projectId = target.environment.project_id;
    const config = await readConfig(io, projectId);
    const idps = buildAuthDesired(target.integration, target.settings).idpProviders;
    if (!release) {
      return {
        status: "degraded",
        details: `config answers for ${projectId}, but no release was applied yet.${NOT_EMULATED(idps)}`,
      };
    }
    const drift = diffStates(config, (release.state as AuthState).config);
    if (drift.length > 0) {
      return {
        status: "degraded",
        details: `config of ${projectId} differs from release ${release.number} at ${drift.map((c) => c.path).join(", ")}`,
      };
    }
    return {
      status: "healthy",
      details: `config of ${projectId} matches release ${release.number} (providers, domains, MFA, password policy).${NOT_EMULATED(idps)}`,
    };
  },
};
