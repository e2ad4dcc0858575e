/**
 * orch: the command-line client of the orchestration API, against the local stack or a deployed one.
 *
 *   npx orch <command> [options]      (see `npx orch --help`; bin/orch.mjs runs this file through tsx)
 *
 * Its commands are generated from the API's route table (functions/src/handlers/routes.ts): one per
 * route, flags from the route's zod schemas, validated by them before anything is sent. The exit
 * codes are a contract CI jobs rely on (scripts/lib/cli-exit.ts).
 */
import { realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ROUTES } from "../functions/src/handlers/routes.js";
import { createClient, redact, type ApiAnswer } from "./lib/cli-client.js";
import {
  GLOBAL_FLAGS,
  filledPath,
  generateCommands,
  requestParts,
  validateParts,
  type Command,
  type ExtraFlag,
  type RequestParts,
} from "./lib/cli-commands.js";
import { completionScript } from "./lib/cli-completion.js";
import { CONVENIENCES, writeAnswer, type RunContext } from "./lib/cli-conveniences.js";
import { CliError, EXIT, EXIT_HELP, usageError } from "./lib/cli-exit.js";
import { parseArgsOption, type FieldFlag } from "./lib/cli-flags.js";
import { out, printJson, render } from "./lib/cli-views.js";

/** Every command of the CLI: the route table's, with the hand-written conveniences. */
export const COMMANDS: readonly Command[] = generateCommands(ROUTES, CONVENIENCES);

/** The command spelled by these words, if any. */
export function findCommand(words: readonly string[]): Command | undefined {
  return COMMANDS.find((command) => command.words.join(" ") === words.join(" "));
}

/** The subcommands under a group (`keys` → create, list, revoke). */
function childrenOf(prefix: readonly string[]): string[] {
  const children = COMMANDS.filter(
    (command) =>
      command.words.length > prefix.length && prefix.every((word, index) => command.words[index] === word),
  ).map((command) => command.words[prefix.length]!);
  return [...new Set(children)];
}

const CONNECTION_HELP = `Connection (every command):
${GLOBAL_FLAGS.map((flag) => `  --${flag.flag}${flag.kind === "string" ? " <value>" : ""}`.padEnd(22) + flag.description).join("\n")}`;

function mainHelp(): string {
  const tops = [...new Set(COMMANDS.map((command) => command.words[0]!))];
  const lines = tops.map((top) => {
    const leaf = findCommand([top]);
    return [top, leaf ? leaf.summary : `${childrenOf([top]).join(", ")}`];
  });
  lines.push(["completion", 'print a shell completion script: eval "$(orch completion bash)" (or zsh)']);
  const width = Math.max(...lines.map(([name]) => name!.length));
  return `orch: client for the orchestration API (one command per API route)

Usage: orch <command> [<subcommand>] [arguments] [options]

Commands:
${lines.map(([name, text]) => `  ${name!.padEnd(width)}  ${text}`).join("\n")}

Run \`orch <command> --help\` for a command's arguments and options.

${CONNECTION_HELP}

${EXIT_HELP}
`;
}

const PLACEHOLDERS: Record<FieldFlag["kind"], string> = {
  string: "text",
  number: "number",
  boolean: "",
  list: "a,b",
  json: "json|file",
};

/** What a flag takes, for usage lines: its choices, or the kind of value. */
function placeholder(flag: FieldFlag | ExtraFlag): string {
  if (flag.kind === "boolean") return "";
  if (!("field" in flag)) return " <value>";
  return ` <${flag.choices ? flag.choices.join("|") : PLACEHOLDERS[flag.kind]}>`;
}

function usageLine(command: Command): string {
  const params = command.params.map((param) =>
    command.convenience?.optionalParams ? `[<${param}>]` : `<${param}>`,
  );
  const rest = command.convenience?.restField ? [`[<${command.convenience.restField}>...]`] : [];
  const flags = command.flags.map((flag) => {
    const text = `--${flag.flag}${placeholder(flag)}`;
    return flag.required && !command.convenience?.fills?.includes(flag.field) ? text : `[${text}]`;
  });
  return `orch ${[...command.words, ...params, ...rest, ...flags].join(" ")}`;
}

