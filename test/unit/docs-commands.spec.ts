/**
 * The commands the audience pages (docs/*.md) tell people to type exist: every `npm run <script>`
 * is a script of package.json, every `orch <command> [<subcommand>] --flag` is a command and flag
 * of the CLI, and every repository path they name exists.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { findCommand } from "../../scripts/orch.js";
import { GLOBAL_FLAGS } from "../../scripts/lib/cli-commands.js";

const root = new URL("../../", import.meta.url);
const pages = ["docs/platform-engineer.md", "docs/on-call.md", "docs/contributor.md"];
const text = (file: string) => readFileSync(new URL(file, root), "utf8");
const scripts = Object.keys(
  (JSON.parse(text("package.json")) as { scripts: Record<string, string> }).scripts,
);

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
        const words = command.split(/\s+/).filter((word) => /^[a-z][\w-]*$/.test(word));
        if (words[0] === "completion") continue;
        // The command is the longest run of leading words that names one.
        const leaf = [2, 1].map((count) => findCommand(words.slice(0, count))).find(Boolean);
        assert.ok(leaf, `${file}: orch ${command}: no such command`);
        const flags = [...leaf.flags, ...leaf.extraFlags, ...GLOBAL_FLAGS].map((flag) => flag.flag);
        for (const flag of command.matchAll(/--([\w-]+)/g))
          assert.ok(flags.includes(flag[1]!), `${file}: orch ${command}: no flag --${flag[1]}`);
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
