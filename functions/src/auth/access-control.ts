/**
 * Authentication: turns request headers into a Principal, and manages API keys.
 *
 * Header contract (the CLI and the API rely on it):
 *   Authorization: Bearer <Firebase ID token>   a user; role and scope from the custom claims
 *                                               `role` ("viewer" | "operator" | "admin") and
 *                                               `environments` (string[], absent = all)
 *   X-Api-Key: orch_...                         an API key created by an admin
 * No header → undefined (the caller answers 401 when the route needs a principal). Anything that
 * fails to prove identity throws UnauthenticatedError (401); a valid user without a usable role
 * claim throws ForbiddenError (403). Messages never contain the token or the key.
 */
import type { Firestore } from "firebase-admin/firestore";
import type { ResolvedConfig } from "../domain/config-schema.js";
import { z } from "zod";
import { authorize, describePrincipal, ROLES, isRole, type Principal, type Role } from "../domain/access.js";
import { BadInputError, ForbiddenError, NotFoundError, UnauthenticatedError } from "../domain/errors.js";
import type { AuditActor } from "../domain/audit.js";
import { zodIssueToProblem } from "../domain/problems.js";
import type { RoleHolder } from "../domain/compliance.js";
import { createApiKeyStore, hashApiKey, looksLikeApiKey, type ApiKeySummary } from "../store/api-keys.js";
import type { Person, PrivacySubject } from "../domain/privacy.js";

/** What the access control needs of a decoded ID token (firebase-admin's DecodedIdToken fits). */
export interface VerifiedIdToken {
  uid: string;
  email?: string;
  role?: unknown;
  environments?: unknown;
  aud?: string;
}

/** What the access control needs of an Auth user record (firebase-admin's UserRecord fits). */
export interface KnownUser {
  uid: string;
  email?: string;
  disabled: boolean;
  customClaims?: Record<string, unknown>;
}

export interface AccessControlDeps {
  db: Firestore;
  /** In the wiring: `getAuth().getUser(uid)`, undefined when there is no such user; re-checks document-write requests. */
  lookupUser?: (uid: string) => Promise<KnownUser | undefined>;
  /** In the wiring: `getAuth().getUserByEmail(email)`, undefined when there is no such user. */
  lookupUserByEmail?: (email: string) => Promise<KnownUser | undefined>;
  /** In the wiring: every Auth user (`getAuth().listUsers`, page by page); for the compliance report. */
  listUsers?: () => Promise<KnownUser[]>;
  /** The loaded config (environment types and the production policy); a failure refuses, never widens. */
  config?: () => Promise<ResolvedConfig>;
  /** In the wiring: `(token) => getAuth().verifyIdToken(token, true)`. */
  verifyIdToken: (token: string) => Promise<VerifiedIdToken>;
  /** The project ID tokens must be issued for (their `aud`). */
  projectId: string;
  clock: { now(): Date };
}

export interface AccessControl {
  authenticate(headers: Record<string, string | undefined>): Promise<Principal | undefined>;
  createKey(
    input: { role: Role; environments: string[] | null; label: string },
    by: Principal,
  ): Promise<{ id: string; key: string; prefix: string }>;
  revokeKey(id: string, by: Principal): Promise<void>;
  listKeys(): Promise<ApiKeySummary[]>;
  /** Everyone holding a role: Auth users with a `role` claim, and API keys (revoked ones as inactive). */
  listRoleHolders(): Promise<RoleHolder[]>;
  /**
   * Checks again, before the engine plans it, whoever a deployment document names as its requester
   * may deploy to its environment: null when allowed, else the refusal (who, which role, which
   * environment, which rule). See `REQUESTER_FORMATS` for what `requested_by` may say.
   */
  authorizeRequest(deployment: { environment: string; requested_by: string }): Promise<string | null>;
  /** The person an email or uid names, with what Firebase Auth knows of the other (kept as given when Auth does not know them). */
  resolvePerson(subject: PrivacySubject): Promise<Person>;
}

