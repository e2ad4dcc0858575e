import assert from "node:assert/strict";
import fc from "fast-check";
import { validateConfig } from "../../functions/src/domain/config.js";
import type { Task } from "../../functions/src/domain/engine-model.js";
import { planDeployment, type DeploymentPlan } from "../../functions/src/domain/planner.js";
import {
  HEALTH_COLORS,
  renderBarChart,
  renderHealthMatrix,
  renderLineChart,
} from "../../functions/src/visual/charts.js";
import {
  fromPlan,
  fromTasks,
  renderDependencyGraph,
  STATUS_COLORS,
  type DependencyGraphInput,
  type GraphNode,
} from "../../functions/src/visual/dependency-graph.js";
import { ganttFromPlan, renderGantt } from "../../functions/src/visual/gantt.js";
import { escapeXml } from "../../functions/src/visual/svg.js";
import { FirebaseVisualOrchestrator } from "../../functions/src/visual/visual-orchestrator.js";
import { exampleConfig } from "../support/config-builder.js";

// ---------------------------------------------------------------------------------------------
// A strict little XML reader: enough of XML to read the pictures back, and to refuse anything
// that is not well-formed (unclosed or crossed tags, raw `<` or `&`, unknown entities).

interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** The element's own text content (not its descendants'), unescaped. */
  text: string;
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function unescapeXml(value: string): string {
  return value.replace(/&([^;]*);|&/g, (whole, name: string | undefined) => {
    if (name === undefined) throw new Error(`raw & in ${JSON.stringify(value)}`);
    if (name in ENTITIES) return ENTITIES[name] ?? "";
    const numeric = /^#(x[0-9a-fA-F]+|[0-9]+)$/.exec(name);
    if (numeric?.[1]) {
      const code = numeric[1].startsWith("x") ? parseInt(numeric[1].slice(1), 16) : parseInt(numeric[1], 10);
      return String.fromCodePoint(code);
    }
    throw new Error(`unknown entity ${whole}`);
  });
}

function parseXml(xml: string): XmlElement {
  const token =
    /<\/([A-Za-z][\w:.-]*)\s*>|<([A-Za-z][\w:.-]*)((?:\s+[A-Za-z_][\w:.-]*\s*=\s*"[^"<]*")*)\s*(\/?)>|([^<]+)/y;
  const root: XmlElement = { name: "#document", attrs: {}, children: [], text: "" };
  const stack: XmlElement[] = [root];
  let at = 0;
  while (at < xml.length) {
    token.lastIndex = at;
    const match = token.exec(xml);
    if (!match) throw new Error(`not well-formed at ${at}: ${xml.slice(at, at + 40)}`);
    at = token.lastIndex;
    const [, close, open, attrText, selfClosing, content] = match;
    const top = stack[stack.length - 1];
    assert.ok(top);
    if (close !== undefined) {
      if (top.name !== close) throw new Error(`</${close}> closes <${top.name}>`);
      stack.pop();
    } else if (open !== undefined) {
      const attrs: Record<string, string> = {};
      for (const attr of (attrText ?? "").matchAll(/([A-Za-z_][\w:.-]*)\s*=\s*"([^"]*)"/g)) {
        const name = attr[1] ?? "";
        if (name in attrs) throw new Error(`attribute ${name} twice on <${open}>`);
        attrs[name] = unescapeXml(attr[2] ?? "");
      }
      const element: XmlElement = { name: open, attrs, children: [], text: "" };
      top.children.push(element);
      if (selfClosing !== "/") stack.push(element);
    } else {
      if (content?.includes(">")) throw new Error(`raw > in text ${JSON.stringify(content)}`);
      if (top === root && content?.trim()) throw new Error("text outside the root element");
      top.text += unescapeXml(content ?? "");
    }
  }
  if (stack.length !== 1) throw new Error(`unclosed <${stack[stack.length - 1]?.name}>`);
  if (root.children.length !== 1) throw new Error("expected exactly one root element");
  const [svg] = root.children;
  assert.ok(svg);
  return svg;
}

function all(element: XmlElement, predicate: (element: XmlElement) => boolean): XmlElement[] {
  const found: XmlElement[] = [];
  const walk = (node: XmlElement) => {
    if (predicate(node)) found.push(node);
    node.children.forEach(walk);
  };
  walk(element);
  return found;
}

function one(element: XmlElement, predicate: (element: XmlElement) => boolean, what: string): XmlElement {
  const found = all(element, predicate);
  assert.equal(found.length, 1, `expected one ${what}, found ${found.length}`);
  return found[0] as XmlElement;
}

