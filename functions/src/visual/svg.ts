/**
 * A tiny SVG builder: elements as strings, every attribute value and text escaped, numbers
 * written the same way every time. Pure: no I/O, no DOM, so pictures render server-side.
 */

/** Attribute values: `undefined`, `null` and `false` leave the attribute out. */
export type AttributeValue = string | number | boolean | null | undefined;
export type Attributes = Readonly<Record<string, AttributeValue>>;

// Characters XML 1.0 does not allow at all (C0 controls other than tab, newline, carriage return).
// eslint-disable-next-line no-control-regex
const INVALID_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g;

/** Escapes text for XML content and attribute values (`& < > " '`), and drops characters XML forbids. */
export function escapeXml(value: string): string {
  return value
    .replace(INVALID_XML, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/** A number as SVG writes it: at most two decimals, no `-0`, no exponent for the sizes pictures use. */
export function num(value: number): string {
  if (!Number.isFinite(value)) throw new RangeError(`not a finite number: ${value}`);
  const rounded = Math.round(value * 100) / 100;
  return Object.is(rounded, -0) ? "0" : String(rounded);
}

function attributeText(attributes: Attributes): string {
  let out = "";
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    const text = value === true ? "true" : typeof value === "number" ? num(value) : value;
    out += ` ${name}="${escapeXml(text)}"`;
  }
  return out;
}

/** One element; `children` are already-built markup (use `text()` for text content). */
export function el(name: string, attributes: Attributes = {}, children: readonly string[] = []): string {
  const attrs = attributeText(attributes);
  return children.length === 0 ? `<${name}${attrs}/>` : `<${name}${attrs}>${children.join("")}</${name}>`;
}

/** Escaped text content. */
export function text(value: string): string {
  return escapeXml(value);
}

/** A `<text>` element with escaped content. */
export function label(x: number, y: number, content: string, attributes: Attributes = {}): string {
  return el("text", { x, y, ...attributes }, [text(content)]);
}

/** A `<title>` element: the tooltip a viewer shows, and the accessible name. */
export function title(content: string): string {
  return el("title", {}, [text(content)]);
}

/** Cuts a label to at most `max` characters, marking the cut with an ellipsis. */
export function truncate(value: string, max: number): string {
  const chars = [...value];
  return chars.length <= max ? value : `${chars.slice(0, Math.max(1, max - 1)).join("")}…`;
}

/** Rough width of a label in the pictures' font (sans-serif), enough to size boxes. */
export function textWidth(value: string, fontSize: number): number {
  return [...value].length * fontSize * 0.6;
}

export const FONT_FAMILY = "DejaVu Sans, Verdana, Arial, sans-serif";

/** A standalone SVG document: namespace, size and viewBox, a white background, a title. */
export function svgDocument(options: {
  width: number;
  height: number;
  title: string;
  kind: string;
  defs?: readonly string[];
  children: readonly string[];
}): string {
  const width = Math.ceil(options.width);
  const height = Math.ceil(options.height);
  return el(
    "svg",
    {
      xmlns: "http://www.w3.org/2000/svg",
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      "font-family": FONT_FAMILY,
      "font-size": 12,
      "data-kind": options.kind,
      role: "img",
    },
    [
      title(options.title),
      ...(options.defs && options.defs.length > 0 ? [el("defs", {}, options.defs)] : []),
      el("rect", { x: 0, y: 0, width, height, fill: "#ffffff" }),
      ...options.children,
    ],
  );
}

/** "1m30s", "45s", "2h05m": short durations for axes and labels. */
export function formatSeconds(seconds: number): string {
  const s = Math.round(seconds * 10) / 10;
  if (Math.abs(s) < 60) return `${num(s)}s`;
  const whole = Math.round(s);
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const rest = whole % 60;
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  return rest === 0 ? `${m}m` : `${m}m${String(rest).padStart(2, "0")}s`;
}

/** A "nice" step (1, 2, 5 times a power of ten) so that `span` gets about `target` ticks. */
export function niceStep(span: number, target: number): number {
  if (!(span > 0)) return 1;
  const raw = span / Math.max(1, target);
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  const nice = fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10;
  return nice * power;
}