function commandHelp(command: Command): string {
  const describe = (flag: FieldFlag) =>
    [
      flag.field === "$body" ? "the request body" : `${flag.in} field ${flag.field}`,
      command.convenience?.fills?.includes(flag.field)
        ? "filled in when left out"
        : flag.required
          ? "required"
          : undefined,
      flag.kind === "list" ? "repeatable or comma separated" : undefined,
      flag.kind === "json" ? "JSON, or a file holding it" : undefined,
      flag.default !== undefined ? `default ${JSON.stringify(flag.default)}` : undefined,
      flag.description,
    ]
      .filter(Boolean)
      .join("; ");
  const rows = [
    ...command.flags.map((flag) => [`--${flag.flag}${placeholder(flag)}`, describe(flag)]),
    ...command.extraFlags.map((flag) => [`--${flag.flag}${placeholder(flag)}`, flag.description]),
  ];
  const width = Math.min(30, Math.max(...rows.map(([name]) => name!.length)));
  return `Usage: ${usageLine(command)}

${command.summary} (${command.route})

Options:
${rows.map(([name, text]) => `  ${name!.padEnd(width)}  ${text}`).join("\n")}
${command.convenience?.help ? `\n${command.convenience.help}\n` : ""}
${CONNECTION_HELP}

${EXIT_HELP}
`;
}

function groupHelp(prefix: readonly string[]): string {
  const commands = COMMANDS.filter((command) => prefix.every((word, index) => command.words[index] === word));
  return `Usage:
${commands.map((command) => `  ${usageLine(command)}\n      ${command.summary}`).join("\n")}

Run \`orch ${prefix.join(" ")} <command> --help\` for one command's options.

${CONNECTION_HELP}

${EXIT_HELP}
`;
}

const GLOBAL_VALUE_FLAGS = new Set(GLOBAL_FLAGS.filter((f) => f.kind === "string").map((f) => `--${f.flag}`));

/** Splits argv into the command's words (as far as they name commands) and the rest. */
function splitCommand(argv: readonly string[]): { words: string[]; rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  let open = true;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (open && !arg.startsWith("-")) {
      const next = [...words, arg];
      if (childrenOf(words).includes(arg) || (words.length === 0 && ["help", "completion"].includes(arg))) {
        words.push(arg);
        if (findCommand(next) || next[0] === "completion") open = false;
        continue;
      }
      open = false;
    }
    rest.push(arg);
    if (GLOBAL_VALUE_FLAGS.has(arg) && index + 1 < argv.length) rest.push(argv[++index]!);
  }
  return { words, rest };
}

