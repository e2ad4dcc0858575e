/**
 * Walks the audit chain and reports the first record that was changed, removed or reordered:
 *
 *   tsx scripts/audit-verify.ts [--project <id>]
 *
 * Reads Firestore through the Admin SDK: the emulator when FIRESTORE_EMULATOR_HOST is set,
 * otherwise the project's real database with Application Default Credentials. The project comes
 * from --project, else GCLOUD_PROJECT (or GOOGLE_CLOUD_PROJECT).
 *
 * The chain's HMAC key comes from Secret Manager when ORCH_AUDIT_KEY_SECRET names a secret
 * version, else from the local key file (ORCH_AUDIT_KEY_FILE, or .stack/keys/<project>/audit.key);
 * a missing local key is an error here, never made anew.
 *
 * Exit codes: 0 the chain is intact, 1 it was tampered with, 2 bad usage, 3 it could not be read.
 */
import { deleteApp, initializeApp } from "firebase-admin/app";
import { getFirestore } from "firebase-admin/firestore";
import { createAuditLog } from "../functions/src/store/audit-log.js";
import { auditKeySource, loadAuditKey } from "../functions/src/store/audit-key.js";

const USAGE = "usage: tsx scripts/audit-verify.ts [--project <id>]";

function usage(problem: string): never {
  console.error(`audit-verify: ${problem}\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): { project: string } {
  let project: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--help" || arg === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else if (arg === "--project") {
      const value = argv[++i];
      if (value === undefined || value.startsWith("-")) usage("--project needs a project id");
      project = value;
    } else if (arg.startsWith("--project=")) {
      project = arg.slice("--project=".length);
      if (project === "") usage("--project needs a project id");
    } else {
      usage(`unknown argument ${JSON.stringify(arg)}`);
    }
  }
  project ??= process.env.GCLOUD_PROJECT ?? process.env.GOOGLE_CLOUD_PROJECT;
  if (!project) usage("no project: pass --project <id> or set GCLOUD_PROJECT");
  return { project };
}

async function main(): Promise<number> {
  const { project } = parseArgs(process.argv.slice(2));
  const app = initializeApp({ projectId: project }, "audit-verify");
  try {
    const result = await createAuditLog(
      getFirestore(app),
      { now: () => new Date() },
      {
        key: () =>
          loadAuditKey(auditKeySource({ ...process.env, GCLOUD_PROJECT: project }), { create: false }),
      },
    ).verify();
    if (result.ok) {
      console.log(`audit chain: ${result.count} records, intact`);
      return 0;
    }
    console.log(`audit chain: record #${result.seq} was ${result.problem}: ${result.message}`);
    return 1;
  } catch (error) {
    console.error(
      `audit-verify: could not read the audit log of ${project}: ${error instanceof Error ? error.message : String(error)}`,
    );
    return 3;
  } finally {
    await deleteApp(app);
  }
}

process.exitCode = await main();
