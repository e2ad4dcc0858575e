/**
 * Checks, read-only, that a live environment of a config can be driven from this machine:
 *
 *   npm run doctor -- --env prod [--config orchestration.json] [--json]
 *
 * Uses Application Default Credentials (`gcloud auth application-default login` on a laptop,
 * Workload Identity Federation in CI) and asks Resource Manager which of the permissions the
 * environment's live drivers need they hold (`projects.testIamPermissions`: changes nothing).
 * The deployed control plane answers the same check at `GET /api/orchestration/doctor?environment=`.
 *
 * Exit codes: 0 ready, 1 something is missing (each missing permission is named with its role),
 * 2 bad usage or an invalid config.
 */
import { readFileSync } from "node:fs";
import { validateConfigText } from "../functions/src/domain/config.js";
import { formatDoctor, runDoctor } from "../functions/src/drivers/live/doctor.js";
import { applicationDefaultAccess } from "../functions/src/drivers/live/google.js";

const USAGE = "usage: npm run doctor -- --env <environment> [--config <file>] [--json]";

function usage(problem: string): never {
  console.error(`doctor: ${problem}\n${USAGE}`);
  process.exit(2);
}

function parseArgs(argv: readonly string[]): { env: string; config: string; json: boolean } {
  let env: string | undefined;
  let config = "orchestration.json";
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--env" || arg === "--environment") env = argv[++i];
    else if (arg === "--config") config = argv[++i] ?? usage("--config needs a file");
    else if (arg === "--json") json = true;
    else usage(`unknown argument ${arg}`);
  }
  if (!env) usage("--env is required");
  return { env, config, json };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let text: string;
  try {
    text = readFileSync(args.config, "utf8");
  } catch (error) {
    usage(`cannot read ${args.config}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const result = validateConfigText(text);
  if (!result.ok) usage(`${args.config} is invalid: ${result.problems.map((p) => p.message).join("; ")}`);
  const environment = result.config.environments.find((e) => e.name === args.env);
  if (!environment)
    usage(
      `environment "${args.env}" is not declared in ${args.config} (declared: ${result.config.environments.map((e) => e.name).join(", ")})`,
    );
  const report = await runDoctor(environment, applicationDefaultAccess());
  console.log(args.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
  process.exit(report.ok ? 0 : 1);
}

await main();
