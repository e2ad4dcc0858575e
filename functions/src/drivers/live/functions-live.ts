/**
 * Functions, live: `firebase deploy --only functions:<codebase>` run by Cloud Build (v1), the
 * platform's own build engine, on the environment's source bundle.
 *
 * What is uploaded: apply packs the bundle the local driver digests (the source directory without
 * node_modules) as `functions/` in a deterministic .tar.gz, with a generated `firebase.json`
 * naming that directory as the codebase `<integration>`, and creates it once, with
 * `ifGenerationMatch=0`, at `gs://<project>.firebasestorage.app/orchestration-functions/<env>/<codebase>/<digest>.tar.gz`
 * (content-addressed: a 412 means it is already there). A rollback to an older bundle uploads
 * nothing: its object was created when that release was applied (if it was deleted since, Cloud
 * Build refuses the source and the error says so). Cloud Build fetches the object as the project's
 * default build service account, which needs to read that bucket and to deploy functions.
 *
 * The build: `npm ci` (or `npm install` without a lockfile) in `functions/`, then
 * `npx firebase-tools@<the repo's pinned version> deploy --only functions:<codebase> --project P
 * --non-interactive --force` on `node:22`. The codebase scope keeps `--force` (which deletes
 * functions missing from the source instead of prompting) to the functions this integration
 * deployed. Memory, instances, concurrency and timeout are the functions' own code's to set
 * (firebase-functions `setGlobalOptions`): the deploy step's environment carries them as
 * `ORCHESTRATION_FUNCTIONS_*` for code that reads them at load, and the build's substitutions
 * record them, so observe reads back what was deployed, but nothing here forces them on the
 * functions. Topics are created by firebase deploy for the functions that listen on them; the
 * driver neither creates nor reads them live.
 *
 * Each build is tagged `orchestrator`, `env-<environment>`, `integration-<codebase>` and
 * `bundle-<12 hex of the digest>`: observe lists the newest successful build with those tags.
 */
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import type { cloudbuild_v1 } from "googleapis/build/src/apis/cloudbuild/v1.js";
import { NonRetriableError } from "../../domain/errors.js";
import { contentHash } from "../../domain/digest.js";
import { problem } from "../emulator-rest.js";
import {
  buildBundle,
  checkFunctionsSettings,
  checkPackage,
  serviceOf,
  type StagedService,
} from "../functions.js";
import type { DriverIO, DriverSpec, DriverTarget, Release } from "../types.js";
import {
  callGoogle,
  callGoogleData,
  cloudBuildApi,
  OPERATION_BUDGET,
  requireAccess,
  storageApi,
  type GoogleAccess,
  type LongRunningOperation,
  type OperationBudget,
} from "./google.js";

/** What an environment's functions integration holds live: the newest successful build of ours. */
export interface FunctionsLiveState {
  /** The service settings and bundle digest, as the local driver computes them. */
  service: StagedService;
  /** The Cloud Storage object Cloud Build fetches the bundle from. */
  source: { bucket: string; object: string };
  /** What runs the deploy. */
  builder: { image: string; firebase_tools: string; install: "ci" | "install" };
}

/** The firebase-tools version the repository pins (package.json), so a build deploys as local runs do. */
export const FIREBASE_TOOLS_VERSION = "15.34.2";
/** A public image with Node 22 and npx: firebase-tools runs the functions' code (nodejs22) to find them. */
export const BUILDER_IMAGE = "node:22";
/** The tag every build of ours carries. */
export const ORCHESTRATOR_TAG = "orchestrator";
/** Where bundles go, under the project's Firebase bucket. */
const SOURCE_FOLDER = "orchestration-functions";
/** Cloud Build's limit for the build itself; firebase deploy of a small codebase takes a few minutes. */
export const BUILD_TIMEOUT = "1200s";
/** The default wait: 120 polls 10 s apart (20 minutes, the build's own timeout). */
export const BUILD_BUDGET: OperationBudget = { polls: 120, intervalMs: OPERATION_BUDGET.intervalMs };

const CREATE = "cloudbuild.builds.create";
const GET = "cloudbuild.builds.get";
const LIST = "cloudbuild.builds.list";
const UPLOAD = "storage.objects.create";

