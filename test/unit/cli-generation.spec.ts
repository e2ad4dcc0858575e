/**
 * How the CLI is generated from a route table, checked against tables written here: a made-up
 * route table (so a new route's command is known without the real one), then command lines of
 * the real CLI and the requests they make, or the problems they are refused with.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { z } from "zod";
import {
  filledPath,
  generateCommands,
  validateParts,
  type RouteShape,
} from "../../scripts/lib/cli-commands.js";
import { CliError } from "../../scripts/lib/cli-exit.js";
import { commandLine } from "../../scripts/orch.js";

const MADE_UP_ROUTES: RouteShape[] = [
  {
    method: "GET",
    path: "/widgets",
    summary: "list",
    query: z.strictObject({ limit: z.coerce.number().optional() }),
  },
  {
    method: "POST",
    path: "/widgets",
    summary: "create",
    body: z.strictObject({
      widget_name: z.string(),
      sizes: z.array(z.enum(["s", "m"])).optional(),
      weight: z.number().default(1),
      fragile: z.boolean().optional(),
      settings: z.record(z.string(), z.unknown()).optional(),
      owner: z.string().nullable().optional(),
    }),
  },
  { method: "DELETE", path: "/widgets/{id}", summary: "delete" },
  { method: "POST", path: "/widgets/{id}/paint/{colour}", summary: "paint" },
  { method: "GET", path: "/schema.json", summary: "schema" },
  { method: "POST", path: "/import", summary: "import", body: z.unknown() },
  {
    method: "GET",
    path: "/search",
    summary: "search",
    query: z.strictObject({ text: z.string().default(""), environment: z.string().optional() }),
  },
];

/** Each made-up route's expected command: words, positionals and flags as `--flag:in:kind[!]`. */
const EXPECTED: Record<string, { words: string; params: string[]; flags: string[] }> = {
  // Both on /widgets, which other routes extend: the method's verb tells them apart.
  "GET /widgets": { words: "widgets get", params: [], flags: ["--limit:query:string"] },
  "POST /widgets": {
    words: "widgets post",
    params: [],
    flags: [
      "--widget-name:body:string!",
      "--sizes:body:list",
      "--weight:body:number",
      "--fragile:body:boolean",
      "--settings:body:json",
      "--owner:body:string",
    ],
  },
  "DELETE /widgets/{id}": { words: "widgets delete", params: ["id"], flags: [] },
  "POST /widgets/{id}/paint/{colour}": { words: "widgets paint", params: ["id", "colour"], flags: [] },
  "GET /schema.json": { words: "schema", params: [], flags: [] },
  "POST /import": { words: "import", params: [], flags: ["--body:body:json"] },
  "GET /search": { words: "search", params: [], flags: ["--text:query:string", "--env:query:string"] },
};

describe("CLI generation from a route table", () => {
  it("names commands after paths, flags after schema properties, and types them", () => {
    const commands = generateCommands(MADE_UP_ROUTES);
    assert.deepEqual(
      Object.fromEntries(
        commands.map((command) => [
          command.route,
          {
            words: command.words.join(" "),
            params: [...command.params],
            flags: command.flags.map(
              (flag) => `--${flag.flag}:${flag.in}:${flag.kind}${flag.required ? "!" : ""}`,
            ),
          },
        ]),
      ),
      EXPECTED,
    );
    const sizes = commands[1]!.flags.find((flag) => flag.flag === "sizes");
    assert.deepEqual(sizes?.choices, ["s", "m"]);
  });

  it("a new route gets its command with no other edit", () => {
    const before = generateCommands(MADE_UP_ROUTES).length;
    const commands = generateCommands([
      ...MADE_UP_ROUTES,
      {
        method: "POST",
        path: "/gadgets/{id}/polish",
        summary: "new",
        body: z.strictObject({ shine: z.int() }),
      },
    ]);
    assert.equal(commands.length, before + 1);
    const polish = commands.at(-1)!;
    assert.deepEqual(
      [polish.words.join(" "), polish.params, polish.flags.map((flag) => flag.flag)],
      ["gadgets polish", ["id"], ["shine"]],
    );
  });

  it("conveniences rename commands and flags; one for a missing route or field, or a name clash, is refused", () => {
    const [renamed] = generateCommands(MADE_UP_ROUTES, {
      "GET /widgets": { name: ["widgets", "list"], flags: { limit: "max" } },
    });
    assert.deepEqual([renamed!.words, renamed!.flags[0]!.flag], [["widgets", "list"], "max"]);
    assert.throws(
      () => generateCommands(MADE_UP_ROUTES, { "GET /gone": {} }),
      /GET \/gone, which the route table lacks/,
    );
    assert.throws(
      () => generateCommands(MADE_UP_ROUTES, { "GET /widgets": { flags: { nothing: "x" } } }),
      /renames field nothing/,
    );
    assert.throws(
      () => generateCommands(MADE_UP_ROUTES, { "GET /schema.json": { name: ["search"] } }),
      /GET \/schema\.json and GET \/search would be `orch search`/,
    );
    assert.throws(
      () =>
        generateCommands(MADE_UP_ROUTES, {
          "GET /widgets": { extraFlags: [{ flag: "limit", kind: "string", description: "" }] },
        }),
      /--limit is declared twice/,
    );
  });
});

