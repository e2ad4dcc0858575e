import { gunzipSync } from "node:zlib";
import { ApiError } from "../resources.js";
import type { ContractServer } from "../server.js";

type Json = Record<string, unknown>;

/** A final Build.status. */
export type FinalStatus = "SUCCESS" | "FAILURE" | "INTERNAL_ERROR" | "TIMEOUT" | "CANCELLED";

/** A build as the model keeps it (only fields the 2018 Build schema has, so answers pass the contract). */
export type StoredBuild = Json & {
  id: string;
  projectId: string;
  status: "QUEUED" | "WORKING" | FinalStatus;
  createTime: string;
  logUrl: string;
  statusDetail?: string;
  tags?: string[];
  substitutions?: Record<string, string>;
  source?: { storageSource?: { bucket?: string; object?: string } };
  steps?: { name?: string; args?: string[]; env?: string[]; dir?: string; entrypoint?: string }[];
};

/** One bundle uploaded through the storage route: where, and the paths its tar holds. */
export type Upload = { bucket: string; name: string; files: string[] };

/** What the model holds, for tests to inspect and steer. */
export type CloudBuildModel = {
  builds: Map<string, StoredBuild>;
  /** `bucket/object` -> bytes: what builds can fetch (the storage upload route fills it, or a test). */
  objects: Map<string, Buffer>;
  /** How the next builds end, in order; SUCCESS once the list is empty. */
  outcomes: { status: FinalStatus; detail?: string }[];
  /** The operation name of each build, by build id. */
  operations: Map<string, string>;
  uploads: Upload[];
};

/** Cloud Build's tag format, as the Build reference states it. */
const TAG = /^[\w][\w.-]{0,127}$/;
/** User-defined substitutions: "must begin with an underscore ... uppercase letters, numbers and underscores". */
const USER_SUBSTITUTION = /^_[A-Z0-9_]+$/;
const PROJECT_NUMBER = "123456789012";
const BUILD_TYPE = "type.googleapis.com/google.devtools.cloudbuild.v1.Build";
const METADATA_TYPE = "type.googleapis.com/google.devtools.cloudbuild.v1.BuildOperationMetadata";
/** google.rpc.Code of an operation whose build did not succeed. */
const RPC_CODE: Record<Exclude<FinalStatus, "SUCCESS">, number> = {
  FAILURE: 2,
  INTERNAL_ERROR: 13,
  TIMEOUT: 4,
  CANCELLED: 1,
};

const str = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value[0] : value;

/** The entries of a ustar archive, its header checksums checked; throws on anything else. */
export function tarEntries(tar: Buffer): { path: string; bytes: Buffer }[] {
  const out: { path: string; bytes: Buffer }[] = [];
  // A ustar text field ends at its first NUL byte (or fills the field).
  const text = (from: number, length: number) => {
    const field = tar.subarray(from, from + length);
    const end = field.indexOf(0);
    return field.subarray(0, end < 0 ? length : end).toString("utf8");
  };
  for (let at = 0; at + 512 <= tar.length;) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) return out;
    let sum = 0;
    header.forEach((byte, index) => (sum += index >= 148 && index < 156 ? 32 : byte));
    if (parseInt(text(at + 148, 8).trim(), 8) !== sum) throw new Error(`bad tar header checksum at ${at}`);
    if (text(at + 257, 6) !== "ustar") throw new Error(`not a ustar header at ${at}`);
    const size = parseInt(text(at + 124, 12).trim(), 8);
    const prefix = text(at + 345, 155);
    const name = text(at, 100);
    out.push({
      path: prefix ? `${prefix}/${name}` : name,
      bytes: tar.subarray(at + 512, at + 512 + size),
    });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error("the tar archive has no end-of-archive blocks");
}

/** Every text a build's steps hold, for the substitution check. */
const stepText = (steps: StoredBuild["steps"]) =>
  JSON.stringify((steps ?? []).map((s) => [s.name, s.args, s.env, s.dir, s.entrypoint]));

/**
 * Cloud Build v1 builds as the reference describes them, on a contract server: `builds.create`
 * checks what the discovery format cannot say (at least one step, tags `^[\w][\w.-]{0,127}$`,
 * user substitutions `_[A-Z0-9_]+`, under the default MUST_MATCH a substitution no step uses is
 * refused, a storage source that is not there is "could not resolve source") and answers a
 * long-running Operation whose metadata holds the Build. Each poll (operations.get or builds.get)
 * moves a build one stage, QUEUED -> WORKING -> its outcome (`model.outcomes`, SUCCESS by
 * default); a source that is not a gzipped tar fails the build at fetch. A finished operation
 * holds the Build as its response, or an error when the build did not succeed. builds.list
 * answers newest first, with a filter of `tags="..."` and `status="..."` terms joined by AND
 * (anything else refused), paged.
 */
