/**
 * The command-line client (scripts/orch.mjs) and the API's route table may not drift: every route
 * a command says it calls exists, every route is reachable from the CLI unless this test lists it
 * as API-only (with why), and the shell completion offers every command and flag.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { ROUTES } from "../../functions/src/handlers/routes.js";
import { COMMANDS, completionScript, type CommandSpec } from "../../scripts/orch.mjs";

/** Routes the CLI deliberately leaves to other clients, and why. */
const API_ONLY: Record<string, string> = {
  "GET /health": "liveness probe for load balancers and the stack scripts",
  "GET /openapi.json": "the API's own description, for generated clients",
  "GET /client-config": "the dashboard's Firebase web config",
  "GET /config": "the dashboard's config view",
  "POST /config": "config is loaded from orchestration.json by the dashboard and the demo",
  "GET /deployments/{id}/picture": "an SVG for the dashboard",
  "POST /environments/{name}/provision": "the dashboard's provision button",
  "POST /promote": "the dashboard's promote action",
  "POST /promote/plan": "the promotion plan; the typed CLI generated from routes.ts reaches it",
  "GET /alerts": "the dashboard's alert list",
  "POST /jobs/sweep": "called by the scheduler",
  "POST /jobs/health": "called by the scheduler",
};

function leaves(commands: Record<string, CommandSpec>, prefix = ""): [string, CommandSpec][] {
  return Object.entries(commands).flatMap(([name, spec]) =>
    spec.subcommands ? leaves(spec.subcommands, `${prefix}${name} `) : [[`${prefix}${name}`, spec]],
  );
}

const tableRoutes = new Set(ROUTES.map((route) => `${route.method} ${route.path}`));

describe("the CLI and the route table", () => {
  it("calls only routes the table declares", () => {
    for (const [command, spec] of leaves(COMMANDS))
      for (const route of spec.routes ?? [])
        assert.ok(tableRoutes.has(route), `orch ${command} calls ${route}, which routes.ts does not declare`);
  });

  it("reaches every route of the table, or lists it as API-only", () => {
    const cliRoutes = new Set(leaves(COMMANDS).flatMap(([, spec]) => spec.routes ?? []));
    for (const route of tableRoutes)
      assert.ok(
        cliRoutes.has(route) || route in API_ONLY,
        `${route} has no CLI command: add one to scripts/orch.mjs (with routes: ["${route}"]) or list it in API_ONLY`,
      );
    for (const route of Object.keys(API_ONLY))
      assert.ok(tableRoutes.has(route), `API_ONLY lists ${route}, gone from routes.ts`);
  });

  it("every command but completion declares the routes it calls", () => {
    for (const [command, spec] of leaves(COMMANDS))
      if (command !== "completion")
        assert.ok((spec.routes ?? []).length > 0, `orch ${command} declares no routes`);
  });

  it("completes every command, subcommand and flag in bash, and the script parses in bash", () => {
    const script = completionScript("bash");
    for (const [command, spec] of leaves(COMMANDS)) {
      for (const word of command.split(" ")) assert.ok(script.includes(word), `completion lacks ${word}`);
      for (const flag of Object.keys(spec.options ?? {}))
        assert.ok(script.includes(`--${flag}`), `completion lacks --${flag}`);
    }
    const bash = spawnSync("bash", ["-n"], { input: script, encoding: "utf8" });
    assert.equal(bash.status, 0, bash.stderr);
    const completed = spawnSync(
      "bash",
      ["-c", `${script}\nCOMP_WORDS=(orch keys c); COMP_CWORD=2; _orch; echo "\${COMPREPLY[*]}"`],
      { encoding: "utf8" },
    );
    assert.equal(completed.stdout.trim(), "create");
    assert.match(completionScript("zsh"), /^autoload -U \+X bashcompinit && bashcompinit\n_orch\(\)/);
  });
});
