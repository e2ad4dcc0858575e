/**
 * The demo's live-mode step, against local contract servers (no machine here reaches Google):
 * `doctor` on the config's prod environment switched to live, then a live plan, apply and second
 * plan of its hosting, firestore, auth, storage, monitoring, functions (firebase deploy run by Cloud
 * Build) and cicd (Workload Identity Federation through IAM) integrations through googleapis (and
 * the live plan of its backup, which Firestore's daily-or-weekly schedules cannot run as configured), every request held to the
 * stored discovery documents. Every line says it is a contract server answering, not Google. The
 * story gets one line per integration; the plans' and applies' own words go to the demo log.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { validateConfigText } from "../../functions/src/domain/config.js";
import { LIVE_SUPPORT } from "../../functions/src/domain/live-permissions.js";
import { createFabricator } from "../../functions/src/drivers/fabricator.js";
import { targetFor } from "../../functions/src/drivers/integration-driver.js";
import { formatDoctor, runDoctor } from "../../functions/src/drivers/live/doctor.js";
import { firestoreDriver } from "../../functions/src/drivers/firestore.js";
import { hostingDriver } from "../../functions/src/drivers/hosting.js";
import { authDriver } from "../../functions/src/drivers/auth.js";
import { liveAuthSpec } from "../../functions/src/drivers/live/auth-live.js";
import { liveFirestoreSpec } from "../../functions/src/drivers/live/firestore-live.js";
import { liveHostingSpec } from "../../functions/src/drivers/live/hosting-live.js";
import { liveBackupSpec } from "../../functions/src/drivers/live/backup-live.js";
import { liveCicdSpec } from "../../functions/src/drivers/live/cicd-live.js";
import { liveFunctionsSpec } from "../../functions/src/drivers/live/functions-live.js";
import { liveMonitoringSpec } from "../../functions/src/drivers/live/monitoring-live.js";
import { liveStorageSpec } from "../../functions/src/drivers/live/storage-live.js";
import { byMode } from "../../functions/src/drivers/registry.js";
import { directorySourceReader } from "../../functions/src/drivers/sources.js";
import { contractAccess, liveIO, memoryReleases } from "../../test/support/live.js";
import {
  bundleUploadModel,
  cloudBuildModel,
  ContractServer,
  firebaseHostingModel,
  iamModel,
  firebaseRulesModel,
  firestoreIndexModel,
  monitoringModel,
  storageModel,
  identityToolkitModel,
  resourceManagerModel,
} from "../contract-server/index.js";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const LABEL = "[contract server, not Google]";
/** What the cicd integration needs live and the config leaves to each project: the demo's made-up ones. */
const PROJECT_NUMBER = "123456789012";
const GITHUB_REPOSITORY = "acme/shop";
/** The integrations planned, applied and planned again, in this order. */
const APPLIED = ["hosting", "firestore", "auth", "storage", "monitoring", "functions", "cicd"];
/** "1 change", "3 changes". */
const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? "" : "s"}`;

/**
 * Runs the step, one line per integration through `say` (details through console.log, which the
 * demo sends to its log); true when doctor named the missing permission, every integration applied
 * then planned nothing, and no request fell outside the contract.
 */
export async function demoLive(
  heading: (text: string) => void,
  say: (line: string) => void = console.log,
): Promise<boolean> {
  heading(`Live mode, held to Google's published API contracts ${LABEL}`);
  const result = validateConfigText(readFileSync(`${repoRoot}/orchestration.json`, "utf8"));
  if (!result.ok) throw new Error("orchestration.json is invalid");
  const prod = result.config.environments.find((e) => e.name === "prod");
  if (!prod) throw new Error("orchestration.json declares no prod environment");
  const project_id = "acme-prod-live";
  const deployer = `deployer@${project_id}.iam.gserviceaccount.com`;
  // cicd's live path needs the repository, the deployer account and the project's number, which
  // each real project sets for itself: the demo's prod gets made-up ones.
  const cicd = {
    github_repository: GITHUB_REPOSITORY,
    deployer_service_account: deployer,
    project_number: PROJECT_NUMBER,
  };
  const environment = {
    ...prod,
    mode: "live" as const,
    project_id,
    integrations: prod.integrations.map((i) =>
      i.kind === "cicd" ? { ...i, settings: { ...i.settings, ...cicd } } : i,
    ) as typeof prod.integrations,
  };
  const site = targetFor(environment, "hosting").settings as { site: string };

  const servers = {
    cloudresourcemanager: ContractServer.fromRepository("cloudresourcemanager-v3"),
    firebasehosting: ContractServer.fromRepository("firebasehosting-v1beta1"),
    firebaserules: ContractServer.fromRepository("firebaserules-v1"),
    firestore: ContractServer.fromRepository("firestore-v1"),
    identitytoolkit: ContractServer.fromRepository("identitytoolkit-v2"),
    storage: ContractServer.fromRepository("storage-v1"),
    monitoring: ContractServer.fromRepository("monitoring-v3"),
    cloudbuild: ContractServer.fromRepository("cloudbuild-v1"),
    iam: ContractServer.fromRepository("iam-v1"),
  };
  // The demo's principal holds every permission the live drivers need but one, for doctor to name.
  const needed = Object.values(LIVE_SUPPORT).flatMap((s) =>
    s.built ? s.permissions.map((p) => p.permission) : [],
  );
  resourceManagerModel(
    servers.cloudresourcemanager,
    new Map([[environment.project_id, new Set(needed.filter((p) => p !== "datastore.indexes.delete"))]]),
  );
  firebaseHostingModel(servers.firebasehosting, [site.site]);
  firebaseRulesModel(servers.firebaserules);
  firestoreIndexModel(servers.firestore);
  const bucket = `${environment.project_id}.firebasestorage.app`;
  const location = (
    targetFor(environment, "storage").settings as { location: string }
  ).location.toUpperCase();
  storageModel(servers.storage).buckets.set(bucket, { name: bucket, location, metageneration: "1" });
  monitoringModel(servers.monitoring);
  identityToolkitModel(servers.identitytoolkit, [environment.project_id]);
  // Builds take their source from the bundle functions uploads to the storage server, and finish a
  // stage a poll: the access's sleep between polls is recorded, not waited (test/support/live.ts).
  const builds = cloudBuildModel(servers.cloudbuild);
  bundleUploadModel(servers.storage, builds);
  const iam = iamModel(servers.iam);
  iam.projects.set(environment.project_id, PROJECT_NUMBER);
  iam.seedAccount(deployer);
  const urls = Object.fromEntries(
    await Promise.all(
      Object.entries(servers).map(async ([api, server]) => [api, (await server.start()).url]),
    ),
  ) as Record<keyof typeof servers, string>;
  try {
    const access = await contractAccess(urls);
    console.log(
      `${LABEL} Resource Manager v3, Firebase Hosting v1beta1, Firebase Rules v1, Firestore v1, Identity Toolkit v2, Cloud Storage v1, Cloud Monitoring v3, Cloud Build v1, IAM v1 on 127.0.0.1`,
    );
    console.log(`npm run doctor -- --env prod (prod switched to live, project ${environment.project_id}):`);
    const report = await runDoctor(environment, access);
    console.log(formatDoctor(report).replace(/^/gm, "  "));
    const missing = report.integrations.flatMap((i) => i.missing.map((m) => m.permission));
    say(
      `${LABEL} doctor: ${report.ok ? "READY" : "NOT READY"}: ${report.summary}${missing.length > 0 ? ` (${[...new Set(missing)].join(", ")})` : ""}`,
    );

    const fabricator = createFabricator(
      {
        hosting: byMode(hostingDriver, liveHostingSpec),
        firestore: byMode(firestoreDriver, liveFirestoreSpec),
        auth: byMode(authDriver, liveAuthSpec),
        storage: liveStorageSpec,
        backup: liveBackupSpec,
        monitoring: liveMonitoringSpec,
        functions: liveFunctionsSpec,
        cicd: liveCicdSpec,
      },
      memoryReleases(),
      liveIO(directorySourceReader(repoRoot), access),
    );
    const requests = () => Object.values(servers).flatMap((s) => s.requests);
    const outside = (list: ReturnType<typeof requests>) =>
      list.filter((r) => r.verdict === "refused" || r.verdict === "unmatched").length;
    let settled = true;
    for (const integration of APPLIED) {
      const target = targetFor(environment, integration);
      const before = requests().length;
      const plan = await fabricator.plan(target);
      const shown = plan.changes.slice(0, 4).map((c) => c.path);
      console.log(
        `${integration} plan (read-only): ${plan.summary}: ${shown.join(", ")}${plan.changes.length > shown.length ? ", ..." : ""}`,
      );
      const applied = await fabricator.apply(target, `demo-live-${integration}`);
      console.log(`${integration} apply: ${applied.summary}`);
      const again = await fabricator.plan(target);
      console.log(`${integration} plan again: ${again.summary}`);
      const made = requests().slice(before);
      say(
        `${LABEL} ${`${integration}:`.padEnd(11)} plan ${count(plan.changes.length, "change")}, ${applied.changed ? "applied" : "NOT applied"}, plan again ${count(again.changes.length, "change")}; ${count(made.length, "request")}, ${outside(made)} outside the contract`,
      );
      settled &&= applied.changed && again.changes.length === 0;
    }
    for (const upload of builds.uploads)
      console.log(
        `functions: bundle uploaded to gs://${upload.bucket}/${upload.name} (${upload.files.join(", ")})`,
      );
    for (const build of builds.builds.values())
      console.log(
        `functions: Cloud Build build ${build.id} ${build.status} (tags ${(build.tags ?? []).join(", ")})`,
      );
    // Polls and pacing ask the access to sleep; the demo's access records each wait instead.
    console.log(`waits asked for (recorded, not waited): ${access.slept.join(", ") || "none"} ms`);
    console.log(
      `cicd: pools ${[...iam.pools.keys()].join(", ")}; providers ${[...iam.providers.keys()].join(", ")}; ${deployer} bindings ${JSON.stringify(iam.accountPolicies.get(deployer)?.bindings ?? [])}`,
    );
    const backup = await fabricator.plan(targetFor(environment, "backup"));
    console.log(`backup plan (read-only): ${backup.summary}`);
    const all = requests();
    const refused = outside(all);
    say(
      `${LABEL} ${all.length} requests in all checked against the discovery documents, ${refused} outside the contract`,
    );
    return settled && refused === 0 && !report.ok && /datastore\.indexes\.delete/.test(formatDoctor(report));
  } finally {
    await Promise.all(Object.values(servers).map((s) => s.stop()));
  }
}
