/** Helpers for integration tests: the stack's addresses, the Admin SDK on the emulators, waiting for conditions. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { getApps, initializeApp } from "firebase-admin/app";
import { getFirestore, type Firestore } from "firebase-admin/firestore";

/** Skips the suite, printing why, when the stack could not start (with-stack sets the reason). */
export function requireEmulators(context: Mocha.Context): void {
  const missing = process.env.ORCH_EMULATORS_MISSING;
  if (missing) {
    console.log(`    skipped: emulators not running: ${missing}`);
    context.skip();
  }
  const needed = [
    "FIRESTORE_EMULATOR_HOST",
    "FIREBASE_AUTH_EMULATOR_HOST",
    "PUBSUB_EMULATOR_HOST",
    "ORCH_API_URL",
  ];
  const missingVariables = needed.filter((name) => !process.env[name]);
  if (missingVariables.length > 0) {
    console.log(
      `    skipped: no emulator stack (${missingVariables.join(", ")} unset; run through \`npm test\` or scripts/with-stack.ts)`,
    );
    context.skip();
  }
}

export function projectId(): string {
  return process.env.GCLOUD_PROJECT ?? "demo-orchestration-test";
}

/** The Admin SDK's Firestore, pointed at the emulator by FIRESTORE_EMULATOR_HOST. */
export function adminDb(): Firestore {
  if (getApps().length === 0) initializeApp({ projectId: projectId() });
  return getFirestore();
}

const tokens = new Map<string, Promise<string>>();

/**
 * A Firebase ID token from the Auth emulator for a user with the given role claim (and optional
 * environment scope), made once per role and scope.
 */
export function tokenFor(
  role: "viewer" | "operator" | "admin" | "none",
  environments?: string[],
): Promise<string> {
  const key = `${role}:${environments?.join(",") ?? "*"}`;
  let token = tokens.get(key);
  if (!token) {
    token = mintToken(role, environments);
    tokens.set(key, token);
  }
  return token;
}

/** The email and password of the Auth emulator user behind `tokenFor(role)`, made if needed. */
export async function signInDetails(
  role: "viewer" | "operator" | "admin",
  environments?: string[],
): Promise<{ email: string; password: string }> {
  await tokenFor(role, environments);
  return { email: emailFor(role, environments), password: PASSWORD };
}

const PASSWORD = "correct-horse-battery";
const emailFor = (role: string, environments: string[] | undefined) =>
  `${role}-${environments?.join("-") ?? "all"}-${process.pid}@example.test`;

async function mintToken(role: string, environments: string[] | undefined): Promise<string> {
  const base = `http://${process.env.FIREBASE_AUTH_EMULATOR_HOST}/identitytoolkit.googleapis.com/v1`;
  const email = emailFor(role, environments);
  const password = PASSWORD;
  const post = async (url: string, body: unknown, owner = false) => {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(owner ? { authorization: "Bearer owner" } : {}) },
      body: JSON.stringify(body),
    });
    return (await response.json()) as Record<string, any>;
  };
  const created = await post(`${base}/accounts:signUp?key=test`, {
    email,
    password,
    returnSecureToken: true,
  });
  const signedIn = created.localId
    ? created
    : await post(`${base}/accounts:signInWithPassword?key=test`, {
        email,
        password,
        returnSecureToken: true,
      });
  if (role !== "none") {
    const claims = JSON.stringify({ role, ...(environments ? { environments } : {}) });
    await post(
      `${base}/projects/${projectId()}/accounts:update`,
      { localId: signedIn.localId, customAttributes: claims },
      true,
    );
  }
  const fresh = await post(`${base}/accounts:signInWithPassword?key=test`, {
    email,
    password,
    returnSecureToken: true,
  });
  if (typeof fresh.idToken !== "string")
    throw new Error(`the Auth emulator gave no token: ${JSON.stringify(fresh)}`);
  return fresh.idToken;
}

/** How a test call authenticates: as admin (the default), another role, a raw header set, or not at all. */
export type Caller = "admin" | "operator" | "viewer" | "anonymous" | { headers: Record<string, string> };

async function credentials(as: Caller): Promise<Record<string, string>> {
  if (as === "anonymous") return {};
  if (typeof as === "object") return as.headers;
  return { authorization: `Bearer ${await tokenFor(as)}` };
}

/** Calls the API function directly: `api("POST", "/deploy", body)`, as admin unless told otherwise. */
export async function api(
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
  as: Caller = "admin",
): Promise<{ status: number; body: any /* any: each test reads the fields it checks */ }> {
  const response = await fetch(`${process.env.ORCH_API_URL}/api/orchestration${path}`, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...(await credentials(as)),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Non-JSON answers are returned as text for the assertion to show.
  }
  return { status: response.status, body: parsed };
}

/** Deletes every document in the test project's Firestore emulator. */
export async function clearFirestore(): Promise<void> {
  const url = `http://${process.env.FIRESTORE_EMULATOR_HOST}/emulator/v1/projects/${projectId()}/databases/(default)/documents`;
  const response = await fetch(url, { method: "DELETE" });
  if (!response.ok) throw new Error(`clearing Firestore failed: ${response.status} ${await response.text()}`);
}

/** Polls until `condition` returns a value that is not undefined/false, or fails naming what it waited for. */
export async function waitFor<T>(
  what: string,
  condition: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ""}`,
      );
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The example config as shipped. */
export function exampleConfigText(): string {
  return readFileSync(fileURLToPath(new URL("../../orchestration.json", import.meta.url)), "utf8");
}
