/**
 * The dependency graph of a plan or a deployment as SVG: layered left to right (a node's layer is
 * the longest chain of dependencies before it), tasks coloured by status, the critical path drawn
 * thick, environments as labelled bands. Pure: same input, same picture.
 *
 * Edges never cross a node: an edge between neighbouring layers is one curve through the gap
 * between the columns; a longer edge curves into the row gap just above its target, runs along
 * it, and curves down into the target, so its horizontal run stays between rows of nodes.
 */
import { criticalPath as longestPath, topologicalOrder } from "../domain/graph.js";
import type { DeploymentPlan } from "../domain/planner.js";
import type { Task, TaskStatus } from "../domain/engine-model.js";
import { el, formatSeconds, label, num, svgDocument, textWidth, title, truncate } from "./svg.js";

/** A task's status, or `planned` for a task that exists only in a plan picture. */
export type VisualStatus = TaskStatus | "planned";

/** Fill colour of each status: light enough for dark text, distinct from each other. */
export const STATUS_COLORS: Readonly<Record<VisualStatus, string>> = {
  planned: "#e5e7eb",
  blocked: "#cbd5e1",
  ready: "#bfdbfe",
  running: "#fde68a",
  succeeded: "#86efac",
  failed: "#fca5a5",
  skipped: "#e9d5ff",
  cancelled: "#d6d3d1",
  rolled_back: "#fdba74",
};

export const CRITICAL_COLOR = "#b91c1c";
const EDGE_COLOR = "#64748b";
const NODE_STROKE = "#475569";

export interface GraphNode {
  id: string;
  label: string;
  status: VisualStatus;
  environment: string;
  durationSeconds: number;
}

/** `from` must finish before `to` starts: drawn as an arrow from `from` to `to`. */
export interface GraphEdge {
  from: string;
  to: string;
}

export interface DependencyGraphInput {
  nodes: readonly GraphNode[];
  edges: readonly GraphEdge[];
  /** Node ids from first to last; computed from `durationSeconds` when left out. */
  criticalPath?: readonly string[];
}

export interface DependencyGraphOptions {
  title?: string;
  /** Width of every node box; by default wide enough for the longest label (within 120..260). */
  nodeWidth?: number;
}

export interface NodeLayout {
  id: string;
  x: number;
  y: number;
  width: number;
  height: number;
  layer: number;
}

export interface EdgeLayout {
  from: string;
  to: string;
  /** The SVG path data, as written into the picture. */
  path: string;
  critical: boolean;
}

export interface EnvironmentLayout {
  environment: string;
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface DependencyGraphResult {
  svg: string;
  layout: {
    width: number;
    height: number;
    nodes: NodeLayout[];
    edges: EdgeLayout[];
    environments: EnvironmentLayout[];
    criticalPath: string[];
  };
}

const NODE_HEIGHT = 40;
const ROW_GAP = 22;
const COLUMN_GAP = 64;
const BAND_HEADER = 20;
const BAND_GAP = 14;
const PADDING = 20;
const LEGEND_HEIGHT = 44;

/** Layers by longest chain of dependencies, or an error naming the cycle or the unknown node. */
export function layerNodes(
  nodes: readonly GraphNode[],
  edges: readonly GraphEdge[],
): { layers: Map<string, number>; order: string[] } {
  const ids = new Set<string>();
  for (const node of nodes) {
    if (ids.has(node.id)) throw new Error(`dependency graph: node "${node.id}" appears twice`);
    ids.add(node.id);
  }
  const dependencies = new Map<string, string[]>(nodes.map((node) => [node.id, []]));
  for (const edge of edges) {
    for (const end of [edge.from, edge.to]) {
      if (!ids.has(end))
        throw new Error(`dependency graph: edge ${edge.from} -> ${edge.to} names unknown node "${end}"`);
    }
    dependencies.get(edge.to)?.push(edge.from);
  }
  const sorted = topologicalOrder([...ids], (id) => dependencies.get(id) ?? []);
  if ("cycle" in sorted)
    throw new Error(`dependency graph: the cycle ${sorted.cycle.join(" -> ")} cannot be layered`);
  const layers = new Map<string, number>();
  for (const id of sorted.order) {
    const before = (dependencies.get(id) ?? []).map((dependency) => (layers.get(dependency) ?? 0) + 1);
    layers.set(id, Math.max(0, ...before));
  }
  return { layers, order: sorted.order };
}

function edgePath(from: NodeLayout, to: NodeLayout, channelY: number): string {
  const x1 = from.x + from.width;
  const y1 = from.y + from.height / 2;
  const x2 = to.x;
  const y2 = to.y + to.height / 2;
  if (to.layer - from.layer === 1) {
    const mid = (x1 + x2) / 2;
    return `M ${num(x1)} ${num(y1)} C ${num(mid)} ${num(y1)} ${num(mid)} ${num(y2)} ${num(x2)} ${num(y2)}`;
  }
  // Into the row gap above the target within the gap after the source's column, along it, then down.
  const gap = COLUMN_GAP;
  const a = x1 + gap;
  const b = x2 - gap;
  return [
    `M ${num(x1)} ${num(y1)}`,
    `C ${num(x1 + gap / 2)} ${num(y1)} ${num(x1 + gap / 2)} ${num(channelY)} ${num(a)} ${num(channelY)}`,
    `L ${num(b)} ${num(channelY)}`,
    `C ${num(x2 - gap / 2)} ${num(channelY)} ${num(x2 - gap / 2)} ${num(y2)} ${num(x2)} ${num(y2)}`,
  ].join(" ");
}

function arrowMarker(id: string, color: string): string {
  return el(
    "marker",
    {
      id,
      viewBox: "0 0 10 10",
      refX: 10,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      markerUnits: "userSpaceOnUse",
      orient: "auto",
    },
    [el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: color })],
  );
}

