/** Graph algorithms over task dependencies, shared by the planner, the engine and the pictures. */

/** Node ids in an order where every node comes after all of its dependencies, or a cycle if there is none. */
export function topologicalOrder(
  nodes: readonly string[],
  dependencies: (node: string) => readonly string[],
): { order: string[] } | { cycle: string[] } {
  const state = new Map<string, "visiting" | "done">();
  const order: string[] = [];
  const stack: string[] = [];
  let cycle: string[] | undefined;

  const visit = (node: string): boolean => {
    const seen = state.get(node);
    if (seen === "done") return true;
    if (seen === "visiting") {
      cycle = [...stack.slice(stack.indexOf(node)), node];
      return false;
    }
    state.set(node, "visiting");
    stack.push(node);
    for (const dependency of dependencies(node)) {
      if (!visit(dependency)) return false;
    }
    stack.pop();
    state.set(node, "done");
    order.push(node);
    return true;
  };

  for (const node of [...nodes].sort()) {
    if (!visit(node)) return { cycle: cycle ?? [] };
  }
  return { order };
}

/** The longest chain of dependencies by total duration: what bounds the deployment's length. */
export function criticalPath(
  order: readonly string[],
  dependencies: (node: string) => readonly string[],
  duration: (node: string) => number,
): { path: string[]; length: number } {
  const finish = new Map<string, number>();
  const via = new Map<string, string | undefined>();
  for (const node of order) {
    let start = 0;
    let from: string | undefined;
    for (const dependency of dependencies(node)) {
      const end = finish.get(dependency) ?? 0;
      if (from === undefined || end > start) {
        start = end;
        from = dependency;
      }
    }
    finish.set(node, start + duration(node));
    via.set(node, from);
  }
  let last: string | undefined;
  let length = 0;
  for (const node of order) {
    const end = finish.get(node) ?? 0;
    if (last === undefined || end > length) {
      last = node;
      length = end;
    }
  }
  const path: string[] = [];
  for (let node = last; node !== undefined; node = via.get(node)) path.unshift(node);
  return { path, length };
}

/** A planned start and finish (seconds from the start) for each node. */
export interface ScheduledNode {
  id: string;
  start: number;
  finish: number;
}

/**
 * List scheduling under a concurrency limit: whenever a slot is free, the ready node with the
 * highest priority starts. Gives the timeline and the estimated completion of a plan.
 */
export function scheduleWithLimit(
  order: readonly string[],
  dependencies: (node: string) => readonly string[],
  duration: (node: string) => number,
  priority: (node: string) => number,
  limit: number,
): { schedule: ScheduledNode[]; makespan: number } {
  const finish = new Map<string, number>();
  const schedule: ScheduledNode[] = [];
  const pending = new Set(order);
  let running: ScheduledNode[] = [];
  let now = 0;
  while (pending.size > 0 || running.length > 0) {
    const ready = [...pending]
      .filter((node) =>
        dependencies(node).every(
          (dependency) => finish.has(dependency) && (finish.get(dependency) ?? 0) <= now,
        ),
      )
      .sort((a, b) => priority(b) - priority(a) || a.localeCompare(b));
    for (const node of ready) {
      if (running.length >= limit) break;
      const entry = { id: node, start: now, finish: now + duration(node) };
      running.push(entry);
      schedule.push(entry);
      pending.delete(node);
    }
    if (running.length === 0) break;
    now = Math.min(...running.map((entry) => entry.finish));
    for (const entry of running.filter((e) => e.finish <= now)) finish.set(entry.id, entry.finish);
    running = running.filter((entry) => entry.finish > now);
  }
  return { schedule, makespan: Math.max(0, ...schedule.map((entry) => entry.finish)) };
}