/** Build statuses after which nothing changes (Build.status). */
const FINAL = new Set(["SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED"]);
/** Final statuses a retry may fix: Google's side, or a build that ran out of time. */
const RETRIABLE = new Set(["INTERNAL_ERROR", "TIMEOUT"]);
/** firebase-tools' codebase names: lower-case letters, digits, dashes and underscores, at most 63. */
const CODEBASE = /^[a-z0-9_-]{1,63}$/;

/** A Cloud Build tag: `^[\w][\w.-]{0,127}$`, so other characters become dashes. */
const tagSafe = (text: string) => text.replace(/[^\w.-]/g, "-").slice(0, 120);
/** The firebase-tools codebase of an integration: `functions`, `functions-orders`. */
export const codebaseOf = (integration: string): string => integration.replace(/:/g, "-");

/** The tags that find this integration's builds. */
export function tagsOf(target: DriverTarget): string[] {
  return [
    ORCHESTRATOR_TAG,
    `env-${tagSafe(target.environment.name)}`,
    `integration-${tagSafe(codebaseOf(target.integration))}`,
  ];
}

const bucketOf = (project: string) => `${project}.firebasestorage.app`;
const objectOf = (target: DriverTarget, digest: string) =>
  `${SOURCE_FOLDER}/${target.environment.name}/${codebaseOf(target.integration)}/${digest}.tar.gz`;

/** The settings a build records as substitutions (user substitutions start with an underscore). */
function substitutionsOf(state: FunctionsLiveState): Record<string, string> {
  const s = state.service;
  return {
    _BUNDLE_DIGEST: s.bundle_digest,
    _BUNDLE_FILES: String(s.bundle_files),
    _RUNTIME: s.runtime,
    _MEMORY: s.memory,
    _MIN_INSTANCES: String(s.min_instances),
    _MAX_INSTANCES: String(s.max_instances),
    _CONCURRENCY: String(s.concurrency),
    _TIMEOUT_SECONDS: String(s.timeout_seconds),
    _BUILDER_IMAGE: state.builder.image,
    _FIREBASE_TOOLS: state.builder.firebase_tools,
    _INSTALL: state.builder.install,
  };
}

/** The state a build of ours deployed, read from its substitutions and source; undefined for a build that is not ours. */
export function stateOfBuild(build: cloudbuild_v1.Schema$Build): FunctionsLiveState | undefined {
  const sub = build.substitutions ?? {};
  const storage = build.source?.storageSource;
  const num = (key: string) => Number(sub[key] ?? NaN);
  const install = sub._INSTALL;
  if (
    !sub._BUNDLE_DIGEST ||
    !storage?.bucket ||
    !storage.object ||
    (install !== "ci" && install !== "install")
  )
    return undefined;
  return {
    service: {
      runtime: sub._RUNTIME ?? "",
      memory: sub._MEMORY ?? "",
      min_instances: num("_MIN_INSTANCES"),
      max_instances: num("_MAX_INSTANCES"),
      concurrency: num("_CONCURRENCY"),
      timeout_seconds: num("_TIMEOUT_SECONDS"),
      bundle_digest: sub._BUNDLE_DIGEST,
      bundle_files: num("_BUNDLE_FILES"),
    },
    source: { bucket: storage.bucket, object: storage.object },
    builder: { image: sub._BUILDER_IMAGE ?? "", firebase_tools: sub._FIREBASE_TOOLS ?? "", install },
  };
}

/** The Build that deploys a state: install, then firebase deploy of the codebase. */
export function buildRequest(target: DriverTarget, state: FunctionsLiveState): cloudbuild_v1.Schema$Build {
  const { service, builder } = state;
  const codebase = codebaseOf(target.integration);
  return {
    source: { storageSource: { bucket: state.source.bucket, object: state.source.object } },
    steps: [
      {
        id: "install",
        name: builder.image,
        entrypoint: "npm",
        dir: "functions",
        args: [builder.install, "--no-audit", "--no-fund"],
      },
      {
        id: "deploy",
        name: builder.image,
        entrypoint: "npx",
        args: [
          "--yes",
          `firebase-tools@${builder.firebase_tools}`,
          "deploy",
          "--only",
          `functions:${codebase}`,
          "--project",
          target.environment.project_id,
          "--non-interactive",
          "--force",
        ],
        env: [
          `ORCHESTRATION_FUNCTIONS_MEMORY=${service.memory}`,
          `ORCHESTRATION_FUNCTIONS_MIN_INSTANCES=${service.min_instances}`,
          `ORCHESTRATION_FUNCTIONS_MAX_INSTANCES=${service.max_instances}`,
          `ORCHESTRATION_FUNCTIONS_CONCURRENCY=${service.concurrency}`,
          `ORCHESTRATION_FUNCTIONS_TIMEOUT_SECONDS=${service.timeout_seconds}`,
        ],
      },
    ],
    tags: [...tagsOf(target), `bundle-${service.bundle_digest.slice(0, 12)}`],
    substitutions: substitutionsOf(state),
    // The substitutions are records for observe, used by no step: a strict check would fail the build.
    options: { substitutionOption: "ALLOW_LOOSE" },
    timeout: BUILD_TIMEOUT,
  };
}

