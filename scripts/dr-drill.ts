/**
 * The control plane's disaster-recovery drill (README, "Disaster recovery of the control plane"):
 *
 *   npm run dr-drill -- [--project <id>] [--backups <folder>] [--export <folder>]
 *                       [--scratch-project <id> | --restore-into <id>] [--keep] [--json]
 *
 * Restores the latest complete control-plane export (or --export) into a scratch project on the
 * Firestore emulator, checks file digests and document counts against its manifest, verifies the
 * restored audit chain, replays the restored history into a scratch DuckDB warehouse, and prints a
 * pass or fail per check with the RPO and RTO achieved. It needs FIRESTORE_EMULATOR_HOST (a running
 * stack) and the chain's key (the local key file, or ORCH_AUDIT_KEY_SECRET); it never writes the
 * live project. `--restore-into <id>` is the real restore: the same, into an empty project (the
 * lost control plane's own id), keeping what it wrote. The project comes from --project, else GCLOUD_PROJECT; the backups from --backups,
 * else `.stack/backups/<project>`.
 *
 * Exit codes: 0 every check passed, 1 a check failed, 2 bad usage or no usable backup.
 */
import { parseArgs } from "node:util";
import { formatDuration } from "../functions/src/domain/disaster-recovery.js";
import {
  DrillRefusedError,
  ExportUnusableError,
  defaultBackupRoot,
  runDrill,
  type DrillReport,
} from "./lib/dr-drill.js";

const USAGE =
  "usage: npm run dr-drill -- [--project <id>] [--backups <folder>] [--export <folder>] [--scratch-project <id> | --restore-into <id>] [--keep] [--json]";

function print(report: DrillReport): void {
  const { manifest } = report;
  console.log(
    `export ${report.export_dir}\n  of ${manifest.project_id}, taken ${manifest.created_at}: ${manifest.documents} document(s) in ${manifest.collections} collection(s)`,
  );
  if (report.target_project)
    console.log(
      `restored into ${report.mode === "drill" ? "scratch project" : "project"} ${report.target_project} (emulator)`,
    );
  const width = Math.max(...report.checks.map((check) => check.check.length));
  for (const check of report.checks)
    console.log(`  ${check.ok ? "PASS" : "FAIL"}  ${check.check.padEnd(width)}  ${check.detail}`);
  for (const notice of report.notices) console.log(`note: ${notice}`);
  console.log(`RPO ${formatDuration(report.rpo_ms)} (from the export's time to the drill's start)`);
  console.log(`RTO ${formatDuration(report.rto_ms)} (checking, restoring and verifying)`);
  const failed = report.checks.filter((check) => !check.ok);
  console.log(
    failed.length === 0
      ? `${report.mode} PASSED: ${report.checks.length} checks`
      : `${report.mode} FAILED: ${failed.map((check) => check.check).join(", ")}`,
  );
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: process.argv.slice(2),
      options: {
        project: { type: "string" },
        backups: { type: "string" },
        export: { type: "string" },
        "scratch-project": { type: "string" },
        "restore-into": { type: "string" },
        keep: { type: "boolean" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (error) {
    console.error(`dr-drill: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const project = values.project ?? process.env.GCLOUD_PROJECT ?? process.env.GOOGLE_CLOUD_PROJECT;
  if (!project) {
    console.error(`dr-drill: no project: pass --project <id> or set GCLOUD_PROJECT\n${USAGE}`);
    return 2;
  }
  if (values["scratch-project"] !== undefined && values["restore-into"] !== undefined) {
    console.error(`dr-drill: --scratch-project and --restore-into exclude each other\n${USAGE}`);
    return 2;
  }
  try {
    const report = await runDrill({
      liveProject: project,
      backupRoot: values.backups ?? defaultBackupRoot(project),
      ...(values.export !== undefined ? { exportDir: values.export } : {}),
      ...(values["scratch-project"] !== undefined ? { scratchProject: values["scratch-project"] } : {}),
      ...(values["restore-into"] !== undefined ? { restoreInto: values["restore-into"] } : {}),
      keep: values.keep ?? false,
    });
    if (values.json) console.log(JSON.stringify(report, null, 2));
    else print(report);
    return report.ok ? 0 : 1;
  } catch (error) {
    if (error instanceof ExportUnusableError || error instanceof DrillRefusedError) {
      console.error(`dr-drill: ${error.message}`);
      return 2;
    }
    throw error;
  }
}

process.exitCode = await main();
