/**
 * Hosting, staged: builds the release a `firebase deploy --only hosting` would upload (every file
 * of the site directory with its sha256, the rewrites, redirects and clean_urls), validates it as
 * strictly as Hosting would, and leaves the live site alone. The fabricator records the release.
 */
import type { Problem } from "../domain/problems.js";
import {
  functionExports,
  functionSources,
  liveNote,
  type FunctionExports,
  nothingStaged,
  problem,
  STAGED,
  settingPath,
} from "./rules-lint.js";
import type { DriverSpec, SourceReader } from "./types.js";
import { sha256, stableJson } from "../domain/digest.js";

/** One file of a release, keyed by its path below the site directory. */
export interface HostingFile {
  sha256: string;
  bytes: number;
}

/** The release manifest: what the recorded release holds and the artifact prints. */
export interface HostingRelease {
  site: string;
  public_dir: string;
  clean_urls: boolean;
  files: Record<string, HostingFile>;
  file_count: number;
  total_bytes: number;
  rewrites: { source: string; function: string }[];
  redirects: { source: string; destination: string; type: number }[];
}

/** A Hosting source pattern: a path glob from the site root (`/api/**`, `/{a,b}/*.html`). */
function globProblem(source: string): string | undefined {
  if (!source.startsWith("/")) return "a glob starting with '/'";
  if (/\s/.test(source)) return "a glob without spaces";
  let depth = 0;
  for (const char of source) {
    if (char === "{") depth += 1;
    if (char === "}") depth -= 1;
    if (depth < 0 || depth > 1) return "a glob with balanced, unnested {...} groups";
  }
  if (depth !== 0) return "a glob with balanced, unnested {...} groups";
  if (source.includes("***")) return "a glob using * or ** (not ***)";
  return undefined;
}

async function siteFiles(
  sources: SourceReader,
  publicDir: string,
): Promise<{ files: Record<string, HostingFile>; unreadable: string[] }> {
  const files: Record<string, HostingFile> = {};
  const unreadable: string[] = [];
  for (const name of await sources.listFiles(publicDir)) {
    const bytes = await sources.readBytes(`${publicDir}/${name}`);
    if (bytes === undefined) unreadable.push(name);
    else files[name.split("\\").join("/")] = { sha256: sha256(bytes), bytes: bytes.length };
  }
  return { files, unreadable };
}

