/**
 * The commands the audience pages (docs/*.md) tell people to type exist: every `npm run <script>`
 * is a script of package.json, every `orch <command> [<subcommand>] --flag` is a command and flag
 * of the CLI, and every repository path they name exists.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { COMMANDS } from "../../scripts/orch.mjs";

const root = new URL("../../", import.meta.url);
const pages = ["docs/platform-engineer.md", "docs/on-call.md", "docs/contributor.md"];
const text = (file: string) => readFileSync(new URL(file, root), "utf8");
const scripts = Object.keys(
  (JSON.parse(text("package.json")) as { scripts: Record<string, string> }).scripts,
);
const GLOBAL_FLAGS = ["url", "token", "api-key", "verbose", "help"];

/** Every `orch ...` invocation in a page: from inline code and from code blocks, up to a comment or pipe. */
function orchCommands(page: string): string[] {
  const found: string[] = [];
  for (const match of page.matchAll(/(?:^|`|\$\(|npm run orch -- )orch ([^`#\n|)]*)/gm))
    found.push(match[1]!.trim());
  return found;
}

describe("the docs pages' commands", () => {
  it("are found at all (the checks below are not vacuous)", () => {
    const all = pages.map(text).join("\n");
    assert.ok(orchCommands(all).length >= 10, `only ${orchCommands(all).length} orch commands found`);
    assert.ok([...all.matchAll(/npm run ([\w:-]+)/g)].length >= 5);
  });

  for (const file of pages) {
    const page = text(file);

    it(`${file}: every npm run script exists`, () => {
      const used = [...page.matchAll(/npm run ([\w:-]+)/g)].map((match) => match[1]!);
      for (const name of used) assert.ok(scripts.includes(name), `${file}: npm run ${name} is no script`);
    });

    it(`${file}: every orch command and flag exists`, () => {
      for (const command of orchCommands(page)) {
        const words = command.split(/\s+/);
        const spec = COMMANDS[words[0]!];
        assert.ok(spec, `${file}: orch ${command}: no command ${words[0]}`);
        const leaf = spec.subcommands ? spec.subcommands[words[1] ?? ""] : spec;
        assert.ok(leaf, `${file}: orch ${command}: no subcommand ${words[1]}`);
        const flags = Object.keys(leaf.options ?? {});
        for (const flag of command.matchAll(/--([\w-]+)/g))
          assert.ok(
            flags.includes(flag[1]!) || GLOBAL_FLAGS.includes(flag[1]!),
            `${file}: orch ${command}: no flag --${flag[1]}`,
          );
      }
    });

    it(`${file}: every repository path it names exists`, () => {
      const paths = [
        ...page.matchAll(/`((?:functions|scripts|test|docs|environments)\/[\w./-]+\.\w+)`/g),
      ].map((match) => match[1]!);
      for (const name of paths)
        if (!name.includes("<"))
          assert.ok(existsSync(new URL(name, root)), `${file}: ${name} does not exist`);
    });
  }
});
