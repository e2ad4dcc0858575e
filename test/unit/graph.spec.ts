import assert from "node:assert/strict";
import fc from "fast-check";
import {
  criticalPath,
  scheduleWithLimit,
  topologicalOrder,
  type ScheduledNode,
} from "../../functions/src/domain/graph.js";

/** A graph as an adjacency list: node -> the nodes it depends on. */
type Graph = Map<string, string[]>;

function graphOf(edges: Record<string, string[]>): Graph {
  return new Map(Object.entries(edges));
}

const depsIn = (graph: Graph) => (node: string) => graph.get(node) ?? [];

function isEdge(graph: Graph, from: string, to: string): boolean {
  return (graph.get(from) ?? []).includes(to);
}

/** A random DAG: node i may only depend on nodes of lower index, then the names are shuffled. */
interface RandomDag {
  graph: Graph;
  /** Nodes in index order (so every dependency of nodes[i] has a lower index). */
  nodes: string[];
  durations: Map<string, number>;
}

function dagArbitrary(options: {
  maxNodes: number;
  minDuration: number;
  maxDuration: number;
}): fc.Arbitrary<RandomDag> {
  return fc.integer({ min: 1, max: options.maxNodes }).chain((n) => {
    const allNames = Array.from({ length: n }, (_, i) => `n${i}`);
    return fc
      .record({
        names: fc.shuffledSubarray(allNames, { minLength: n, maxLength: n }),
        edges: fc.array(fc.array(fc.boolean(), { minLength: n, maxLength: n }), {
          minLength: n,
          maxLength: n,
        }),
        durations: fc.array(fc.integer({ min: options.minDuration, max: options.maxDuration }), {
          minLength: n,
          maxLength: n,
        }),
      })
      .map(({ names, edges, durations }) => {
        const graph: Graph = new Map();
        names.forEach((name, i) => {
          const deps = names.filter((_, j) => j < i && edges[i]?.[j] === true);
          graph.set(name, deps);
        });
        return { graph, nodes: names, durations: new Map(names.map((name, i) => [name, durations[i] ?? 0])) };
      });
  });
}

/** The longest path (by total duration) ending anywhere, by enumerating every path. */
function bruteForceLongest(graph: Graph, duration: (node: string) => number): number {
  const longestEndingAt = (node: string): number =>
    duration(node) + Math.max(0, ...(graph.get(node) ?? []).map((dependency) => longestEndingAt(dependency)));
  return Math.max(0, ...[...graph.keys()].map(longestEndingAt));
}

function orderOf(result: ReturnType<typeof topologicalOrder>): string[] {
  assert.ok(
    "order" in result,
    `expected an order, got the cycle ${"cycle" in result ? result.cycle.join(" -> ") : ""}`,
  );
  return result.order;
}

function assertValidCycle(graph: Graph, cycle: readonly string[]): void {
  assert.ok(cycle.length >= 2, `cycle too short: ${cycle.join(" -> ")}`);
  assert.equal(cycle[cycle.length - 1], cycle[0], "the cycle closes on its first node");
  assert.equal(new Set(cycle.slice(0, -1)).size, cycle.length - 1, "no node repeats inside the cycle");
  for (let i = 0; i + 1 < cycle.length; i++) {
    const from = cycle[i] ?? "";
    const to = cycle[i + 1] ?? "";
    assert.ok(isEdge(graph, from, to), `${from} -> ${to} is not an edge`);
  }
}

/** The most intervals [start, finish) overlapping at any instant. Zero-length intervals are skipped. */
function maxOverlap(schedule: readonly ScheduledNode[]): number {
  const real = schedule.filter((entry) => entry.finish > entry.start);
  return Math.max(
    0,
    ...real.map((at) => real.filter((entry) => entry.start <= at.start && at.start < entry.finish).length),
  );
}