const child = (element: XmlElement, name: string) => {
  const found = element.children.find((candidate) => candidate.name === name);
  assert.ok(found, `<${element.name}> has a <${name}>`);
  return found;
};
const n = (element: XmlElement, attr: string) => {
  const value = element.attrs[attr];
  assert.ok(value !== undefined, `<${element.name}> has ${attr}`);
  return Number(value);
};
const textOf = (element: XmlElement): string => element.text + element.children.map(textOf).join("");

/** A standalone SVG: namespace, and width/height matching the viewBox. */
function parseSvg(svg: string): XmlElement {
  assert.ok(!/<script/i.test(svg), "no script element");
  const root = parseXml(svg);
  assert.equal(root.name, "svg");
  assert.equal(root.attrs.xmlns, "http://www.w3.org/2000/svg");
  assert.equal(root.attrs.viewBox, `0 0 ${root.attrs.width} ${root.attrs.height}`);
  assert.ok(n(root, "width") > 0 && n(root, "height") > 0);
  return root;
}

function assertClose(actual: number, expected: number, what: string, tolerance = 0.5): void {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `${what}: ${actual} is not within ${tolerance} of ${expected}`,
  );
}

// ---------------------------------------------------------------------------------------------

const NOW = new Date("2025-03-01T12:00:00.000Z");
const DEPLOYMENT = "dep-1";

function devPlan(): DeploymentPlan {
  const config = validateConfig(exampleConfig());
  assert.ok(config.ok, "the example config is valid");
  const env = config.config.environments.find((candidate) => candidate.name === "dev");
  assert.ok(env);
  const integrations = env.integrations.map((integration) => integration.kind);
  assert.equal(integrations.length, 10, "dev declares all ten integrations");
  const result = planDeployment(
    DEPLOYMENT,
    { environment: "dev", integrations, configuration: {}, requested_by: "visual.spec" },
    env,
    NOW,
  );
  assert.ok(result.ok);
  return result.plan;
}

/** Every edge of a plan as "from->to" (dependency -> dependent). */
function planEdges(plan: DeploymentPlan): string[] {
  return plan.tasks
    .flatMap((task) => task.dependencies.map((dependency) => `${dependency}->${task.id}`))
    .sort();
}

/** The longest total duration of any dependency chain, by trying every chain. */
function bruteForceLongest(
  tasks: readonly { id: string; dependencies: string[] }[],
  duration: (id: string) => number,
): number {
  const byId = new Map(tasks.map((task) => [task.id, task]));
  const longestEndingAt = (id: string): number =>
    duration(id) + Math.max(0, ...(byId.get(id)?.dependencies ?? []).map(longestEndingAt));
  return Math.max(0, ...tasks.map((task) => longestEndingAt(task.id)));
}

/** Numbers of a path's `d`, as (x, y) points (control points included). */
function pathPoints(d: string): { x: number; y: number }[] {
  const numbers = d.match(/-?\d+(\.\d+)?/g)?.map(Number) ?? [];
  const points: { x: number; y: number }[] = [];
  for (let i = 0; i + 1 < numbers.length; i += 2)
    points.push({ x: numbers[i] ?? NaN, y: numbers[i + 1] ?? NaN });
  return points;
}

interface DrawnGraph {
  nodes: Map<
    string,
    { status: string; layer: number; critical: boolean; rect: XmlElement; environment: string; label: string }
  >;
  edges: Map<string, { critical: boolean; d: string; marker: string }>;
}

function readGraph(svg: string): DrawnGraph {
  const root = parseSvg(svg);
  const nodes: DrawnGraph["nodes"] = new Map();
  for (const g of all(root, (element) => element.name === "g" && "data-node-id" in element.attrs)) {
    const id = g.attrs["data-node-id"] ?? "";
    assert.ok(!nodes.has(id), `node ${id} drawn once`);
    const rect = child(g, "rect");
    nodes.set(id, {
      status: g.attrs["data-status"] ?? "",
      layer: n(g, "data-layer"),
      critical: g.attrs["data-critical"] === "true",
      rect,
      environment: g.attrs["data-environment"] ?? "",
      label: textOf(g.children.filter((element) => element.name === "text")[0] as XmlElement),
    });
  }
  const edges: DrawnGraph["edges"] = new Map();
  for (const path of all(root, (element) => element.name === "path" && "data-edge" in element.attrs)) {
    const key = path.attrs["data-edge"] ?? "";
    assert.ok(!edges.has(key), `edge ${key} drawn once`);
    edges.set(key, {
      critical: path.attrs["data-critical"] === "true",
      d: path.attrs.d ?? "",
      marker: path.attrs["marker-end"] ?? "",
    });
  }
  return { nodes, edges };
}

