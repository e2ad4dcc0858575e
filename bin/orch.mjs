#!/usr/bin/env node
// The `orch` command (package.json "bin"): runs the typed CLI, scripts/orch.ts, through tsx.
import { register } from "tsx/esm/api";

register();
const { runCli } = await import("../scripts/orch.ts");
await runCli(process.argv.slice(2));