export function cloudBuildModel(
  server: ContractServer,
  objects: Map<string, Buffer> = new Map(),
): CloudBuildModel {
  const model: CloudBuildModel = {
    builds: new Map(),
    objects,
    outcomes: [],
    operations: new Map(),
    uploads: [],
  };
  let counter = 0;
  const stamp = (minute: number) => new Date(Date.UTC(2026, 11, 1, 10, minute)).toISOString();

  const advance = (build: StoredBuild): StoredBuild => {
    if (build.status === "QUEUED") {
      build.status = "WORKING";
      build.startTime = stamp((counter += 1));
      const source = build.source?.storageSource;
      const bytes = objects.get(`${source?.bucket ?? ""}/${source?.object ?? ""}`);
      try {
        if (bytes) tarEntries(gunzipSync(bytes));
      } catch (error) {
        build.status = "FAILURE";
        build.statusDetail = `failed to unpack the source: ${error instanceof Error ? error.message : String(error)}`;
        build.finishTime = stamp((counter += 1));
      }
    } else if (build.status === "WORKING") {
      const outcome = model.outcomes.shift() ?? { status: "SUCCESS" };
      build.status = outcome.status;
      if (outcome.detail) build.statusDetail = outcome.detail;
      build.finishTime = stamp((counter += 1));
    }
    return build;
  };
  const find = (projectId: string, id: string): StoredBuild => {
    const build = model.builds.get(id);
    if (!build || build.projectId !== projectId)
      throw new ApiError("NOT_FOUND", `Build "${id}" in project "${projectId}" was not found.`);
    return build;
  };
  const operationOf = (build: StoredBuild): Json => {
    const name = model.operations.get(build.id) ?? "";
    const metadata = { "@type": METADATA_TYPE, build: structuredClone(build) };
    if (build.status === "QUEUED" || build.status === "WORKING") return { name, metadata, done: false };
    if (build.status === "SUCCESS")
      return { name, metadata, done: true, response: { "@type": BUILD_TYPE, ...structuredClone(build) } };
    return {
      name,
      metadata,
      done: true,
      error: { code: RPC_CODE[build.status], message: "Build failed; check build logs for details" },
    };
  };

  server
    .on("cloudbuild.projects.builds.create", ({ params, body }) => {
      const projectId = params.projectId ?? "";
      const input = (body ?? {}) as Partial<StoredBuild> & { options?: { substitutionOption?: string } };
      if ((input.steps ?? []).length === 0)
        throw new ApiError("INVALID_ARGUMENT", "invalid build: a build must have at least one step");
      for (const tag of input.tags ?? [])
        if (!TAG.test(tag))
          throw new ApiError(
            "INVALID_ARGUMENT",
            `invalid build tag "${tag}": must match format "^[\\w][\\w.-]{0,127}$"`,
          );
      const substitutions = input.substitutions ?? {};
      for (const key of Object.keys(substitutions))
        if (!USER_SUBSTITUTION.test(key))
          throw new ApiError(
            "INVALID_ARGUMENT",
            `invalid .substitutions field: substitution key "${key}" does not respect format "^_[A-Z0-9_]+$"`,
          );
      if (input.options?.substitutionOption !== "ALLOW_LOOSE") {
        const used = stepText(input.steps);
        for (const key of Object.keys(substitutions))
          if (!used.includes(`$${key}`) && !used.includes(`\${${key}}`))
            throw new ApiError(
              "INVALID_ARGUMENT",
              `invalid .substitutions field: key "${key}" in the substitution data is not matched in the template`,
            );
      }
      const source = input.source?.storageSource;
      if (source && !objects.has(`${source.bucket ?? ""}/${source.object ?? ""}`))
        throw new ApiError(
          "INVALID_ARGUMENT",
          `could not resolve source: googleapi: Error 404: No such object: ${source.bucket ?? ""}/${source.object ?? ""}, notFound`,
        );
      counter += 1;
      const id = `${counter.toString(16).padStart(8, "0")}-b11d-4c0e-9000-000000000000`;
      const build: StoredBuild = {
        ...structuredClone(input),
        id,
        projectId,
        status: "QUEUED",
        createTime: stamp(counter),
        logUrl: `https://console.cloud.google.com/cloud-build/builds/${id}?project=${PROJECT_NUMBER}`,
        timeout: input.timeout ?? "600s",
      };
      model.builds.set(id, build);
      const name = `operations/build/${projectId}/${Buffer.from(id).toString("base64url")}`;
      model.operations.set(id, name);
      return { body: operationOf(build) };
    })
    .on("cloudbuild.operations.get", ({ params }) => {
      const name = params.name ?? "";
      const id = [...model.operations.entries()].find(([, op]) => op === name)?.[0];
      const build = id ? model.builds.get(id) : undefined;
      if (!build) throw new ApiError("NOT_FOUND", `Operation "${name}" was not found.`);
      return { body: operationOf(advance(build)) };
    })
    .on("cloudbuild.projects.builds.get", ({ params }) => ({
      body: structuredClone(advance(find(params.projectId ?? "", params.id ?? ""))),
    }))
    .on("cloudbuild.projects.builds.list", ({ params, query }) => {
      const filter = str(query.filter)?.trim() ?? "";
      const terms = filter === "" ? [] : filter.split(/\s+AND\s+/);
      const tests = terms.map((term) => {
        const found = /^(tags|status)\s*=\s*"([^"]*)"$/.exec(term);
        if (!found) throw new ApiError("INVALID_ARGUMENT", `Invalid filter: cannot parse "${term}"`);
        const [, field, value] = found;
        return (b: StoredBuild) =>
          field === "tags" ? (b.tags ?? []).includes(value ?? "") : b.status === value;
      });
      const matching = [...model.builds.values()]
        .filter((b) => b.projectId === params.projectId && tests.every((t) => t(b)))
        .sort((a, b) => b.createTime.localeCompare(a.createTime));
      const start = Number(str(query.pageToken) ?? "0");
      const size = Number(str(query.pageSize) ?? "0") || matching.length;
      const page = matching.slice(start, start + size).map((b) => structuredClone(b));
      return {
        body:
          start + size < matching.length
            ? { builds: page, nextPageToken: String(start + size) }
            : { builds: page },
      };
    });
  return model;
}