/** The checks every drawn graph must pass: left to right, layers by longest chain, no overlaps. */
function assertWellLaidOut(input: DependencyGraphInput, drawn: DrawnGraph): void {
  assert.deepEqual([...drawn.nodes.keys()].sort(), input.nodes.map((node) => node.id).sort());
  assert.deepEqual(
    [...drawn.edges.keys()].sort(),
    input.edges.map((edge) => `${edge.from}->${edge.to}`).sort(),
  );
  const rectOf = (id: string) => {
    const node = drawn.nodes.get(id);
    assert.ok(node, `node ${id} is drawn`);
    return {
      x: n(node.rect, "x"),
      y: n(node.rect, "y"),
      w: n(node.rect, "width"),
      h: n(node.rect, "height"),
      layer: node.layer,
    };
  };
  for (const edge of input.edges) {
    const from = rectOf(edge.from);
    const to = rectOf(edge.to);
    assert.ok(from.layer < to.layer, `${edge.from} (layer ${from.layer}) -> ${edge.to} (layer ${to.layer})`);
    assert.ok(from.x + from.w < to.x, `${edge.from} -> ${edge.to} is drawn right to left`);
    const points = pathPoints(drawn.edges.get(`${edge.from}->${edge.to}`)?.d ?? "");
    assertClose(points[0]?.x ?? NaN, from.x + from.w, "edge starts at the right side of its source");
    assertClose(points[points.length - 1]?.x ?? NaN, to.x, "edge ends at the left side of its target");
    for (let i = 1; i < points.length; i++)
      assert.ok(
        (points[i]?.x ?? 0) >= (points[i - 1]?.x ?? 0),
        `edge ${edge.from}->${edge.to} goes back left`,
      );
    assert.ok(
      drawn.edges.get(`${edge.from}->${edge.to}`)?.marker.startsWith("url(#arrow"),
      "edge has an arrowhead",
    );
  }
  // A node's layer is the longest chain of dependencies before it.
  for (const node of input.nodes) {
    const before = input.edges
      .filter((edge) => edge.to === node.id)
      .map((edge) => rectOf(edge.from).layer + 1);
    assert.equal(rectOf(node.id).layer, Math.max(0, ...before), `layer of ${node.id}`);
  }
  const ids = input.nodes.map((node) => node.id);
  for (let i = 0; i < ids.length; i++)
    for (let j = i + 1; j < ids.length; j++) {
      const a = rectOf(ids[i] ?? "");
      const b = rectOf(ids[j] ?? "");
      const apart = a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y;
      assert.ok(apart, `${ids[i]} and ${ids[j]} overlap`);
    }
}