/** One ustar header block (POSIX.1-1988), mtime 0 and fixed owner, so the archive is reproducible. */
function tarHeader(path: string, size: number): Buffer {
  const header = Buffer.alloc(512);
  let name = path;
  let prefix = "";
  if (Buffer.byteLength(name) > 100) {
    const cut = path.lastIndexOf("/", path.length - 1);
    prefix = path.slice(0, cut);
    name = path.slice(cut + 1);
    if (cut < 0 || Buffer.byteLength(name) > 100 || Buffer.byteLength(prefix) > 155)
      throw new NonRetriableError(`the path "${path}" is too long for a tar archive (100 + 155 bytes)`);
  }
  const put = (text: string, offset: number, length: number) => header.write(text, offset, length, "utf8");
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, "0");
  put(name, 0, 100);
  put(octal(0o644, 8), 100, 8);
  put(octal(0, 8), 108, 8);
  put(octal(0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(0, 12), 136, 12);
  put("        ", 148, 8);
  put("0", 156, 1);
  put("ustar\u000000", 257, 8);
  put(prefix, 345, 155);
  let sum = 0;
  for (const byte of header) sum += byte;
  put(`${octal(sum, 7)}\u0000 `, 148, 8);
  return header;
}

/** A gzipped tar of the files, in the order given. */
export function tarGz(files: { path: string; bytes: Buffer }[]): Buffer {
  const blocks: Buffer[] = [];
  for (const file of files) {
    blocks.push(tarHeader(file.path, file.bytes.length), file.bytes);
    const pad = (512 - (file.bytes.length % 512)) % 512;
    if (pad > 0) blocks.push(Buffer.alloc(pad));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks), { level: 9 });
}

/** The archive Cloud Build fetches: firebase.json naming the codebase, the bundle under functions/. */
async function sourceArchive(target: DriverTarget<"functions">, io: DriverIO): Promise<Buffer> {
  const dir = target.settings.source;
  const bundle = await buildBundle(io.sources, dir);
  const firebaseJson = { functions: [{ source: "functions", codebase: codebaseOf(target.integration) }] };
  const files: { path: string; bytes: Buffer }[] = [
    { path: "firebase.json", bytes: Buffer.from(`${JSON.stringify(firebaseJson, null, 2)}\n`) },
  ];
  for (const file of bundle.files) {
    const bytes = await io.sources.readBytes(`${dir}/${file.path}`);
    if (bytes) files.push({ path: `functions/${file.path}`, bytes });
  }
  return tarGz(files);
}

/** Creates the bundle object unless it is there (412: an object of that content-addressed name exists). */
async function upload(
  access: GoogleAccess,
  target: DriverTarget<"functions">,
  state: FunctionsLiveState,
  io: DriverIO,
) {
  const api = await storageApi(access);
  const archive = await sourceArchive(target, io);
  const { bucket, object } = state.source;
  const answer = await callGoogle(
    access,
    `uploading the functions bundle to gs://${bucket}/${object}`,
    UPLOAD,
    () =>
      api.objects.insert(
        {
          bucket,
          ifGenerationMatch: "0",
          requestBody: { name: object, contentType: "application/gzip" },
          media: { mimeType: "application/gzip", body: Readable.from([archive]) },
        },
        // googleapis sends media to its own rootUrl unless the call names one (the client's is not used for uploads).
        access.rootUrls.storage ? { rootUrl: access.rootUrls.storage } : {},
      ),
    [412],
  );
  if (!answer.ok && answer.failure.status !== 412) throw new Error(answer.failure.message);
}

const filterOf = (target: DriverTarget, status?: string) =>
  [...tagsOf(target).map((tag) => `tags="${tag}"`), ...(status ? [`status="${status}"`] : [])].join(" AND ");

