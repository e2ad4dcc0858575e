/**
 * Resolves Secret Manager references (`projects/<p>/secrets/<name>/versions/<v>`) at the moment a
 * value is used, behind one interface:
 *
 * - live (`ORCH_SECRETS=secret-manager`): Google's Secret Manager client, with Application Default
 *   Credentials;
 * - locally: a file-backed store, `ORCH_SECRETS_FILE`, else `<repo>/.stack/secrets/<project>/secrets.json`
 *   beside the stack's other data, holding `{ "projects/<p>/secrets/<name>": { "<version>": "<value>" } }`.
 *
 * Resolved values are returned to the caller only; nothing here logs or stores them.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { SecretManagerServiceClient } from "@google-cloud/secret-manager";
import { z } from "zod";
import { SECRET_REFERENCE, SECRET_REFERENCE_FORMAT } from "../domain/secrets.js";
import { NotFoundError, BadInputError } from "../domain/errors.js";

export interface SecretResolver {
  /** Where values come from, for status lines (never a value). */
  readonly source: string;
  /** The value of a secret version; refused naming the reference when it is malformed or unknown. */
  resolve(reference: string): Promise<string>;
}

function parseReference(reference: string): { secret: string; version: string } {
  const match = SECRET_REFERENCE.exec(reference);
  if (!match)
    throw new BadInputError(`"${reference}" is not a secret reference; allowed: ${SECRET_REFERENCE_FORMAT}`);
  const [, project, name, version] = match;
  return { secret: `projects/${project ?? ""}/secrets/${name ?? ""}`, version: version ?? "latest" };
}

const fileSchema = z.record(z.string(), z.record(z.string().regex(/^[1-9][0-9]*$/), z.string()));

/** The repository root (functions/src/store or functions/lib/store are three levels below it). */
function repoRoot(): string {
  return process.env.ORCH_SOURCE_ROOT ?? path.resolve(fileURLToPath(new URL("../../..", import.meta.url)));
}

/** The local store's file, as the environment says. */
export function localSecretsFile(env: NodeJS.ProcessEnv = process.env): string {
  const project = env.GCLOUD_PROJECT ?? env.GOOGLE_CLOUD_PROJECT ?? "local";
  return env.ORCH_SECRETS_FILE ?? path.join(repoRoot(), ".stack", "secrets", project, "secrets.json");
}

/** The local, file-backed store: resolves references, and adds versions (tests and the demo plant secrets with it). */
export function createFileSecretStore(
  file: string,
): SecretResolver & { addVersion(secret: string, value: string): Promise<string> } {
  async function read(): Promise<z.infer<typeof fileSchema>> {
    try {
      return fileSchema.parse(JSON.parse(await fs.readFile(file, "utf8")));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw new Error(`the local secret store ${file} cannot be read: it must map secret names to versions`);
    }
  }
  return {
    source: `file ${file}`,
    async resolve(reference: string): Promise<string> {
      const { secret, version } = parseReference(reference);
      const versions = (await read())[secret];
      const number =
        version === "latest" ? String(Math.max(0, ...Object.keys(versions ?? {}).map(Number))) : version;
      const value = versions?.[number];
      if (value === undefined)
        throw new NotFoundError(`the secret version ${reference} does not exist in the local store`);
      return value;
    },
    /** Adds a version of `secret` (`projects/<p>/secrets/<name>`) and answers its reference. */
    async addVersion(secret: string, value: string): Promise<string> {
      const all = await read();
      const versions = all[secret] ?? {};
      const next = String(Math.max(0, ...Object.keys(versions).map(Number)) + 1);
      all[secret] = { ...versions, [next]: value };
      const reference = `${secret}/versions/${next}`;
      parseReference(reference);
      await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
      // Written beside and renamed into place: a reader never sees half a file.
      const temporary = `${file}.${process.pid}.${randomBytes(6).toString("hex")}`;
      await fs.writeFile(temporary, JSON.stringify(all, null, 2), { mode: 0o600 });
      await fs.rename(temporary, file);
      return reference;
    },
  };
}

/** Secret Manager, for live mode: one client, closed by the caller's process end. */
export function createSecretManagerResolver(): SecretResolver {
  let client: Promise<SecretManagerServiceClient> | undefined;
  return {
    source: "Secret Manager",
    async resolve(reference: string): Promise<string> {
      parseReference(reference);
      // Loaded on demand: only live deployments use it, and the client is large.
      client ??= import("@google-cloud/secret-manager").then(
        ({ SecretManagerServiceClient }) => new SecretManagerServiceClient(),
      );
      const [version] = await (await client).accessSecretVersion({ name: reference });
      const data = version.payload?.data;
      if (data === null || data === undefined)
        throw new NotFoundError(`the secret version ${reference} has no payload`);
      return typeof data === "string" ? data : Buffer.from(data).toString("utf8");
    },
  };
}

/** The resolver the environment asks for: Secret Manager when `ORCH_SECRETS=secret-manager`, else the local file. */
export function secretResolverFromEnv(env: NodeJS.ProcessEnv = process.env): SecretResolver {
  return env.ORCH_SECRETS === "secret-manager"
    ? createSecretManagerResolver()
    : createFileSecretStore(localSecretsFile(env));
}