/**
 * What `requested_by` says, and how it is checked:
 * - `uid:<Firebase Auth uid>`: a user; the Firestore rules force this form (with the writer's own
 *   uid) on documents written through the client SDK; the API writes it for users with no email.
 * - `user:<email>`: a user, as the API writes it; role and scope from the user's custom claims.
 * - `key:<API key id>`: an API key, as the API writes it; refused once revoked.
 * - `system:<component>`: the control plane itself (tests, tools, the demo); only the Admin SDK can
 *   write it (the rules force `uid:`), so it is trusted like the Admin SDK is.
 */
export const REQUESTER_FORMATS = ["uid:", "user:", "key:", "system:"] as const;

/** Who acted, as the audit log records a caller. */
export function actorOf(principal: Principal | undefined): AuditActor {
  if (!principal) return { kind: "anonymous", id: null, role: null };
  return principal.kind === "user"
    ? { kind: "user", id: principal.email ?? principal.uid, role: principal.role }
    : { kind: "key", id: principal.keyId, role: principal.role };
}

/**
 * Every name a principal may appear under in `requested_by`, its `requesterOf` name first: a user
 * who requested through the API (`user:<email>`) or by writing the document (`uid:<uid>`) is the
 * same person, and may not approve their own request under either name.
 */
export function identitiesOf(principal: Principal | undefined): string[] {
  const names = [requesterOf(principal)];
  if (principal?.kind === "user") names.push(`uid:${principal.uid}`);
  return [...new Set(names)];
}

/** How the API names a principal in `requested_by` (see `REQUESTER_FORMATS`). */
export function requesterOf(principal: Principal | undefined): string {
  if (!principal) return "anonymous";
  if (principal.kind === "key") return `key:${principal.keyId}`;
  return principal.email ? `user:${principal.email}` : `uid:${principal.uid}`;
}

const keyInputSchema = z.strictObject({
  role: z.enum(ROLES),
  environments: z
    .array(z.string().min(1))
    .min(1)
    .refine((names) => new Set(names).size === names.length, "environments must not repeat")
    .nullable(),
  label: z.string().trim().min(1).max(100),
});

/** firebase-admin's error codes for ID tokens, as messages a caller can act on. */
function tokenRefusal(error: unknown): string {
  const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : "";
  switch (code) {
    case "auth/id-token-expired":
      return "the ID token has expired; sign in again for a fresh one";
    case "auth/id-token-revoked":
      return "the ID token has been revoked; sign in again";
    case "auth/user-disabled":
      return "the ID token belongs to a disabled user";
    case "auth/user-not-found":
      return "the ID token belongs to a user that no longer exists";
    default:
      return "the ID token is not valid (malformed, wrongly signed, or issued for another project)";
  }
}

/** Header lookup that ignores case, as HTTP does. */
function header(headers: Record<string, string | undefined>, name: string): string | undefined {
  for (const [key, value] of Object.entries(headers)) {
    if (key.toLowerCase() === name && value !== undefined) return value;
  }
  return undefined;
}

