/**
 * Artifact promotion: which part of an integration's release is the artifact a promotion carries
 * from one environment to the next (the site's files, the rules and indexes, the function bundle,
 * the sign-in config), and which part stays the target's own (instances, memory, domains, seed
 * data, MFA). Pure: works on recorded release states; hashing only.
 */
import { z } from "zod";
import { diffStates } from "./fabricator.js";
import type { IntegrationKind } from "../domain/integrations.js";
import { contentHash, sha256 } from "../domain/digest.js";

/** The kinds whose releases hold an artifact; the others are the environment's own configuration. */
export const PROMOTABLE_KINDS = ["auth", "firestore", "functions", "hosting", "storage"] as const;
export type PromotableKind = (typeof PROMOTABLE_KINDS)[number];

export function isPromotable(kind: IntegrationKind): kind is PromotableKind {
  return (PROMOTABLE_KINDS as readonly string[]).includes(kind);
}

type Json = Record<string, unknown>;
const isRecord = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function getPath(state: unknown, path: string): unknown {
  let node = state;
  for (const key of path.split(".")) node = isRecord(node) ? node[key] : undefined;
  return node;
}

/** A copy of `state` with `value` at `path` (objects on the way created when missing). */
function setPath(state: unknown, path: string, value: unknown): Json {
  const [head, ...rest] = path.split(".");
  const base: Json = isRecord(state) ? { ...state } : {};
  if (head === undefined) return base;
  base[head] = rest.length === 0 ? structuredClone(value) : setPath(base[head], rest.join("."), value);
  return base;
}

function withoutPath(state: unknown, path: string): unknown {
  const [head, ...rest] = path.split(".");
  if (!isRecord(state) || head === undefined || !(head in state)) return state;
  const copy: Json = { ...state };
  if (rest.length === 0) delete copy[head];
  else copy[head] = withoutPath(copy[head], rest.join("."));
  return copy;
}

/** Per kind: the state paths that are the artifact, and the hashes a person compares. */
const ARTIFACTS: { [K in PromotableKind]: { paths: string[]; hashes(state: unknown): Json } } = {
  hosting: {
    paths: ["files", "file_count", "total_bytes", "rewrites", "redirects", "clean_urls"],
    hashes: (state) => ({
      files: Object.fromEntries(
        Object.entries(isRecord(getPath(state, "files")) ? (getPath(state, "files") as Json) : {})
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([name, file]) => [name, getPath(file, "sha256") ?? null]),
      ),
      file_count: getPath(state, "file_count") ?? null,
    }),
  },
  firestore: {
    paths: ["rules", "indexes"],
    hashes: (state) => {
      const rules = getPath(state, "rules");
      return {
        ruleset_sha256: typeof rules === "string" ? sha256(rules) : null,
        indexes: getPath(state, "indexes") ?? [],
      };
    },
  },
  functions: {
    paths: [
      "staged_service.runtime",
      "staged_service.bundle_digest",
      "staged_service.bundle_files",
      "topics",
    ],
    hashes: (state) => ({
      bundle_sha256: getPath(state, "staged_service.bundle_digest") ?? null,
      bundle_files: getPath(state, "staged_service.bundle_files") ?? null,
      runtime: getPath(state, "staged_service.runtime") ?? null,
      topics: Object.keys(
        isRecord(getPath(state, "topics")) ? (getPath(state, "topics") as Json) : {},
      ).sort(),
    }),
  },
  auth: {
    paths: ["config.signIn", "config.passwordPolicyConfig"],
    hashes: (state) => ({
      sign_in: getPath(state, "config.signIn") ?? null,
      password_policy: getPath(state, "config.passwordPolicyConfig") ?? null,
    }),
  },
  storage: {
    paths: ["rules"],
    hashes: (state) => ({ rules_sha256: getPath(state, "rules.sha256") ?? null }),
  },
};

/** The artifact part of a release state: what a promotion carries. */
export function artifactOf(kind: PromotableKind, state: unknown): Json {
  return Object.fromEntries(ARTIFACTS[kind].paths.map((path) => [path, getPath(state, path)]));
}

/** The sha256 of the artifact part: equal artifacts, equal digests, whatever the target keeps. */
export function artifactDigest(kind: PromotableKind, state: unknown): string {
  return contentHash(artifactOf(kind, state));
}

/** The hashes of an artifact a person compares (file hashes, ruleset hash, bundle hash, index set, auth config). */
export function artifactHashes(
  kind: PromotableKind,
  state: unknown,
): { artifact_sha256: string; [hash: string]: unknown } {
  return { artifact_sha256: artifactDigest(kind, state), ...ARTIFACTS[kind].hashes(state) };
}

/** The target's desired state with the source's artifact in place of its own. */
export function promotedState(kind: PromotableKind, source: unknown, targetDesired: unknown): unknown {
  return ARTIFACTS[kind].paths.reduce<unknown>(
    (state, path) => setPath(state, path, getPath(source, path)),
    targetDesired,
  );
}

/** What the target keeps of its own that differs from the source: its overrides, shown in the plan. */
export function targetOverrides(
  kind: PromotableKind,
  source: unknown,
  targetDesired: unknown,
): { path: string; source: unknown; target: unknown }[] {
  const own = (state: unknown) => ARTIFACTS[kind].paths.reduce(withoutPath, state);
  return diffStates(own(source), own(targetDesired)).map((change) => ({
    path: change.path,
    source: change.from ?? null,
    target: change.to ?? null,
  }));
}

/** A promotion deployment's pins: per integration, the source release it applies and that release's artifact digest. */
export const promotionPinsSchema = z.strictObject({
  from: z.string().min(1),
  releases: z.record(
    z.string(),
    z.strictObject({ release: z.int().min(1), artifact_sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  ),
});
export type PromotionPins = z.infer<typeof promotionPinsSchema>;

/** Where a promoted release's artifact came from, kept on the release record. */
export interface PromotedFrom {
  environment: string;
  release: number;
  artifact_sha256: string;
}