/** Command lines of the real CLI and the request each makes: method, path, query, body. */
const REQUESTS: [string[], string, string, Record<string, unknown>, unknown][] = [
  [
    ["deploy", "--env", "dev", "--integrations", "auth,firestore", "--config", '{"driver":"simulated"}'],
    "POST",
    "/deploy",
    {},
    { environment: "dev", integrations: ["auth", "firestore"], configuration: { driver: "simulated" } },
  ],
  [["plan", "--env", "staging", "--env", "prod"], "POST", "/plan", {}, { environments: ["staging", "prod"] }],
  [
    ["optimize", "--target", "duration", "--target", "reliability"],
    "POST",
    "/optimize",
    {},
    { optimization_targets: ["duration", "reliability"] },
  ],
  [
    ["report", "--type", "health", "--range", "24h", "--format", "csv"],
    "GET",
    "/reports",
    { report_type: "health", time_range: "24h", format: "csv" },
    undefined,
  ],
  [["status", "--env", "prod", "--strict"], "GET", "/status", { environment: "prod" }, undefined],
  [["cancel", "dev-1"], "POST", "/deployments/dev-1/cancel", {}, undefined],
  [
    ["reject", "dev-1", "--reason", "not today"],
    "POST",
    "/deployments/dev-1/reject",
    {},
    { reason: "not today" },
  ],
  [
    ["keys", "create", "--role", "operator", "--env", "dev", "--env", "staging", "--label", "ci"],
    "POST",
    "/keys",
    {},
    { role: "operator", environments: ["dev", "staging"], label: "ci" },
  ],
  [["keys", "revoke", "k1"], "DELETE", "/keys/k1", {}, undefined],
  [
    ["jobs", "runs", "lease-sweeper", "--limit", "1"],
    "GET",
    "/jobs/lease-sweeper/runs",
    { limit: "1" },
    undefined,
  ],
  [
    ["logs", "search", "disk", "full", "--env", "prod", "--correlation", "c-1", "--limit", "5"],
    "GET",
    "/events/search",
    { q: "disk full", environment: "prod", correlation_id: "c-1", limit: "5" },
    undefined,
  ],
  [["promote", "--from", "staging", "--to", "prod"], "POST", "/promote", {}, { from: "staging", to: "prod" }],
  [
    ["deployments", "picture", "dev-1", "--kind", "graph"],
    "GET",
    "/deployments/dev-1/picture",
    { kind: "graph" },
    undefined,
  ],
  [["environments", "provision", "staging"], "POST", "/environments/staging/provision", {}, undefined],
];

/** Command lines refused before anything is sent, with the problem naming the flag. */
const REFUSED: [string[], RegExp][] = [
  [["reject", "dev-1"], /--reason: required/],
  [["report", "--format", "docx"], /--format: found string "docx"; allowed: one of .*"pdf"/],
  [
    ["keys", "create", "--role", "wizard", "--label", "x"],
    /--role: found string "wizard"; allowed: one of "viewer"/,
  ],
  [
    ["deploy", "--env", "dev", "--integrations", "nope"],
    /--integrations \(integrations\[0\]\): found string "nope"/,
  ],
  [["jobs", "runs", "x", "--limit", "0"], /--limit: found string "0"; allowed: at least 1/],
  [["promote", "--from", "dev"], /--to: required/],
  [
    ["logs", "search", "--from", "2026-02-01T00:00:00Z", "--to", "2026-01-01T00:00:00Z"],
    /--from: .*from must be before to/,
  ],
  [["deployments", "picture", "dev-1"], /--kind: required \(one of "graph", "gantt"\)/],
];

const refusal = (argv: string[]): string => {
  try {
    const { command, parts } = commandLine(argv);
    validateParts(command, parts);
  } catch (error) {
    assert.ok(error instanceof CliError, String(error));
    assert.equal(error.exitCode, 2);
    return [error.message, ...error.details].join("\n");
  }
  return "(accepted)";
};

describe("the real CLI's command lines", () => {
  for (const [argv, method, route, query, body] of REQUESTS)
    it(`orch ${argv.join(" ")} → ${method} ${route}`, () => {
      const { command, parts } = commandLine(argv);
      validateParts(command, parts);
      assert.deepEqual(
        [command.method, filledPath(command, parts.params), parts.query, parts.body],
        [method, route, query, body],
      );
    });

  for (const [argv, problem] of REFUSED)
    it(`refuses orch ${argv.join(" ")} with exit 2, naming the flag`, () => {
      assert.match(refusal(argv), problem);
    });

  it("reads a JSON flag from a file, and says which flag holds bad JSON", () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "orch-")), "goals.json");
    writeFileSync(file, JSON.stringify({ environments: ["prod"], availability: 0.999 }));
    const { parts } = commandLine(["plan", "--goals", file]);
    assert.deepEqual(parts.body, { goals: { environments: ["prod"], availability: 0.999 } });
    assert.match(
      refusal(["deploy", "--env", "dev", "--integrations", "auth", "--config", "{driver"]),
      /--config is not JSON/,
    );
    assert.match(
      refusal(["plan", "--goals", "/no/such/file.json"]),
      /--goals \/no\/such\/file\.json: neither JSON nor a readable file/,
    );
  });

  it("refuses unknown flags, missing and extra positional arguments", () => {
    assert.match(refusal(["status", "--bogus"]), /--bogus/);
    assert.match(refusal(["cancel"]), /missing <id>/);
    assert.match(refusal(["cancel", "a", "b"]), /unexpected argument "b"/);
    assert.match(refusal(["cancel", "../etc"]), /<id> "\.\.\/etc" must be/);
  });
});
