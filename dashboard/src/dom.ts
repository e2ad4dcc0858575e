/** A few DOM helpers: the dashboard is small enough to need no framework. */

type Child = Node | string | null | undefined | false;

/** An element with attributes (strings; `on*` functions become listeners) and children. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | boolean | ((event: Event) => void) | undefined> = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, "");
    else element.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return element;
}

/** An SVG document (from the visual orchestrator, which escapes every text) as a figure. */
export function svgFigure(svg: string, testId: string): HTMLElement {
  const figure = h("figure", { class: "chart", "data-testid": testId });
  figure.innerHTML = svg;
  return figure;
}

export function replaceChildren(target: Element | null, ...children: (Node | string)[]): void {
  target?.replaceChildren(...children);
}

export function formatTime(date: Date | null): string {
  return date ? date.toLocaleTimeString([], { hour12: false }) : "";
}

export function formatSeconds(seconds: number | null): string {
  if (seconds === null) return "";
  return seconds < 60
    ? `${seconds.toFixed(1)} s`
    : `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}