describe("visual", () => {
  describe("dependency graph", () => {
    const plan = devPlan();

    it("draws exactly the plan's nodes and edges, left to right, layered by longest chain", () => {
      const input = fromPlan(plan);
      const drawn = readGraph(renderDependencyGraph(input).svg);
      assert.equal(drawn.nodes.size, 10);
      assert.deepEqual([...drawn.nodes.keys()].sort(), plan.tasks.map((task) => task.id).sort());
      assert.deepEqual([...drawn.edges.keys()].sort(), planEdges(plan));
      assertWellLaidOut(input, drawn);
      // security first, monitoring (which waits for everything) alone in the last layer.
      assert.equal(drawn.nodes.get(`${DEPLOYMENT}--security`)?.layer, 0);
      const last = Math.max(...[...drawn.nodes.values()].map((node) => node.layer));
      assert.deepEqual(
        [...drawn.nodes].filter(([, node]) => node.layer === last).map(([id]) => id),
        [`${DEPLOYMENT}--monitoring`],
      );
    });

    it("marks exactly the plan's critical path, and it is the longest path by estimated duration", () => {
      const drawn = readGraph(renderDependencyGraph(fromPlan(plan)).svg);
      const criticalNodes = [...drawn.nodes].filter(([, node]) => node.critical).map(([id]) => id);
      assert.deepEqual(criticalNodes.sort(), [...plan.criticalPath].sort());
      const pairs = plan.criticalPath.slice(1).map((id, i) => `${plan.criticalPath[i]}->${id}`);
      const criticalEdges = [...drawn.edges].filter(([, edge]) => edge.critical).map(([key]) => key);
      assert.deepEqual(criticalEdges.sort(), [...pairs].sort());
      for (const pair of pairs) assert.equal(drawn.edges.get(pair)?.marker, "url(#arrow-critical)");

      const estimate = new Map(plan.tasks.map((task) => [task.id, task.estimated_duration]));
      const length = plan.criticalPath.reduce((sum, id) => sum + (estimate.get(id) ?? 0), 0);
      assert.equal(
        length,
        bruteForceLongest(plan.tasks, (id) => estimate.get(id) ?? 0),
      );
      for (const [id, node] of drawn.nodes)
        assert.equal(n(node.rect, "stroke-width"), plan.criticalPath.includes(id) ? 3 : 1, `stroke of ${id}`);
    });

    it("colours every node by its status, for a deployment's tasks as they are", () => {
      const statuses: Task["status"][] = [
        "succeeded",
        "succeeded",
        "failed",
        "running",
        "ready",
        "blocked",
        "skipped",
        "cancelled",
        "rolled_back",
        "succeeded",
      ];
      const tasks = plan.tasks.map((task, i) => ({ ...task, status: statuses[i] ?? "blocked" }) as Task);
      const drawn = readGraph(renderDependencyGraph(fromTasks(tasks, plan.criticalPath)).svg);
      for (const task of tasks) {
        const node = drawn.nodes.get(task.id);
        assert.equal(node?.status, task.status);
        assert.equal(node?.rect.attrs.fill, STATUS_COLORS[task.status], `fill of ${task.id}`);
        assert.equal(node?.label, task.integration);
      }
      const colours = Object.values(STATUS_COLORS);
      assert.equal(new Set(colours).size, colours.length, "every status has its own colour");
    });

    it("groups environments in labelled bands that hold their nodes", () => {
      const input: DependencyGraphInput = {
        nodes: [
          { id: "dev-a", label: "a", status: "succeeded", environment: "dev", durationSeconds: 5 },
          { id: "prod-a", label: "a", status: "running", environment: "prod", durationSeconds: 5 },
          { id: "dev-b", label: "b", status: "ready", environment: "dev", durationSeconds: 5 },
          { id: "prod-b", label: "b", status: "blocked", environment: "prod", durationSeconds: 9 },
        ],
        edges: [
          { from: "dev-a", to: "dev-b" },
          { from: "dev-b", to: "prod-a" },
          { from: "prod-a", to: "prod-b" },
        ],
      };
      const { svg, layout } = renderDependencyGraph(input);
      const root = parseSvg(svg);
      const drawn = readGraph(svg);
      assertWellLaidOut(input, drawn);
      assert.deepEqual(
        layout.environments.map((band) => band.environment),
        ["dev", "prod"],
      );
      for (const band of all(
        root,
        (element) =>
          element.name === "g" && "data-environment" in element.attrs && !("data-node-id" in element.attrs),
      )) {
        const environment = band.attrs["data-environment"] ?? "";
        const box = child(band, "rect");
        assert.equal(textOf(child(band, "text")), `environment: ${environment}`);
        for (const node of input.nodes.filter((candidate) => candidate.environment === environment)) {
          const rect = drawn.nodes.get(node.id)?.rect;
          assert.ok(rect);
          assert.ok(
            n(rect, "y") >= n(box, "y") && n(rect, "y") + n(rect, "height") <= n(box, "y") + n(box, "height"),
            `${node.id} inside ${environment}`,
          );
        }
      }
      // No critical path given: the longest by duration is computed (dev-a, dev-b, prod-a, prod-b).
      assert.deepEqual(layout.criticalPath, ["dev-a", "dev-b", "prod-a", "prod-b"]);
    });

    it("writes the layout it returns into the picture", () => {
      const { svg, layout } = renderDependencyGraph(fromPlan(plan));
      const drawn = readGraph(svg);
      for (const node of layout.nodes) {
        const rect = drawn.nodes.get(node.id)?.rect;
        assert.ok(rect);
        assert.deepEqual(
          [n(rect, "x"), n(rect, "y"), n(rect, "width"), n(rect, "height")],
          [node.x, node.y, node.width, node.height],
        );
      }
      for (const edge of layout.edges)
        assert.equal(drawn.edges.get(`${edge.from}->${edge.to}`)?.d, edge.path);
    });

    it("refuses a cycle, an unknown node and a duplicate node, naming them", () => {
      const node = (id: string): GraphNode => ({
        id,
        label: id,
        status: "planned",
        environment: "dev",
        durationSeconds: 1,
      });
      assert.throws(
        () =>
          renderDependencyGraph({
            nodes: [node("a"), node("b")],
            edges: [
              { from: "a", to: "b" },
              { from: "b", to: "a" },
            ],
          }),
        /cycle a -> b -> a|cycle b -> a -> b/,
      );
      assert.throws(
        () => renderDependencyGraph({ nodes: [node("a")], edges: [{ from: "a", to: "ghost" }] }),
        /unknown node "ghost"/,
      );
      assert.throws(
        () => renderDependencyGraph({ nodes: [node("a"), node("a")], edges: [] }),
        /"a" appears twice/,
      );
    });

    it("property: for random DAGs, every edge goes left to right and no two nodes overlap", () => {
      const dag = fc.integer({ min: 1, max: 14 }).chain((size) =>
        fc.record({
          edges: fc.array(fc.array(fc.boolean(), { minLength: size, maxLength: size }), {
            minLength: size,
            maxLength: size,
          }),
          environments: fc.array(fc.constantFrom("dev", "staging", "prod"), {
            minLength: size,
            maxLength: size,
          }),
          durations: fc.array(fc.integer({ min: 0, max: 100 }), { minLength: size, maxLength: size }),
          names: fc.shuffledSubarray(
            Array.from({ length: size }, (_, i) => `t${i}`),
            { minLength: size, maxLength: size },
          ),
        }),
      );
      fc.assert(
        fc.property(dag, ({ edges, environments, durations, names }) => {
          const input: DependencyGraphInput = {
            nodes: names.map((id, i) => ({
              id,
              label: id,
              status: "planned",
              environment: environments[i] ?? "dev",
              durationSeconds: durations[i] ?? 0,
            })),
            edges: names.flatMap((to, i) =>
              names.filter((_, j) => j < i && edges[i]?.[j] === true).map((from) => ({ from, to })),
            ),
          };
          const { svg, layout } = renderDependencyGraph(input);
          assertWellLaidOut(input, readGraph(svg));
          // The computed critical path is a chain of real edges as long as the longest one.
          const durationOf = new Map(input.nodes.map((node) => [node.id, node.durationSeconds]));
          const tasks = input.nodes.map((node) => ({
            id: node.id,
            dependencies: input.edges.filter((edge) => edge.to === node.id).map((edge) => edge.from),
          }));
          assert.equal(
            layout.criticalPath.reduce((sum, id) => sum + (durationOf.get(id) ?? 0), 0),
            bruteForceLongest(tasks, (id) => durationOf.get(id) ?? 0),
          );
          for (let i = 0; i + 1 < layout.criticalPath.length; i++)
            assert.ok(
              input.edges.some(
                (edge) => edge.from === layout.criticalPath[i] && edge.to === layout.criticalPath[i + 1],
              ),
            );
        }),
      );
    });

    it("escapes hostile labels and ids, and reads them back unchanged", () => {
      const hostile = `<script>alert("x")</script> & 'q'`;
      const id = `a"b&c<d>`;
      const input: DependencyGraphInput = {
        nodes: [
          { id, label: hostile, status: "failed", environment: `env "<&>"`, durationSeconds: 3 },
          { id: "next", label: "next", status: "blocked", environment: `env "<&>"`, durationSeconds: 1 },
        ],
        edges: [{ from: id, to: "next" }],
        criticalPath: [id, "next"],
      };
      const { svg } = renderDependencyGraph(input);
      assert.ok(!svg.includes("<script"), "the label is not markup");
      const drawn = readGraph(svg);
      assert.equal(drawn.nodes.get(id)?.label, hostile);
      assert.equal(drawn.nodes.get(id)?.environment, `env "<&>"`);
      assert.ok(drawn.edges.has(`${id}->next`));
      assert.equal(escapeXml(`<a href="x">&'</a>`), "&lt;a href=&quot;x&quot;&gt;&amp;&apos;&lt;/a&gt;");
    });

    it("is deterministic: the same input gives the same SVG", () => {
      assert.equal(
        renderDependencyGraph(fromPlan(devPlan())).svg,
        renderDependencyGraph(fromPlan(devPlan())).svg,
      );
    });
  });

  describe("gantt", () => {
    const plan = devPlan();
    const started = new Date(NOW.getTime() + 5_000);
    const at = (seconds: number) => new Date(started.getTime() + seconds * 1000);
    const timeline = new Map(plan.timeline.map((entry) => [entry.id, entry]));
    const error = `attempt 4 of 4: bucket "acme-<dev>" & rules rejected`;

    /** security and auth succeeded, firestore after one retry, storage failed after three; the rest skipped. */
    function deploymentTasks(): Task[] {
      return plan.tasks.map((task) => {
        const entry = timeline.get(task.id);
        assert.ok(entry);
        const run = (
          status: Task["status"],
          start: number,
          end: number,
          retries: number,
          message: string | null,
        ) =>
          ({
            ...task,
            status,
            started_at: at(start),
            completed_at: at(end),
            attempt: retries + 1,
            retry_count: retries,
            error_message: message,
          }) as Task;
        switch (task.integration) {
          case "security":
            return run("succeeded", entry.start + 0.5, entry.finish + 2, 0, null);
          case "auth":
            return run("succeeded", entry.start + 1, entry.finish + 1.25, 0, null);
          case "firestore":
            return run("succeeded", entry.start + 1, entry.finish + 12, 1, null);
          case "storage":
            return run("failed", entry.start + 1, entry.finish + 27.5, 3, error);
          default:
            return { ...task, status: "skipped", completed_at: at(80), reason: "a dependency failed" };
        }
      });
    }

    it("draws each planned bar at the plan's times and each actual bar at the task's times, to the pixel", () => {
      const tasks = deploymentTasks();
      const input = ganttFromPlan(plan, tasks, started);
      const { svg, scale } = renderGantt(input);
      const root = parseSvg(svg);
      const planned = all(root, (element) => element.attrs["data-bar"] === "planned");
      assert.deepEqual(
        planned.map((bar) => bar.attrs["data-task-id"]).sort(),
        plan.tasks.map((task) => task.id).sort(),
      );
      for (const bar of planned) {
        const entry = timeline.get(bar.attrs["data-task-id"] ?? "");
        assert.ok(entry);
        assertClose(
          n(bar, "x"),
          scale.x0 + entry.start * scale.pixelsPerSecond,
          `planned start of ${entry.id}`,
        );
        assertClose(
          n(bar, "width"),
          (entry.finish - entry.start) * scale.pixelsPerSecond,
          `planned length of ${entry.id}`,
        );
        assert.equal(bar.attrs.fill, "none", "planned bars are outlined");
      }
      const actual = all(root, (element) => element.attrs["data-bar"] === "actual");
      const ran = tasks.filter((task) => task.started_at !== null);
      assert.deepEqual(
        actual.map((bar) => bar.attrs["data-task-id"]).sort(),
        ran.map((task) => task.id).sort(),
      );
      for (const task of ran) {
        const bar = actual.find((candidate) => candidate.attrs["data-task-id"] === task.id);
        assert.ok(bar && task.started_at && task.completed_at);
        const start = (task.started_at.getTime() - started.getTime()) / 1000;
        const end = (task.completed_at.getTime() - started.getTime()) / 1000;
        assertClose(n(bar, "x"), scale.x0 + start * scale.pixelsPerSecond, `actual start of ${task.id}`);
        assertClose(
          n(bar, "x") + n(bar, "width"),
          scale.x0 + end * scale.pixelsPerSecond,
          `actual end of ${task.id}`,
        );
        assert.equal(bar.attrs.fill, STATUS_COLORS[task.status], `colour of ${task.id}`);
      }
      // The axis starts at x0 and its ticks are at their seconds.
      for (const tick of all(root, (element) => "data-tick" in element.attrs))
        assertClose(n(tick, "x1"), scale.x0 + n(tick, "data-tick") * scale.pixelsPerSecond, "axis tick");
    });

    it("honours a given scale exactly", () => {
      const { svg, scale } = renderGantt(ganttFromPlan(plan, deploymentTasks(), started), {
        pixelsPerSecond: 3,
      });
      assert.equal(scale.pixelsPerSecond, 3);
      const root = parseSvg(svg);
      for (const bar of all(root, (element) => element.attrs["data-bar"] === "planned")) {
        const entry = timeline.get(bar.attrs["data-task-id"] ?? "");
        assert.ok(entry);
        assertClose(n(bar, "x"), scale.x0 + entry.start * 3, "start", 0.01);
        assertClose(n(bar, "width"), (entry.finish - entry.start) * 3, "length", 0.01);
      }
    });

    it("shows retries as ticks and failures as a cross carrying the error", () => {
      const tasks = deploymentTasks();
      const root = parseSvg(renderGantt(ganttFromPlan(plan, tasks, started)).svg);
      for (const task of tasks) {
        const row = one(root, (element) => element.attrs["data-row"] === task.id, `row of ${task.id}`);
        assert.equal(row.attrs["data-retries"], String(task.retry_count));
        assert.equal(row.attrs["data-status"], task.status);
        const ticks = all(row, (element) => "data-retry-tick" in element.attrs);
        assert.equal(ticks.length, task.retry_count, `retry ticks of ${task.id}`);
        const failures = all(row, (element) => "data-failure" in element.attrs);
        assert.equal(failures.length, task.status === "failed" ? 1 : 0, `failure marks of ${task.id}`);
        const chip = one(row, (element) => "data-status-chip" in element.attrs, "status chip");
        assert.equal(chip.attrs.fill, STATUS_COLORS[task.status]);
      }
      const storage = one(
        root,
        (element) => element.attrs["data-failure"] === `${DEPLOYMENT}--storage`,
        "storage failure",
      );
      assert.equal(textOf(child(storage, "title")), error);
      assert.equal(textOf(child(storage, "text")), "✕");
      assert.equal(
        one(
          root,
          (element) =>
            element.attrs["data-bar"] === "actual" &&
            element.attrs["data-task-id"] === `${DEPLOYMENT}--firestore`,
          "firestore",
        ).attrs["data-retries"],
        "1",
      );
    });

    it("draws a running task up to now, and tasks never started without an actual bar", () => {
      const tasks = deploymentTasks().map((task): Task =>
        task.integration === "functions"
          ? {
              ...task,
              status: "running" as const,
              started_at: at(60),
              completed_at: null,
              lease_expires_at: at(200),
              attempt: 1,
            }
          : task,
      );
      const { svg, scale } = renderGantt(ganttFromPlan(plan, tasks, started, at(75)));
      const root = parseSvg(svg);
      const bar = one(
        root,
        (element) =>
          element.attrs["data-bar"] === "actual" &&
          element.attrs["data-task-id"] === `${DEPLOYMENT}--functions`,
        "running bar",
      );
      assert.equal(bar.attrs["data-open"], "true");
      assertClose(n(bar, "x"), scale.x0 + 60 * scale.pixelsPerSecond, "running start");
      assertClose(
        n(bar, "x") + n(bar, "width"),
        scale.x0 + 75 * scale.pixelsPerSecond,
        "running bar ends now",
      );
      assertClose(
        n(
          one(root, (element) => "data-now" in element.attrs, "now line"),
          "x1",
        ),
        scale.x0 + 75 * scale.pixelsPerSecond,
        "now line",
      );
      assert.equal(
        all(
          root,
          (element) =>
            element.attrs["data-bar"] === "actual" &&
            element.attrs["data-task-id"] === `${DEPLOYMENT}--hosting`,
        ).length,
        0,
      );
    });

    it("draws a plan not yet started: planned bars only, in the planned colour", () => {
      const root = parseSvg(renderGantt(ganttFromPlan(plan, [], null)).svg);
      assert.equal(all(root, (element) => element.attrs["data-bar"] === "actual").length, 0);
      for (const row of all(root, (element) => "data-row" in element.attrs))
        assert.equal(row.attrs["data-status"], "planned");
    });

    it("refuses a bar that ends before it starts", () => {
      assert.throws(
        () =>
          renderGantt({
            rows: [
              {
                id: "x",
                label: "x",
                status: "planned",
                planned: { start: 5, end: 2 },
                attempts: 0,
                retries: 0,
              },
            ],
          }),
        /x is planned to end \(2\) before it starts \(5\)/,
      );
    });

    it("escapes hostile labels and errors", () => {
      const hostile = `<script>alert('x')</script>&"`;
      const { svg } = renderGantt({
        rows: [
          {
            id: hostile,
            label: hostile,
            status: "failed",
            planned: { start: 0, end: 10 },
            actual: { start: 1, end: 4 },
            attempts: 1,
            retries: 0,
            error: hostile,
          },
        ],
      });
      const root = parseSvg(svg);
      const row = one(root, (element) => element.attrs["data-row"] === hostile, "hostile row");
      assert.equal(row.attrs["data-error"], hostile);
      assert.equal(
        textOf(
          child(
            one(row, (element) => "data-failure" in element.attrs, "failure"),
            "title",
          ),
        ),
        hostile,
      );
    });
  });

  describe("charts", () => {
    it("health matrix: one cell per environment x integration, coloured by status, worst status wins", () => {
      const svg = renderHealthMatrix([
        { environment: "dev", integration: "auth", status: "healthy", latency_ms: 12 },
        { environment: "dev", integration: "firestore", status: "degraded", latency_ms: 480 },
        { environment: "prod", integration: "auth", status: "down" },
        { environment: "prod", integration: "auth", status: "healthy", latency_ms: 5 },
        { environment: "<prod & co>", integration: "firestore", status: "unknown" },
      ]);
      const root = parseSvg(svg);
      const cells = all(root, (element) => element.name === "g" && "data-status" in element.attrs);
      const seen = cells.map(
        (cell) =>
          `${cell.attrs["data-environment"]}/${cell.attrs["data-integration"]}=${cell.attrs["data-status"]}`,
      );
      assert.deepEqual(seen, [
        "dev/auth=healthy",
        "dev/firestore=degraded",
        "prod/auth=down",
        "<prod & co>/firestore=unknown",
      ]);
      for (const cell of cells)
        assert.equal(
          child(cell, "rect").attrs.fill,
          HEALTH_COLORS[cell.attrs["data-status"] as keyof typeof HEALTH_COLORS],
        );
      assert.equal(cells[0]?.attrs["data-value"], "12");
      const missing = all(root, (element) => element.attrs["data-missing"] === "true").map(
        (element) => `${element.attrs["data-environment"]}/${element.attrs["data-integration"]}`,
      );
      assert.deepEqual(missing, ["prod/firestore", "<prod & co>/auth"]);
    });

    it("line chart: every point at its time and value on the chart's scale", () => {
      const t0 = Date.UTC(2025, 2, 1, 8);
      const series = [
        { name: "p50", points: [0, 1, 2, 3].map((i) => ({ x: t0 + i * 3_600_000, y: 100 + i * 10 })) },
        { name: "p95 <slow>", points: [3, 0, 2, 1].map((i) => ({ x: t0 + i * 3_600_000, y: 200 + i * 35 })) },
      ];
      const { svg, scale } = renderLineChart({ title: "Deployment duration", yUnit: "seconds", series });
      const root = parseSvg(svg);
      assert.equal(scale.y.min, 0);
      assert.ok(scale.y.max >= 305);
      for (const s of series) {
        const group = one(root, (element) => element.attrs["data-series"] === s.name, `series ${s.name}`);
        const dots = all(group, (element) => element.name === "circle");
        assert.equal(dots.length, s.points.length);
        for (const point of s.points) {
          const dot = dots.find((candidate) => n(candidate, "data-x") === point.x);
          assert.ok(dot);
          assert.equal(n(dot, "data-value"), point.y);
          assert.equal(dot.attrs["data-label"], s.name);
          assertClose(
            n(dot, "cx"),
            scale.x.left +
              ((point.x - scale.x.min) / (scale.x.max - scale.x.min)) * (scale.x.right - scale.x.left),
            "cx",
          );
          assertClose(
            n(dot, "cy"),
            scale.y.bottom -
              ((point.y - scale.y.min) / (scale.y.max - scale.y.min)) * (scale.y.bottom - scale.y.top),
            "cy",
          );
        }
        // The line visits the points in time order.
        const xs = pathPoints(child(group, "path").attrs.d ?? "").map((point) => point.x);
        assert.deepEqual(
          xs,
          [...xs].sort((a, b) => a - b),
        );
      }
      assert.deepEqual(
        all(root, (element) => "data-legend" in element.attrs).map((element) => element.attrs["data-legend"]),
        ["p50", "p95 <slow>"],
      );
    });

    it("line chart: a fixed range (success rate 0..100) is kept", () => {
      const { scale } = renderLineChart({
        title: "Success rate",
        yUnit: "%",
        yMin: 0,
        yMax: 100,
        series: [{ name: "dev", points: [{ x: 0, y: 97 }] }],
      });
      assert.deepEqual([scale.y.min, scale.y.max], [0, 100]);
      assert.throws(
        () =>
          renderLineChart({ title: "t", yUnit: "%", series: [{ name: "s", points: [{ x: 0, y: NaN }] }] }),
        /not a finite number/,
      );
    });

    it("bar chart: each bar's height is its value on the chart's scale, labels escaped", () => {
      const bars = [
        { label: "Mon", value: 12 },
        { label: "Tue", value: 0 },
        { label: `<b>"Wed"</b> & co`, value: 7.5 },
      ];
      const { svg, scale } = renderBarChart({ title: "Throughput", bars, unit: "deployments/day" });
      const root = parseSvg(svg);
      const rects = all(root, (element) => element.name === "rect" && "data-value" in element.attrs);
      assert.deepEqual(
        rects.map((rect) => rect.attrs["data-label"]),
        bars.map((bar) => bar.label),
      );
      for (const [i, bar] of bars.entries()) {
        const rect = rects[i];
        assert.ok(rect);
        assert.equal(n(rect, "data-value"), bar.value);
        assertClose(
          n(rect, "height"),
          (bar.value / scale.y.max) * (scale.y.bottom - scale.y.top),
          `height of ${bar.label}`,
        );
        assertClose(n(rect, "y") + n(rect, "height"), scale.y.bottom, "bars stand on the axis");
      }
      assert.throws(
        () => renderBarChart({ title: "t", unit: "", bars: [{ label: "x", value: -1 }] }),
        /"x" is negative/,
      );
    });
  });

  describe("FirebaseVisualOrchestrator", () => {
    it("returns the renderers' SVG for plans, deployments and metrics", () => {
      const plan = devPlan();
      const visual = new FirebaseVisualOrchestrator();
      const pictures = visual.deployment(
        { critical_path: plan.criticalPath, started_at: null },
        plan.tasks,
        NOW,
      );
      assert.equal(pictures.graph, renderDependencyGraph(fromTasks(plan.tasks, plan.criticalPath)).svg);
      assert.equal(
        pictures.gantt,
        renderGantt(ganttFromPlan(plan, plan.tasks, null, NOW), { criticalPath: plan.criticalPath }).svg,
      );
      const cells = [{ environment: "dev", integration: "auth", status: "healthy" as const }];
      assert.equal(visual.healthMatrix(cells), renderHealthMatrix(cells));
      const line = { title: "t", yUnit: "%", series: [] };
      assert.equal(visual.lineChart(line), renderLineChart(line).svg);
      const bars = { title: "t", unit: "", bars: [{ label: "a", value: 1 }] };
      assert.equal(visual.barChart(bars), renderBarChart(bars).svg);
      for (const svg of [
        pictures.graph,
        pictures.gantt,
        visual.healthMatrix([]),
        visual.lineChart(line),
        visual.barChart(bars),
      ])
        parseSvg(svg);
    });
  });
});