describe("graph", () => {
  describe("topologicalOrder", () => {
    it("orders a diamond so every node follows its dependencies", () => {
      const graph = graphOf({ d: ["b", "c"], b: ["a"], c: ["a"], a: [] });
      const order = orderOf(topologicalOrder([...graph.keys()], depsIn(graph)));
      assert.deepEqual(order, ["a", "b", "c", "d"]);
    });

    it("orders a chain whose names sort against the dependency order", () => {
      const graph = graphOf({ a: ["b"], b: ["c"], c: [] });
      assert.deepEqual(orderOf(topologicalOrder(["a", "b", "c"], depsIn(graph))), ["c", "b", "a"]);
    });

    it("is deterministic whatever the order the nodes are given in", () => {
      const graph = graphOf({ x: [], y: [], z: ["x"] });
      const first = orderOf(topologicalOrder(["x", "y", "z"], depsIn(graph)));
      const second = orderOf(topologicalOrder(["z", "y", "x"], depsIn(graph)));
      assert.deepEqual(first, second);
    });

    it("returns an empty order for no nodes", () => {
      assert.deepEqual(
        topologicalOrder([], () => []),
        { order: [] },
      );
    });

    it("names a three-node cycle in order, closing on the first node", () => {
      const graph = graphOf({ a: ["b"], b: ["c"], c: ["a"] });
      assert.deepEqual(topologicalOrder(["a", "b", "c"], depsIn(graph)), { cycle: ["a", "b", "c", "a"] });
    });

    it("names only the cycle, not the path that led into it", () => {
      const graph = graphOf({ a: ["b"], b: ["c"], c: ["d"], d: ["b"] });
      assert.deepEqual(topologicalOrder(["a", "b", "c", "d"], depsIn(graph)), {
        cycle: ["b", "c", "d", "b"],
      });
    });

    it("reports a self-loop as a cycle of one node", () => {
      const graph = graphOf({ a: ["a"] });
      assert.deepEqual(topologicalOrder(["a"], depsIn(graph)), { cycle: ["a", "a"] });
    });

    it("property: a random DAG is ordered, every node once and after its dependencies", () => {
      fc.assert(
        fc.property(dagArbitrary({ maxNodes: 12, minDuration: 0, maxDuration: 0 }), ({ graph, nodes }) => {
          const order = orderOf(topologicalOrder(nodes, depsIn(graph)));
          assert.equal(order.length, nodes.length);
          assert.deepEqual([...order].sort(), [...nodes].sort());
          const position = new Map(order.map((node, index) => [node, index]));
          for (const [node, deps] of graph) {
            for (const dependency of deps) {
              assert.ok(
                (position.get(dependency) ?? Infinity) < (position.get(node) ?? -1),
                `${node} comes before its dependency ${dependency}`,
              );
            }
          }
        }),
      );
    });

    it("property: a back edge makes a cycle whose consecutive pairs are real edges", () => {
      const withBackEdge = dagArbitrary({ maxNodes: 10, minDuration: 0, maxDuration: 0 })
        .filter(({ nodes }) => nodes.length >= 2)
        .chain((dag) =>
          fc
            .tuple(fc.integer({ min: 1, max: dag.nodes.length - 1 }), fc.nat())
            .map(([high, lowSeed]) => ({ dag, high, low: lowSeed % high })),
        );
      fc.assert(
        fc.property(withBackEdge, ({ dag, high, low }) => {
          const graph: Graph = new Map([...dag.graph].map(([node, deps]) => [node, [...deps]]));
          const highName = dag.nodes[high] ?? "";
          const lowName = dag.nodes[low] ?? "";
          // Make sure high reaches low (a forward edge, allowed in the DAG), then close the loop.
          if (!isEdge(graph, highName, lowName)) graph.get(highName)?.push(lowName);
          graph.get(lowName)?.push(highName);
          const result = topologicalOrder(dag.nodes, depsIn(graph));
          assert.ok("cycle" in result, "expected a cycle");
          assertValidCycle(graph, result.cycle);
        }),
      );
    });
  });

  describe("criticalPath", () => {
    it("finds the longer branch of a diamond", () => {
      const graph = graphOf({ a: [], b: ["a"], c: ["a"], d: ["b", "c"] });
      const durations: Record<string, number> = { a: 1, b: 5, c: 2, d: 1 };
      const order = orderOf(topologicalOrder([...graph.keys()], depsIn(graph)));
      assert.deepEqual(
        criticalPath(order, depsIn(graph), (node) => durations[node] ?? 0),
        { path: ["a", "b", "d"], length: 7 },
      );
    });

    it("takes a long independent node over a chain of short ones", () => {
      const graph = graphOf({ a: [], b: ["a"], long: [] });
      const durations: Record<string, number> = { a: 1, b: 1, long: 10 };
      const order = orderOf(topologicalOrder([...graph.keys()], depsIn(graph)));
      assert.deepEqual(
        criticalPath(order, depsIn(graph), (node) => durations[node] ?? 0),
        { path: ["long"], length: 10 },
      );
    });

    it("is empty for no nodes", () => {
      assert.deepEqual(
        criticalPath(
          [],
          () => [],
          () => 1,
        ),
        { path: [], length: 0 },
      );
    });

    it("property: the length is the brute-force longest path, and the path is a chain of real edges adding up to it", () => {
      fc.assert(
        fc.property(
          dagArbitrary({ maxNodes: 8, minDuration: 0, maxDuration: 50 }),
          ({ graph, nodes, durations }) => {
            const duration = (node: string) => durations.get(node) ?? 0;
            const order = orderOf(topologicalOrder(nodes, depsIn(graph)));
            const { path, length } = criticalPath(order, depsIn(graph), duration);
            assert.equal(length, bruteForceLongest(graph, duration));
            assert.ok(path.length >= 1);
            assert.deepEqual(graph.get(path[0] ?? ""), [], "the path starts at a node with no dependencies");
            for (let i = 0; i + 1 < path.length; i++) {
              assert.ok(
                isEdge(graph, path[i + 1] ?? "", path[i] ?? ""),
                `${path[i + 1]} does not depend on ${path[i]}`,
              );
            }
            assert.equal(
              path.reduce((sum, node) => sum + duration(node), 0),
              length,
            );
          },
        ),
      );
    });
  });

  describe("scheduleWithLimit", () => {
    it("runs two independent nodes one after the other with a limit of 1, highest priority first", () => {
      const { schedule, makespan } = scheduleWithLimit(
        ["a", "b"],
        () => [],
        () => 10,
        (node) => (node === "b" ? 2 : 1),
        1,
      );
      assert.deepEqual(schedule, [
        { id: "b", start: 0, finish: 10 },
        { id: "a", start: 10, finish: 20 },
      ]);
      assert.equal(makespan, 20);
    });

    it("breaks priority ties by name", () => {
      const { schedule } = scheduleWithLimit(
        ["b", "a"],
        () => [],
        () => 1,
        () => 0,
        1,
      );
      assert.deepEqual(
        schedule.map((entry) => entry.id),
        ["a", "b"],
      );
    });

    it("starts a dependent the moment its dependency finishes", () => {
      const graph = graphOf({ a: [], b: ["a"] });
      const { schedule, makespan } = scheduleWithLimit(
        ["a", "b"],
        depsIn(graph),
        () => 5,
        () => 0,
        4,
      );
      assert.deepEqual(schedule, [
        { id: "a", start: 0, finish: 5 },
        { id: "b", start: 5, finish: 10 },
      ]);
      assert.equal(makespan, 10);
    });

    it("has a makespan of 0 for no nodes", () => {
      assert.deepEqual(
        scheduleWithLimit(
          [],
          () => [],
          () => 1,
          () => 0,
          1,
        ),
        { schedule: [], makespan: 0 },
      );
    });

    const scheduleCase = fc.record({
      dag: dagArbitrary({ maxNodes: 10, minDuration: 1, maxDuration: 30 }),
      limit: fc.integer({ min: 1, max: 5 }),
      priorities: fc.array(fc.integer({ min: 0, max: 100 }), { minLength: 10, maxLength: 10 }),
    });

    it("property: respects the limit and dependencies, schedules every node once, and is no shorter than the critical path", () => {
      fc.assert(
        fc.property(scheduleCase, ({ dag: { graph, nodes, durations }, limit, priorities }) => {
          const duration = (node: string) => durations.get(node) ?? 0;
          const priority = (node: string) => priorities[nodes.indexOf(node)] ?? 0;
          const order = orderOf(topologicalOrder(nodes, depsIn(graph)));
          const { schedule, makespan } = scheduleWithLimit(order, depsIn(graph), duration, priority, limit);

          assert.deepEqual(schedule.map((entry) => entry.id).sort(), [...nodes].sort());
          assert.ok(maxOverlap(schedule) <= limit, `more than ${limit} nodes overlap`);
          const byId = new Map(schedule.map((entry) => [entry.id, entry]));
          for (const entry of schedule) {
            assert.equal(entry.finish - entry.start, duration(entry.id));
            for (const dependency of graph.get(entry.id) ?? []) {
              const finished = byId.get(dependency)?.finish ?? Infinity;
              assert.ok(
                entry.start >= finished,
                `${entry.id} starts at ${entry.start} before ${dependency} finishes at ${finished}`,
              );
            }
          }
          assert.equal(makespan, Math.max(0, ...schedule.map((entry) => entry.finish)));
          assert.ok(makespan >= criticalPath(order, depsIn(graph), duration).length);
        }),
      );
    });

    it("property: with at least as many slots as nodes, the makespan is the critical path length", () => {
      fc.assert(
        fc.property(
          dagArbitrary({ maxNodes: 10, minDuration: 0, maxDuration: 30 }),
          fc.nat({ max: 3 }),
          ({ graph, nodes, durations }, extra) => {
            const duration = (node: string) => durations.get(node) ?? 0;
            const order = orderOf(topologicalOrder(nodes, depsIn(graph)));
            const { makespan } = scheduleWithLimit(
              order,
              depsIn(graph),
              duration,
              () => 0,
              nodes.length + extra,
            );
            assert.equal(makespan, criticalPath(order, depsIn(graph), duration).length);
          },
        ),
      );
    });
  });
});