/** Lays out and draws the graph. Throws on a cycle, a duplicate node or an edge to an unknown node. */
export function renderDependencyGraph(
  input: DependencyGraphInput,
  options: DependencyGraphOptions = {},
): DependencyGraphResult {
  const { layers, order } = layerNodes(input.nodes, input.edges);
  const byId = new Map(input.nodes.map((node) => [node.id, node]));
  const critical =
    input.criticalPath !== undefined
      ? [...input.criticalPath]
      : longestPath(
          order,
          (id) => input.edges.filter((edge) => edge.to === id).map((edge) => edge.from),
          (id) => byId.get(id)?.durationSeconds ?? 0,
        ).path;
  for (const id of critical)
    if (!byId.has(id)) throw new Error(`dependency graph: critical path names unknown node "${id}"`);
  const criticalNodes = new Set(critical);
  const criticalEdges = new Set<string>();
  for (let i = 0; i + 1 < critical.length; i++) criticalEdges.add(`${critical[i]}\u0000${critical[i + 1]}`);

  const nodeWidth =
    options.nodeWidth ??
    Math.min(260, Math.max(120, ...input.nodes.map((node) => textWidth(node.label, 12) + 20)));
  const maxChars = Math.max(4, Math.floor((nodeWidth - 16) / 7.2));
  const layerCount = Math.max(1, ...[...layers.values()].map((layer) => layer + 1));

  // Environments in order of first appearance; within a band, each layer stacks its nodes in input order.
  const environments: string[] = [];
  for (const node of input.nodes)
    if (!environments.includes(node.environment)) environments.push(node.environment);
  const slot = new Map<string, number>();
  const rowsPerEnvironment = new Map<string, number>();
  for (const environment of environments) {
    const used = new Map<number, number>();
    for (const node of input.nodes.filter((candidate) => candidate.environment === environment)) {
      const layer = layers.get(node.id) ?? 0;
      const row = used.get(layer) ?? 0;
      slot.set(node.id, row);
      used.set(layer, row + 1);
    }
    rowsPerEnvironment.set(environment, Math.max(1, ...used.values()));
  }

  const width = PADDING * 2 + layerCount * nodeWidth + (layerCount - 1) * COLUMN_GAP;
  const bands: EnvironmentLayout[] = [];
  let y = PADDING;
  for (const environment of environments) {
    const rows = rowsPerEnvironment.get(environment) ?? 1;
    const height = BAND_HEADER + ROW_GAP + rows * (NODE_HEIGHT + ROW_GAP);
    bands.push({ environment, x: PADDING / 2, y, width: width - PADDING, height });
    y += height + BAND_GAP;
  }
  const bandOf = new Map(bands.map((band) => [band.environment, band]));

  const nodes: NodeLayout[] = input.nodes.map((node) => {
    const layer = layers.get(node.id) ?? 0;
    const band = bandOf.get(node.environment);
    const top = (band?.y ?? PADDING) + BAND_HEADER + ROW_GAP;
    return {
      id: node.id,
      x: PADDING + layer * (nodeWidth + COLUMN_GAP),
      y: top + (slot.get(node.id) ?? 0) * (NODE_HEIGHT + ROW_GAP),
      width: nodeWidth,
      height: NODE_HEIGHT,
      layer,
    };
  });
  const layoutOf = new Map(nodes.map((node) => [node.id, node]));

  const edges: EdgeLayout[] = input.edges.map((edge) => {
    const from = layoutOf.get(edge.from);
    const to = layoutOf.get(edge.to);
    if (!from || !to) throw new Error(`dependency graph: edge ${edge.from} -> ${edge.to} is not laid out`);
    return {
      from: edge.from,
      to: edge.to,
      path: edgePath(from, to, to.y - ROW_GAP / 2),
      critical: criticalEdges.has(`${edge.from}\u0000${edge.to}`),
    };
  });

  const legendY = y - BAND_GAP + 16;
  const height = legendY + LEGEND_HEIGHT;

  const bandMarks = bands.map((band) =>
    el("g", { "data-environment": band.environment }, [
      el("rect", {
        x: band.x,
        y: band.y,
        width: band.width,
        height: band.height,
        rx: 6,
        fill: "#f8fafc",
        stroke: "#cbd5e1",
        "stroke-dasharray": "4 3",
      }),
      label(band.x + 8, band.y + 15, `environment: ${band.environment}`, {
        "font-size": 12,
        "font-weight": "bold",
        fill: "#334155",
      }),
    ]),
  );

  // Ordinary edges first, the critical path on top of them.
  const edgeMark = (edge: EdgeLayout) =>
    el(
      "path",
      {
        "data-edge": `${edge.from}->${edge.to}`,
        "data-critical": edge.critical ? "true" : undefined,
        d: edge.path,
        fill: "none",
        stroke: edge.critical ? CRITICAL_COLOR : EDGE_COLOR,
        "stroke-width": edge.critical ? 3 : 1.5,
        "marker-end": edge.critical ? "url(#arrow-critical)" : "url(#arrow)",
      },
      [title(`${edge.from} -> ${edge.to}${edge.critical ? " (critical path)" : ""}`)],
    );
  const edgeMarks = [
    ...edges.filter((edge) => !edge.critical).map(edgeMark),
    ...edges.filter((edge) => edge.critical).map(edgeMark),
  ];

  const nodeMarks = input.nodes.map((node) => {
    const box = layoutOf.get(node.id);
    if (!box) throw new Error(`dependency graph: node ${node.id} is not laid out`);
    const isCritical = criticalNodes.has(node.id);
    return el(
      "g",
      {
        "data-node-id": node.id,
        "data-status": node.status,
        "data-layer": box.layer,
        "data-environment": node.environment,
        "data-critical": isCritical ? "true" : undefined,
      },
      [
        title(
          `${node.label} (${node.id}): ${node.status}, ${formatSeconds(node.durationSeconds)}${isCritical ? ", on the critical path" : ""}`,
        ),
        el("rect", {
          x: box.x,
          y: box.y,
          width: box.width,
          height: box.height,
          rx: 5,
          fill: STATUS_COLORS[node.status],
          stroke: isCritical ? CRITICAL_COLOR : NODE_STROKE,
          "stroke-width": isCritical ? 3 : 1,
        }),
        label(box.x + 8, box.y + 16, truncate(node.label, maxChars), {
          "font-size": 12,
          "font-weight": "bold",
          fill: "#0f172a",
        }),
        label(
          box.x + 8,
          box.y + 32,
          truncate(`${node.status.replace("_", " ")} · ${formatSeconds(node.durationSeconds)}`, maxChars + 2),
          { "font-size": 11, fill: "#1e293b" },
        ),
      ],
    );
  });

  const legendStatuses = (Object.keys(STATUS_COLORS) as VisualStatus[]).filter((status) =>
    input.nodes.some((node) => node.status === status),
  );
  const legend: string[] = [];
  let lx = PADDING;
  for (const status of legendStatuses) {
    legend.push(
      el("rect", {
        x: lx,
        y: legendY,
        width: 14,
        height: 14,
        rx: 3,
        fill: STATUS_COLORS[status],
        stroke: NODE_STROKE,
        "data-legend": status,
      }),
      label(lx + 19, legendY + 11, status.replace("_", " "), { fill: "#334155" }),
    );
    lx += 19 + textWidth(status, 12) + 18;
  }
  legend.push(
    el("line", {
      x1: lx,
      y1: legendY + 7,
      x2: lx + 28,
      y2: legendY + 7,
      stroke: CRITICAL_COLOR,
      "stroke-width": 3,
      "data-legend": "critical",
    }),
    label(lx + 34, legendY + 11, "critical path", { fill: "#334155" }),
  );

  const svg = svgDocument({
    width: Math.max(width, lx + 34 + textWidth("critical path", 12) + PADDING),
    height,
    title: options.title ?? "Dependency graph",
    kind: "dependency-graph",
    defs: [arrowMarker("arrow", EDGE_COLOR), arrowMarker("arrow-critical", CRITICAL_COLOR)],
    children: [
      ...bandMarks,
      el("g", { "data-layer-group": "edges" }, edgeMarks),
      el("g", { "data-layer-group": "nodes" }, nodeMarks),
      el("g", { "data-layer-group": "legend" }, legend),
    ],
  });
  return { svg, layout: { width, height, nodes, edges, environments: bands, criticalPath: critical } };
}

/** The graph of a plan: its tasks by status, their dependencies, its critical path. */
export function fromPlan(plan: Pick<DeploymentPlan, "tasks" | "criticalPath">): DependencyGraphInput {
  return fromTasks(plan.tasks, plan.criticalPath);
}

/** The graph of a deployment's tasks; durations are actual where known, estimated otherwise. */
export function fromTasks(tasks: readonly Task[], criticalPath: readonly string[]): DependencyGraphInput {
  return {
    nodes: tasks.map((task) => ({
      id: task.id,
      label: task.integration,
      status: task.status,
      environment: task.environment,
      durationSeconds: task.actual_duration ?? task.estimated_duration,
    })),
    edges: tasks.flatMap((task) =>
      task.dependencies.map((dependency) => ({ from: dependency, to: task.id })),
    ),
    criticalPath: [...criticalPath],
  };
}
