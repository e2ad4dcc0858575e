/**
 * The key the audit chain is keyed with, kept outside Firestore so that write access to the
 * database is not enough to rewrite the chain:
 *
 * - in the cloud, a Secret Manager secret version named by `ORCH_AUDIT_KEY_SECRET`
 *   (`projects/<p>/secrets/<s>/versions/<v>`), read with Google's own client library;
 * - locally, a key file: `ORCH_AUDIT_KEY_FILE`, else `<repo>/.stack/keys/<project>/audit.key`
 *   (beside the stack's other data), made with 32 random bytes on first use.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { AUDIT_KEY_MIN_BYTES, type AuditKey } from "../domain/audit.js";

/** Where the key comes from, as the environment says. */
export type AuditKeySource = { kind: "secret"; name: string } | { kind: "file"; path: string };

const SECRET_VERSION = /^projects\/[^/]+\/secrets\/[^/]+\/versions\/[^/]+$/;

/** The repository root (functions/src/store or functions/lib/store are three levels below it). */
function repoRoot(): string {
  return process.env.ORCH_SOURCE_ROOT ?? path.resolve(fileURLToPath(new URL("../../..", import.meta.url)));
}

/** Decides the key's source from the environment; a malformed secret name is refused here, by name. */
export function auditKeySource(env: NodeJS.ProcessEnv = process.env): AuditKeySource {
  const secret = env.ORCH_AUDIT_KEY_SECRET;
  if (secret !== undefined && secret !== "") {
    if (!SECRET_VERSION.test(secret)) {
      throw new Error(
        `ORCH_AUDIT_KEY_SECRET: found "${secret}"; allowed: projects/<project>/secrets/<secret>/versions/<version or latest>`,
      );
    }
    return { kind: "secret", name: secret };
  }
  const project = env.GCLOUD_PROJECT ?? env.GOOGLE_CLOUD_PROJECT ?? "local";
  return {
    kind: "file",
    path: env.ORCH_AUDIT_KEY_FILE ?? path.join(repoRoot(), ".stack", "keys", project, "audit.key"),
  };
}

function checked(key: Uint8Array, where: string): AuditKey {
  if (key.length < AUDIT_KEY_MIN_BYTES) {
    throw new Error(
      `the audit key in ${where} has ${key.length} bytes; allowed: at least ${AUDIT_KEY_MIN_BYTES}`,
    );
  }
  return key;
}

/**
 * Reads the local key file, creating it first when it does not exist. The new key is written to a
 * temporary file and linked into place, so a process racing this one reads either nothing (and
 * links its own, losing to whichever link came first) or a complete key, never a half-written one.
 */
async function fileKey(file: string, create: boolean): Promise<AuditKey> {
  try {
    return checked(await fs.readFile(file), file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    if (!create)
      throw new Error(
        `no audit key at ${file}: the chain was made with a key this machine does not have (set ORCH_AUDIT_KEY_FILE or ORCH_AUDIT_KEY_SECRET)`,
      );
  }
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString("hex")}`;
  await fs.writeFile(temporary, randomBytes(32), { mode: 0o600 });
  try {
    await fs.link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
  } finally {
    await fs.unlink(temporary);
  }
  return checked(await fs.readFile(file), file);
}

async function secretKey(name: string): Promise<AuditKey> {
  // Loaded on demand: only cloud deployments name a secret, and the client is large.
  const { SecretManagerServiceClient } = await import("@google-cloud/secret-manager");
  const client = new SecretManagerServiceClient();
  try {
    const [version] = await client.accessSecretVersion({ name });
    const data = version.payload?.data;
    if (data === null || data === undefined) throw new Error(`the secret version ${name} has no payload`);
    return checked(typeof data === "string" ? Buffer.from(data, "utf8") : data, `secret ${name}`);
  } finally {
    await client.close();
  }
}

/**
 * Loads the audit key from its source (see the module comment). `create: false` (for verifying)
 * refuses to make a local key: a new key could only report every record as changed.
 */
export function loadAuditKey(
  source: AuditKeySource = auditKeySource(),
  options: { create?: boolean } = {},
): Promise<AuditKey> {
  return source.kind === "secret" ? secretKey(source.name) : fileKey(source.path, options.create ?? true);
}
