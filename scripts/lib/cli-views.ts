/**
 * How the CLI shows answers in a terminal: tables, any JSON as indented text, and a deployment in
 * progress as a progress line over its task graph (dependency levels, each task with its state).
 */

export function out(line = ""): void {
  process.stdout.write(`${line}\n`);
}
export const printJson = (value: unknown): void => out(JSON.stringify(value, null, 2));

type Cell = string | number | null | undefined;

/** A plain text table: rows of cells, padded to each column's width. */
export function table(header: readonly string[], rows: readonly (readonly Cell[])[]): string[] {
  const all = [header, ...rows].map((row) => row.map((cell) => (cell == null ? "" : String(cell))));
  const widths = header.map((_, column) => Math.max(...all.map((row) => (row[column] ?? "").length)));
  return all.map((row) =>
    row
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join("  ")
      .trimEnd(),
  );
}

/** A JSON value as text: strings as they are, anything else as JSON (`""` for nothing). */
export function text(value: unknown): string {
  if (value === null || value === undefined) return "";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** Any JSON value as indented text, for answers without a view of their own. */
export function render(value: unknown, indent = ""): string[] {
  if (value === null || value === undefined) return [`${indent}-`];
  if (typeof value !== "object") return [`${indent}${text(value)}`];
  const lines: string[] = [];
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${indent}(none)`];
    for (const item of value as unknown[]) {
      if (item !== null && typeof item === "object") {
        const [first = "", ...more] = render(item, `${indent}  `);
        lines.push(`${indent}- ${first.trimStart()}`, ...more);
      } else lines.push(`${indent}- ${String(item)}`);
    }
    return lines;
  }
  for (const [key, item] of Object.entries(value)) {
    if (item !== null && typeof item === "object" && (!Array.isArray(item) || item.length > 0))
      lines.push(`${indent}${key}:`, ...render(item, `${indent}  `));
    else
      lines.push(`${indent}${key}: ${Array.isArray(item) ? "(none)" : item === null ? "-" : String(item)}`);
  }
  return lines;
}

export const seconds = (ms: number | null | undefined) => (ms == null ? "" : `${(ms / 1000).toFixed(1)}s`);

/** A task as GET /deployments/{id} answers it (the fields the views read). */
export interface TaskView {
  id: string;
  integration: string;
  status: string;
  attempt: number;
  dependencies?: string[];
  started_at?: string | null;
  completed_at?: string | null;
  error_message?: string | null;
  reason?: string | null;
  driver?: string;
  driver_label?: string;
}

export interface DeploymentView {
  deployment: { id?: string; status: string; error_message?: string | null };
  tasks: TaskView[];
}

export const TERMINAL_DEPLOYMENT = new Set(["succeeded", "failed", "rolled_back", "cancelled"]);
const DONE_TASK = new Set(["succeeded", "failed", "cancelled", "rolled_back", "skipped"]);

export function durationOf(task: TaskView, now = Date.now()): string {
  if (!task.started_at) return "";
  const start = Date.parse(task.started_at);
  const end = task.completed_at ? Date.parse(task.completed_at) : now;
  return Number.isFinite(start) && Number.isFinite(end) ? seconds(end - start) : "";
}

const noteOf = (task: TaskView) => task.error_message ?? task.reason ?? "";

/** The final table of a deployment's tasks. */
export function taskTable(tasks: readonly TaskView[]): string[] {
  return table(
    ["task", "status", "attempt", "duration", "driver", "note"],
    tasks.map((task) => [
      task.integration,
      task.status,
      task.attempt,
      durationOf(task),
      task.driver_label ?? task.driver ?? "",
      noteOf(task),
    ]),
  );
}

/** `[#####.....] 3/7 done (1 running)`: the share of tasks that ended, and what the rest are doing. */
export function progressLine(view: DeploymentView, elapsedMs: number, width = 20): string {
  const total = view.tasks.length;
  const done = view.tasks.filter((task) => DONE_TASK.has(task.status)).length;
  const filled = total === 0 ? 0 : Math.round((done / total) * width);
  const counts = new Map<string, number>();
  for (const task of view.tasks)
    if (!DONE_TASK.has(task.status)) counts.set(task.status, (counts.get(task.status) ?? 0) + 1);
  const failed = view.tasks.filter((task) => task.status === "failed").length;
  const doing = [...counts].map(([status, n]) => `${n} ${status}`);
  if (failed > 0) doing.push(`${failed} failed`);
  return `deployment ${view.deployment.status} · ${seconds(elapsedMs)} · [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total} done${doing.length ? ` (${doing.join(", ")})` : ""}`;
}

const STATE_MARKS: Record<string, string> = {
  succeeded: "✓",
  failed: "✗",
  running: "●",
  ready: "◌",
  pending: "○",
  cancelled: "-",
  rolled_back: "↺",
};

/**
 * The task graph as dependency levels, one line each: level 1 holds the tasks without
 * dependencies, level n those whose last dependency is on level n-1; a task names what it waits
 * for when that is not the whole level before it.
 */
export function graphLines(tasks: readonly TaskView[]): string[] {
  const byId = new Map(tasks.map((task) => [task.id, task]));
  const levels = new Map<string, number>();
  const levelOf = (task: TaskView, visiting: Set<string>): number => {
    const known = levels.get(task.id);
    if (known !== undefined) return known;
    // A cycle cannot be planned; guard anyway so a bad answer cannot hang the view.
    if (visiting.has(task.id)) return 1;
    visiting.add(task.id);
    const dependencies = (task.dependencies ?? []).flatMap((id) => byId.get(id) ?? []);
    const level = 1 + Math.max(0, ...dependencies.map((dependency) => levelOf(dependency, visiting)));
    levels.set(task.id, level);
    return level;
  };
  for (const task of tasks) levelOf(task, new Set());
  const deepest = Math.max(0, ...levels.values());
  const lines: string[] = [];
  for (let level = 1; level <= deepest; level++) {
    const here = tasks.filter((task) => levels.get(task.id) === level);
    if (here.length === 0) continue;
    const previous = tasks.filter((task) => levels.get(task.id) === level - 1).map((task) => task.id);
    const cells = here.map((task) => {
      const waits = (task.dependencies ?? []).filter((id) => byId.has(id));
      const wholeLevelBefore = waits.length === previous.length && waits.every((id) => previous.includes(id));
      const named =
        waits.length > 0 && !wholeLevelBefore
          ? ` (after ${waits.map((id) => byId.get(id)!.integration).join(", ")})`
          : "";
      return `${STATE_MARKS[task.status] ?? "?"} ${task.integration}${named}`;
    });
    lines.push(`${String(level).padStart(2)}  ${cells.join("   ")}`);
  }
  return lines;
}

export interface ProgressView {
  update(view: DeploymentView): void;
  close(): void;
}

/** Not a terminal: one line per deployment or task state change. */
export function lineView(log: (line: string) => void): ProgressView {
  const seen = new Map<string, string>();
  let deploymentStatus: string | undefined;
  const time = () => new Date().toISOString().slice(11, 19);
  return {
    update({ deployment, tasks }) {
      for (const task of tasks) {
        const key = `${task.status}/${task.attempt}`;
        if (seen.get(task.id) === key) continue;
        seen.set(task.id, key);
        const note = noteOf(task);
        const attempt = task.attempt > 0 ? ` (attempt ${task.attempt})` : "";
        log(`${time()} ${task.integration}: ${task.status}${attempt}${note ? ` - ${note}` : ""}`);
      }
      if (deployment.status !== deploymentStatus) {
        deploymentStatus = deployment.status;
        log(`${time()} deployment: ${deploymentStatus}`);
      }
    },
    close() {},
  };
}

/**
 * A terminal: the progress line and, where the terminal has the room, the task graph, redrawn in
 * place; the tasks that failed or retry say why below it.
 */
export function terminalView(stream: NodeJS.WriteStream, now = Date.now): ProgressView {
  let drawn = 0;
  const started = now();
  return {
    update(view) {
      const columns = stream.columns ?? 100;
      const graph = graphLines(view.tasks);
      const notes = view.tasks
        .filter((task) => noteOf(task) && task.status !== "succeeded")
        .map((task) => `  ${task.integration} (attempt ${task.attempt}): ${noteOf(task)}`);
      const fits = graph.length + notes.length + 2 <= (stream.rows ?? 24) - 2;
      const lines = [progressLine(view, now() - started), ...(fits ? graph : []), ...notes].map((line) =>
        line.length > columns ? `${line.slice(0, columns - 1)}…` : line,
      );
      if (drawn > 0) stream.write(`\x1b[${drawn}A\x1b[0J`);
      stream.write(`${lines.join("\n")}\n`);
      drawn = lines.length;
    },
    close() {
      drawn = 0;
    },
  };
}
