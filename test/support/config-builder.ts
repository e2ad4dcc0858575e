/** Builds valid orchestration configs for tests, to be bent into the bad ones under test. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const examplePath = fileURLToPath(new URL("../../orchestration.json", import.meta.url));

/** A fresh deep copy of the example config that ships with the repo. */
export function exampleConfig(): Record<
  string,
  any
> /* any: tests reach into arbitrary paths to break them */ {
  return JSON.parse(readFileSync(examplePath, "utf8")) as Record<string, any>;
}

/** The example config with one change applied. */
export function configWith(change: (config: Record<string, any>) => void): Record<string, any> {
  const config = exampleConfig();
  change(config);
  return config;
}