export const hostingDriver: DriverSpec<"hosting", HostingRelease> = {
  kind: "hosting",
  ...STAGED,

  async desired(target, io) {
    const settings = target.settings;
    const problems: Problem[] = [];
    const at = (...rest: (string | number)[]) => settingPath(target.integration, ...rest);

    const { files, unreadable } = await siteFiles(io.sources, settings.public_dir);
    const names = Object.keys(files);
    if (names.length === 0 && unreadable.length === 0) {
      const exists = (await io.sources.readBytes(settings.public_dir)) !== undefined;
      problems.push(
        problem(
          at("public_dir"),
          exists
            ? `"${settings.public_dir}", which is a file, not a directory`
            : `"${settings.public_dir}", which is missing or has no files`,
          "a directory of the repository holding the site's files",
        ),
      );
    }
    for (const name of unreadable) {
      problems.push(
        problem(`${settings.public_dir}/${name}`, "a file that cannot be read", "readable files"),
      );
    }

    const seenRedirects = new Map<string, number>();
    settings.redirects.forEach((redirect, index) => {
      const bad = globProblem(redirect.source);
      if (bad) problems.push(problem(at("redirects", index, "source"), JSON.stringify(redirect.source), bad));
      const earlier = seenRedirects.get(redirect.source);
      if (earlier !== undefined) {
        problems.push(
          problem(
            at("redirects", index, "source"),
            `"${redirect.source}", already matched by redirects[${earlier}] (this one can never apply)`,
            "each source once",
          ),
        );
      } else seenRedirects.set(redirect.source, index);
      const destination = redirect.destination.trim();
      if (destination === "" || !(destination.startsWith("/") || /^https?:\/\/[^\s/]+/.test(destination))) {
        problems.push(
          problem(
            at("redirects", index, "destination"),
            JSON.stringify(redirect.destination),
            "a path starting with '/' or an http(s):// URL",
          ),
        );
      }
      if (redirect.type !== 301 && redirect.type !== 302) {
        problems.push(problem(at("redirects", index, "type"), String(redirect.type), "301 or 302"));
      }
    });

    const exported =
      settings.rewrites.length > 0
        ? await Promise.all(
            functionSources(target.environment).map((source) => functionExports(io.sources, source)),
          )
        : [];
    const readable = exported.filter((found): found is FunctionExports => typeof found !== "string");
    const unreadableSources = exported.filter((found): found is string => typeof found === "string");
    const exportedNames = [...new Set(readable.flatMap((found) => found.names))].sort();
    const seenRewrites = new Map<string, number>();
    settings.rewrites.forEach((rewrite, index) => {
      const bad = globProblem(rewrite.source);
      if (bad) problems.push(problem(at("rewrites", index, "source"), JSON.stringify(rewrite.source), bad));
      const earlier = seenRewrites.get(rewrite.source);
      if (earlier !== undefined) {
        problems.push(
          problem(
            at("rewrites", index, "source"),
            `"${rewrite.source}", already matched by rewrites[${earlier}] (this one can never apply)`,
            "each source once",
          ),
        );
      } else seenRewrites.set(rewrite.source, index);
      const shadow = seenRedirects.get(rewrite.source);
      if (shadow !== undefined) {
        problems.push(
          problem(
            at("rewrites", index, "source"),
            `"${rewrite.source}", which redirects[${shadow}] redirects first (this rewrite can never apply)`,
            "a source no redirect takes",
          ),
        );
      }
      if (exportedNames.includes(rewrite.function)) return;
      if (unreadableSources.length > 0) {
        problems.push(
          problem(
            at("rewrites", index, "function"),
            `"${rewrite.function}", but ${unreadableSources.join("; ")}`,
            "a readable functions source",
          ),
        );
        return;
      }
      const mains = readable.map((found) => found.main);
      problems.push(
        problem(
          at("rewrites", index, "function"),
          `"${rewrite.function}", which ${mains.length === 1 ? `${mains[0]} does not export` : `none of ${mains.join(", ")} exports`}`,
          `a function of the environment: ${exportedNames.join(", ") || "(none exported)"}`,
        ),
      );
    });

    const state: HostingRelease = {
      site: settings.site,
      public_dir: settings.public_dir,
      clean_urls: settings.clean_urls,
      files,
      file_count: names.length,
      total_bytes: Object.values(files).reduce((sum, file) => sum + file.bytes, 0),
      rewrites: settings.rewrites.map((rewrite) => ({ source: rewrite.source, function: rewrite.function })),
      redirects: settings.redirects.map((redirect) => ({
        source: redirect.source,
        destination: redirect.destination,
        type: redirect.type,
      })),
    };
    return {
      state,
      problems,
      artifact: {
        name: `hosting/${target.environment.name}/${settings.site}/release.json`,
        content: stableJson({ ...state, project_id: target.environment.project_id }),
      },
    };
  },

  async verify(target, io, release) {
    if (!release) return nothingStaged(target);
    const recorded = release.state as Partial<HostingRelease> | undefined;
    if (!recorded || typeof recorded.files !== "object" || typeof recorded.public_dir !== "string") {
      return {
        status: "degraded",
        details: `staged release ${release.number} holds no hosting manifest${liveNote(target.environment)}`,
      };
    }
    const { files: current } = await siteFiles(io.sources, recorded.public_dir);
    const differences: string[] = [];
    for (const [name, file] of Object.entries(recorded.files).sort(([a], [b]) => a.localeCompare(b))) {
      const now = current[name];
      if (!now) differences.push(`${recorded.public_dir}/${name} is missing`);
      else if (now.sha256 !== file.sha256) differences.push(`${recorded.public_dir}/${name} changed`);
    }
    for (const name of Object.keys(current).sort()) {
      if (!(name in recorded.files)) differences.push(`${recorded.public_dir}/${name} is new`);
    }
    const suffix = liveNote(target.environment);
    if (differences.length > 0) {
      return {
        status: "degraded",
        details: `staged release ${release.number} of site ${recorded.site ?? "?"} no longer matches the site: ${differences.join("; ")}${suffix}`,
      };
    }
    return {
      status: "healthy",
      details: `staged release ${release.number} of site ${recorded.site ?? "?"} matches ${recorded.public_dir} (${Object.keys(recorded.files).length} files); nothing live touched${suffix}`,
    };
  },
};
