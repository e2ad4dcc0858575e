/**
 * Firebase ID tokens from the local Auth emulator, for the scripts that drive a local stack
 * (the demo, the scheduler of `npm run emulators`, the bench): a user with a role claim, made
 * through the emulator's REST API. Real deployments sign people in through Firebase Auth instead.
 */

/** The fields of the Auth emulator's answers that are read here. */
interface AccountAnswer {
  localId?: string;
  idToken?: unknown;
}

/**
 * Signs in (creating it if needed) `<role>@<domain>` on the Auth emulator at `authHost`, gives it
 * the custom claim {role} (and {environments} when given) and answers a fresh ID token.
 */
export async function emulatorToken({
  authHost,
  projectId,
  role,
  environments,
  email,
}: {
  authHost: string;
  projectId: string;
  role: "viewer" | "operator" | "admin";
  environments?: string[];
  email?: string;
}): Promise<string> {
  const base = `http://${authHost}/identitytoolkit.googleapis.com/v1`;
  const user = email ?? `${role}@orchestrator.local`;
  const password = "local-emulator-only";
  const post = async (url: string, body: unknown, owner = false): Promise<AccountAnswer> => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(owner ? { authorization: "Bearer owner" } : {}) },
      body: JSON.stringify(body),
    });
    return (await response.json()) as AccountAnswer;
  };
  const credentials = { email: user, password, returnSecureToken: true };
  const created = await post(`${base}/accounts:signUp?key=local`, credentials);
  const account = created.localId
    ? created
    : await post(`${base}/accounts:signInWithPassword?key=local`, credentials);
  if (!account.localId)
    throw new Error(`the Auth emulator at ${authHost} refused ${user}: ${JSON.stringify(account)}`);
  const claims = JSON.stringify({ role, ...(environments ? { environments } : {}) });
  await post(
    `${base}/projects/${projectId}/accounts:update`,
    { localId: account.localId, customAttributes: claims },
    true,
  );
  const signedIn = await post(`${base}/accounts:signInWithPassword?key=local`, credentials);
  if (typeof signedIn.idToken !== "string")
    throw new Error(`no ID token from the Auth emulator: ${JSON.stringify(signedIn)}`);
  return signedIn.idToken;
}