/** The parts of a multipart/related body: each part's headers and bytes. */
function multipartParts(body: Buffer, contentType: string): { type: string; bytes: Buffer }[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  if (!boundary) throw new ApiError("INVALID_ARGUMENT", "multipart upload without a boundary");
  const marker = Buffer.from(`--${boundary}`);
  const parts: { type: string; bytes: Buffer }[] = [];
  let at = body.indexOf(marker);
  while (at >= 0) {
    const next = body.indexOf(marker, at + marker.length);
    if (next < 0) break;
    const part = body.subarray(at + marker.length, next);
    const headerEnd = part.indexOf("\r\n\r\n");
    if (headerEnd >= 0) {
      const headers = part.subarray(0, headerEnd).toString("utf8");
      let bytes = part.subarray(headerEnd + 4);
      if (bytes.subarray(-2).toString() === "\r\n") bytes = bytes.subarray(0, -2);
      parts.push({ type: /content-type:\s*([^\r\n;]+)/i.exec(headers)?.[1] ?? "", bytes });
    }
    at = next;
  }
  return parts;
}

/**
 * The Cloud Storage JSON v1 media upload a build's source arrives by (`POST
 * /upload/storage/v1/b/{bucket}/o`, multipart: the object's JSON metadata, then its bytes), on
 * the storage contract server, whose excerpt holds no objects methods. The object must be named,
 * gzipped and a ustar archive; it is kept in `objects` for builds to fetch. The route sees no query
 * string, so the driver's `ifGenerationMatch=0` precondition is not checked here.
 */
export function bundleUploadModel(storage: ContractServer, model: CloudBuildModel): void {
  storage.onRaw(
    "storage.objects.insert",
    "POST",
    /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/,
    ({ groups, body, headers }) => {
      const bucket = groups[0] ?? "";
      const [metadata, media] = multipartParts(body, String(headers["content-type"] ?? ""));
      if (!metadata || !media || metadata.type !== "application/json")
        throw new ApiError(
          "INVALID_ARGUMENT",
          "a multipart upload needs the metadata part, then the media part",
        );
      const resource = JSON.parse(metadata.bytes.toString("utf8")) as { name?: string; contentType?: string };
      if (!resource.name) throw new ApiError("INVALID_ARGUMENT", "Required: the object name");
      let files: string[];
      try {
        files = tarEntries(gunzipSync(media.bytes)).map((e) => e.path);
      } catch (error) {
        throw new ApiError(
          "INVALID_ARGUMENT",
          `not a gzipped tar: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      model.objects.set(`${bucket}/${resource.name}`, Buffer.from(media.bytes));
      model.uploads.push({ bucket, name: resource.name, files });
      return {
        body: {
          kind: "storage#object",
          id: `${bucket}/${resource.name}/1`,
          name: resource.name,
          bucket,
          generation: "1",
          contentType: resource.contentType ?? media.type,
          size: String(media.bytes.length),
        },
      };
    },
  );
}
