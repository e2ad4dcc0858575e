/**
 * Hosting, live: what `firebase deploy --only hosting` and `hosting:rollback` do, driven by our
 * plan, through the Firebase Hosting REST API (v1beta1, googleapis):
 * plan reads the live channel's release (its version's serving config and file hashes) and diffs it
 * field by field; apply creates a version, populates its files by hash (the SHA-256 of the gzipped
 * bytes), uploads only the hashes Hosting says it lacks, finalizes and releases it. Each version is
 * labelled with the digest of the state it holds, so applying a state Hosting already holds as a
 * finalized, released version releases that version again without uploading: that is how a rollback
 * goes back to the previous release.
 */
import { gzipSync } from "node:zlib";
import type { firebasehosting_v1beta1 } from "googleapis/build/src/apis/firebasehosting/v1beta1.js";
import { NonRetriableError } from "../../domain/errors.js";

import { hostingDriver, type HostingRelease } from "../hosting.js";

import type { DriverIO, DriverSpec, DriverTarget } from "../types.js";
import {
  callGoogle,
  callGoogleData,
  hostingApi,
  HttpAnswerError,
  pacedFetch,
  requireAccess,
  type GoogleAccess,
} from "./google.js";
import { contentHash, sha256 } from "../../domain/digest.js";

/** The live state of a site: what its live channel serves. */
export interface HostingLiveState {
  site: string;
  config: {
    cleanUrls: boolean;
    rewrites: { glob: string; function: string }[];
    redirects: { glob: string; location: string; statusCode: number }[];
  };
  /** "/path" -> SHA-256 of the gzipped file, as Hosting names content. */
  files: Record<string, string>;
}

/** The version label that holds the digest of the state a version was made from. */
export const DIGEST_LABEL = "orchestration-digest";
const READ = "firebasehosting.sites.get";
const WRITE = "firebasehosting.sites.update";

/** The gzipped bytes Hosting stores for a file; deterministic, so a file's hash is stable across runs. */
export const gzipForHosting = (bytes: Buffer): Buffer => gzipSync(bytes, { level: 9 });

/** The label value of a state: the first 40 hex digits of its digest. */
export const labelOf = (state: HostingLiveState): string => contentHash(state).slice(0, 40);

async function liveFromStaged(staged: HostingRelease, io: DriverIO): Promise<HostingLiveState> {
  const files: Record<string, string> = {};
  for (const name of Object.keys(staged.files).sort()) {
    const bytes = await io.sources.readBytes(`${staged.public_dir}/${name}`);
    if (bytes !== undefined) files[`/${name}`] = sha256(gzipForHosting(bytes));
  }
  return {
    site: staged.site,
    config: {
      cleanUrls: staged.clean_urls,
      rewrites: staged.rewrites.map((r) => ({ glob: r.source, function: r.function })),
      redirects: staged.redirects.map((r) => ({
        glob: r.source,
        location: r.destination,
        statusCode: r.type,
      })),
    },
    files,
  };
}

/** A served config as our state spells it (Hosting omits false and empty fields). */
function configOf(
  config: firebasehosting_v1beta1.Schema$ServingConfig | undefined,
): HostingLiveState["config"] {
  return {
    cleanUrls: config?.cleanUrls ?? false,
    rewrites: (config?.rewrites ?? []).map((r) => ({
      glob: r.glob ?? r.regex ?? "",
      function: r.function ?? "",
    })),
    redirects: (config?.redirects ?? []).map((r) => ({
      glob: r.glob ?? r.regex ?? "",
      location: r.location ?? "",
      statusCode: r.statusCode ?? 0,
    })),
  };
}

async function liveRelease(
  access: GoogleAccess,
  api: firebasehosting_v1beta1.Firebasehosting,
  target: DriverTarget<"hosting">,
): Promise<firebasehosting_v1beta1.Schema$Release | undefined> {
  const site = target.settings.site;
  const answer = await callGoogle(
    access,
    `reading the live channel of Hosting site ${site}`,
    READ,
    () => api.sites.channels.get({ name: `sites/${site}/channels/live` }),
    [404],
  );
  if (!answer.ok)
    throw new NonRetriableError(
      `Hosting site "${site}" was not found (${answer.failure.message}); create it in project ${target.environment.project_id} with \`firebase hosting:sites:create ${site}\`, or set hosting.site to an existing site`,
    );
  const release = answer.data.release ?? undefined;
  return release?.version?.name && release.type !== "SITE_DISABLE" ? release : undefined;
}

async function versionFiles(
  access: GoogleAccess,
  api: firebasehosting_v1beta1.Firebasehosting,
  version: string,
): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  let pageToken: string | undefined;
  do {
    const page = await callGoogleData(access, `listing the files of ${version}`, READ, () =>
      api.sites.versions.files.list({ parent: version, pageSize: 1000, ...(pageToken ? { pageToken } : {}) }),
    );
    for (const file of page.files ?? []) if (file.path && file.hash) files[file.path] = file.hash;
    pageToken = page.nextPageToken ?? undefined;
  } while (pageToken);
  return files;
}

