/**
 * The demo's disaster-recovery step (issue 18): back the control plane up now, then run the drill
 * on that export (restore into a scratch project, counts, audit chain, warehouse replay) and show
 * the RPO and RTO it achieved. The drill itself is scripts/lib/dr-drill.ts (`npm run dr-drill`).
 */
import { formatDuration } from "../../functions/src/domain/disaster-recovery.js";
import { defaultBackupRoot, runDrill } from "./dr-drill.js";

type Call = (
  method: string,
  path: string,
  body?: unknown,
) => Promise<{ status: number; body: Record<string, unknown> }>;

/** Runs the step; true when the backup ran and every check of the drill passed. */
export async function demoDr(
  call: Call,
  heading: (text: string) => void,
  say: (line: string) => void,
): Promise<boolean> {
  heading("Disaster recovery of the control plane: back up, restore into a scratch project, verify");
  const backup = await call("POST", "/jobs/control-plane-backup/run");
  const run = backup.body.run as { outcome: string; summary: string; result?: { dir: string } } | undefined;
  console.log(
    `POST /jobs/control-plane-backup/run -> ${backup.status}: ${run?.summary ?? JSON.stringify(backup.body)}`,
  );
  if (run?.outcome !== "succeeded" || !run.result) return false;
  const project = process.env.GCLOUD_PROJECT ?? "";
  const report = await runDrill({
    liveProject: project,
    backupRoot: defaultBackupRoot(project),
    exportDir: run.result.dir,
  });
  const failed = report.checks.filter((check) => !check.ok);
  const detail = (name: string) => report.checks.find((check) => check.check === name)?.detail ?? "-";
  console.log(
    `drill into ${report.target_project ?? "(nothing restored)"}: ${report.checks.length - failed.length}/${report.checks.length} checks passed; audit chain: ${detail("audit chain")}; warehouse: ${detail("warehouse events")}`,
  );
  for (const check of failed) console.log(`  FAIL ${check.check}: ${check.detail}`);
  say(
    `restored into a scratch project: ${report.checks.length - failed.length}/${report.checks.length} checks passed; RPO ${formatDuration(report.rpo_ms)}, RTO ${formatDuration(report.rto_ms)} (npm run dr-drill)`,
  );
  return report.ok;
}