/** The newest builds of this integration, newest first (Cloud Build lists by create_time, descending). */
async function ourBuilds(
  access: GoogleAccess,
  api: cloudbuild_v1.Cloudbuild,
  target: DriverTarget,
  pageSize: number,
  status?: string,
): Promise<cloudbuild_v1.Schema$Build[]> {
  const projectId = target.environment.project_id;
  const answer = await callGoogleData(
    access,
    `listing the Cloud Build builds of ${target.integration} in ${projectId}`,
    LIST,
    () => api.projects.builds.list({ projectId, filter: filterOf(target, status), pageSize }),
  );
  return [...(answer.builds ?? [])].sort((a, b) => (b.createTime ?? "").localeCompare(a.createTime ?? ""));
}

const describeBuild = (build: cloudbuild_v1.Schema$Build) =>
  `build ${build.id ?? "?"} (log: ${build.logUrl ?? "no log URL"})`;

/** Throws unless the build succeeded: FAILURE and CANCELLED are not retried, Google's errors and timeouts are. */
function judge(target: DriverTarget, build: cloudbuild_v1.Schema$Build): void {
  if (build.status === "SUCCESS") return;
  const message = `Cloud Build ${describeBuild(build)} deploying ${target.integration} to ${target.environment.project_id} ended ${build.status ?? "without a status"}${build.statusDetail ? `: ${build.statusDetail}` : ""}; read its log, fix the cause and deploy again`;
  if (RETRIABLE.has(build.status ?? "")) throw new Error(message);
  throw new NonRetriableError(message);
}

/**
 * Polls until the build is final, at most `budget.polls` times; `poll` answers the build as it now
 * stands. A build still running when the budget is spent is an error naming it (it continues in
 * Cloud Build, and the next apply waits for it instead of starting another).
 */
async function waitFor(
  access: GoogleAccess,
  target: DriverTarget,
  first: cloudbuild_v1.Schema$Build,
  poll: () => Promise<cloudbuild_v1.Schema$Build>,
  budget: OperationBudget,
): Promise<cloudbuild_v1.Schema$Build> {
  let build = first;
  for (let polls = 0; !FINAL.has(build.status ?? ""); polls += 1) {
    if (polls >= budget.polls)
      throw new Error(
        `Cloud Build ${describeBuild(build)} deploying ${target.integration} is still ${build.status ?? "?"} after ${budget.polls} polls ${budget.intervalMs / 1000} s apart (it continues in Cloud Build; the next apply waits for it)`,
      );
    await access.sleep(budget.intervalMs);
    build = await poll();
  }
  return build;
}

/** The build an operation of builds.create tracks: its response when done, else the metadata's copy. */
const buildOf = (operation: LongRunningOperation): cloudbuild_v1.Schema$Build => {
  const fromResponse = operation.done
    ? (operation.response as cloudbuild_v1.Schema$Build | undefined)
    : undefined;
  const fromMetadata = (operation.metadata as cloudbuild_v1.Schema$BuildOperationMetadata | undefined)?.build;
  return fromResponse?.status ? fromResponse : (fromMetadata ?? {});
};

const same = (a: unknown, b: unknown) => contentHash(a) === contentHash(b);