async function uploadFile(access: GoogleAccess, io: DriverIO, url: string, body: Buffer): Promise<void> {
  const client = await access.auth();
  const headers = new Headers(await client.getRequestHeaders(url));
  headers.set("content-type", "application/octet-stream");
  await callGoogleData(access, `uploading ${url}`, WRITE, async () => {
    // Through the pacer, as the client's requests are (it bypasses googleapis, so no adapter sees it).
    const response = await pacedFetch(access, "firebasehosting", "POST", url, () =>
      io.fetch(url, { method: "POST", headers, body: new Uint8Array(body) }),
    );
    const text = await response.text();
    // Shaped as googleapis errors are, so the one retry policy reads it.
    if (!response.ok)
      throw new HttpAnswerError({ status: response.status, headers: response.headers, data: text });
    return { data: text };
  });
}

/** The live half of the hosting driver; the staged half (hosting.ts) validates the same config. */
export const liveHostingSpec: DriverSpec<"hosting", HostingLiveState> = {
  kind: "hosting",
  mode: () => "live",

  async desired(target, io) {
    const staged = await hostingDriver.desired(target, io);
    return { ...staged, state: await liveFromStaged(staged.state, io) };
  },

  async observe(target, io) {
    const access = requireAccess(io.google, "hosting");
    const api = await hostingApi(access);
    const release = await liveRelease(access, api, target);
    if (!release?.version?.name) return undefined;
    return {
      site: target.settings.site,
      config: configOf(release.version.config ?? undefined),
      files: await versionFiles(access, api, release.version.name),
    };
  },

  async apply(target, state, io) {
    const access = requireAccess(io.google, "hosting");
    const api = await hostingApi(access);
    const site = `sites/${state.site}`;
    const label = labelOf(state);
    const release = (versionName: string, message: string) =>
      callGoogleData(access, `releasing ${versionName}`, WRITE, () =>
        api.sites.releases.create({ parent: site, versionName, requestBody: { message } }),
      );

    const recent = await callGoogleData(access, `listing the releases of ${site}`, READ, () =>
      api.sites.releases.list({ parent: site, pageSize: 100 }),
    );
    const held = (recent.releases ?? [])
      .map((r) => r.version)
      .find((v) => v?.status === "FINALIZED" && v.labels?.[DIGEST_LABEL] === label && v.name);
    if (held?.name) {
      await release(held.name, `orchestration: release ${label.slice(0, 12)} again`);
      return;
    }

    const version = await callGoogleData(access, `creating a version of ${site}`, WRITE, () =>
      api.sites.versions.create({
        parent: site,
        requestBody: { config: state.config, labels: { [DIGEST_LABEL]: label } },
      }),
    );
    const versionName = version.name ?? "";
    const populated = await callGoogleData(access, `populating the files of ${versionName}`, WRITE, () =>
      api.sites.versions.populateFiles({ parent: versionName, requestBody: { files: state.files } }),
    );
    const pathOfHash = new Map(Object.entries(state.files).map(([path, hash]) => [hash, path]));
    for (const hash of populated.uploadRequiredHashes ?? []) {
      const path = pathOfHash.get(hash);
      const bytes = path ? await io.sources.readBytes(`${target.settings.public_dir}${path}`) : undefined;
      const gzipped = bytes ? gzipForHosting(bytes) : undefined;
      if (!gzipped || sha256(gzipped) !== hash)
        throw new NonRetriableError(
          `Hosting needs the content of ${path ?? `hash ${hash}`} (hash ${hash.slice(0, 12)}), which ${target.settings.public_dir} no longer holds and no retained version has; restore the file or deploy the current site`,
        );
      await uploadFile(access, io, `${populated.uploadUrl ?? ""}/${hash}`, gzipped);
    }
    await callGoogleData(access, `finalizing ${versionName}`, WRITE, () =>
      api.sites.versions.patch({
        name: versionName,
        updateMask: "status",
        requestBody: { status: "FINALIZED" },
      }),
    );
    await release(
      versionName,
      `orchestration: ${Object.keys(state.files).length} file(s), ${label.slice(0, 12)}`,
    );
  },

  async verify(target, io, recorded) {
    const access = requireAccess(io.google, "hosting");
    const api = await hostingApi(access);
    const release = await liveRelease(access, api, target);
    if (!release?.version)
      return { status: "down", details: `site ${target.settings.site} serves no release` };
    const serving = release.version.labels?.[DIGEST_LABEL];
    const expected = recorded ? labelOf(recorded.state as HostingLiveState) : undefined;
    if (expected && serving !== expected)
      return {
        status: "degraded",
        details: `the live channel of ${target.settings.site} serves ${release.version.name ?? "?"}, not the content of release ${recorded?.number ?? "?"} (someone deployed outside the control plane?)`,
      };
    return {
      status: "healthy",
      details: `Google reports ${release.version.name ?? "?"} live on ${target.settings.site} (${release.version.fileCount ?? "?"} files)${recorded ? `, matching release ${recorded.number}` : ""}`,
    };
  },
};