function parse(command: Command, rest: readonly string[]) {
  const options = Object.fromEntries([
    ...[...GLOBAL_FLAGS, ...command.extraFlags].map(
      (flag) => [flag.flag, parseArgsOption(flag.kind)] as const,
    ),
    ...command.flags.map((flag) => [flag.flag, parseArgsOption(flag.kind)] as const),
  ]);
  try {
    return parseArgs({ args: [...rest], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError((error as Error).message.replace(/\. To specify a positional.*$/s, ""));
  }
}

/** A command line as the command it names, its parsed flags and the request parts they make (unvalidated). */
export function commandLine(argv: readonly string[]) {
  const { words, rest } = splitCommand(argv);
  const command = findCommand(words);
  if (!command) throw usageError(`no command ${JSON.stringify(words.join(" "))}`);
  const { values, positionals } = parse(command, rest);
  return { command, values, parts: requestParts(command, values, positionals) };
}

/** Runs one command: parse, fill in, validate, send, print; answers the exit code. */
async function runCommand(argv: readonly string[]): Promise<number> {
  const { command, values, parts } = commandLine(argv);
  const client = createClient({
    url: values.url as string | undefined,
    token: values.token as string | undefined,
    apiKey: values["api-key"] as string | undefined,
    verbose: values.verbose === true,
  });
  const sendFor = (target: Command, given: Partial<RequestParts>): Promise<ApiAnswer> => {
    const body = given.body;
    return client.send({
      method: target.method,
      path: filledPath(target, given.params ?? {}),
      query: given.query ?? {},
      ...(body !== undefined && { body }),
      allow: target.convenience?.answerStatuses ?? [],
    });
  };
  const context: RunContext = {
    command,
    values,
    parts,
    client,
    send: (given = parts) => sendFor(command, given),
    call: async (route, given = {}) => {
      const target = COMMANDS.find((candidate) => candidate.route === route);
      if (!target) throw new Error(`${route} is not in the route table`);
      return (await sendFor(target, given)).json;
    },
  };
  await command.convenience?.prepare?.(parts, context);
  validateParts(command, parts);
  if (command.convenience?.run && !values.out) return (await command.convenience.run(context)) ?? EXIT.ok;
  const answer = await context.send();
  if (values.out || !answer.contentType.includes("json")) return writeAnswer(answer, context);
  if (values.json) {
    printJson(answer.json);
    return EXIT.ok;
  }
  const print = command.convenience?.print;
  if (print) return print(answer.json, context) ?? EXIT.ok;
  for (const line of render(answer.json)) out(line);
  return EXIT.ok;
}

export async function main(argv: readonly string[]): Promise<number> {
  const { words, rest } = splitCommand(argv);
  const wantsHelp = rest.includes("--help") || rest.includes("-h");
  if (words[0] === "help") {
    const asked = words.slice(1).length > 0 ? words.slice(1) : rest.filter((arg) => !arg.startsWith("-"));
    const command = findCommand(asked);
    process.stdout.write(
      command
        ? commandHelp(command)
        : asked.length && childrenOf(asked).length
          ? groupHelp(asked)
          : mainHelp(),
    );
    return EXIT.ok;
  }
  if (words[0] === "completion" && !wantsHelp) {
    const [shell, extra] = rest;
    if ((shell !== "bash" && shell !== "zsh") || extra !== undefined)
      throw usageError(
        `completion needs a shell: bash or zsh${shell ? `, not ${JSON.stringify(shell)}` : ""}`,
      );
    process.stdout.write(completionScript(COMMANDS, shell));
    return EXIT.ok;
  }
  if (words[0] === "completion") {
    out(
      "Usage: orch completion bash|zsh\n\n  Prints the completion script; needs no API address or credentials.",
    );
    return EXIT.ok;
  }
  const command = findCommand(words);
  if (!command) {
    if (words.length === 0) {
      const first = rest.find((arg) => !arg.startsWith("-"));
      if (first)
        throw usageError(`unknown command ${JSON.stringify(first)}; commands: ${childrenOf([]).join(", ")}`);
      if (wantsHelp) {
        process.stdout.write(mainHelp());
        return EXIT.ok;
      }
      const unknown = rest.find(
        (arg) => arg.startsWith("-") && !GLOBAL_VALUE_FLAGS.has(arg) && arg !== "--verbose",
      );
      if (unknown) throw usageError(`unknown option ${unknown}`);
      process.stderr.write(mainHelp());
      throw usageError("no command given");
    }
    if (wantsHelp) {
      process.stdout.write(groupHelp(words));
      return EXIT.ok;
    }
    const next = rest.find((arg) => !arg.startsWith("-"));
    const options = childrenOf(words).join(", ");
    throw usageError(
      next
        ? `unknown ${words.join(" ")} command ${JSON.stringify(next)}; use ${options}`
        : `${words.join(" ")} needs a command: ${options}`,
    );
  }
  if (wantsHelp) {
    process.stdout.write(commandHelp(command));
    return EXIT.ok;
  }
  return runCommand(argv);
}

/** Writes the failure the way CI logs read it: `orch: message`, details indented, never a credential. */
export function reportFailure(error: unknown): number {
  if (error instanceof CliError) {
    process.stderr.write(`orch: ${redact(error.message)}\n`);
    for (const detail of error.details) process.stderr.write(`  ${redact(detail)}\n`);
    if (
      error.exitCode === EXIT.usage &&
      error.details.length === 0 &&
      /option|argument|command|needs|missing/.test(error.message)
    )
      process.stderr.write("Run `orch --help` for usage.\n");
    return error.exitCode;
  }
  process.stderr.write(`orch: unexpected error: ${redact(String((error as Error)?.stack ?? error))}\n`);
  return EXIT.server;
}

/** Runs the CLI on these arguments and sets the process's exit code (bin/orch.mjs calls this). */
export async function runCli(argv: readonly string[]): Promise<void> {
  try {
    process.exitCode = await main(argv);
  } catch (error) {
    process.exitCode = reportFailure(error);
  }
}

const runDirectly =
  process.argv[1] !== undefined &&
  realpathSync(path.resolve(process.argv[1])) === fileURLToPath(import.meta.url);
if (runDirectly) await runCli(process.argv.slice(2));