export function createAccessControl(deps: AccessControlDeps): AccessControl {
  const apiKeys = createApiKeyStore(deps.db);

  async function fromIdToken(authorization: string): Promise<Principal> {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match?.[1]) {
      throw new UnauthenticatedError('the Authorization header must be "Bearer <Firebase ID token>"');
    }
    let decoded: VerifiedIdToken;
    try {
      decoded = await deps.verifyIdToken(match[1]);
    } catch (error) {
      throw new UnauthenticatedError(tokenRefusal(error));
    }
    // firebase-admin checks the audience too; this holds even if the verifier is swapped.
    if (decoded.aud !== undefined && decoded.aud !== deps.projectId) {
      throw new UnauthenticatedError(
        `the ID token was issued for project "${decoded.aud}", not "${deps.projectId}"`,
      );
    }
    const who = `user ${decoded.email ?? decoded.uid}`;
    if (!isRole(decoded.role)) {
      throw new ForbiddenError(
        decoded.role === undefined
          ? `${who} has no role; an admin must grant one (custom claim "role": ${ROLES.join(", ")})`
          : `${who} has an unknown role claim; allowed: ${ROLES.join(", ")}`,
      );
    }
    const environments = decoded.environments ?? null;
    if (
      environments !== null &&
      !(Array.isArray(environments) && environments.every((name) => typeof name === "string"))
    ) {
      throw new ForbiddenError(`${who} has a malformed "environments" claim; allowed: a list of names`);
    }
    return {
      kind: "user",
      uid: decoded.uid,
      email: decoded.email ?? null,
      role: decoded.role,
      environments,
    };
  }

  async function fromApiKey(key: string): Promise<Principal> {
    const secret = key.trim();
    if (!looksLikeApiKey(secret)) {
      throw new UnauthenticatedError(
        'the X-Api-Key header does not hold an API key (they start with "orch_")',
      );
    }
    const record = await apiKeys.findByHash(hashApiKey(secret));
    if (!record) throw new UnauthenticatedError("the API key is not known");
    if (record.revoked_at !== null) {
      throw new UnauthenticatedError(
        `the API key ${record.prefix}… ("${record.label}") was revoked at ${record.revoked_at.toISOString()}`,
      );
    }
    await apiKeys.touch(record.id, deps.clock.now(), record.last_used_at);
    return {
      kind: "key",
      keyId: record.id,
      role: record.role,
      environments: record.environments,
      label: record.label,
    };
  }

  function requireManageKeys(by: Principal): void {
    const decision = authorize(by, "manage_keys");
    if (!decision.allowed) throw new ForbiddenError(decision.reason);
  }

  return {
    async authenticate(headers) {
      const authorization = header(headers, "authorization");
      const key = header(headers, "x-api-key");
      if (authorization !== undefined && key !== undefined) {
        throw new UnauthenticatedError(
          "send either an Authorization header or an X-Api-Key header, not both",
        );
      }
      if (authorization !== undefined) return fromIdToken(authorization);
      if (key !== undefined) return fromApiKey(key);
      return undefined;
    },

    async createKey(input, by) {
      requireManageKeys(by);
      const parsed = keyInputSchema.safeParse(input);
      if (!parsed.success) {
        const problems = parsed.error.issues.map((issue) => zodIssueToProblem(issue, input, keyInputSchema));
        throw new BadInputError(`the key has ${problems.length} problem(s)`, problems);
      }
      const { role, environments, label } = parsed.data;
      // A scoped admin cannot mint a key that reaches further than itself.
      if (by.environments !== null) {
        const outside =
          environments === null
            ? ["(all environments)"]
            : environments.filter((e) => !by.environments?.includes(e));
        if (outside.length > 0) {
          throw new ForbiddenError(
            `${describePrincipal(by)} may not create a key for ${outside.join(", ")}: its environments are ${by.environments.join(", ")}`,
          );
        }
      }
      const created_by = by.kind === "user" ? `user:${by.uid}` : `key:${by.keyId}`;
      return apiKeys.create({ role, environments, label, created_by, now: deps.clock.now() });
    },

    async revokeKey(id, by) {
      requireManageKeys(by);
      const outcome = await apiKeys.revoke(id, deps.clock.now());
      if (outcome === "not_found") throw new NotFoundError(`API key ${id} does not exist`);
    },

    listKeys() {
      return apiKeys.list();
    },

    async resolvePerson(subject) {
      const known =
        subject.uid !== undefined
          ? await deps.lookupUser?.(subject.uid)
          : await deps.lookupUserByEmail?.(subject.email ?? "");
      return {
        email: subject.email ?? known?.email ?? null,
        uid: subject.uid ?? known?.uid ?? null,
      };
    },

    async listRoleHolders() {
      const users = (await deps.listUsers?.()) ?? [];
      const holders: RoleHolder[] = users.flatMap((user) => {
        const role = user.customClaims?.role;
        if (typeof role !== "string") return [];
        const scope = user.customClaims?.environments;
        return [
          {
            principal: user.email ? `user:${user.email}` : `uid:${user.uid}`,
            kind: "user" as const,
            role,
            environments: Array.isArray(scope) ? scope.filter((name) => typeof name === "string") : null,
            active: !user.disabled,
            label: null,
          },
        ];
      });
      for (const key of await apiKeys.list())
        holders.push({
          principal: `key:${key.id}`,
          kind: "key",
          role: key.role,
          environments: key.environments,
          active: key.revoked_at === null,
          label: key.label,
        });
      return holders;
    },

    async authorizeRequest({ environment, requested_by }) {
      const refuse = (why: string) =>
        `requested_by "${requested_by}" may not deploy to environment "${environment}": ${why}`;
      const colon = requested_by.indexOf(":");
      const kind = colon > 0 ? requested_by.slice(0, colon + 1) : "";
      const id = requested_by.slice(colon + 1);
      if (!(REQUESTER_FORMATS as readonly string[]).includes(kind) || id === "") {
        return refuse(
          `it names no requester; allowed: ${REQUESTER_FORMATS.map((f) => `${f}<id>`).join(", ")}`,
        );
      }
      if (kind === "system:") return null;
      let principal: Principal;
      try {
        const found = await requester(kind, id);
        if (typeof found === "string") return refuse(found);
        principal = found;
      } catch (error) {
        return refuse(
          `the requester could not be looked up (${error instanceof Error ? error.message : String(error)}); refused rather than trusted`,
        );
      }
      let config: ResolvedConfig;
      try {
        if (!deps.config) return refuse("no config reader is wired; refused rather than trusted");
        config = await deps.config();
      } catch (error) {
        return refuse(
          `the config could not be read (${error instanceof Error ? error.message : String(error)}); refused rather than trusted`,
        );
      }
      const declared = config.environments.find((env) => env.name === environment);
      if (!declared) return refuse("the environment is not declared in the config");
      const decision = authorize(
        principal,
        "deploy",
        { environment: declared.name, type: declared.type },
        { productionRequiresAdmin: config.access.production_requires_admin },
      );
      return decision.allowed ? null : `requested_by "${requested_by}": ${decision.reason}`;
    },
  };

  /** The principal a requester id stands for now, or why there is none. */
  async function requester(kind: string, id: string): Promise<Principal | string> {
    if (kind === "key:") {
      const record = await apiKeys.get(id);
      if (!record) return `API key ${id} does not exist`;
      if (record.revoked_at !== null)
        return `API key ${id} was revoked at ${record.revoked_at.toISOString()}`;
      return {
        kind: "key",
        keyId: record.id,
        role: record.role,
        environments: record.environments,
        label: record.label,
      };
    }
    const lookup = kind === "uid:" ? deps.lookupUser : deps.lookupUserByEmail;
    if (!lookup) return "no user directory is wired; refused rather than trusted";
    const user = await lookup(id);
    if (!user) return `no user ${id} exists`;
    if (user.disabled) return `user ${id} is disabled`;
    const claims = user.customClaims ?? {};
    if (!isRole(claims.role)) return `user ${id} has no role claim; allowed: ${ROLES.join(", ")}`;
    const environments = claims.environments ?? null;
    if (
      environments !== null &&
      !(Array.isArray(environments) && environments.every((e) => typeof e === "string"))
    ) {
      return `user ${id} has a malformed "environments" claim`;
    }
    return { kind: "user", uid: user.uid, email: user.email ?? null, role: claims.role, environments };
  }
}
