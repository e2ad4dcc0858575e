import { createHash } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { ApiError } from "../resources.js";
import type { ContractServer } from "../server.js";

type Json = Record<string, unknown>;
type Version = Json & { name: string; status: string; labels?: Record<string, string>; config?: Json };
type Release = Json & { name: string; version: Version; type: string; releaseTime: string };

/** What the model holds for one site, for tests to inspect. */
export type HostingSite = {
  versions: Map<string, Version>;
  /** path -> hash, per version. */
  files: Map<string, Record<string, string>>;
  /** Newest first. */
  releases: Release[];
};

/** The model's state: sites by id, and the content store (hash -> gzipped bytes) shared by a site's versions. */
export type HostingModel = { sites: Map<string, HostingSite>; content: Map<string, Buffer> };

const str = (value: string | string[] | undefined): string | undefined =>
  Array.isArray(value) ? value[0] : value;

const sha256 = (bytes: Buffer): string => createHash("sha256").update(bytes).digest("hex");

/**
 * Firebase Hosting v1beta1 as its reference and REST deploy guide describe it, registered on a
 * contract server: a version is CREATED, gets files by hash (populateFiles answers the hashes not yet
 * uploaded and the upload URL), takes uploads whose gzipped bytes hash to the name they are sent
 * under, can only move CREATED -> FINALIZED (FAILED_PRECONDITION otherwise, or while a file is
 * still EXPECTED), and only a FINALIZED version can be released. Releasing a version released before
 * is a ROLLBACK. The `live` channel's release is the newest. Unknown sites answer 404.
 */
