/**
 * The functions driver: the environment's Cloud Functions service (runtime, memory, instances,
 * the source bundle) and the Pub/Sub topics its functions listen on, each with one subscription
 * `{topic}-sub`.
 *
 * Emulated where it can be, staged where it cannot: topics and subscriptions are created in the
 * Pub/Sub emulator (labelled managed-by=orchestrator, so apply only ever deletes topics it
 * created); the bundle is built and validated (a manifest with every file's sha256 and a total
 * digest) but nothing deploys it: the Functions emulator serves one codebase (the control
 * plane's) and has no deploy API. The staged service settings are recorded in the marker document
 * `_orchestration/functions` (`_orchestration/functions:orders` for an instance) of the target
 * project's Firestore, so observe can report them back.
 */
import type { IntegrationSettings } from "../domain/config-schema.js";
import { instanceOf } from "../domain/integrations.js";
import type { Problem } from "../domain/problems.js";
import {
  emulatedOrLive,
  ensureOk,
  hostProblem,
  liveNotImplemented,
  markerPath,
  problem,
  readDocument,
  requireHost,
  rest,
  writeDocument,
} from "./emulator-rest.js";
import type { DriverIO, DriverSpec, DriverTarget, SourceReader } from "./types.js";
import { sha256 } from "../domain/digest.js";

export interface StagedService {
  runtime: string;
  memory: string;
  min_instances: number;
  max_instances: number;
  concurrency: number;
  timeout_seconds: number;
  /** sha256 over the bundle's file list and file digests. */
  bundle_digest: string;
  bundle_files: number;
}

export interface FunctionsState {
  /** Staged, not deployed: recorded in the target's `_orchestration/functions`. */
  staged_service: StagedService;
  /** topic -> its subscription (null when the subscription is missing). */
  topics: Record<string, { subscription: string | null }>;
}

const MANAGED_LABEL = { "managed-by": "orchestrator" };
/**
 * The labels of the topics an instance creates: an instance other than the default one adds its
 * name, so each instance's apply deletes only the topics it created (topics the default instance
 * created before instances existed carry no instance label and stay its own).
 */
const labelsOf = (integration: string): Record<string, string> => {
  const instance = instanceOf(integration);
  return instance === null ? MANAGED_LABEL : { ...MANAGED_LABEL, instance };
};

export interface BundleFile {
  path: string;
  sha256: string;
  bytes: number;
}

/** The files of a source directory (node_modules left out), each with its sha256, and a total digest. */
export async function buildBundle(
  sources: SourceReader,
  dir: string,
): Promise<{ files: BundleFile[]; digest: string }> {
  const names = (await sources.listFiles(dir)).filter(
    (name) => !name.split(/[\\/]/).includes("node_modules"),
  );
  const files: BundleFile[] = [];
  for (const name of names) {
    const bytes = await sources.readBytes(`${dir}/${name}`);
    if (bytes) files.push({ path: name.split("\\").join("/"), sha256: sha256(bytes), bytes: bytes.length });
  }
  const digest = sha256(files.map((f) => `${f.path} ${f.sha256}\n`).join(""));
  return { files, digest };
}