/** The live half of the functions driver; the local half (functions.ts) validates and digests the same bundle. */
export function createLiveFunctionsSpec(
  budget: OperationBudget = BUILD_BUDGET,
): DriverSpec<"functions", FunctionsLiveState> {
  return {
    kind: "functions",
    mode: () => "live",

    async desired(target, io) {
      const { integration, settings } = target;
      const problems = checkFunctionsSettings(integration, settings);
      const files = await io.sources.listFiles(settings.source);
      const packageText = await io.sources.readText(`${settings.source}/package.json`);
      problems.push(...checkPackage(integration, settings.source, files, packageText));
      if (!CODEBASE.test(codebaseOf(integration)))
        problems.push(
          problem(
            [integration],
            `the integration name "${integration}" (its firebase-tools codebase would be "${codebaseOf(integration)}")`,
            "a name of lower-case letters, digits, dashes and underscores, at most 63 (firebase-tools' codebase names)",
          ),
        );
      const bundle = await buildBundle(io.sources, settings.source);
      const project = target.environment.project_id;
      return {
        state: {
          service: serviceOf(settings, bundle),
          source: { bucket: bucketOf(project), object: objectOf(target, bundle.digest) },
          builder: {
            image: BUILDER_IMAGE,
            firebase_tools: FIREBASE_TOOLS_VERSION,
            install: files.includes("package-lock.json") ? "ci" : "install",
          },
        },
        problems,
      };
    },

    async observe(target, io) {
      const access = requireAccess(io.google, "functions");
      const [newest] = await ourBuilds(access, await cloudBuildApi(access), target, 1, "SUCCESS");
      return newest ? stateOfBuild(newest) : undefined;
    },

    async apply(target, state, io) {
      const access = requireAccess(io.google, "functions");
      const api = await cloudBuildApi(access);
      const projectId = target.environment.project_id;
      const [deployed] = await ourBuilds(access, api, target, 1, "SUCCESS");
      if (deployed && same(stateOfBuild(deployed), state)) return;

      const getBuild = (id: string) => () =>
        callGoogleData(access, `reading Cloud Build build ${id}`, GET, () =>
          api.projects.builds.get({ projectId, id }),
        );
      // A build of this very state still running (an earlier apply that ran out of budget): wait for it.
      const running = (await ourBuilds(access, api, target, 10)).find(
        (b) => !FINAL.has(b.status ?? "") && b.id && same(stateOfBuild(b), state),
      );
      if (running?.id) {
        judge(target, await waitFor(access, target, running, getBuild(running.id), budget));
        return;
      }

      // The bundle in the sources is this state's: upload it. Otherwise (a rollback) its object was uploaded by that release.
      const local = await buildBundle(io.sources, target.settings.source);
      if (local.digest === state.service.bundle_digest) await upload(access, target, state, io);

      const what = `starting a Cloud Build deploy of ${target.integration} (bundle ${state.service.bundle_digest.slice(0, 12)}) in ${projectId}`;
      const started: LongRunningOperation = await callGoogleData(access, what, CREATE, () =>
        api.projects.builds.create({ projectId, requestBody: buildRequest(target, state) }),
      );
      const name = started.name ?? "";
      const id = buildOf(started).id;
      if (!name || !id) throw new Error(`${what}: Google answered an operation without a name or build id`);
      let operation = started;
      const finished = await waitFor(
        access,
        target,
        buildOf(started),
        async () => {
          operation = await callGoogleData(access, `${what} (polling ${name})`, GET, () =>
            api.operations.get({ name }),
          );
          const build = buildOf(operation);
          // A finished operation whose copy of the build says nothing final: ask for the build itself.
          return operation.done && !FINAL.has(build.status ?? "") ? getBuild(id)() : build;
        },
        budget,
      );
      judge(target, { ...finished, id });
    },

    async verify(target, io, release) {
      const access = requireAccess(io.google, "functions");
      const [newest] = await ourBuilds(access, await cloudBuildApi(access), target, 1);
      const wanted = liveStateOf(release);
      if (!newest)
        return {
          status: "degraded",
          details: `no Cloud Build deploy of ${target.integration} in ${target.environment.project_id} yet`,
        };
      const state = stateOfBuild(newest);
      const digest = state?.service.bundle_digest.slice(0, 12) ?? "?";
      if (newest.status !== "SUCCESS")
        return {
          status: "degraded",
          details: `the newest deploy, ${describeBuild(newest)}, is ${newest.status ?? "?"}; the functions run the bundle of the last successful one`,
        };
      if (wanted && state?.service.bundle_digest !== wanted.service.bundle_digest)
        return {
          status: "degraded",
          details: `the newest deploy, ${describeBuild(newest)}, deployed bundle ${digest}, not release ${release?.number ?? "?"}'s ${wanted.service.bundle_digest.slice(0, 12)}`,
        };
      return {
        status: "healthy",
        details: `Cloud Build ${describeBuild(newest)} deployed bundle ${digest} (${state?.service.bundle_files ?? "?"} files) with firebase-tools ${state?.builder.firebase_tools ?? "?"}`,
      };
    },
  };
}

/** A release's state when it is a live one (a release made before a mode change holds another shape). */
function liveStateOf(release: Release | undefined): FunctionsLiveState | undefined {
  const state =
    release?.mode === "live" ? (release.state as Partial<FunctionsLiveState> | undefined) : undefined;
  return state?.service?.bundle_digest ? (state as FunctionsLiveState) : undefined;
}

/** The live functions spec with the default build budget. */
export const liveFunctionsSpec = createLiveFunctionsSpec();
