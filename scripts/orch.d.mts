/** See orch.mjs: the command-line client's commands, as the route drift test reads them. */
export interface CommandSpec {
  summary?: string;
  usage: string;
  options?: Record<string, { type: "string" | "boolean"; multiple?: boolean; short?: string }>;
  /** The API routes the command calls, e.g. "POST /deploy". */
  routes?: string[];
  subcommands?: Record<string, CommandSpec>;
}
export const COMMANDS: Record<string, CommandSpec>;
export function completionScript(shell: "bash" | "zsh"): string;