/** Checks the source directory's package.json: engines.node 22 and a main file that exists. */
export function checkPackage(
  integration: string,
  source: string,
  files: string[],
  packageText: string | undefined,
): Problem[] {
  const at = (...rest: string[]) => [integration, "source", ...rest];
  if (files.length === 0)
    return [
      problem(
        at(),
        `"${source}", which is missing or empty`,
        "a directory with the functions' source and a package.json",
      ),
    ];
  if (packageText === undefined)
    return [
      problem(at(), `"${source}" without a package.json`, "a functions source directory with a package.json"),
    ];
  let pkg: unknown;
  try {
    pkg = JSON.parse(packageText);
  } catch (error) {
    return [
      problem(
        `${source}/package.json:$`,
        `text that is not JSON (${error instanceof Error ? error.message : String(error)})`,
        "a JSON package.json",
      ),
    ];
  }
  if (typeof pkg !== "object" || pkg === null || Array.isArray(pkg))
    return [
      problem(`${source}/package.json:$`, "a JSON value that is not an object", "a package.json object"),
    ];
  const problems: Problem[] = [];
  const { engines, main } = pkg as { engines?: { node?: unknown }; main?: unknown };
  const node = engines?.node;
  if (node !== "22")
    problems.push(
      problem(
        `${source}/package.json:engines.node`,
        node === undefined ? "nothing" : JSON.stringify(node),
        '"22" (the runtime is nodejs22)',
      ),
    );
  if (main !== undefined && typeof main !== "string") {
    problems.push(
      problem(`${source}/package.json:main`, JSON.stringify(main), "the path of the main file, a string"),
    );
  } else {
    const mainFile = (main ?? "index.js").replace(/^\.\//, "");
    if (!files.includes(mainFile))
      problems.push(
        problem(
          `${source}/package.json:main`,
          `"${mainFile}", which is not in ${source}`,
          "the path of a file in the source directory",
        ),
      );
  }
  return problems;
}

/** The problems the settings alone show (pure). */
export function checkFunctionsSettings(
  integration: string,
  settings: IntegrationSettings<"functions">,
): Problem[] {
  const problems: Problem[] = [];
  if (settings.runtime !== "nodejs22")
    problems.push(problem([integration, "runtime"], JSON.stringify(settings.runtime), '"nodejs22"'));
  if (settings.min_instances > settings.max_instances)
    problems.push(
      problem(
        [integration, "min_instances"],
        `${settings.min_instances}, above max_instances ${settings.max_instances}`,
        `at most max_instances (${settings.max_instances})`,
      ),
    );
  const seen = new Set<string>();
  settings.topics.forEach((topic, index) => {
    if (seen.has(topic))
      problems.push(problem([integration, "topics", index], `"${topic}" a second time`, "each topic once"));
    seen.add(topic);
    if (topic.toLowerCase().startsWith("goog"))
      problems.push(
        problem([integration, "topics", index], `"${topic}"`, 'a topic id not starting with "goog"'),
      );
    if (`${topic}-sub`.length > 255)
      problems.push(
        problem(
          [integration, "topics", index],
          `"${topic}" (its subscription id would exceed 255 characters)`,
          "a topic id of at most 251 characters",
        ),
      );
  });
  return problems;
}

/** The service settings and bundle digest a deploy carries (the local and the live driver record the same). */
export function serviceOf(
  settings: IntegrationSettings<"functions">,
  bundle: { files: BundleFile[]; digest: string },
): StagedService {
  return {
    runtime: settings.runtime,
    memory: settings.memory,
    min_instances: settings.min_instances,
    max_instances: settings.max_instances,
    concurrency: settings.concurrency,
    timeout_seconds: settings.timeout_seconds,
    bundle_digest: bundle.digest,
    bundle_files: bundle.files.length,
  };
}

const pubsubUrl = (io: DriverIO, projectId: string, path: string) =>
  `http://${requireHost(io, "pubsub")}/v1/projects/${projectId}/${path}`;

async function readTopics(
  io: DriverIO,
  projectId: string,
  integration: string,
): Promise<FunctionsState["topics"]> {
  const topics = await rest(io, "GET", pubsubUrl(io, projectId, "topics?pageSize=1000"));
  ensureOk(topics, `listing the topics of ${projectId}`);
  const subscriptions = await rest(io, "GET", pubsubUrl(io, projectId, "subscriptions?pageSize=1000"));
  ensureOk(subscriptions, `listing the subscriptions of ${projectId}`);
  const subs = new Map(
    ((subscriptions.body as { subscriptions?: { name: string; topic: string }[] }).subscriptions ?? []).map(
      (s) => [s.name, s.topic],
    ),
  );
  const out: FunctionsState["topics"] = {};
  for (const topic of (topics.body as { topics?: { name: string; labels?: Record<string, string> }[] })
    .topics ?? []) {
    if (topic.labels?.["managed-by"] !== MANAGED_LABEL["managed-by"]) continue;
    if ((topic.labels.instance ?? null) !== instanceOf(integration)) continue;
    const id = topic.name.split("/").pop() ?? topic.name;
    const subName = `projects/${projectId}/subscriptions/${id}-sub`;
    out[id] = { subscription: subs.get(subName) === topic.name ? `${id}-sub` : null };
  }
  return out;
}

/** Creates, tolerating "already exists" (409), so a repeated apply is a no-op. */
async function putIdempotent(io: DriverIO, url: string, body: unknown, what: string) {
  const answer = await rest(io, "PUT", url, body);
  if (answer.status !== 409) ensureOk(answer, what);
}

export const functionsDriver: DriverSpec<"functions", FunctionsState> = {
  kind: "functions",
  mode: emulatedOrLive,

  async desired(target: DriverTarget<"functions">, io) {
    const { integration, settings } = target;
    const problems = checkFunctionsSettings(integration, settings);
    if (emulatedOrLive(target.environment) === "emulated") {
      for (const which of ["pubsub", "firestore"] as const) {
        const missing = hostProblem(io, which);
        if (missing) problems.push(missing);
      }
    }
    const files = await io.sources.listFiles(settings.source);
    const packageText = await io.sources.readText(`${settings.source}/package.json`);
    problems.push(...checkPackage(integration, settings.source, files, packageText));
    const bundle = await buildBundle(io.sources, settings.source);
    const state: FunctionsState = {
      staged_service: serviceOf(settings, bundle),
      topics: Object.fromEntries(
        [...new Set(settings.topics)].sort().map((t) => [t, { subscription: `${t}-sub` }]),
      ),
    };
    const manifest = {
      status: "staged: built and validated, not deployed",
      source: settings.source,
      ...state.staged_service,
      files: bundle.files,
      topics: state.topics,
    };
    return {
      state,
      problems,
      artifact: { name: "functions-manifest.json", content: `${JSON.stringify(manifest, null, 2)}\n` },
    };
  },

  async observe(target, io) {
    if (emulatedOrLive(target.environment) === "live")
      liveNotImplemented("functions", "list deployed functions");
    if (!io.emulators.pubsub || !io.emulators.firestore) return undefined;
    const projectId = target.environment.project_id;
    const marker = await readDocument(io, projectId, markerPath(target.integration));
    const staged =
      typeof marker?.staged_service_json === "string"
        ? (JSON.parse(marker.staged_service_json) as StagedService)
        : undefined;
    return {
      staged_service: staged,
      topics: await readTopics(io, projectId, target.integration),
    } as FunctionsState;
  },

  async apply(target, state, io) {
    if (emulatedOrLive(target.environment) === "live") liveNotImplemented("functions", "deploy functions");
    const projectId = target.environment.project_id;
    for (const topic of Object.keys(state.topics)) {
      await putIdempotent(
        io,
        pubsubUrl(io, projectId, `topics/${topic}`),
        { labels: labelsOf(target.integration) },
        `creating topic ${topic}`,
      );
      await putIdempotent(
        io,
        pubsubUrl(io, projectId, `subscriptions/${topic}-sub`),
        { topic: `projects/${projectId}/topics/${topic}` },
        `creating subscription ${topic}-sub`,
      );
    }
    // Topics this driver created earlier and no longer wanted (e.g. after a rollback) go away.
    for (const topic of Object.keys(await readTopics(io, projectId, target.integration))) {
      if (state.topics[topic]) continue;
      const sub = await rest(io, "DELETE", pubsubUrl(io, projectId, `subscriptions/${topic}-sub`));
      if (sub.status !== 404) ensureOk(sub, `deleting subscription ${topic}-sub`);
      const deleted = await rest(io, "DELETE", pubsubUrl(io, projectId, `topics/${topic}`));
      if (deleted.status !== 404) ensureOk(deleted, `deleting topic ${topic}`);
    }
    await writeDocument(io, projectId, markerPath(target.integration), {
      status: "staged",
      staged_service_json: JSON.stringify(state.staged_service),
      recorded_at: io.now().toISOString(),
    });
  },

  async verify(target, io, release) {
    if (emulatedOrLive(target.environment) === "live") liveNotImplemented("functions", "probe functions");
    const projectId = target.environment.project_id;
    const present = await readTopics(io, projectId, target.integration);
    const wanted = release ? (release.state as FunctionsState).topics : {};
    const missing = Object.keys(wanted).filter((topic) => present[topic]?.subscription !== `${topic}-sub`);
    const bundle = release
      ? (release.state as FunctionsState).staged_service.bundle_digest.slice(0, 12)
      : "none";
    if (missing.length > 0)
      return {
        status: "degraded",
        details: `missing topic or subscription in ${projectId}: ${missing.join(", ")}`,
      };
    return {
      status: "healthy",
      details: `${Object.keys(wanted).length} topic(s) with subscriptions present in ${projectId}; bundle ${bundle} is staged, not deployed`,
    };
  },
};
