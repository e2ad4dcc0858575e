/**
 * The command-line client (scripts/orch.ts) and the API's route table may not drift: every route
 * has exactly one command, every command a route, its positional arguments are the route's path
 * parameters and its request flags are exactly the properties of the route's query and body
 * schemas (read here from the zod shapes, not from the generator's JSON Schema), required where
 * the schema requires them. The shell completion offers every command and flag, and parses.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { z } from "zod";
import { ROUTES } from "../../functions/src/handlers/routes.js";
import { COMMANDS, findCommand } from "../../scripts/orch.js";
import { GLOBAL_FLAGS, OUTPUT_FLAGS } from "../../scripts/lib/cli-commands.js";
import { CONVENIENCES } from "../../scripts/lib/cli-conveniences.js";
import { completionScript } from "../../scripts/lib/cli-completion.js";

const key = (route: { method: string; path: string }) => `${route.method} ${route.path}`;

/** The properties of an object schema, and whether each may be left out, from zod itself. */
function fieldsOf(schema: z.ZodType | undefined): Map<string, boolean> {
  if (!schema) return new Map();
  if (!(schema instanceof z.ZodObject)) return new Map([["$body", true]]);
  return new Map(
    Object.entries(schema.shape as Record<string, z.ZodType>).map(([field, property]) => [
      field,
      property.safeParse(undefined).success,
    ]),
  );
}

describe("the CLI and the route table", () => {
  it("give every route exactly one command and every command a route", () => {
    const routeKeys = ROUTES.map(key);
    for (const route of routeKeys) {
      const commands = COMMANDS.filter((command) => command.route === route);
      assert.equal(commands.length, 1, `${route} has ${commands.length} commands`);
    }
    for (const command of COMMANDS)
      assert.ok(routeKeys.includes(command.route), `orch ${command.words.join(" ")} calls ${command.route}`);
    assert.equal(COMMANDS.length, ROUTES.length);
  });

  it("take the route's path parameters as positional arguments, in order", () => {
    for (const route of ROUTES) {
      const command = COMMANDS.find((candidate) => candidate.route === key(route))!;
      const params = [...route.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
      assert.deepEqual(command.params, params, route.path);
    }
  });

  it("have one flag per query and body property, required exactly where the schema requires it", () => {
    for (const route of ROUTES) {
      const command = COMMANDS.find((candidate) => candidate.route === key(route))!;
      for (const place of ["query", "body"] as const) {
        const fields = fieldsOf(route[place]);
        const flags = command.flags.filter((flag) => flag.in === place);
        assert.deepEqual(
          flags.map((flag) => flag.field).sort(),
          [...fields.keys()].sort(),
          `${key(route)} ${place}: flags ${flags.map((f) => `--${f.flag}`).join(" ")}`,
        );
        for (const flag of flags)
          assert.equal(
            flag.required,
            !fields.get(flag.field),
            `${key(route)}: --${flag.flag} (${flag.field}) required ${flag.required}`,
          );
      }
    }
  });

  it("declare no flag twice on a command and shadow no connection flag", () => {
    for (const command of COMMANDS) {
      const names = [
        ...command.flags.map((flag) => flag.flag),
        ...command.extraFlags.map((flag) => flag.flag),
        ...GLOBAL_FLAGS.map((flag) => flag.flag),
      ];
      assert.equal(new Set(names).size, names.length, `orch ${command.words.join(" ")}: ${names.join(" ")}`);
      for (const output of OUTPUT_FLAGS)
        assert.ok(command.extraFlags.some((flag) => flag.flag === output.flag));
    }
  });

  it("write conveniences only for routes of the table", () => {
    for (const route of Object.keys(CONVENIENCES))
      assert.ok(
        ROUTES.some((candidate) => key(candidate) === route),
        `a convenience for ${route}`,
      );
  });

  it("keep the commands the docs and CI jobs use", () => {
    // The commands README.md, docs/ and the integration specs type, with the route each calls.
    const kept: [string, string][] = [
      ["plan", "POST /plan"],
      ["deploy", "POST /deploy"],
      ["status", "GET /status"],
      ["optimize", "POST /optimize"],
      ["report", "GET /reports"],
      ["cancel", "POST /deployments/{id}/cancel"],
      ["approve", "POST /deployments/{id}/approve"],
      ["reject", "POST /deployments/{id}/reject"],
      ["doctor", "GET /doctor"],
      ["keys create", "POST /keys"],
      ["keys revoke", "DELETE /keys/{id}"],
      ["keys list", "GET /keys"],
      ["jobs list", "GET /jobs"],
      ["jobs runs", "GET /jobs/{name}/runs"],
      ["jobs run", "POST /jobs/{name}/run"],
      ["jobs pause", "POST /jobs/{name}/pause"],
      ["jobs resume", "POST /jobs/{name}/resume"],
      ["jobs sync", "POST /jobs/sync"],
      ["logs search", "GET /events/search"],
      ["privacy export", "POST /privacy/export"],
      ["privacy erase", "POST /privacy/erase"],
    ];
    for (const [words, route] of kept) assert.equal(findCommand(words.split(" "))?.route, route, words);
  });

  it("completes every command, subcommand and flag in bash, and the script parses in bash", () => {
    const script = completionScript(COMMANDS, "bash");
    for (const command of COMMANDS) {
      for (const word of command.words) assert.ok(script.includes(word), `completion lacks ${word}`);
      for (const flag of [...command.flags, ...command.extraFlags])
        assert.ok(script.includes(`--${flag.flag}`), `completion lacks --${flag.flag}`);
    }
    assert.equal(spawnSync("bash", ["-n"], { input: script, encoding: "utf8" }).status, 0);
    const complete = (words: string[]) =>
      spawnSync(
        "bash",
        [
          "-c",
          `${script}\nCOMP_WORDS=(${words.join(" ")}); COMP_CWORD=${words.length - 1}; _orch; echo "\${COMPREPLY[*]}"`,
        ],
        { encoding: "utf8" },
      ).stdout.trim();
    assert.equal(complete(["orch", "keys", "c"]), "create");
    assert.equal(complete(["orch", "deploy", "--no-w"]), "--no-wait");
    assert.equal(complete(["orch", "jobs", "runs", "--li"]), "--limit");
    assert.equal(complete(["orch", "completion", "z"]), "zsh");
    assert.match(
      completionScript(COMMANDS, "zsh"),
      /^autoload -U \+X bashcompinit && bashcompinit\n_orch\(\)/,
    );
  });
});