export function firebaseHostingModel(
  server: ContractServer,
  siteIds: string[],
  now: () => Date = () => new Date(),
): HostingModel {
  const model: HostingModel = { sites: new Map(), content: new Map() };
  for (const id of siteIds) model.sites.set(id, { versions: new Map(), files: new Map(), releases: [] });
  let counter = 0;

  const siteOf = (name: string | undefined): { id: string; site: HostingSite } => {
    const id = /^sites\/([^/]+)/.exec(name ?? "")?.[1] ?? "";
    const site = model.sites.get(id);
    if (!site) throw new ApiError("NOT_FOUND", `Requested entity was not found: site ${id}.`);
    return { id, site };
  };
  const versionOf = (name: string | undefined): { site: HostingSite; version: Version } => {
    const { site } = siteOf(name);
    const version = site.versions.get(name ?? "");
    if (!version) throw new ApiError("NOT_FOUND", `Version ${name} was not found.`);
    return { site, version };
  };
  const page = <T>(items: T[], query: Record<string, string | string[]>, fallback: number) => {
    const size = Number(str(query.pageSize) ?? fallback) || fallback;
    const start = Number(Buffer.from(str(query.pageToken) ?? "", "base64url").toString() || "0");
    const slice = items.slice(start, start + size);
    const next =
      start + size < items.length ? Buffer.from(String(start + size)).toString("base64url") : undefined;
    return { slice, next };
  };

  server
    .on("firebasehosting.sites.versions.create", ({ params, body }) => {
      const { id, site } = siteOf(params.parent);
      const input = (body ?? {}) as Json;
      counter += 1;
      const name = `sites/${id}/versions/v${String(counter).padStart(6, "0")}`;
      const version: Version = {
        name,
        status: "CREATED",
        createTime: now().toISOString(),
        ...(input.config ? { config: input.config as Json } : {}),
        ...(input.labels ? { labels: input.labels as Record<string, string> } : {}),
      };
      site.versions.set(name, version);
      site.files.set(name, {});
      return { body: version };
    })
    .on("firebasehosting.sites.versions.list", ({ params, query }) => {
      const { site } = siteOf(params.parent);
      const { slice, next } = page([...site.versions.values()], query, 25);
      return { body: next ? { versions: slice, nextPageToken: next } : { versions: slice } };
    })
    .on("firebasehosting.sites.versions.populateFiles", ({ params, body, headers }) => {
      const { site, version } = versionOf(params.parent);
      if (version.status !== "CREATED")
        throw new ApiError(
          "FAILED_PRECONDITION",
          `Version ${version.name} is ${version.status}; files can only be added while CREATED.`,
        );
      const files = ((body ?? {}) as { files?: Record<string, string> }).files ?? {};
      const held = site.files.get(version.name) ?? {};
      for (const [path, hash] of Object.entries(files)) {
        if (!/^[0-9a-f]{64}$/.test(hash) && hash !== "")
          throw new ApiError("INVALID_ARGUMENT", `files["${path}"]: "${hash}" is not a SHA-256 hash.`);
        if (hash === "") delete held[path];
        else held[path] = hash;
      }
      site.files.set(version.name, held);
      const missing = [...new Set(Object.values(files))]
        .filter((h) => h !== "" && !model.content.has(h))
        .sort();
      return {
        body: {
          uploadRequiredHashes: missing,
          uploadUrl: `http://${headers.host ?? "127.0.0.1"}/upload/${version.name}/files`,
        },
      };
    })
    .on("firebasehosting.sites.versions.files.list", ({ params, query }) => {
      const { site, version } = versionOf(params.parent);
      const wanted = str(query.status);
      const files = Object.entries(site.files.get(version.name) ?? {})
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([path, hash]) => ({ path, hash, status: model.content.has(hash) ? "ACTIVE" : "EXPECTED" }))
        .filter((file) => !wanted || wanted === "STATUS_UNSPECIFIED" || file.status === wanted);
      const { slice, next } = page(files, query, 1000);
      return { body: next ? { files: slice, nextPageToken: next } : { files: slice } };
    })
    .on("firebasehosting.sites.versions.patch", ({ params, query, body }) => {
      const { site, version } = versionOf(params.name);
      const mask = (str(query.updateMask) ?? "status").split(",");
      const wanted = ((body ?? {}) as { status?: string }).status;
      if (mask.includes("status") && wanted !== version.status) {
        if (version.status !== "CREATED" || wanted !== "FINALIZED")
          throw new ApiError(
            "FAILED_PRECONDITION",
            `Invalid status transition of ${version.name}: ${version.status} -> ${wanted ?? "(none)"}.`,
          );
        const expected = Object.values(site.files.get(version.name) ?? {}).filter(
          (h) => !model.content.has(h),
        );
        if (expected.length > 0)
          throw new ApiError(
            "FAILED_PRECONDITION",
            `Version ${version.name} has ${expected.length} file(s) not uploaded yet.`,
          );
        const count = Object.keys(site.files.get(version.name) ?? {}).length;
        Object.assign(version, {
          status: "FINALIZED",
          finalizeTime: now().toISOString(),
          fileCount: String(count),
        });
      }
      return { body: version };
    })
    .on("firebasehosting.sites.releases.create", ({ params, query, body }) => {
      const { id, site } = siteOf(params.parent);
      const versionName = str(query.versionName);
      const { version } = versionOf(versionName);
      if (!versionName?.startsWith(`sites/${id}/`))
        throw new ApiError("INVALID_ARGUMENT", `versionName ${versionName} is not a version of site ${id}.`);
      if (version.status !== "FINALIZED")
        throw new ApiError(
          "FAILED_PRECONDITION",
          `Version ${version.name} is ${version.status}; only FINALIZED versions can be released.`,
        );
      const before = site.releases.some((r) => r.version.name === version.name);
      counter += 1;
      const release: Release = {
        name: `sites/${id}/releases/r${String(counter).padStart(6, "0")}`,
        version: structuredClone(version),
        type: before ? "ROLLBACK" : "DEPLOY",
        releaseTime: now().toISOString(),
        ...(typeof (body as Json | undefined)?.message === "string"
          ? { message: (body as Json).message }
          : {}),
      };
      site.releases.unshift(release);
      return { body: release };
    })
    .on("firebasehosting.sites.releases.list", ({ params, query }) => {
      const { site } = siteOf(params.parent);
      const { slice, next } = page(site.releases, query, 100);
      return { body: next ? { releases: slice, nextPageToken: next } : { releases: slice } };
    })
    .on("firebasehosting.sites.channels.get", ({ params }) => {
      const { site } = siteOf(params.name);
      if (!params.name?.endsWith("/channels/live"))
        throw new ApiError("NOT_FOUND", `Channel ${params.name} was not found.`);
      const release = site.releases[0];
      return { body: release ? { name: params.name, release } : { name: params.name } };
    })
    .onRaw(
      "upload",
      "POST",
      /^\/upload\/(sites\/[^/]+\/versions\/[^/]+)\/files\/([^/]+)$/,
      ({ groups, body, headers }) => {
        const [versionName, hash] = groups;
        const { site, version } = versionOf(versionName);
        if (version.status !== "CREATED")
          throw new ApiError(
            "FAILED_PRECONDITION",
            `Version ${version.name} is ${version.status}; uploads need CREATED.`,
          );
        if (!String(headers["content-type"] ?? "").startsWith("application/octet-stream"))
          throw new ApiError(
            "INVALID_ARGUMENT",
            `upload: content-type must be application/octet-stream, found ${headers["content-type"] ?? "none"}`,
          );
        if (sha256(body) !== hash)
          throw new ApiError(
            "INVALID_ARGUMENT",
            `upload: the body's SHA-256 is ${sha256(body)}, not ${hash ?? ""}`,
          );
        try {
          gunzipSync(body);
        } catch {
          throw new ApiError("INVALID_ARGUMENT", "upload: the body is not gzipped");
        }
        if (!Object.values(site.files.get(version.name) ?? {}).includes(hash ?? ""))
          throw new ApiError("INVALID_ARGUMENT", `upload: no file of ${version.name} has hash ${hash ?? ""}`);
        model.content.set(hash ?? "", body);
        return { body: {} };
      },
    );
  return model;
}
